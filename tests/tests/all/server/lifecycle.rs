//! A function's lifecycle on a real server: numbered versions, aliases
//! that split calls by weight, workflows calling through an alias,
//! rollback, and unloading and deleting versions nothing uses.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::deploy::{app_dir, deploy, finish_run, item, manifest, start_run, versioned_workflow};
use super::util::{Answer, Server};

async fn put_alias(server: &Server, alias: &str, body: Value) -> Answer {
    server
        .request(
            "PUT",
            &format!("/functions/probe/aliases/{alias}"),
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
}

async fn delete(server: &Server, path: &str) -> Answer {
    server.request("DELETE", path, &[], "").await
}

/// Deploys the test app with `probe` labelled `label`; its version id.
async fn deploy_label(server: &Server, app: &swirl_tests::App, label: &str) -> String {
    let answer = deploy(server, app, &manifest(label), &[]).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    item(&answer, "functions", "probe")["version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The `versions` of `GET /functions/probe`: number → (version, loaded).
async fn versions(server: &Server) -> BTreeMap<u64, (String, bool)> {
    let function = server.get("/functions/probe").await;
    assert_eq!(function.status, 200, "{function:?}");
    function.body["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{function:?}"))
        .iter()
        .map(|v| {
            (
                v["number"].as_u64().unwrap(),
                (
                    v["version"].as_str().unwrap().to_string(),
                    v["loaded"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_numbered_and_an_alias_splits_calls_by_weight() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let v1 = deploy_label(&server, &app, "v1").await;
    let second = deploy(&server, &app, &manifest("v2"), &[]).await;
    assert_eq!(
        item(&second, "functions", "probe")["number"],
        2,
        "{second:?}"
    );
    let v2 = item(&second, "functions", "probe")["version"].clone();
    let again = deploy(&server, &app, &manifest("v1"), &[]).await;
    let probe = item(&again, "functions", "probe");
    assert_eq!(
        (
            &probe["number"],
            probe["version"].as_str(),
            &probe["status"]
        ),
        (&json!(1), Some(v1.as_str()), &json!("new")),
        "a redeployed version keeps its number: {again:?}"
    );
    deploy(&server, &app, &manifest("v2"), &[]).await;

    let function = server.get("/functions/probe").await;
    assert_eq!(function.body["number"], 2, "{function:?}");
    assert_eq!(
        function.body["route"],
        json!([{ "number": 2, "version": v2, "weight": 100 }])
    );
    let listed = versions(&server).await;
    assert_eq!(listed.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(listed[&1].0, v1);
    assert!(function.body["versions"][0]["deployedAt"].is_string());

    let set = put_alias(
        &server,
        "split",
        json!({ "versions": { "1": 90, "2": 10 } }),
    )
    .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["versions"][0]["weight"], 90, "{set:?}");

    // Every refusal names its problem.
    for (alias, body, status, says) in [
        (
            "split",
            json!({ "versions": { "1": 90, "2": 20 } }),
            400,
            "sum to 110",
        ),
        (
            "split",
            json!({ "versions": { "7": 100 } }),
            400,
            "no version '7'",
        ),
        (
            "split",
            json!({ "versions": { "1": 0, "2": 100 } }),
            400,
            "weight of version",
        ),
        (
            "split",
            json!({ "versions": {} }),
            400,
            "at least one version",
        ),
        (
            "split",
            json!({ "versions": (0..11).map(|n| (n.to_string(), json!(9))).collect::<serde_json::Map<_, _>>() }),
            400,
            "at most 10 versions, not 11",
        ),
        (
            "split",
            json!({ "weights": { "1": 100 } }),
            400,
            "unknown field 'weights'",
        ),
        (
            "Split",
            json!({ "versions": { "1": 100 } }),
            400,
            "alias name 'Split'",
        ),
        (
            "2",
            json!({ "versions": { "1": 100 } }),
            400,
            "starting with a letter",
        ),
    ] {
        let refused = put_alias(&server, alias, body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {refused:?}");
        assert!(refused.error().contains(says), "{body}: {refused:?}");
    }
    let unknown = server
        .request(
            "PUT",
            "/functions/nope/aliases/live",
            &[("content-type", "application/json")],
            json!({ "versions": { "1": 100 } }).to_string(),
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let no_alias = server
        .post_json("/functions/probe/invoke?alias=nope", json!({}))
        .await;
    assert_eq!(no_alias.status, 404, "{no_alias:?}");
    assert!(
        no_alias.error().contains("its aliases: split"),
        "{no_alias:?}"
    );
    let both = server
        .post_json("/functions/probe/invoke?alias=split&version=1", json!({}))
        .await;
    assert_eq!(both.status, 400, "{both:?}");

    // 2,000 calls through the 90/10 alias. Version 2's count is binomial
    // (n 2,000, p 0.1): mean 200, standard deviation 13.4; 140 to 260 is
    // ±4.5 deviations, which a fair split misses about once in 150,000 runs.
    let url = server.addr;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut served = Vec::new();
                for _ in 0..250 {
                    let answer = super::util::request(
                        url,
                        "POST",
                        "/functions/probe/invoke?alias=split",
                        &[("content-type", "application/json")],
                        json!({ "action": "echo", "value": 1 }).to_string().into(),
                    )
                    .await;
                    assert_eq!(answer.status, 200, "{answer:?}");
                    served.push((
                        answer.header("swirl-function-version").unwrap().to_string(),
                        answer.body["output"]["version"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    ));
                }
                served
            })
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (number, version) in task.await.unwrap() {
            let expected = if number == "1" {
                &v1
            } else {
                v2.as_str().unwrap()
            };
            assert_eq!(&version, expected, "the header names the version that ran");
            *counts.entry(number).or_default() += 1;
        }
    }
    eprintln!("2,000 calls through the 90/10 alias, by version: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 2000, "{counts:?}");
    let canary = counts.get("2").copied().unwrap_or(0);
    assert!(
        (140..=260).contains(&canary),
        "version 2 served {canary} of 2,000: {counts:?}"
    );

    let by_number = server
        .post_json(
            "/functions/probe/invoke?version=1",
            json!({ "action": "echo", "value": 1 }),
        )
        .await;
    assert_eq!(
        by_number.header("swirl-function-version"),
        Some("1"),
        "{by_number:?}"
    );
    let metrics = server.get("/metrics").await.text;
    for (number, count) in [("1", counts["1"] + 1), ("2", canary)] {
        let line = format!(
            "swirl_function_invocations_total{{function=\"probe\",version=\"{number}\"}} {count}\n"
        );
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }
    assert!(
        metrics.contains("swirl_function_duration_seconds_count{function=\"probe\",version=\"2\"}")
    );
    let function = server.get("/functions/probe").await;
    assert_eq!(
        function.body["versions"][1]["stats"]["invocations"],
        json!(canary),
        "{function:?}"
    );

    // At most 64 aliases a function.
    for n in 1..64 {
        let alias = format!("a{n}");
        let set = put_alias(&server, &alias, json!({ "versions": { "1": 100 } })).await;
        assert_eq!(set.status, 200, "{alias}: {set:?}");
    }
    let over = put_alias(&server, "a64", json!({ "versions": { "1": 100 } })).await;
    assert_eq!(over.status, 409, "{over:?}");
    assert!(
        over.error()
            .contains("has 64 aliases, the most it may have"),
        "{over:?}"
    );

    // The alias is durable; a delete is too.
    server.kill();
    let server = Server::start_recorded(&app, &[]);
    let aliases = server.get("/functions/probe/aliases").await;
    assert_eq!(
        aliases.body["aliases"]["split"][1]["number"], 2,
        "{aliases:?}"
    );
    assert_eq!(
        aliases.body["aliases"]["split"][1]["weight"], 10,
        "{aliases:?}"
    );
    assert_eq!(
        delete(&server, "/functions/probe/aliases/split")
            .await
            .status,
        200
    );
    let gone = delete(&server, "/functions/probe/aliases/split").await;
    assert_eq!(gone.status, 404, "{gone:?}");
    assert!(gone.error().contains("no alias 'split'"), "{gone:?}");
}

/// The test workflow with its function named `resource`.
fn workflow_calling(resource: &str) -> Vec<u8> {
    let mut workflow = versioned_workflow();
    workflow["functions"][0]["resource"] = json!(resource);
    workflow.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_started_through_an_alias_keep_its_version_across_changes_and_restarts() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let through_alias = [("versioned.json", workflow_calling("probe@live"))];
    let v1 = deploy(&server, &app, &manifest("v1"), &through_alias).await;
    assert_eq!(v1.status, 201, "{v1:?}");
    let v1 = item(&v1, "functions", "probe")["version"].clone();
    let v2 = deploy(&server, &app, &manifest("v2"), &through_alias).await;
    let v2 = item(&v2, "functions", "probe")["version"].clone();

    let bad = deploy(
        &server,
        &app,
        &manifest("v2"),
        &[("versioned.json", workflow_calling("probe@Live"))],
    )
    .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(bad.text.contains("alias name 'Live'"), "{bad:?}");

    assert_eq!(
        put_alias(&server, "live", json!({ "versions": { "1": 100 } }))
            .await
            .status,
        200
    );
    let old = start_run(&server, "a").await;
    assert_eq!(
        put_alias(&server, "live", json!({ "versions": { "2": 100 } }))
            .await
            .status,
        200
    );
    let new = start_run(&server, "b").await;
    let in_use = delete(&server, "/functions/probe/aliases/live").await;
    assert_eq!(in_use.status, 409, "{in_use:?}");
    assert!(in_use.error().contains("workflows versioned"), "{in_use:?}");

    // A third version and a restart change neither instance.
    deploy_label(&server, &app, "v3").await;
    server.kill();
    let server = Server::start_recorded(&app, &[]);
    assert_eq!(
        finish_run(&server, "a", &old).await,
        (v1.clone(), v1.clone())
    );
    assert_eq!(
        finish_run(&server, "b", &new).await,
        (v2.clone(), v2.clone())
    );

    // A workflow calling the plain name follows the current route: after a
    // rollback from version 3, new instances take version 2.
    let plain = deploy(
        &server,
        &app,
        &manifest("v3"),
        &[("versioned.json", workflow_calling("probe"))],
    )
    .await;
    assert_eq!(plain.status, 201, "{plain:?}");
    let rolled = server
        .post_json("/functions/probe/rollback", json!({}))
        .await;
    assert_eq!(rolled.status, 200, "{rolled:?}");
    assert_eq!(rolled.body["current"]["number"], 2, "{rolled:?}");
    let after = start_run(&server, "c").await;
    assert_eq!(
        finish_run(&server, "c", &after).await,
        (v2.clone(), v2.clone())
    );
    let twice = server
        .post_json("/functions/probe/rollback", json!({}))
        .await;
    assert_eq!(twice.body["current"]["number"], 1, "{twice:?}");
    let none = server
        .post_json("/functions/probe/rollback", json!({}))
        .await;
    assert_eq!(none.status, 409, "{none:?}");
    assert!(none.error().contains("no version before 1"), "{none:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_nothing_uses_are_unloaded_and_deleted_and_used_ones_are_refused() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &["--unload-interval", "1s"]);
    deploy_label(&server, &app, "v1").await;
    deploy_label(&server, &app, "v2").await;
    let listed = versions(&server).await;
    assert!(
        !listed[&1].1 && listed[&2].1,
        "version 1 is unloaded: {listed:?}"
    );

    let waiting = start_run(&server, "a").await;
    deploy_label(&server, &app, "v3").await;
    assert!(
        versions(&server).await[&2].1,
        "a waiting instance keeps version 2 loaded"
    );
    assert_eq!(
        put_alias(&server, "keep", json!({ "versions": { "1": 100 } }))
            .await
            .status,
        200
    );
    for (version, says) in [
        ("2", "1 unfinished instances call it"),
        ("3", "current route"),
        ("1", "aliases keep"),
    ] {
        let refused = delete(&server, &format!("/functions/probe/versions/{version}")).await;
        assert_eq!(refused.status, 409, "{version}: {refused:?}");
        assert!(refused.error().contains(says), "{version}: {refused:?}");
    }
    assert!(
        delete(&server, "/functions/probe/versions/2")
            .await
            .error()
            .contains(&waiting)
    );
    assert_eq!(
        delete(&server, "/functions/probe/aliases/keep")
            .await
            .status,
        200
    );
    let deleted = delete(&server, "/functions/probe/versions/1").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(deleted.body["deleted"]["number"], 1, "{deleted:?}");
    for missing in ["1", "abc"] {
        let answer = delete(&server, &format!("/functions/probe/versions/{missing}")).await;
        assert_eq!(answer.status, 404, "{missing}: {answer:?}");
        assert!(answer.error().contains("its versions: 2 ("), "{answer:?}");
    }

    // Once its instance ends, version 2 is unloaded within a period of
    // --unload-interval, with no change to trigger it, and can go.
    finish_run(&server, "a", &waiting).await;
    let mut listed = versions(&server).await;
    for _ in 0..100 {
        if !listed[&2].1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        listed = versions(&server).await;
    }
    assert_eq!(listed.keys().copied().collect::<Vec<_>>(), [2, 3]);
    assert!(!listed[&2].1, "{listed:?}");
    let by_id = format!("/functions/probe/versions/{}", listed[&2].0);
    assert_eq!(
        delete(&server, &by_id).await.status,
        200,
        "a version by its id"
    );
    let gone = server
        .post_json("/functions/probe/invoke?version=2", json!({}))
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(
        versions(&server).await.keys().copied().collect::<Vec<_>>(),
        [3]
    );
}

/// Waits until the numbers of `probe`'s recorded versions are `expected`.
async fn versions_become(server: &Server, expected: &[u64]) {
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = versions(server).await.into_keys().collect();
        if listed == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("versions {listed:?}, expected {expected:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_the_versions_nothing_uses_beyond_the_newest_kept() {
    let app = app_dir();
    let args = ["--versions-kept", "1", "--retention-interval", "200ms"];
    let server = Server::start_recorded(&app, &args);
    deploy_label(&server, &app, "v1").await;
    let keep = put_alias(&server, "keep", json!({ "versions": { "1": 100 } })).await;
    assert_eq!(keep.status, 200, "{keep:?}");
    deploy_label(&server, &app, "v2").await;
    let waiting = start_run(&server, "a").await;
    for label in ["v3", "v4", "v5"] {
        deploy_label(&server, &app, label).await;
    }
    // In use: 1 (an alias), 2 (a waiting instance), 5 (the route); of the
    // others, 4 is the newest and stays.
    versions_become(&server, &[1, 2, 4, 5]).await;
    finish_run(&server, "a", &waiting).await;
    versions_become(&server, &[1, 4, 5]).await;
    let unaliased = delete(&server, "/functions/probe/aliases/keep").await;
    assert_eq!(unaliased.status, 200, "{unaliased:?}");
    versions_become(&server, &[4, 5]).await;
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("swirl_retention_deleted_total{kind=\"function_versions\"} 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_deploys_a_canary_sets_aliases_and_rolls_back() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let url = server.url();
    let swirl = |url: &str, args: &[&str]| {
        swirl_tests::run(
            swirl_tests::swirl(app.path())
                .args(args)
                .args(["--server", url]),
        )
    };
    let first = swirl(&url, &["deploy", "swirl.toml"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    std::fs::write(app.manifest(), manifest("v2")).unwrap();
    let canary = swirl(&url, &["deploy", "swirl.toml", "--canary", "10", "--json"]);
    assert_eq!(canary.code, 0, "{}", canary.stderr);
    let report: Value = serde_json::from_str(&canary.stdout).unwrap();
    assert_eq!(report["functions"][0]["status"], "canary", "{report}");
    assert_eq!(report["functions"][0]["number"], 2, "{report}");
    // The split route is durable.
    server.kill();
    let server = Server::start_recorded(&app, &[]);
    let url = server.url();
    let function = server.get("/functions/probe").await;
    assert_eq!(
        function.body["number"], 1,
        "version 1 keeps most calls: {function:?}"
    );
    let route: Vec<(u64, u64)> = function.body["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["number"].as_u64().unwrap(), r["weight"].as_u64().unwrap()))
        .collect();
    assert_eq!(route, [(1, 90), (2, 10)]);
    // Calls of the plain name split too: of 400, version 2's count has mean
    // 40 and standard deviation 6; 13 to 67 is ±4.5 deviations.
    let mut second = 0;
    for _ in 0..400 {
        let answer = server
            .post_json(
                "/functions/probe/invoke",
                json!({ "action": "echo", "value": 1 }),
            )
            .await;
        second += usize::from(answer.header("swirl-function-version") == Some("2"));
    }
    assert!(
        (13..=67).contains(&second),
        "version 2 served {second} of 400"
    );

    let set = swirl(&url, &["alias", "set", "probe", "live", "1=90", "2=10"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert_eq!(set.stdout.trim(), "probe@live  1=90 2=10");
    let listed = swirl(&url, &["alias", "ls", "probe"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("live") && l.ends_with("1=90 2=10")),
        "{}",
        listed.stdout
    );
    for (args, code, says) in [
        (
            &["alias", "set", "probe", "live", "1=90", "2=20"][..],
            1,
            "sum to 110",
        ),
        (
            &["alias", "set", "probe", "live", "1"],
            2,
            "is not VERSION=WEIGHT",
        ),
        (
            &["alias", "set", "probe", "live", "9=100"],
            1,
            "no version '9'",
        ),
        (&["deploy", "swirl.toml", "--canary", "100"], 2, "100"),
        (&["rollback", "nope"], 1, "no function named 'nope'"),
    ] {
        let refused = swirl(&url, args);
        assert_eq!(refused.code, code, "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(says),
            "{args:?}: {}",
            refused.stderr
        );
    }

    let rolled = swirl(&url, &["rollback", "probe"]);
    assert_eq!(rolled.code, 0, "{}", rolled.stderr);
    assert!(
        rolled.stdout.starts_with("probe: version 1 ("),
        "{}",
        rolled.stdout
    );
    let again = swirl(&url, &["rollback", "probe"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("no version before 1"),
        "{}",
        again.stderr
    );
    // Deploying without --canary promotes.
    let promoted = swirl(&url, &["deploy", "swirl.toml", "--json"]);
    let report: Value = serde_json::from_str(&promoted.stdout).unwrap();
    assert_eq!(report["functions"][0]["status"], "new", "{report}");
    assert_eq!(server.get("/functions/probe").await.body["number"], 2);
    assert_eq!(swirl(&url, &["alias", "rm", "probe", "live"]).code, 0);
    assert_eq!(
        swirl(&url, &["alias", "ls", "probe"])
            .stdout
            .lines()
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_recorded_before_numbers_existed_are_numbered_at_start() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let v1 = deploy_label(&server, &app, "v1").await;
    let v2 = deploy_label(&server, &app, "v2").await;
    server.kill();
    // Strip the numbers, as records written before them were.
    {
        let store = swirl_store::Store::open(&app.path().join("data")).unwrap();
        let mut write = swirl_store::apps::DeploymentWrite::default();
        for (version, record) in store.function_versions_of("probe").unwrap() {
            let mut record: Value = serde_json::from_slice(&record).unwrap();
            let fields = record.as_object_mut().unwrap();
            assert!(fields.remove("number").is_some(), "{fields:?}");
            fields.remove("deployed_ms");
            write.function_versions.push((
                "probe".into(),
                version,
                record.to_string().into_bytes(),
            ));
        }
        store.commit_deployment(&write).unwrap();
    }
    let server = Server::start_recorded(&app, &[]);
    let listed = versions(&server).await;
    assert_eq!(
        (listed[&1].0.as_str(), listed[&2].0.as_str()),
        (v1.as_str(), v2.as_str()),
        "the current version is numbered last: {listed:?}"
    );
    let third = deploy(&server, &app, &manifest("v3"), &[]).await;
    assert_eq!(item(&third, "functions", "probe")["number"], 3, "{third:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_alias_gives_whole_instances_one_version_each() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &[]);
    // Two calls in a row; the output keeps the first call's version as
    // `value` and the second's as `version`.
    let first = json!({ "functionRef": { "refName": "probe", "parameters": { "action": "echo", "value": "first" } },
        "actionDataFilter": { "dataResultsPath": "$.version" } });
    let second = json!({ "functionRef": { "refName": "probe", "parameters": { "action": "echo", "value": "$.version" } } });
    let twice = json!({ "id": "twice", "version": "1.0", "name": "twice",
        "functions": [{ "name": "probe", "resource": "probe@half" }],
        "states": [{ "name": "Call", "type": "OPERATION", "start": { "kind": "DEFAULT" },
            "actions": [first, second], "end": { "kind": "DEFAULT" } }] });
    let files = [("versioned.json", twice.to_string().into_bytes())];
    for label in ["v1", "v2"] {
        let answer = deploy(&server, &app, &manifest(label), &files).await;
        assert_eq!(answer.status, 201, "{answer:?}");
    }
    let half = json!({ "versions": { "1": 50, "2": 50 } });
    assert_eq!(put_alias(&server, "half", half).await.status, 200);
    // Were versions picked per call, about half the instances would see
    // two; per instance, none does. Version 2's count of 100 instances has
    // mean 50 and standard deviation 5; 25 to 75 is ±5 deviations.
    let mut by_version: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        let answer = server
            .post_json("/workflows/twice/instances?wait=true", json!({}))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let output = &answer.body["output"];
        assert_eq!(
            output["value"], output["version"],
            "one instance, one version: {answer:?}"
        );
        *by_version
            .entry(output["version"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_version.len(), 2, "{by_version:?}");
    assert!(
        by_version.values().all(|count| (25..=75).contains(count)),
        "{by_version:?}"
    );
}
