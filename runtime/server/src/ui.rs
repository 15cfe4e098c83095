//! The web console at `/ui/`: plain HTML, CSS and JavaScript modules,
//! embedded in the binary, that read and act through the admin API.
//!
//! The assets are public (they hold no data); everything they show comes
//! from admin routes, to which the page sends the admin token as a bearer
//! header when one is set (it asks for it, and keeps it in the tab's
//! session storage, never in a URL). Every page is a real URL: any path
//! under `/ui/` that is not an asset answers the same index, and the
//! script routes by path.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// The assets, by their path under `/ui/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/graph.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
];

const INDEX: &str = include_str!("../ui/index.html");

/// Nothing from elsewhere: no CDN, no inline script, no framing.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'";

/// `GET /ui/` and every page under it: the index.
pub async fn index() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, POLICY),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /ui/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(path, _, _)| *path == name) {
        Some((_, content_type, body)) => (
            [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
            *body,
        )
            .into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no console asset '{name}'"),
        )
            .into_response(),
    }
}

/// `GET /ui`: the console lives under `/ui/`.
pub async fn redirect() -> Response {
    axum::response::Redirect::permanent("/ui/").into_response()
}
