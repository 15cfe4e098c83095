// The JavaScript CloudEvents SDK (npm `cloudevents`) as a real client and a
// real receiver of `swirl serve`, driven by tests/tests/all/interop.rs.
//
//   node sdk_js.js send SERVER_URL CASES_JSON
//     Sends every case of CASES_JSON in binary, structured and batch mode,
//     CloudEvents 1.0 and 0.3, made with the SDK's `CloudEvent` and `HTTP`
//     binding (which puts header values in headers raw). A batch is the
//     SDK's events as a JSON array, which is how the SDK reads batches (it
//     has no batch writer). Prints one JSON line per event: what was sent and
//     what swirl answered.
//
//   node sdk_js.js receive
//     Serves HTTP on a free loopback port, prints `listening on PORT`, then
//     one JSON line per event received: the path, the attributes as the SDK's
//     `HTTP.toEvent` read them, and the data.
//
// Requests go through Node's `http`, as axios and most Node clients send
// them. It refuses header values with characters beyond U+00FF, so those
// the SDK left raw are sent percent-encoded, as its user has to.

"use strict";

const fs = require("fs");
const http = require("http");
const { CloudEvent, HTTP, CONSTANTS } = require("cloudevents");


function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}/events`,
      { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) } },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let answer = text;
          try {
            answer = JSON.parse(text);
          } catch (_) {
            // Not JSON: reported as text.
          }
          resolve({ status: response.statusCode, answer });
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

function percentEncoded(headers) {
  const encoded = {};
  for (const [name, value] of Object.entries(headers)) {
    encoded[name] = name.startsWith("ce-") ? encodeURIComponent(value) : value;
  }
  return encoded;
}

function event(config, spec, mode, testCase) {
  const attributes = {
    specversion: spec,
    id: `js-${spec}-${mode}-${testCase.name}`,
    source: config.uriSource,
    type: config.type,
    datacontenttype: "application/json",
    value: testCase.value,
    data: { sdk: "js", spec, mode, case: testCase.name, value: testCase.value },
  };
  // The subject, when present, must not be empty; extensions may be.
  if (testCase.value !== "") {
    attributes.subject = testCase.value;
  }
  return new CloudEvent(attributes);
}

async function send(url, casesPath) {
  const config = JSON.parse(fs.readFileSync(casesPath, "utf8"));
  const cases = config.cases;
  for (const spec of ["1.0", "0.3"]) {
    for (const mode of ["binary", "structured"]) {
      for (const testCase of cases) {
        const message = mode === "binary" ? HTTP.binary(event(config, spec, mode, testCase)) : HTTP.structured(event(config, spec, mode, testCase));
        let raw = mode === "binary";
        let sent;
        try {
          sent = await post(url, message.headers, message.body);
        } catch (error) {
          if (error.code !== "ERR_INVALID_CHAR") {
            throw error;
          }
          // Node refuses characters beyond U+00FF in headers, so the SDK's
          // raw value cannot be sent at all: its user percent-encodes.
          raw = false;
          sent = await post(url, percentEncoded(message.headers), message.body);
        }
        const line = { sdk: "js", spec, mode, case: testCase.name, raw, ...sent };
        console.log(JSON.stringify(line));
      }
    }
    const batch = cases.map((testCase) => event(config, spec, "batch", testCase));
    const { status, answer } = await post(
      url,
      { "content-type": CONSTANTS.MIME_CE_BATCH },
      JSON.stringify(batch),
    );
    for (const testCase of cases) {
      const line = { sdk: "js", spec, mode: "batch", case: testCase.name, raw: false, status, answer };
      console.log(JSON.stringify(line));
    }
  }
}

function receive() {
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let line;
      try {
        const received = HTTP.toEvent({ headers: request.headers, body });
        const { data, ...attributes } = received.toJSON();
        line = { path: request.url, attributes, data };
        response.statusCode = 202;
      } catch (error) {
        // Any refusal is the finding to report.
        line = { path: request.url, error: String(error) };
        response.statusCode = 400;
      }
      console.log(JSON.stringify(line));
      response.end();
    });
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(`listening on ${server.address().port}`);
  });
}

const [command, ...rest] = process.argv.slice(2);
if (command === "send" && rest.length === 2) {
  send(rest[0], rest[1]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else if (command === "receive" && rest.length === 0) {
  receive();
} else {
  console.error("usage: node sdk_js.js send SERVER_URL CASES_JSON | node sdk_js.js receive");
  process.exit(2);
}
