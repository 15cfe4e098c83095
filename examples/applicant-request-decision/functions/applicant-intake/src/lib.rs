//! The applicant-request-decision example's application starter: the one
//! action of the `startApplicationWorkflowId` sub-workflow, run for
//! applicants old enough to apply.
//!
//! It checks what the application needs (a name, a plausible email, the
//! minimum age of the manifest's `MIN_AGE`, 18 by default), registers the
//! application in the function's kv store and answers
//! `{"application": {"id", "applicant", "email", "status", "nextStep"}}`.
//! The id is derived from the email, so starting the same person's
//! application twice (a retried action, say) finds the same application
//! instead of opening a second one.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    applicant: Applicant,
}

#[derive(Deserialize)]
struct Applicant {
    fname: String,
    lname: String,
    age: u32,
    email: String,
}

#[derive(Serialize)]
struct Reply {
    application: Application,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Application {
    id: String,
    applicant: String,
    email: String,
    status: String,
    next_step: String,
}

fn start_application(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let applicant = request.applicant;
    let name = format!("{} {}", applicant.fname.trim(), applicant.lname.trim());
    if applicant.fname.trim().is_empty() || applicant.lname.trim().is_empty() {
        return Err(Failure::new(
            "MissingName",
            "the applicant needs both 'fname' and 'lname'",
        ));
    }
    let email = applicant.email.trim().to_ascii_lowercase();
    if !plausible_email(&email) {
        return Err(Failure::new(
            "InvalidEmail",
            format!("'{}' is not an email address", applicant.email),
        ));
    }
    // The workflow's switch already sent minors elsewhere; the rule is
    // checked here too because the function may be called on its own.
    let min_age = min_age();
    if applicant.age < min_age {
        return Err(Failure::new(
            "ApplicantTooYoung",
            format!(
                "applicants must be at least {min_age}; {name} is {}",
                applicant.age
            ),
        ));
    }
    let application = Application {
        id: format!("APP-{:08X}", fnv1a(email.as_bytes())),
        applicant: name,
        next_step: format!("the application form was sent to {email}"),
        email,
        status: "STARTED".into(),
    };
    swirl_guest::kv::set_json(&format!("applications/{}", application.id), &application)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))?;
    swirl_guest::log::info(&format!(
        "started application {} for {}",
        application.id, application.applicant
    ));
    Ok(Reply { application })
}

fn min_age() -> u32 {
    swirl_guest::config("MIN_AGE")
        .and_then(|text| text.parse().ok())
        .unwrap_or(18)
}

/// One `@` with something before it and a dotted domain after it: enough to
/// catch typos without pretending to implement RFC 5322.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
}

/// 32-bit FNV-1a: a stable, dependency-free hash for readable ids.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

swirl_guest::export!(start_application);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(plausible_email("js@something.com"));
        for bad in [
            "js",
            "@x.com",
            "js@com",
            "js@.com",
            "js@x.com.",
            "j s@x.com",
            "a@b@c.d",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
