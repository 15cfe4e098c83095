//! The example apps under `examples/`, through the real binary, up to what
//! exists without the workflow engine: every manifest validates (its
//! functions compiled and checked against the world, its workflows against
//! its functions), every example has its README and `expected.json`, and
//! each function, invoked directly, answers a representative input the way
//! the example's README and expected outputs say it does.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use swirl_tests::{App, Run, example_function, examples, run, swirl, workspace_root};

/// One example app, with a private data directory for its functions' kv.
struct Example {
    dir: PathBuf,
    data: tempfile::TempDir,
}

impl Example {
    fn new(name: &str) -> Self {
        // Any crate will do: the first call builds every example's functions.
        example_function("greeting");
        let dir = workspace_root().join("examples").join(name);
        assert!(dir.join("swirl.toml").is_file(), "no example {name}");
        Example {
            dir,
            data: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn invoke(&self, function: &str, input: &Value) -> Run {
        run(swirl(workspace_root())
            .arg("invoke")
            .arg(self.dir.join("swirl.toml"))
            .arg(function)
            .args(["--input", &input.to_string()])
            .arg("--data-dir")
            .arg(self.data.path()))
    }

    /// The output of a call that must succeed.
    fn output(&self, function: &str, input: Value) -> Value {
        let result = self.invoke(function, &input);
        assert_eq!(
            result.code, 0,
            "{function} {input} failed:\n{}",
            result.stderr
        );
        serde_json::from_str(&result.stdout).unwrap_or_else(|error| {
            panic!("{function} printed no JSON ({error}): {}", result.stdout)
        })
    }

    /// The `code: message` line of a call that must fail.
    fn failure(&self, function: &str, input: Value) -> String {
        let result = self.invoke(function, &input);
        assert_eq!(
            result.code, 1,
            "{function} {input} did not fail: {}",
            result.stdout
        );
        result.stderr.lines().last().unwrap_or_default().to_string()
    }

    /// The `expected.json` of the example.
    fn expected(&self) -> Value {
        read_json(&self.dir.join("expected.json"))
    }

    /// The expected output of the case named `case`.
    fn expected_output(&self, case: &str) -> Value {
        self.expected_case(case)["output"].clone()
    }

    fn expected_case(&self, case: &str) -> Value {
        self.expected()["cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["name"] == case))
            .unwrap_or_else(|| panic!("{}: no case '{case}'", self.dir.display()))
            .clone()
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_example_validates_cleanly_and_documents_its_expected_outputs() {
    example_function("greeting");
    let data = tempfile::tempdir().unwrap();
    let all = examples();
    assert!(all.len() >= 16, "examples: {all:?}");
    for dir in all {
        let result = run(swirl(workspace_root())
            .arg("validate")
            .arg(dir.join("swirl.toml"))
            .arg("--data-dir")
            .arg(data.path()));
        assert_eq!(result.code, 0, "{}:\n{}", dir.display(), result.stderr);
        assert!(
            !result.stderr.contains("warning"),
            "{}:\n{}",
            dir.display(),
            result.stderr
        );
        assert!(
            dir.join("README.md").is_file(),
            "{}: no README",
            dir.display()
        );
        if dir.ends_with("hello") {
            continue;
        }
        let expected = read_json(&dir.join("expected.json"));
        let defined: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.extension().is_some_and(|e| e == "json" || e == "yaml")
                    && !path.ends_with("expected.json")
            })
            .map(|path| {
                swirl_workflow::load_file(&path, swirl_workflow::KnownFunctions::Unchecked)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
                    .definition
                    .id
            })
            .collect();
        // One workflow, or the same one in several dialects.
        let named = match &expected["workflow"] {
            Value::Array(ids) => ids.clone(),
            id => vec![id.clone()],
        };
        for workflow in named {
            assert!(
                workflow
                    .as_str()
                    .is_some_and(|id| defined.iter().any(|d| d == id)),
                "{}: expected.json names workflow {workflow}, which no workflow file defines",
                dir.display()
            );
        }
        let cases = expected["cases"].as_array().cloned().unwrap_or_default();
        assert!(!cases.is_empty(), "{}: no cases", dir.display());
        for case in cases {
            let status = case["status"].as_str();
            let has_instances = case.get("instances").is_some();
            assert!(
                matches!(status, Some("completed" | "failed")) || has_instances,
                "{}: case {} has neither a status nor instances",
                dir.display(),
                case["name"]
            );
        }
    }
}

#[test]
fn math_solver_solves_the_specification_expressions() {
    let example = Example::new("solving-math-problems");
    let answers: Vec<Value> = ["2+2", "4-1", "10x3", "20/2"]
        .into_iter()
        .map(|e| example.output("solver", json!({ "expression": e })))
        .collect();
    assert_eq!(
        Value::Array(answers),
        example.expected_output("the specification's input")
    );
    assert_eq!(
        example.output("solver", json!({"expression": "2+3*4"})),
        json!(14)
    );
    assert_eq!(
        example.output("solver", json!({"expression": "-(1.5-4)/0.5"})),
        json!(5)
    );
    assert_eq!(
        example.output("solver", json!({"expression": "0.1+0.2"})),
        json!(0.3)
    );
    assert_eq!(
        example.failure("solver", json!({"expression": "2+*3"})),
        "InvalidExpression: cannot solve '2+*3': expected a number or '(', found '*' at character 3"
    );
    assert!(
        example
            .failure("solver", json!({"expression": "7/0"}))
            .starts_with("DivisionByZero: ")
    );
}

#[test]
fn greeting_functions_answer_the_payload_the_specification_assumes() {
    let greeting = Example::new("greeting");
    assert_eq!(
        greeting.output("greeting", json!({"name": "John"})),
        json!({"payload": {"greeting": greeting.expected_output("the specification's input")}})
    );
    assert!(
        greeting
            .failure("greeting", json!({"name": " "}))
            .starts_with("EmptyName: ")
    );
    let event_based = Example::new("event-based-greeting");
    assert_eq!(
        event_based.output("greeting", json!({"name": "John"})),
        json!({"payload": {"greeting": "Welcome to Serverless Workflow, John!"}})
    );
}

#[test]
fn applicant_functions_start_or_reject_from_the_applicants_data() {
    let example = Example::new("applicant-request-decision");
    let adult = example.expected_output("the specification's applicant is old enough");
    assert_eq!(
        example.output(
            "start-application",
            json!({"applicant": adult["applicant"]})
        ),
        json!({"application": adult["application"]})
    );
    let minor = example.expected_output("a minor is sent a rejection");
    assert_eq!(
        example.output(
            "send-rejection-email",
            json!({"applicant": minor["applicant"]})
        ),
        json!({"rejectionEmail": minor["rejectionEmail"]})
    );
    let invalid =
        example.expected_case("an adult with an unusable email fails in the sub-workflow");
    assert!(
        example
            .failure(
                "start-application",
                json!({"applicant": invalid["input"]["applicant"]})
            )
            .starts_with("InvalidEmail: ")
    );
    assert!(
        example
            .failure(
                "start-application",
                json!({"applicant": minor["applicant"]})
            )
            .starts_with("ApplicantTooYoung: ")
    );
}

#[test]
fn order_provisioner_throws_the_exception_each_handler_routes() {
    let example = Example::new("provision-orders");
    for case in [
        "the specification's order has no id",
        "no item",
        "no quantity",
    ] {
        let expected = example.expected_output(case);
        let error = &expected["error"];
        assert_eq!(
            example.failure("provision-order", json!({"order": expected["order"]})),
            format!(
                "{}: {}",
                error["name"].as_str().unwrap(),
                error["message"].as_str().unwrap()
            ),
            "{case}"
        );
    }
    let good = example.expected_output("a complete order is provisioned and applied");
    assert_eq!(
        example.output("provision-order", json!({"order": good["order"]})),
        json!({"provisionedOrder": good["provisionedOrder"]})
    );
    let unknown = example.expected_case("an error no handler matches fails the instance");
    assert_eq!(
        example.failure("provision-order", unknown["input"].clone()),
        format!(
            "UnknownItemException: {}",
            unknown["error"]["message"].as_str().unwrap()
        )
    );
}

#[test]
fn job_service_runs_a_job_a_slice_per_status_check() {
    let example = Example::new("monitor-job");
    let submitted = example.output(
        "jobs",
        json!({"op": "submit", "name": "primes-below-100000"}),
    );
    assert_eq!(submitted, json!({"jobuid": "job-primes-below-100000"}));
    let uid = &submitted["jobuid"];
    let status = json!({"op": "status", "name": uid});
    let jobstatus = |status: &str| json!({ "jobstatus": status });
    assert_eq!(example.output("jobs", status.clone()), jobstatus("RUNNING"));
    assert!(
        example
            .failure("jobs", json!({"op": "report-succeeded", "name": uid}))
            .starts_with("JobStatusMismatch: ")
    );
    assert_eq!(
        example.output("jobs", status.clone()),
        jobstatus("SUCCEEDED")
    );
    assert_eq!(example.output("jobs", status), jobstatus("SUCCEEDED"));
    let finished = example.expected_output("a job that finishes in two slices");
    assert_eq!(
        example.output("jobs", json!({"op": "report-succeeded", "name": uid})),
        json!({"report": finished["report"]})
    );

    let big = json!({"op": "status", "name": "job-primes-below-1000000"});
    example.output(
        "jobs",
        json!({"op": "submit", "name": "primes-below-1000000"}),
    );
    assert_eq!(example.output("jobs", big.clone()), jobstatus("RUNNING"));
    assert_eq!(example.output("jobs", big.clone()), jobstatus("RUNNING"));
    assert_eq!(example.output("jobs", big), jobstatus("FAILED"));
    let overrun = example.expected_output("a job that overruns its budget of three slices");
    assert_eq!(
        example.output(
            "jobs",
            json!({"op": "report-failed", "name": "job-primes-below-1000000"})
        ),
        json!({"report": overrun["report"]})
    );

    let refused = example.expected_output("a job the service refuses");
    assert_eq!(
        example.failure("jobs", json!({"op": "submit", "name": "fibonacci-10"})),
        format!(
            "InvalidJobName: {}",
            refused["error"]["message"].as_str().unwrap()
        )
    );
    assert!(
        example
            .failure("jobs", json!({"op": "status", "name": "job-nothing"}))
            .starts_with("UnknownJob: ")
    );
}

#[test]
fn stock_provisioner_decides_each_order_from_the_stock() {
    let example = Example::new("send-cloudevent-on-workflow-completion");
    let case = example.expected_case("the specification's orders");
    let outcomes: Vec<Value> = case["input"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| {
            example.output("provision-order", json!({ "order": order }))["provisioned"].clone()
        })
        .collect();
    assert_eq!(Value::Array(outcomes), case["output"]);
}

#[test]
fn vitals_monitor_acts_only_on_readings_above_the_limit() {
    let example = Example::new("monitor-patient-vital-signs");
    let functions = [
        ("org.monitor.highBodyTemp", "send-tylenol-order"),
        ("org.monitor.highBloodPressure", "call-nurse"),
        ("org.monitor.highRespirationRate", "call-pulmonologist"),
    ];
    let mut checked = 0;
    for case in example.expected()["cases"].as_array().unwrap() {
        let events = case["events"].as_array().unwrap();
        let instances = case["instances"].as_array().unwrap();
        for (event, instance) in events.iter().zip(instances) {
            let (_, function) = functions
                .iter()
                .find(|(event_type, _)| event["type"] == *event_type)
                .unwrap();
            let data = &event["data"];
            let input = json!({"patientid": data["patientId"], "reading": data["value"]});
            assert_eq!(
                example.output(function, input),
                json!({"assessment": instance["output"]["assessment"]})
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
    let celsius = example.output(
        "send-tylenol-order",
        json!({"patientid": "PID-1", "reading": "38.9C"}),
    );
    assert_eq!(celsius["assessment"]["aboveLimit"], json!(true));
    assert!(
        example
            .failure(
                "call-pulmonologist",
                json!({"patientid": "PID-1", "reading": "fast"})
            )
            .starts_with("InvalidReading: ")
    );
}

#[test]
fn application_finalizer_decides_from_scores_and_recommendation() {
    let example = Example::new("finalize-college-application");
    let case = example.expected_case(
        "events of two applicants interleaved are kept apart by the correlation token",
    );
    for instance in case["instances"].as_array().unwrap() {
        let output = &instance["output"];
        let input = json!({
            "student": output["applicantId"],
            "name": output["name"],
            "program": output["program"],
            "satScores": output["satScores"],
            "recommendation": output["recommendation"],
        });
        assert_eq!(
            example.output("finalize-application", input),
            json!({"finalizedApplication": output["finalizedApplication"]})
        );
    }
}

#[test]
fn credit_check_scores_decides_and_reports_by_event() {
    let example = Example::new("perform-customer-credit-check");
    for case in [
        "the specification's customer is approved by the service",
        "a low score is denied by the service",
    ] {
        let expected = example.expected_case(case);
        let result = example.invoke("credit-check", &expected["input"]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        let output: Value = serde_json::from_str(&result.stdout).unwrap();
        assert_eq!(
            output,
            json!({"creditCheckRequest": expected["output"]["creditCheckRequest"]})
        );
        assert!(
            result
                .stderr
                .contains("[emit] type=creditCheckCompleteType source=creditCheckSource"),
            "{case}: {}",
            result.stderr
        );
    }
    let referred =
        example.expected_case("a borderline score waits for a reviewer's decision event");
    let result = example.invoke("credit-check", &referred["input"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(!result.stderr.contains("[emit]"), "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).unwrap(),
        json!({"creditCheckRequest": referred["output"]["creditCheckRequest"]})
    );

    let denied = example.expected_output("a low score is denied by the service");
    assert_eq!(
        example.output(
            "send-rejection-email",
            json!({"applicant": denied["customer"]})
        ),
        json!({"rejectionEmail": denied["rejectionEmail"]})
    );
}

#[test]
fn bid_store_keeps_the_highest_bid_across_calls() {
    let example = Example::new("handle-car-auction-bids");
    let case = example.expected_case(
        "each bid starts an instance of the open auction only; the store remembers earlier bids",
    );
    let events = case["events"].as_array().unwrap();
    let instances = case["instances"].as_array().unwrap();
    for (event, instance) in events.iter().zip(instances) {
        assert_eq!(
            example.output("store-bid", json!({"bid": event["data"]["bid"]})),
            json!({"storedBids": instance["output"]["storedBids"]})
        );
    }
    assert!(
        example
            .failure(
                "store-bid",
                json!({"bid": [{"carid": "car1", "amount": 0, "bidder": {"id": "z"}}]})
            )
            .starts_with("InvalidBid: ")
    );
}

#[test]
fn draft_functions_follow_the_handbooks_signatures() {
    let example = Example::new("draft-hello-world");
    assert_eq!(
        example.output("hello", json!({"name": "World"})),
        json!({"payload": "Hello, World!"})
    );
    assert!(
        example
            .failure("hello", json!({"name": 42}))
            .starts_with("SYS.InvalidParameter: ")
    );
    // The example's manifest makes the first attempt of each call busy, to
    // show the workflow's retry; `invoke` is always a first attempt.
    assert!(
        example
            .failure("save_result", json!({"value1": "Hello, World!"}))
            .starts_with("StoreBusy: ")
    );
    let app = App::new(&format!(
        "[app]\nname = \"save\"\n\n[functions.save_result]\nsource = \"{}\"\nconfig = {{ BUSY_ATTEMPTS = \"0\" }}\n",
        example_function("draft-save-result").display()
    ));
    let saved = app.invoke("save_result", r#"{"value1":"Hello, World!"}"#);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&saved.stdout).unwrap(),
        example.expected_output("the handbook's example, with one retry of a busy store")
    );
}

#[test]
fn saga_services_do_and_undo_each_step() {
    let example = Example::new("order-saga");
    let happy = example.expected_output("every step succeeds");
    let order = &happy["order"];
    let reservation = example.output(
        "inventory",
        json!({"op": "reserve", "orderId": order["id"], "item": order["item"], "quantity": order["quantity"]}),
    );
    assert_eq!(reservation, json!({"reservation": happy["reservation"]}));
    let reservation = &reservation["reservation"];
    // Reserving again for the same order is the same reservation, not a second one.
    assert_eq!(
        example.output(
            "inventory",
            json!({"op": "reserve", "orderId": order["id"], "item": order["item"], "quantity": order["quantity"]}),
        ),
        json!({ "reservation": reservation })
    );
    let payment = example.output("payments", json!({"op": "charge", "order": order}));
    assert_eq!(payment, json!({"payment": happy["payment"]}));
    let payment = &payment["payment"];
    assert_eq!(
        example.output("shipping", json!({"order": order})),
        json!({"shipment": happy["shipment"]})
    );

    let refunded = example
        .expected_output("shipping fails: the payment is refunded, then the reservation released");
    // The o-3 case of expected.json, renamed to this order: the refund repeats
    // the fields of the undo it was given, the release answers one object.
    let as_o1 = |value: &Value| -> Value {
        serde_json::from_str(&value.to_string().replace("o-3", "o-1")).unwrap()
    };
    assert_eq!(
        example.output("payments", payment["undo"].clone()),
        as_o1(&refunded["refund"])
    );
    assert_eq!(
        example.output("inventory", reservation["undo"].clone()),
        json!({"release": as_o1(&refunded["release"])})
    );
    assert_eq!(
        example.failure("shipping", json!({"order": refunded["order"]})),
        format!(
            "AddressNotServed: {}",
            refunded["error"]["message"].as_str().unwrap()
        )
    );

    let declined = example.expected_output("the payment is declined: the reservation is released");
    assert_eq!(
        example.failure(
            "payments",
            json!({"op": "charge", "order": declined["order"]})
        ),
        format!(
            "PaymentDeclined: {}",
            declined["error"]["message"].as_str().unwrap()
        )
    );
    // The release above returned the stock: all 10 laptops are available again.
    let rejected = example.expected_output("out of stock: nothing to undo");
    let big = &rejected["order"];
    assert_eq!(
        example.failure(
            "inventory",
            json!({"op": "reserve", "orderId": big["id"], "item": big["item"], "quantity": big["quantity"]}),
        ),
        format!(
            "OutOfStock: {}",
            rejected["error"]["message"].as_str().unwrap()
        )
    );
}
