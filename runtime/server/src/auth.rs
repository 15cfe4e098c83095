//! Bearer tokens: `SWIRL_ADMIN_TOKEN` guards the admin API,
//! `SWIRL_INGRESS_TOKEN` the event ingress.
//!
//! ```text
//!                     no token set   admin token   ingress token   other / none
//!  admin route        allowed        allowed       403             401
//!  ingress route      allowed        allowed       allowed         401
//! ```
//!
//! A token that is not configured imposes nothing: with only an ingress
//! token the admin API is open (the server binds loopback by default), and
//! the admin token also opens the ingress so an operator can send events.
//! Tokens are compared in constant time so that response timing tells an
//! attacker nothing about how much of a guess was right.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ServerState;
use super::error::ApiError;

/// The configured tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    pub admin: Option<String>,
    pub ingress: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log.
        f.debug_struct("Tokens")
            .field("admin", &self.admin.as_ref().map(|_| "<set>"))
            .field("ingress", &self.ingress.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Who the request's bearer token says the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    Ingress,
    Unknown,
}

impl Tokens {
    fn caller(&self, request: &Request) -> Caller {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Caller::Unknown;
        };
        let matches = |token: &Option<String>| {
            token
                .as_deref()
                .is_some_and(|token| constant_time_eq(token.as_bytes(), presented.as_bytes()))
        };
        // Both comparisons always run, so timing does not say which one matched.
        let (admin, ingress) = (matches(&self.admin), matches(&self.ingress));
        if admin {
            Caller::Admin
        } else if ingress {
            Caller::Ingress
        } else {
            Caller::Unknown
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(difference) == 0
}

/// Middleware of the admin routes.
pub async fn require_admin(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.config().tokens;
    if tokens.admin.is_none() {
        return next.run(request).await;
    }
    match tokens.caller(&request) {
        Caller::Admin => next.run(request).await,
        Caller::Ingress => ApiError::Forbidden.into_response(),
        Caller::Unknown => ApiError::Unauthorized.into_response(),
    }
}

/// Middleware of the ingress routes.
pub async fn require_ingress(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.config().tokens;
    if tokens.ingress.is_none() && tokens.admin.is_none() {
        return next.run(request).await;
    }
    match tokens.caller(&request) {
        Caller::Admin | Caller::Ingress => next.run(request).await,
        // With only an admin token set, the ingress stays open.
        Caller::Unknown if tokens.ingress.is_none() => next.run(request).await,
        Caller::Unknown => {
            state.metrics().event_rejected();
            ApiError::Unauthorized.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn debug_never_prints_tokens() {
        let tokens = Tokens {
            admin: Some("hunter2".into()),
            ingress: None,
        };
        assert!(!format!("{tokens:?}").contains("hunter2"));
    }
}
