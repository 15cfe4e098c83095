//! Bearer tokens on the admin API and the ingress, and what errors reveal.

use serde_json::json;

use super::util::{Server, app};

const ADMIN: &str = "admin-secret-1";
const INGRESS: &str = "ingress-secret-2";

#[tokio::test(flavor = "multi_thread")]
async fn tokens_guard_admin_and_ingress() {
    let app = app("");
    let server = Server::start(
        &app,
        &[],
        &[
            ("SWIRL_ADMIN_TOKEN", ADMIN),
            ("SWIRL_INGRESS_TOKEN", INGRESS),
        ],
    );
    let admin = format!("Bearer {ADMIN}");
    let ingress = format!("Bearer {INGRESS}");
    let event = [
        ("ce-specversion", "1.0"),
        ("ce-id", "e1"),
        ("ce-source", "jobs"),
        ("ce-type", "job.created"),
        ("content-type", "application/json"),
    ];
    fn with<'a>(event: &[(&'a str, &'a str)], token: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut headers = event.to_vec();
        headers.push(("authorization", token));
        headers
    }
    let body = json!({"a": 1, "b": 1}).to_string();

    // Admin routes: 401 without or with a wrong token, 403 with the ingress token.
    assert_eq!(server.get("/instances").await.status, 401);
    let wrong = server
        .request("GET", "/instances", &[("authorization", "Bearer nope")], "")
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.error().contains("bearer token"), "{wrong:?}");
    let forbidden = server
        .request("GET", "/instances", &[("authorization", &ingress)], "")
        .await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    let allowed = server
        .request("GET", "/instances", &[("authorization", &admin)], "")
        .await;
    assert_eq!(allowed.status, 200);
    assert_eq!(server.get("/metrics").await.status, 401);

    // Ingress: 401 without, 202 with either token.
    assert_eq!(
        server
            .request("POST", "/events", &event, body.clone())
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .request(
                "POST",
                "/events",
                &with(&event, "Bearer nope"),
                body.clone()
            )
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .request("POST", "/events", &with(&event, &ingress), body.clone())
            .await
            .status,
        202
    );
    assert_eq!(
        server
            .request("POST", "/", &with(&event, &admin), body.clone())
            .await
            .status,
        202
    );

    // Health and the API description stay public.
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(server.get("/openapi.json").await.status, 200);
    assert!(!server.log().contains(ADMIN), "a token reached the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_tokens_everything_is_open_and_bound_to_loopback() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    assert!(server.addr.ip().is_loopback());
    assert_eq!(server.get("/instances").await.status, 200);
    let answer = server
        .event("e1", "jobs", "job.created", &[], json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(answer.status, 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_do_not_leak_paths() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let data_dir = app.data_dir().display().to_string();
    for answer in [
        server.get("/instances/..%2F..%2Fetc").await,
        // A function's own failure message is the function's to write (a
        // guest panic names the guest's source file), so it is not checked here.
        server.post_json("/functions/nope/invoke", json!({})).await,
        server
            .request("POST", "/workflows/add/instances", &[], "{")
            .await,
    ] {
        assert!(answer.status >= 400, "{answer:?}");
        assert!(!answer.text.contains(&data_dir), "{answer:?}");
        assert!(!answer.text.contains("/src/"), "{answer:?}");
        assert!(!answer.text.contains("panicked"), "{answer:?}");
    }
}
