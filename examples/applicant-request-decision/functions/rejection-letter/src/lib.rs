//! The applicant-request-decision example's `sendRejectionEmailFunction`:
//! writes the rejection email for an applicant the workflow's switch turned
//! away, saying why from the applicant's own data.
//!
//! Input `{"applicant": {"fname", "lname", "age", "email"}}`; output
//! `{"rejectionEmail": {"to", "subject", "body"}}`. The minimum age is the
//! manifest's `MIN_AGE` (18 by default). swirl functions have no network, so
//! the email is composed and returned rather than sent: a real deployment
//! would hand it to a mail service.

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
    age: Option<u32>,
    email: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    rejection_email: Email,
}

#[derive(Serialize)]
struct Email {
    to: String,
    subject: String,
    body: String,
}

fn send_rejection(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let applicant = request.applicant;
    if applicant.email.trim().is_empty() {
        return Err(Failure::new(
            "MissingEmail",
            "the applicant has no email address to write to",
        ));
    }
    let min_age: u32 = swirl_guest::config("MIN_AGE")
        .and_then(|text| text.parse().ok())
        .unwrap_or(18);
    let reason = match applicant.age {
        Some(age) if age < min_age => {
            let wait = min_age - age;
            let years = if wait == 1 { "year" } else { "years" };
            format!(
                "Applicants must be at least {min_age} years old and you are {age}, so we cannot accept your application yet. You are welcome to apply again in {wait} {years}."
            )
        }
        Some(_) => "Your application does not meet our requirements.".to_string(),
        None => format!(
            "Applicants must be at least {min_age} years old and your application does not give your age. Please apply again with it."
        ),
    };
    let body = format!(
        "Dear {} {},\n\nthank you for applying. {reason}\n",
        applicant.fname.trim(),
        applicant.lname.trim()
    );
    swirl_guest::log::info(&format!("rejection email for {}", applicant.email.trim()));
    Ok(Reply {
        rejection_email: Email {
            to: applicant.email.trim().to_string(),
            subject: "Your application".into(),
            body,
        },
    })
}

swirl_guest::export!(send_rejection);
