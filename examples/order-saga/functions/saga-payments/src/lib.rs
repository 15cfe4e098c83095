//! The order-saga example's payment service: charges an order's card and,
//! when a later step of the saga fails, refunds the charge.
//!
//! | input | output |
//! | --- | --- |
//! | `{"op": "charge", "order": {"id", "quantity", "unitPrice", "card"}}` | `{"payment": {"chargeId", "amount", "card", "undo"}}` |
//! | `{"op": "refund", "chargeId", "amount"}` (the `undo` of a charge) | `{"op", "chargeId", "amount", "refundId", "status": "REFUNDED"}` |
//!
//! A charge is declined (`PaymentDeclined`) when the card number fails the
//! Luhn checksum that every card number carries, or when the amount is over
//! the card limit of the manifest's `CREDIT_LIMIT` (5000 by default).
//! Charges live in the function's kv store, keyed by order: charging an
//! order twice (a retried action) finds the first charge, and refunding
//! twice refunds once.
//!
//! A charge is wrapped in one named object, `payment`, so that it merges
//! into the saga's data under that name. A refund is not: the saga's draft
//! sub-workflow hands the `undo` over as the state data and merges the
//! refund over it, so the refund repeats the `undo`'s fields and that merge
//! yields the refund itself.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Charge {
        order: Order,
    },
    #[serde(rename_all = "camelCase")]
    Refund {
        charge_id: String,
        amount: u64,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    quantity: u64,
    unit_price: u64,
    card: String,
}

/// A charge's record, under `charges/<chargeId>`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Charge {
    charge_id: String,
    amount: u64,
    card: String,
    refunded: bool,
}

fn payments(request: Request, _ctx: &Context) -> Result<Value, Failure> {
    match request {
        Request::Charge { order } => charge(&order),
        Request::Refund { charge_id, amount } => refund(&charge_id, amount),
    }
}

fn charge(order: &Order) -> Result<Value, Failure> {
    let charge_id = format!("ch-{}", order.id);
    let key = format!("charges/{charge_id}");
    let charge = match load::<Charge>(&key)? {
        Some(existing) => existing,
        None => {
            let digits = card_digits(&order.card);
            let masked = format!("**** {}", &digits[digits.len().saturating_sub(4)..]);
            if !luhn_valid(&digits) {
                return Err(Failure::new(
                    "PaymentDeclined",
                    format!("card {masked} is not a valid card number"),
                ));
            }
            let amount = order.quantity.saturating_mul(order.unit_price);
            let limit: u64 = swirl_guest::config("CREDIT_LIMIT")
                .and_then(|text| text.parse().ok())
                .unwrap_or(5000);
            if amount > limit {
                return Err(Failure::new(
                    "PaymentDeclined",
                    format!("{amount} is over the card limit of {limit}"),
                ));
            }
            let charge = Charge {
                charge_id,
                amount,
                card: masked,
                refunded: false,
            };
            save(&key, &charge)?;
            swirl_guest::log::info(&format!("charged {} for order {}", amount, order.id));
            charge
        }
    };
    Ok(json!({
        "payment": {
            "chargeId": charge.charge_id,
            "amount": charge.amount,
            "card": charge.card,
            "undo": { "op": "refund", "chargeId": charge.charge_id, "amount": charge.amount },
        }
    }))
}

fn refund(charge_id: &str, amount: u64) -> Result<Value, Failure> {
    let key = format!("charges/{charge_id}");
    let mut charge = load::<Charge>(&key)?.ok_or_else(|| {
        Failure::new(
            "UnknownCharge",
            format!("there is no charge '{charge_id}' to refund"),
        )
    })?;
    if amount != charge.amount {
        return Err(Failure::new(
            "RefundMismatch",
            format!("charge '{charge_id}' was {}, not {amount}", charge.amount),
        ));
    }
    if !charge.refunded {
        charge.refunded = true;
        save(&key, &charge)?;
        swirl_guest::log::info(&format!("refunded {amount} of {charge_id}"));
    }
    Ok(json!({
        "op": "refund",
        "chargeId": charge_id,
        "amount": amount,
        "refundId": format!("rf-{}", charge_id.trim_start_matches("ch-")),
        "status": "REFUNDED",
    }))
}

fn card_digits(card: &str) -> String {
    card.chars().filter(char::is_ascii_digit).collect()
}

/// The Luhn checksum: doubling every second digit from the right, the digit
/// sum is a multiple of 10. Card numbers have 12 to 19 digits.
fn luhn_valid(digits: &str) -> bool {
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn load<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, Failure> {
    swirl_guest::kv::get_json(key)
        .map_err(|error| Failure::new(swirl_guest::FAIL, format!("{key} is damaged: {error}")))
}

fn save<T: Serialize>(key: &str, value: &T) -> Result<(), Failure> {
    swirl_guest::kv::set_json(key, value)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))
}

swirl_guest::export!(payments);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        assert!(luhn_valid(&card_digits("4111 1111 1111 1111")));
        assert!(luhn_valid(&card_digits("5500-0000-0000-0004")));
        assert!(!luhn_valid(&card_digits("4111 1111 1111 1112")));
        assert!(!luhn_valid("4111"));
    }
}
