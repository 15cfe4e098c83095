//! `GET /openapi.json`: a hand-written OpenAPI 3.0 description of the API.
//!
//! Written by hand because the handlers take raw bodies (events in three
//! content modes, workflow inputs of any shape) that derive macros would
//! describe poorly. A test checks that every route of [`super::routes`] is
//! described here, with the right method, and that nothing else is.

use serde_json::{Value, json};

/// One operation: summary, parameters, request body and answers.
fn operation(
    summary: &str,
    tag: &str,
    parameters: Value,
    body: Option<Value>,
    answers: Value,
) -> Value {
    let mut op = json!({
        "summary": summary,
        "tags": [tag],
        "parameters": parameters,
        "responses": answers,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn path_param(name: &str, what: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": what, "schema": { "type": "string" } })
}

fn query_param(name: &str, what: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": what, "schema": schema })
}

fn answer(what: &str, schema: &str) -> Value {
    json!({ "description": what, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn json_body(what: &str) -> Value {
    json!({ "description": what, "required": false, "content": { "application/json": { "schema": {} } } })
}

/// The document.
pub fn document() -> Value {
    let instance_id = path_param("id", "instance id");
    let error = |what: &str| answer(what, "Error");
    let control = |verb: &str| {
        json!({ "post": operation(
            &format!("{verb} an instance"),
            "instances",
            json!([instance_id]),
            None,
            json!({ "200": answer("the instance after the change", "Instance"),
                    "404": error("no such instance"),
                    "409": error("the instance's status does not allow it") }),
        )})
    };
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "swirl",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "CloudEvents ingress and admin API of `swirl serve`. When SWIRL_ADMIN_TOKEN is set, admin operations need `Authorization: Bearer <token>`; when SWIRL_INGRESS_TOKEN is set, so does the event ingress (the admin token also works there)."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": {
                    "error": { "type": "string" },
                    "event": { "type": "integer", "description": "index of the event at fault in a batch" },
                    "errorId": { "type": "string", "description": "id of the server log line of a 5xx" } } },
                "Accepted": { "type": "object", "properties": {
                    "accepted": { "type": "integer" }, "duplicates": { "type": "integer" },
                    "started": { "type": "array", "items": { "type": "string" } },
                    "delivered": { "type": "array", "items": { "type": "string" } },
                    "buffered": { "type": "integer" } } },
                "Instance": { "type": "object", "properties": {
                    "id": { "type": "string" }, "workflowId": { "type": "string" },
                    "status": { "type": "string", "enum": ["running", "waiting", "suspended", "completed", "failed", "cancelled"] },
                    "state": { "type": "string", "nullable": true },
                    "states": { "type": "array", "items": { "type": "string" } },
                    "input": {}, "output": {},
                    "error": { "type": "object", "properties": { "name": { "type": "string" }, "message": { "type": "string" }, "state": { "type": "string" } } },
                    "createdAt": { "type": "string", "format": "date-time" },
                    "updatedAt": { "type": "string", "format": "date-time" } } },
                "InstancePage": { "type": "object", "properties": {
                    "instances": { "type": "array", "items": { "$ref": "#/components/schemas/Instance" } },
                    "nextCursor": { "type": "string", "nullable": true } } },
                "Any": {}
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/healthz": { "get": operation("liveness", "operations", json!([]), None,
                json!({ "200": answer("the server is up", "Any") })) },
            "/openapi.json": { "get": operation("this document", "operations", json!([]), None,
                json!({ "200": answer("OpenAPI 3 document", "Any") })) },
            "/metrics": { "get": operation("Prometheus metrics", "operations", json!([]), None,
                json!({ "200": { "description": "Prometheus text exposition", "content": { "text/plain": {} } } })) },
            "/backup": { "get": operation("a backup of the store, taken while the server serves (run commits wait meanwhile); swirl restore brings it back into an empty data directory", "operations", json!([]), None,
                json!({ "200": { "description": "the backup", "content": { "application/octet-stream": {} } }, "503": error("the backup could not be written (the data directory is full?)") })) },
            "/events": { "post": events_operation() },
            "/": { "post": events_operation() },
            "/workflows": { "get": operation("list workflows", "workflows", json!([]), None,
                json!({ "200": answer("id, name and version of each workflow", "Any") })) },
            "/workflows/{id}": { "get": operation("a workflow definition (v0.1 JSON)", "workflows",
                json!([path_param("id", "workflow id")]), None,
                json!({ "200": answer("the definition", "Any"), "404": error("no such workflow") })),
                "delete": operation("delete a workflow: new starts (by call or event) get 404; running instances finish on their version", "workflows",
                json!([path_param("id", "workflow id")]), None,
                json!({ "200": answer("{deleted: id}", "Any"), "404": error("no such workflow") })) },
            "/apps": { "post": operation(
                "deploy a manifest with its files: multipart/form-data, a 'manifest' part with the swirl.toml text and one part per file named by the path the manifest uses; checked whole, nothing deployed on any problem; build commands are not run", "apps",
                json!([query_param("canary", "a whole percentage from 1 to 99: each function whose version changes takes that share of its calls, the rest staying with the version that had most", json!({ "type": "integer", "minimum": 1, "maximum": 99 }))]),
                Some(json!({ "required": true, "content": { "multipart/form-data": { "schema": { "type": "object", "required": ["manifest"],
                    "properties": { "manifest": { "type": "string", "format": "binary" } },
                    "additionalProperties": { "type": "string", "format": "binary" } } } } })),
                json!({ "201": answer("app, each function and workflow with its version (a function's also with its number) and status (new, unchanged or canary), and the app's sink urls", "Any"),
                        "400": error("not a multipart upload, no manifest part, or a part name that is not a relative path"),
                        "413": error("the upload is over the deploy body limit"),
                        "422": answer("error and problems, each naming file, line and key; nothing was deployed", "Any") })) },
            "/workflows/{id}/source": { "get": operation("the text the workflow's current version was deployed from, as written (JSON or YAML, any dialect)", "workflows",
                json!([path_param("id", "workflow id")]), None,
                json!({ "200": answer("id, version (the source's hash), fileName and source", "Any"), "404": error("no such workflow") })) },
            "/workflows/{id}/graph": { "get": operation("a workflow as a graph: nodes (id, name, type, scope, start, end, waits, calls, notes) and edges (from, to, kind: transition, choice, default, error, branch or iteration; label)", "workflows",
                json!([path_param("id", "workflow id")]), None,
                json!({ "200": answer("the graph", "Any"), "404": error("no such workflow") })) },
            "/instance-counts": { "get": operation("how many instances have each status", "instances", json!([]), None,
                json!({ "200": answer("a count per status, zeros included", "Any") })) },
            "/workflows/{id}/instances": { "post": operation(
                "start an instance; the body is its input (a JSON object, {} when empty)", "instances",
                json!([path_param("id", "workflow id"),
                       query_param("id", "instance id for an idempotent start: a second start with it returns the same instance", json!({ "type": "string" })),
                       query_param("wait", "answer when the instance ends (200), or after the wait limit with it still running (202)", json!({ "type": "boolean" }))]),
                Some(json_body("workflow input")),
                json!({ "201": answer("started", "Instance"), "200": answer("ended (with wait=true)", "Instance"),
                        "202": answer("still running after the wait limit", "Instance"),
                        "400": error("input is not a JSON object, or a bad parameter"), "404": error("no such workflow") })) },
            "/instances": { "get": operation("list instances, newest first (by start time, then id)", "instances",
                json!([query_param("workflow", "only this workflow", json!({ "type": "string" })),
                       query_param("status", "only this status", json!({ "type": "string" })),
                       query_param("limit", "page size, 1 to 1000 (default 100)", json!({ "type": "integer" })),
                       query_param("cursor", "nextCursor of the previous page", json!({ "type": "string" })),
                       query_param("view", "full (default) or summary: without each instance's input and output", json!({ "type": "string" }))]),
                None,
                json!({ "200": answer("a page of instances", "InstancePage"), "400": error("bad parameter") })) },
            "/instances/{id}": { "get": operation("an instance", "instances", json!([instance_id]), None,
                json!({ "200": answer("the instance", "Instance"), "404": error("no such instance") })) },
            "/instances/{id}/history": { "get": operation("an instance's history, oldest first", "instances",
                json!([instance_id]), None,
                json!({ "200": answer("history entries", "Any"), "404": error("no such instance") })) },
            "/instances/{id}/data": { "get": operation("the data of each state an instance is in now (one per running branch or iteration; none once it ended)", "instances",
                json!([instance_id]), None,
                json!({ "200": answer("id, status and threads: state, data, enteredAt", "Any"), "404": error("no such instance") })) },
            "/instances/{id}/cancel": control("cancel"),
            "/instances/{id}/suspend": control("suspend"),
            "/instances/{id}/resume": control("resume"),
            "/functions": { "get": operation("list functions", "functions", json!([]), None,
                json!({ "200": answer("name, version and invocations of each function", "Any") })) },
            "/functions/{name}": { "get": operation("a function: its current version and number, route (versions and weights), aliases, config and statistics, and every recorded version with its number, deploy time and, when loaded, its statistics", "functions",
                json!([path_param("name", "function name")]), None,
                json!({ "200": answer("the function", "Any"), "404": error("no such function") })),
                "delete": operation("delete a function; instances pinned to one of its versions still call it", "functions",
                json!([path_param("name", "function name")]), None,
                json!({ "200": answer("{deleted: name}", "Any"), "404": error("no such function"),
                        "409": error("workflows still call it; the message names them") })) },
            "/functions/{name}/invoke": { "post": operation("call a function; the body is its JSON input", "functions",
                json!([path_param("name", "function name"),
                       query_param("version", "call this version (its number or id) rather than the current route's", json!({ "type": "string" })),
                       query_param("alias", "call through this alias, which picks the version by weight; the swirl-function-version header names the version (its number)", json!({ "type": "string" }))]),
                Some(json_body("function input")),
                json!({ "200": answer("output, invocation id, duration", "Any"),
                        "422": answer("the function failed: error and failure {code, message, details}", "Any"),
                        "400": error("both version and alias given"),
                        "404": error("no such function, version or alias") })) },
            "/functions/{name}/aliases": { "get": operation("the function's aliases, each with its versions (number, version, weight)", "functions",
                json!([path_param("name", "function name")]), None,
                json!({ "200": answer("{function, aliases}", "Any"), "404": error("no such function") })) },
            "/functions/{name}/aliases/{alias}": {
                "put": operation("set an alias: {\"versions\": {\"<number or id>\": <whole percentage>, ...}}, summing to 100; durable, followed by the next call and the next instance", "functions",
                    json!([path_param("name", "function name"), path_param("alias", "alias name: a-z, 0-9, '-', '_', starting with a letter, at most 64")]),
                    Some(json_body("the versions and their weights")),
                    json!({ "200": answer("{function, alias, versions}", "Any"),
                            "400": error("a bad alias name, an unknown version, or weights that do not sum to 100"),
                            "404": error("no such function"), "409": error("the function has the most aliases it may have") })),
                "delete": operation("delete an alias", "functions",
                    json!([path_param("name", "function name"), path_param("alias", "alias name")]), None,
                    json!({ "200": answer("{deleted: alias}", "Any"), "404": error("no such function or alias"),
                            "409": error("workflows call the function through it; the message names them") })) },
            "/functions/{name}/rollback": { "post": operation("make the version before the newest one the current route sends calls to current, for all calls", "functions",
                json!([path_param("name", "function name")]), None,
                json!({ "200": answer("{function, current: {number, version, deployedMs}}", "Any"),
                        "404": error("no such function"), "409": error("no earlier version") })) },
            "/functions/{name}/versions/{version}": { "delete": operation("delete a version nothing uses: its record and its loaded code", "functions",
                json!([path_param("name", "function name"), path_param("version", "version number or id")]), None,
                json!({ "200": answer("{function, deleted: {number, version, deployedMs}}", "Any"),
                        "404": error("no such function or version"),
                        "409": error("the current route, an alias or unfinished instances use it; the message says which") })) },
            "/functions/{name}/instances": { "get": operation("the function's live instances: those not ended (running, waiting, suspended) whose workflow uses it, newest first, each with the version its calls go to (functionVersion, functionNumber), pinned when it started", "functions",
                json!([path_param("name", "function name"),
                       query_param("limit", "most instances listed, 1 to 1000 (default 100)", json!({ "type": "integer" }))]),
                None,
                json!({ "200": answer("function, count (in all) and instances", "Any"), "400": error("bad parameter"), "404": error("no such function") })) },
            "/functions/{name}/logs": { "get": operation("recent invocations with their log lines, newest first", "functions",
                json!([path_param("name", "function name")]), None,
                json!({ "200": answer("recent invocations", "Any"), "404": error("no such function") })) }
        }
    });
    // In a second macro: one would pass serde_json's recursion limit.
    if let (Some(paths), Value::Object(more)) = (document["paths"].as_object_mut(), event_paths()) {
        paths.extend(more);
    }
    document
}

/// What became of events: deliveries, buffered events, dead letters.
fn event_paths() -> Value {
    let error = |what: &str| answer(what, "Error");
    json!({
        "/deliveries": { "get": operation("the events sent in lately (kept in memory, newest first, at most the server's --recent-deliveries) and where each went: instances started, waiting instances delivered to, buffered, duplicate, or the error that refused it", "events", json!([]), None,
            json!({ "200": answer("limit, and deliveries: at, id, source, type, started, delivered, buffered, duplicate, error", "Any") })) },
        "/buffered-events": { "get": operation("the events kept until an instance waits for them, by type, then source, then arrival", "events",
            json!([query_param("limit", "page size, 1 to 1000 (default 100)", json!({ "type": "integer" })),
                   query_param("cursor", "nextCursor of the previous page", json!({ "type": "string" }))]),
            None,
            json!({ "200": answer("count (in all), events (receivedAt, id, source, type, extensions, data) and nextCursor", "Any"), "400": error("bad parameter") })) },
        "/dead-letters": { "get": operation("produced events that exhausted their retries (kept across restarts)", "sinks",
            json!([query_param("limit", "most dead letters listed, 1 to 1000 (default all)", json!({ "type": "integer" }))]), None,
            json!({ "200": answer("dead letters, oldest first: id, sink, attempts, lastError, queuedAt, failedAt, event", "Any"), "400": error("bad parameter") })) },
        "/dead-letter-count": { "get": operation("how many dead letters there are", "sinks", json!([]), None,
            json!({ "200": answer("count", "Any") })) },
        "/dead-letters/{id}": { "delete": operation("delete a dead letter for good", "sinks",
            json!([path_param("id", "dead letter id")]), None,
            json!({ "200": answer("deleted", "Any"), "404": error("no such dead letter") })) },
        "/dead-letters/{id}/replay": { "post": operation("move a dead letter back to its sink's queue, durably, and deliver it again", "sinks",
            json!([path_param("id", "dead letter id")]), None,
            json!({ "202": answer("queued again", "Any"), "404": error("no such dead letter") })) }
    })
}

fn events_operation() -> Value {
    operation(
        "send CloudEvents (1.0 or 0.3) in binary, structured or batch mode; answered once their effects are durable",
        "events",
        json!([]),
        Some(json!({ "required": true, "content": {
            "application/cloudevents+json": {},
            "application/cloudevents-batch+json": {},
            "*/*": { "description": "binary mode: attributes in ce- headers, percent-encoded (raw UTF-8 or ISO-8859-1 is read too; a % without two hex digits stays)" } } })),
        json!({ "202": answer("accepted", "Accepted"),
                "400": answer("a bad event; nothing was applied", "Error"),
                "401": answer("missing or wrong ingress token", "Error"),
                "413": answer("body or batch over the limit", "Error"),
                "415": answer("not a CloudEvent, or an unsupported event format", "Error") }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let document = document();
        let paths = document["paths"].as_object().expect("paths");
        let routes = super::super::routes();
        for route in &routes {
            let method = route.method.as_str().to_ascii_lowercase();
            assert!(
                paths
                    .get(route.path)
                    .and_then(|path| path.get(&method))
                    .is_some(),
                "{} {} is missing from the openapi document",
                route.method,
                route.path
            );
        }
        for (path, operations) in paths {
            for method in operations.as_object().expect("operations").keys() {
                assert!(
                    routes.iter().any(|route| route.path == path
                        && route.method.as_str().eq_ignore_ascii_case(method)),
                    "the openapi document describes {method} {path}, which no route serves"
                );
            }
        }
    }

    #[test]
    fn schema_references_resolve() {
        let document = document();
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                document["components"]["schemas"].get(name).is_some(),
                "unresolved schema {name}"
            );
        }
    }
}
