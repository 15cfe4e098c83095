//! The web console in a real browser: Debian's Chromium, driven by
//! chromedriver over the WebDriver HTTP protocol, against a real `swirl
//! serve` with an admin token and instances that completed, failed and
//! wait. One browser session for the whole test, to keep CI time down.
//!
//! The screenshots go to `target/console-screenshots/`; with
//! `SWIRL_BLESS=1` also to `docs/console/`, where README.md shows them.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use swirl_tests::workspace_root;

use crate::server::util::{Server, app_with, request, workflows};

const INSTALL: &str = "apt-get install -y chromium chromium-driver";
const TOKEN: &str = "console-test-token";
/// True once the page asks for the admin token.
const LOGIN_SHOWN: &str = "return !document.getElementById('login').hidden";
/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A program on the PATH, or a failure that says how to install it.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "'{name}' is not installed: the console test drives Debian's Chromium \
                 through chromedriver; run `{INSTALL}` (.ci/run does) and test again"
            )
        })
}

/// chromedriver on a free loopback port, and one browser session in it.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = program("chromium");
        let chromedriver = program("chromedriver");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = crate::server::util::try_request(addr, "GET", "/status", &[], "".into())
                .await
                .is_ok_and(|answer| answer.body["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let session = browser
            .command(
                "POST",
                "/session",
                json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,1000",
                                 "--force-device-scale-factor=1"]
                    }
                } } }),
            )
            .await;
        browser.session = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`.
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let answer = request(
            self.addr,
            method,
            path,
            &[("content-type", "application/json")],
            body.into(),
        )
        .await;
        assert_eq!(answer.status, 200, "{method} {path}: {}", answer.text);
        answer.body["value"].clone()
    }

    async fn session(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.command(method, &path, body).await
    }

    async fn open(&self, url: &str) {
        self.session("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body) in the page.
    async fn run(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Polls `script` until it returns something other than null or false.
    async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.run(script).await;
            if !value.is_null() && value != false {
                return value;
            }
            if Instant::now() > deadline {
                let page = self.run("return document.body.innerText").await;
                panic!("the page never showed {what}; it shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Text of the elements `selector` matches, once there is one.
    async fn texts(&self, selector: &str) -> Vec<String> {
        let script = format!(
            "const all = [...document.querySelectorAll({})].map((e) => e.textContent.trim()); return all.length ? all : null;",
            json!(selector)
        );
        let value = self.until(selector, &script).await;
        serde_json::from_value(value).expect("texts")
    }

    async fn find(&self, selector: &str) -> String {
        let script = format!(
            "return document.querySelector({}) !== null",
            json!(selector)
        );
        self.until(selector, &script).await;
        let found = self
            .session(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": selector }),
            )
            .await;
        found[ELEMENT].as_str().expect("an element id").to_string()
    }

    /// A real click (WebDriver moves the pointer there), so a disabled or
    /// hidden element fails the test.
    async fn click(&self, selector: &str) {
        let element = self.find(selector).await;
        self.session("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn type_text(&self, selector: &str, text: &str) {
        let element = self.find(selector).await;
        self.session(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses and releases one key (a WebDriver key code for Tab, Enter...).
    async fn press(&self, key: &str) {
        let key = json!({ "type": "key", "id": "keyboard", "actions": [
            { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }] });
        self.session("POST", "/actions", json!({ "actions": [key] }))
            .await;
    }

    async fn resize(&self, width: u32, height: u32) {
        self.session(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// A PNG of the window, into the screenshot directories.
    async fn screenshot(&self, name: &str) {
        let png = self.session("GET", "/screenshot", json!(null)).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        let mut dirs = vec![workspace_root().join("target/console-screenshots")];
        if std::env::var_os("SWIRL_BLESS").is_some() {
            dirs.push(workspace_root().join("docs/console"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).expect("a screenshot directory");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("write a screenshot");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Ends Chromium; chromedriver goes with the kill below.
            let addr = self.addr;
            let path = format!("/session/{}", self.session);
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|runtime| {
                        runtime.block_on(crate::server::util::try_request(
                            addr,
                            "DELETE",
                            &path,
                            &[],
                            "".into(),
                        ))
                    })
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A workflow whose one action fails with `Declined`.
fn failing_workflow() -> (&'static str, Value) {
    let fail = json!({ "id": "refuse", "version": "2.0", "name": "refuse",
        "functions": [{ "name": "probe", "resource": "probe" }],
        "states": [
            { "name": "Check", "type": "SWITCH", "start": { "kind": "DEFAULT" },
              "choices": [{ "path": "$.amount", "value": "100", "operator": "GreaterThan",
                            "transition": { "nextState": "Refuse" } }],
              "default": { "nextState": "Accept" } },
            { "name": "Refuse", "type": "OPERATION",
              "actions": [{ "functionRef": { "refName": "probe", "parameters": {
                  "action": "fail", "code": "Declined", "message": "the amount is over the limit" } } }],
              "end": { "kind": "DEFAULT" } },
            { "name": "Accept", "type": "RELAY", "end": { "kind": "DEFAULT" } }
        ] });
    ("refuse.json", fail)
}

/// A Serverless Workflow 1.0 document (as JSON) whose second task's call
/// fails with `Declined`.
fn failing_v10_workflow() -> (&'static str, Value) {
    let checkout = json!({
        "document": { "dsl": "1.0.0", "namespace": "test", "name": "checkout", "version": "1.0.0" },
        "do": [
            { "quote": { "call": "probe", "with": { "action": "echo", "value": "${ .amount }" } } },
            { "charge": { "call": "probe", "with": {
                "action": "fail", "code": "Declined", "message": "the card was declined" } } }
        ]
    });
    ("checkout.json", checkout)
}

/// Starts an instance; `wait` answers when it ends.
async fn start(server: &Server, workflow: &str, input: Value, wait: bool) -> Value {
    let answer = server
        .request(
            "POST",
            &format!("/workflows/{workflow}/instances?wait={wait}"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            input.to_string(),
        )
        .await;
    assert!(answer.status < 300, "{}", answer.text);
    answer.body
}

async fn api(server: &Server, method: &str, path: &str) -> Value {
    let bearer = format!("Bearer {TOKEN}");
    let answer = server
        .request(method, path, &[("authorization", &bearer)], "")
        .await;
    assert_eq!(answer.status, 200, "{method} {path}: {}", answer.text);
    answer.body
}

/// The page of an instance whose one failed call was `Declined` with
/// `message`: its status, error, timeline (`states`, and the failed call)
/// and graph (`nodes`, each `state:class`).
async fn failed_instance_shows(
    browser: &Browser,
    url: &str,
    message: &str,
    states: Value,
    nodes: Value,
) {
    browser.open(url).await;
    assert_eq!(browser.texts("#status .status").await, ["failed"]);
    let error = browser.texts("#error p.error").await;
    assert!(
        error[0].contains("Declined") && error[0].contains(message),
        "{error:?}"
    );
    let timeline = browser
        .run("return [...document.querySelectorAll('#timeline li[data-span=state]')].map((e) => e.dataset.state)")
        .await;
    assert_eq!(timeline, states);
    let failed_call = browser
        .run("return document.querySelectorAll('#timeline .span.action.failed').length")
        .await;
    assert_eq!(failed_call, 1);
    let shown = browser
        .run("return [...document.querySelectorAll('#graph g.node')].map((g) => g.dataset.state + ':' + g.getAttribute('class'))")
        .await;
    assert_eq!(shown, nodes);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_shows_instances_workflows_functions_and_events() {
    let browser = Browser::start().await;
    // A sink nobody listens on: the produced event becomes a dead letter.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let mut definitions = workflows();
    definitions.push(failing_workflow());
    definitions.push(failing_v10_workflow());
    definitions.push((
        "pause.json",
        json!({ "id": "pause", "version": "1.0", "name": "pause",
            "states": [{ "name": "Pause", "type": "DELAY", "start": { "kind": "DEFAULT" },
                         "timeDelay": "PT2S", "end": { "kind": "DEFAULT" } }] }),
    ));
    let app = app_with(
        definitions,
        &format!("\n[[sinks]]\nurl = \"http://{closed}/in\"\ntype = \"job.done\"\n"),
    );
    let server = Server::start(&app, &[], &[("SWIRL_ADMIN_TOKEN", TOKEN)]);

    let completed = start(&server, "add", json!({ "a": 2, "b": 3 }), true).await;
    assert_eq!(completed["status"], "completed");
    let failed = start(&server, "refuse", json!({ "amount": 250 }), true).await;
    assert_eq!(failed["status"], "failed");
    let failed_v10 = start(&server, "checkout", json!({ "amount": 250 }), true).await;
    assert_eq!(failed_v10["status"], "failed");
    let waiting = start(&server, "orders", json!({}), false).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let path = format!("/instances/{}", waiting["id"].as_str().expect("an id"));
    while api(&server, "GET", &path).await["status"] != "waiting" {
        assert!(Instant::now() < deadline, "the orders instance never waits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A 1 MB input: the page shows the start of it.
    let big = start(
        &server,
        "add",
        json!({ "a": 1, "b": 1, "blob": "x".repeat(1 << 20) }),
        true,
    )
    .await;
    let job = server
        .request(
            "POST",
            "/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "job-1"),
                ("ce-source", "jobs"),
                ("ce-type", "job.created"),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            json!({ "a": 1, "b": 2 }).to_string(),
        )
        .await;
    assert_eq!(job.status, 202, "{}", job.text);
    // A shipment no order waits for yet: buffered.
    let early = server
        .request(
            "POST",
            "/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "ship-early"),
                ("ce-source", "shop"),
                ("ce-type", "order.shipped"),
                ("ce-orderid", "o-early"),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            json!({ "carrier": "post" }).to_string(),
        )
        .await;
    assert_eq!(early.body["buffered"], 1, "{}", early.text);
    let id = |instance: &Value| instance["id"].as_str().expect("an id").to_string();
    let base = server.url();

    // An instance that ends while the list is open: the list follows it.
    let pausing = start(&server, "pause", json!({}), false).await;

    // The list asks for the token first, then shows every instance.
    browser.open(&format!("{base}/ui/")).await;
    browser.until("the token form", LOGIN_SHOWN).await;
    browser.type_text("#token", TOKEN).await;
    browser.click("#login button[type=submit]").await;
    let listed = browser.texts("#instances tbody td.id").await;
    for instance in [&completed, &failed, &failed_v10, &waiting, &big] {
        assert!(listed.contains(&id(instance)), "{listed:?}");
    }
    // A mark that a reload would lose.
    browser.run("window.notReloaded = true;").await;
    browser
        .until(
            "the paused instance completed, without a reload",
            &format!(
                "const row = document.querySelector('tr[data-instance=\"' + {} + '\"] .status'); \
                 return window.notReloaded && row && row.textContent === 'completed';",
                json!(id(&pausing))
            ),
        )
        .await;
    let token_in_url = browser.run("return location.href").await;
    assert!(!token_in_url.to_string().contains(TOKEN));
    let counts = browser.texts(".counts a[data-count]").await;
    assert!(counts.contains(&"failed 2".to_string()), "{counts:?}");
    assert!(counts.contains(&"waiting 1".to_string()), "{counts:?}");
    browser.screenshot("instances").await;

    // Filtered by status through the form, as a URL that reloads.
    browser
        .run("document.getElementById('filter-status').value = 'failed';")
        .await;
    browser.click("#apply-filters").await;
    browser
        .until(
            "only the failed instances",
            &format!(
                "const ids = [...document.querySelectorAll('#instances td.id')].map((e) => e.textContent); \
                 return location.search === '?status=failed' && ids.length === 2 && ids.includes({}) && ids.includes({});",
                json!(id(&failed)),
                json!(id(&failed_v10))
            ),
        )
        .await;

    // The failed instance: its error, its timeline, its graph.
    failed_instance_shows(
        &browser,
        &format!("{base}/ui/instances/{}", id(&failed)),
        "the amount is over the limit",
        json!(["Check", "Refuse"]),
        json!(["Check:node start past", "Refuse:node failed", "Accept:node"]),
    )
    .await;
    browser.screenshot("instance-failed").await;

    // A failed 1.0 instance: its tasks by their pointers, the failed call,
    // the problem's type and title, its graph.
    failed_instance_shows(
        &browser,
        &format!("{base}/ui/instances/{}", id(&failed_v10)),
        "the card was declined",
        json!(["/do/0/quote", "/do/1/charge"]),
        json!(["/do/0/quote:node start past", "/do/1/charge:node failed"]),
    )
    .await;
    browser.screenshot("instance-failed-v10").await;

    // The 1 MB input is cut, and whole on demand.
    browser
        .open(&format!("{base}/ui/instances/{}", id(&big)))
        .await;
    let input_length = browser
        .until(
            "the cut input",
            "const pre = document.querySelector('pre[aria-label=input]'); return pre && pre.textContent.length",
        )
        .await;
    assert!(input_length.as_u64().unwrap() < 30_000, "{input_length}");
    // Cut or whole, it scrolls in its box; the page keeps the screen's width.
    let overflow =
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth";
    assert_eq!(
        browser.run(overflow).await,
        0,
        "the 1 MB input widens the page"
    );
    browser.click("pre[aria-label=input] + button").await;
    let whole = browser
        .until(
            "the whole input",
            "const pre = document.querySelector('pre[aria-label=input]'); \
             return pre.textContent.length > 1000000 && [pre.scrollHeight > pre.clientHeight, pre.clientHeight <= 420]",
        )
        .await;
    assert_eq!(
        whole,
        json!([true, true]),
        "the whole input scrolls in its box"
    );
    assert_eq!(
        browser.run(overflow).await,
        0,
        "the whole 1 MB input widens the page"
    );

    // The waiting instance: its data, then suspend, resume and cancel it
    // from the page.
    browser
        .open(&format!("{base}/ui/instances/{}", id(&waiting)))
        .await;
    assert_eq!(browser.texts("#status .status").await, ["waiting"]);
    let current = browser
        .run("return document.querySelector('#graph g.node.current').dataset.state")
        .await;
    assert_eq!(current, "OnPaid");
    let data = browser.texts("section.data pre").await;
    assert_eq!(data, ["{}"], "the waiting instance's data");
    browser.screenshot("instance-waiting").await;
    // With the keyboard alone: Tab until Suspend has the focus, then Enter.
    let mut presses = 0;
    while browser
        .run("return document.activeElement && document.activeElement.id")
        .await
        != "suspend"
    {
        assert!(presses < 60, "Tab never reaches the suspend button");
        browser.press("\u{E004}").await;
        presses += 1;
    }
    browser.press("\u{E007}").await;
    browser
        .until(
            "the suspended status",
            "const s = document.querySelector('#status .status'); return s && s.textContent === 'suspended';",
        )
        .await;
    browser.click("#resume").await;
    browser
        .until(
            "the waiting status again",
            "const s = document.querySelector('#status .status'); return s && s.textContent === 'waiting' && !document.getElementById('suspend').disabled;",
        )
        .await;
    browser.click("#cancel").await;
    browser
        .until(
            "the cancelled status",
            "const s = document.querySelector('#status .status'); return s && s.textContent === 'cancelled';",
        )
        .await;
    let after = api(&server, "GET", &format!("/instances/{}", id(&waiting))).await;
    assert_eq!(after["status"], "cancelled");

    // A workflow's graph: states, the choice and its default, version.
    browser.open(&format!("{base}/ui/workflows/refuse")).await;
    assert_eq!(browser.texts("#version").await, ["2.0"]);
    let edges = browser
        .run("return [...document.querySelectorAll('#graph g.edge')].map((g) => `${g.dataset.from}>${g.dataset.to}:${g.getAttribute('class')}:${g.querySelector('text').textContent}`)")
        .await;
    assert_eq!(
        edges,
        json!([
            "Check>Refuse:edge choice:$.amount > 100",
            "Check>Accept:edge default:default"
        ])
    );
    let counted = browser
        .run("return document.getElementById('node-count').previousElementSibling.textContent + ' ' + document.getElementById('node-count').textContent")
        .await;
    assert_eq!(counted, "States 3");
    browser.screenshot("workflow").await;
    browser.open(&format!("{base}/ui/workflows")).await;
    let listed = browser.texts("#workflows td.id").await;
    assert_eq!(
        listed,
        ["add", "checkout", "jobs", "orders", "pause", "refuse"]
    );

    // A 1.0 workflow's graph: its tasks by name and 1.0 kind, each known
    // by its pointer; counted as tasks.
    browser.open(&format!("{base}/ui/workflows/checkout")).await;
    // The graph is drawn once the page's requests have answered.
    assert_eq!(
        browser.texts("#graph g.node text.name").await,
        ["quote", "charge"]
    );
    let kinds = browser
        .run("return [...document.querySelectorAll('#graph g.node')].map((g) => [g.dataset.state, g.querySelector('text.name').textContent, g.querySelector('text.kind').textContent, g.querySelector('title').textContent.split('\\n')[0]].join(' '))")
        .await;
    assert_eq!(
        kinds,
        json!([
            "/do/0/quote quote call quote (/do/0/quote)",
            "/do/1/charge charge call charge (/do/1/charge)"
        ])
    );
    let counted = browser
        .run("return document.getElementById('node-count').previousElementSibling.textContent + ' ' + document.getElementById('node-count').textContent")
        .await;
    assert_eq!(counted, "Tasks 2");
    // Its source as written: the 1.0 document, not the model's v0.1 JSON.
    let source = browser.texts("#source pre").await;
    assert_eq!(source, [failing_v10_workflow().1.to_string()]);

    // The function: its calls, with the instances that made them, and its
    // live instances (an order waits, using probe; the ended ones do not).
    let live = start(&server, "orders", json!({}), false).await;
    browser.open(&format!("{base}/ui/functions/probe")).await;
    let probe = api(&server, "GET", "/functions/probe").await;
    let stats = browser.texts("#stats dd").await;
    assert_eq!(
        stats[1],
        probe["stats"]["invocations"].to_string(),
        "calls: {stats:?}"
    );
    let versions = browser.texts("#versions td.mono").await;
    assert_eq!(versions, [probe["version"].as_str().unwrap()]);
    let callers = browser.texts("#invocations td.id a").await;
    assert!(callers.contains(&id(&failed)), "{callers:?}");
    browser
        .until(
            "the live order instance",
            &format!(
                "const ids = [...document.querySelectorAll('#live-instances td.id')].map((e) => e.textContent); \
                 return ids.length === 1 && ids[0] === {};",
                json!(id(&live))
            ),
        )
        .await;
    let pinned = browser.texts("#live-instances td.mono:not(.id)").await;
    assert_eq!(
        pinned,
        [format!("1 ({})", probe["version"].as_str().unwrap())]
    );
    browser.screenshot("function").await;
    // It ends while the page is open: the page follows, without a reload.
    browser.run("window.notReloaded = true;").await;
    api(&server, "POST", &format!("/instances/{}/cancel", id(&live))).await;
    browser
        .until(
            "no live instance, without a reload",
            "return window.notReloaded && !document.querySelector('#live-instances') \
             && document.body.textContent.includes('No instance that uses it is running or waiting.')",
        )
        .await;

    // The dead letter the closed sink left: replay it from the page (it
    // fails again, later), then delete it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let letters = api(&server, "GET", "/dead-letters").await;
        if letters.as_array().is_some_and(|l| !l.is_empty()) || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letters.as_array().map(Vec::len), Some(1), "{letters}");
    browser.open(&format!("{base}/ui/events")).await;
    let shown = browser.texts("#dead-letters td.id").await;
    assert_eq!(shown, [letters[0]["id"].as_str().unwrap()]);
    let heading = browser
        .run("return [...document.querySelectorAll('h2')].map((e) => e.textContent).find((t) => t.startsWith('Dead letters'))")
        .await;
    assert_eq!(heading, "Dead letters (1)", "the count the server keeps");
    // Recent deliveries: where each event went, newest first.
    let deliveries = browser
        .run("return [...document.querySelectorAll('#deliveries tbody tr')].map((r) => r.dataset.delivery + ':' + r.dataset.outcome)")
        .await;
    assert_eq!(deliveries, json!(["ship-early:buffered", "job-1:started"]));
    let started = browser
        .texts("#deliveries tr[data-delivery=job-1] td.outcome a")
        .await;
    assert_eq!(started, [job.body["started"][0].as_str().unwrap()]);
    // Buffered: the early shipment (and the job.done the jobs instance
    // produced: the test workflows define that event, none waits for it).
    let buffered = browser
        .run("return [...document.querySelectorAll('#buffered tbody tr')].map((r) => r.dataset.event)")
        .await;
    assert!(
        buffered
            .as_array()
            .is_some_and(|ids| ids.contains(&json!("ship-early"))),
        "{buffered}"
    );
    let extensions = browser
        .texts("#buffered tr[data-event=ship-early] td.mono")
        .await;
    assert_eq!(extensions, ["orderid: o-early"]);
    browser.screenshot("events").await;
    browser.click("#dead-letters button.danger").await;
    browser
        .until(
            "no dead letters",
            "return document.body.textContent.includes('No dead letters.')",
        )
        .await;
    assert_eq!(api(&server, "GET", "/dead-letters").await, json!([]));

    // A phone: nothing wider than the screen but the tables' own scroll.
    browser.resize(390, 844).await;
    browser
        .open(&format!("{base}/ui/instances/{}", id(&failed)))
        .await;
    browser.texts("#status .status").await;
    let overflow = browser
        .run("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert_eq!(overflow, 0, "the page scrolls sideways on a phone");
    browser.screenshot("instance-phone").await;
    for (page, shown) in [
        ("/ui/events", "#deliveries"),
        ("/ui/functions/probe", "#invocations"),
        ("/ui/workflows/checkout", "#source"),
    ] {
        browser.open(&format!("{base}{page}")).await;
        browser.find(shown).await;
        let overflow = browser
            .run("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(overflow, 0, "{page} scrolls sideways on a phone");
    }

    // Reading a page needs the token: a fresh tab without it is asked again.
    browser.run("sessionStorage.clear();").await;
    browser.open(&format!("{base}/ui/workflows")).await;
    browser.until("the token form", LOGIN_SHOWN).await;
}

/// 10,000 instances (of a RELAY workflow, no function): the list shows a
/// page of 50 and the counts, pages on, and keeps the screen's width on a
/// laptop and a phone.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_instances_are_listed_a_page_at_a_time_within_the_screen() {
    const INSTANCES: usize = 10_000;
    let browser = Browser::start().await;
    let relay = json!({ "id": "relay", "version": "1.0", "name": "relay",
        "states": [{ "name": "Relay", "type": "RELAY", "start": { "kind": "DEFAULT" },
                     "end": { "kind": "DEFAULT" } }] });
    let app = crate::server::util::workflows_app(vec![("relay.json", relay)], "");
    let server = Server::start(&app, &[], &[("SWIRL_ADMIN_TOKEN", TOKEN)]);
    let addr = server.addr;
    let started = Instant::now();
    // 250 at a time, so that the starts share their flushes.
    for _ in 0..INSTANCES / 250 {
        let mut starts = tokio::task::JoinSet::new();
        for _ in 0..250 {
            starts.spawn(async move {
                let bearer = format!("Bearer {TOKEN}");
                let headers = [
                    ("content-type", "application/json"),
                    ("authorization", bearer.as_str()),
                ];
                request(
                    addr,
                    "POST",
                    "/workflows/relay/instances",
                    &headers,
                    "{}".into(),
                )
                .await
                .status
            });
        }
        while let Some(status) = starts.join_next().await {
            assert_eq!(status.expect("a start"), 201);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while api(&server, "GET", "/instance-counts").await["completed"] != INSTANCES {
        assert!(
            Instant::now() < deadline,
            "the instances never all completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{INSTANCES} instances started over HTTP and completed in {:?}",
        started.elapsed()
    );

    browser
        .open(&format!("{}/ui/instances", server.url()))
        .await;
    browser.until("the token form", LOGIN_SHOWN).await;
    browser.type_text("#token", TOKEN).await;
    let shown = Instant::now();
    browser.click("#login button[type=submit]").await;
    let first = browser.texts("#instances tbody td.id").await;
    eprintln!("the first page shown {:?} after the token", shown.elapsed());
    assert_eq!(first.len(), 50);
    let counts = browser.texts(".counts a").await;
    assert!(counts.contains(&format!("all {INSTANCES}")), "{counts:?}");
    assert!(
        counts.contains(&format!("completed {INSTANCES}")),
        "{counts:?}"
    );
    let overflow =
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth";
    assert_eq!(browser.run(overflow).await, 0, "the list widens the page");
    let paged = Instant::now();
    browser.click("#next-page").await;
    let second = browser
        .until(
            "the second page",
            &format!(
                "const ids = [...document.querySelectorAll('#instances td.id')].map((e) => e.textContent); \
                 return ids.length === 50 && !ids.includes({}) && ids;",
                json!(first[0])
            ),
        )
        .await;
    eprintln!(
        "the second page shown {:?} after the click",
        paged.elapsed()
    );
    assert!(second.as_array().is_some_and(|ids| {
        ids.iter()
            .all(|id| !first.contains(&id.as_str().unwrap().to_string()))
    }));
    browser.resize(390, 844).await;
    assert_eq!(
        browser.run(overflow).await,
        0,
        "the list widens the page on a phone"
    );
}
