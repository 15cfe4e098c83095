//! The customer-credit-check example's `callCreditCheckMicroservice`: the
//! credit service the workflow's CALLBACK state calls. It scores the
//! customer, and reports a clear-cut decision the way the specification's
//! service does: as a `creditCheckCompleteType` CloudEvent, correlated to the
//! customer by its `customerid` extension attribute, that the waiting
//! instance consumes. A borderline score is referred to a human reviewer
//! instead, who answers later with the same event (`swirl send`); if nobody
//! does within the state's timeout, the workflow rejects the application.
//!
//! The score is transparent on purpose, so that the README's outputs can be
//! checked by hand:
//!
//! ```text
//! score = 550 + min(yearlyIncome / 500, 200) + 50 if employed − 40 per late payment,
//!         kept within 300..=850
//! ```
//!
//! At `APPROVE_AT` (700) or above: Approved. Below `DENY_BELOW` (600):
//! Denied. In between: referred. The function answers
//! `{"creditCheckRequest": {"customerId", "score", "status"}}` with status
//! `DECIDED` or `REFERRED`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use swirl_guest::{Context, Event, Failure};

#[derive(Deserialize)]
struct Request {
    customer: Customer,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    id: String,
    name: String,
    yearly_income: u64,
    #[serde(default)]
    employer: Option<String>,
    #[serde(default)]
    late_payments: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    credit_check_request: CheckRequest,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckRequest {
    customer_id: String,
    score: u32,
    status: &'static str,
}

/// What the service concludes from a score.
#[derive(Debug, PartialEq)]
enum Verdict {
    Approved(String),
    Denied(String),
    Referred,
}

fn check_credit(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let customer = request.customer;
    if customer.id.trim().is_empty() || customer.name.trim().is_empty() {
        return Err(Failure::new(
            "MissingCustomerData",
            "the customer needs an 'id' and a 'name' to be checked",
        ));
    }
    let score = score(&customer);
    let verdict = verdict(
        score,
        config_number("APPROVE_AT", 700),
        config_number("DENY_BELOW", 600),
        customer.late_payments,
    );
    // The log names the customer by id only: the request also carries an SSN,
    // which has no place in logs.
    let outcome = match &verdict {
        Verdict::Approved(_) => "approved",
        Verdict::Denied(_) => "denied",
        Verdict::Referred => "referred to a reviewer",
    };
    swirl_guest::log::info(&format!(
        "customer {} scored {score}: {outcome}",
        customer.id
    ));
    let (decision, reason) = match verdict {
        Verdict::Approved(reason) => ("Approved", reason),
        Verdict::Denied(reason) => ("Denied", reason),
        Verdict::Referred => {
            return Ok(reply(customer.id, score, "REFERRED"));
        }
    };
    let event = Event::new(
        swirl_guest::config("EVENT_TYPE").unwrap_or_else(|| "creditCheckCompleteType".into()),
        swirl_guest::config("EVENT_SOURCE").unwrap_or_else(|| "creditCheckSource".into()),
    )
    .extension("customerid", customer.id.clone())
    .data(&json!({
        "creditCheck": {
            "id": customer.id,
            "score": score,
            "decision": decision,
            "reason": reason,
        }
    }))
    .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))?;
    swirl_guest::emit(event).map_err(|why| {
        Failure::new(
            "DecisionNotSent",
            format!("the decision event was refused: {why}"),
        )
    })?;
    Ok(reply(customer.id, score, "DECIDED"))
}

fn reply(customer_id: String, score: u32, status: &'static str) -> Reply {
    Reply {
        credit_check_request: CheckRequest {
            customer_id,
            score,
            status,
        },
    }
}

fn score(customer: &Customer) -> u32 {
    let income = (customer.yearly_income / 500).min(200) as i64;
    let employed = customer
        .employer
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty());
    let raw = 550 + income + if employed { 50 } else { 0 } - 40 * i64::from(customer.late_payments);
    raw.clamp(300, 850) as u32
}

fn verdict(score: u32, approve_at: u32, deny_below: u32, late_payments: u32) -> Verdict {
    if score >= approve_at {
        Verdict::Approved("Good credit score".into())
    } else if score < deny_below {
        let mut reason = "Low credit score".to_string();
        if late_payments > 0 {
            reason.push_str(". Recent late payments");
        }
        Verdict::Denied(reason)
    } else {
        Verdict::Referred
    }
}

fn config_number(key: &str, default: u32) -> u32 {
    swirl_guest::config(key)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

swirl_guest::export!(check_credit);

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(yearly_income: u64, employer: Option<&str>, late_payments: u32) -> Customer {
        Customer {
            id: "c".into(),
            name: "n".into(),
            yearly_income,
            employer: employer.map(Into::into),
            late_payments,
        }
    }

    #[test]
    fn scores_follow_the_documented_formula() {
        assert_eq!(score(&customer(50_000, Some("MyCompany"), 0)), 700);
        assert_eq!(score(&customer(35_000, None, 1)), 580);
        assert_eq!(score(&customer(40_000, Some("Acme"), 0)), 680);
        assert_eq!(score(&customer(10_000_000, Some("Acme"), 0)), 800);
        assert_eq!(score(&customer(0, None, 20)), 300);
    }

    #[test]
    fn verdicts_split_at_the_two_marks() {
        assert_eq!(
            verdict(700, 700, 600, 0),
            Verdict::Approved("Good credit score".into())
        );
        assert_eq!(
            verdict(580, 700, 600, 1),
            Verdict::Denied("Low credit score. Recent late payments".into())
        );
        assert_eq!(verdict(680, 700, 600, 0), Verdict::Referred);
    }
}
