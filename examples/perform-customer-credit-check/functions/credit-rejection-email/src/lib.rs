//! The customer-credit-check example's `sendRejectionEmailFunction`: writes
//! the email that tells a customer their credit application was not
//! approved, addressed from the customer record the workflow passes.
//!
//! Input `{"applicant": {"id", "name", "address", ...}}`; output
//! `{"rejectionEmail": {"customerId", "to", "subject", "body"}}`. The
//! workflow reaches this state both when the credit service denies the
//! application and when no decision arrives in time, so the text does not
//! claim a reason. swirl functions have no network: the email is composed
//! and returned for a mail service to send.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    applicant: Applicant,
}

#[derive(Deserialize)]
struct Applicant {
    id: String,
    name: String,
    address: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    rejection_email: Email,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Email {
    customer_id: String,
    to: String,
    subject: &'static str,
    body: String,
}

fn send_rejection(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let applicant = request.applicant;
    let name = applicant.name.trim();
    if name.is_empty() {
        return Err(Failure::new(
            "MissingName",
            "the applicant has no name to address the email to",
        ));
    }
    swirl_guest::log::info(&format!("rejection email for customer {}", applicant.id));
    Ok(Reply {
        rejection_email: Email {
            customer_id: applicant.id,
            to: format!("{name}, {}", applicant.address.trim()),
            subject: "Your credit application",
            body: format!(
                "Dear {name},\n\nwe are sorry: we cannot approve your credit application at this time. You may apply again in three months.\n"
            ),
        },
    })
}

swirl_guest::export!(send_rejection);
