"""The Python CloudEvents SDK (PyPI `cloudevents`) as a real client and a
real receiver of `swirl serve`, driven by tests/tests/all/interop.rs.

    sdk_python.py send SERVER_URL CASES_JSON
        Sends every case of CASES_JSON with both of the SDK's HTTP APIs: the
        current one (`cloudevents.core.bindings.http`, which percent-encodes
        header values) and the older one (`cloudevents.v1.http`, which puts
        them in headers raw), in binary and structured mode, CloudEvents 1.0
        and 0.3. (The SDK has no batch mode.) Prints one JSON line per event:
        what was sent and what swirl answered.

    sdk_python.py receive
        Serves HTTP on a free loopback port, prints `listening on PORT`, then
        one JSON line per event received: the path, the attributes as the
        SDK's `from_http` read them, and the data. Paths starting /py-core use
        the current API, /py-v1 the older one.

Requests go through `http.client`, as `urllib` and `requests` send them: a
header value that is a `str` is sent as ISO-8859-1. The older API hands raw
values to it, so a value with characters beyond ISO-8859-1 cannot be sent
that way at all; such headers are sent as UTF-8 bytes, as a user would
after that error.
"""

import http.client
import http.server
import json
import sys
import threading
import urllib.parse

from cloudevents.core.bindings import http as core_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v03.event import CloudEvent as CoreEvent03
from cloudevents.core.v1.event import CloudEvent as CoreEvent10
from cloudevents.v1 import conversion as v1_conversion
from cloudevents.v1.http import CloudEvent as V1Event
from cloudevents.v1.http import from_http as v1_from_http

# The receiver serves requests on threads; one line is printed at a time.
PRINTING = threading.Lock()


def header_bytes(value):
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def post(url, headers, body):
    """POSTs to SERVER_URL/events; returns (status, parsed answer)."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.putrequest("POST", "/events")
    for name, value in headers.items():
        connection.putheader(name, header_bytes(value))
    connection.putheader("content-length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    text = response.read().decode("utf-8")
    connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def events(api, spec, config):
    """(case, attributes, data) for every case."""
    for case in config["cases"]:
        data = {"sdk": api, "spec": spec, "case": case["name"], "value": case["value"]}
        attributes = {
            "specversion": spec,
            "source": config["source"],
            "type": config["type"],
            "value": case["value"],
            "datacontenttype": "application/json",
        }
        # The subject, when present, must not be empty; extensions may be.
        if case["value"]:
            attributes["subject"] = case["value"]
        yield case, attributes, data


def core_message(spec, mode, attributes, data):
    event_class = CoreEvent10 if spec == "1.0" else CoreEvent03
    event = event_class(attributes=dict(attributes), data=data)
    convert = core_http.to_binary if mode == "binary" else core_http.to_structured
    message = convert(event, JSONFormat())
    return message.headers, message.body


def v1_message(spec, mode, attributes, data):
    event = V1Event(dict(attributes), data)
    convert = v1_conversion.to_binary if mode == "binary" else v1_conversion.to_structured
    headers, body = convert(event)
    return headers, body


def send(url, cases_path):
    with open(cases_path, encoding="utf-8") as file:
        config = json.load(file)
    apis = [("python-core", core_message, False), ("python-v1", v1_message, True)]
    for api, make, raw in apis:
        for spec in ["1.0", "0.3"]:
            for mode in ["binary", "structured"]:
                for case, attributes, data in events(api, spec, config):
                    attributes["id"] = f"{api}-{spec}-{mode}-{case['name']}"
                    data["mode"] = mode
                    headers, body = make(spec, mode, attributes, data)
                    status, answer = post(url, headers, body)
                    line = {
                        "sdk": api,
                        "spec": spec,
                        "mode": mode,
                        "case": case["name"],
                        "raw": raw and mode == "binary",
                        "status": status,
                        "answer": answer,
                    }
                    print(json.dumps(line), flush=True)


def read(event):
    """The attributes as strings, and the data, of an event of either API."""
    attributes = event.get_attributes()
    return {name: str(value) for name, value in attributes.items()}, event.get_data()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        try:
            if self.path.startswith("/py-core"):
                message = core_http.HTTPMessage(headers=headers, body=body)
                attributes, data = read(core_http.from_http(message, JSONFormat()))
            else:
                attributes, data = read(v1_from_http(headers, body))
            line = {"path": self.path, "attributes": attributes, "data": data}
            status = 202
        except Exception as error:  # any refusal is the finding to report
            line = {"path": self.path, "error": f"{type(error).__name__}: {error}"}
            status = 400
        with PRINTING:
            print(json.dumps(line), flush=True)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def receive():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["send"] and len(sys.argv) == 4:
        send(sys.argv[2], sys.argv[3])
    elif sys.argv[1:] == ["receive"]:
        receive()
    else:
        sys.exit(__doc__)
