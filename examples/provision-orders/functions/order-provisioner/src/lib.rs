//! The provision-orders example's `provisionOrderFunction`: checks an order
//! and provisions it, or fails with the exception the workflow's `onError`
//! routes on.
//!
//! Input `{"order": {"id", "item", "quantity"}}` (the quantity as a number
//! or, as the specification writes it, a string). The checks run in the
//! order of the workflow's handlers, so an order missing several things is
//! reported by the first:
//!
//! | problem | failure code |
//! | --- | --- |
//! | no `id`, or an empty one | `MissingOrderIdException` |
//! | no `item` | `MissingOrderItemException` |
//! | no `quantity`, or not a whole number above 0 | `MissingOrderQuantityException` |
//! | an item outside the manifest's `CATALOG` | `UnknownItemException` (no handler: the instance fails) |
//!
//! A good order is recorded in the function's kv store and answered with
//! `{"provisionedOrder": {"id", "item", "quantity", "status": "PROVISIONED"}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    order: Order,
}

#[derive(Deserialize)]
struct Order {
    id: Option<String>,
    item: Option<String>,
    quantity: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    provisioned_order: Provisioned,
}

#[derive(Serialize)]
struct Provisioned {
    id: String,
    item: String,
    quantity: u64,
    status: &'static str,
}

fn provision(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let order = request.order;
    let id = present(order.id).ok_or_else(|| {
        Failure::new(
            "MissingOrderIdException",
            "the order has no id; every order needs one to be provisioned",
        )
    })?;
    let item = present(order.item).ok_or_else(|| {
        Failure::new(
            "MissingOrderItemException",
            format!("order '{id}' does not say which item it is for"),
        )
    })?;
    let quantity = quantity(order.quantity.as_ref()).map_err(|problem| {
        Failure::new(
            "MissingOrderQuantityException",
            format!("order '{id}' {problem}"),
        )
    })?;
    let catalog = swirl_guest::config("CATALOG").unwrap_or_default();
    if !catalog.split(',').any(|known| known.trim() == item) {
        return Err(Failure::new(
            "UnknownItemException",
            format!("order '{id}' is for '{item}', which is not in the catalog ({catalog})"),
        ));
    }
    let provisioned = Provisioned {
        id,
        item,
        quantity,
        status: "PROVISIONED",
    };
    // Keyed by order id: provisioning the same order again (a retried
    // action) overwrites the record instead of provisioning twice.
    swirl_guest::kv::set_json(&format!("orders/{}", provisioned.id), &provisioned)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))?;
    swirl_guest::log::info(&format!(
        "provisioned order {}: {} x {}",
        provisioned.id, provisioned.quantity, provisioned.item
    ));
    Ok(Reply {
        provisioned_order: provisioned,
    })
}

/// The trimmed text, unless it is absent or blank.
fn present(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// A whole number above zero, given as a JSON number or a string of digits.
fn quantity(value: Option<&Value>) -> Result<u64, String> {
    let parsed = match value {
        None | Some(Value::Null) => return Err("has no quantity".into()),
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err("has no quantity".into());
        }
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(Value::Number(number)) => number.as_u64(),
        Some(_) => None,
    };
    match parsed {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "has quantity {}, which is not a whole number above 0",
            value.map(Value::to_string).unwrap_or_default()
        )),
    }
}

swirl_guest::export!(provision);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_may_be_numbers_or_digit_strings() {
        assert_eq!(quantity(Some(&json!("10"))), Ok(10));
        assert_eq!(quantity(Some(&json!(3))), Ok(3));
        assert_eq!(quantity(None), Err("has no quantity".into()));
        assert_eq!(quantity(Some(&json!(" "))), Err("has no quantity".into()));
        for bad in [json!(0), json!(-2), json!(1.5), json!("ten"), json!([1])] {
            assert!(quantity(Some(&bad)).is_err(), "{bad}");
        }
    }
}
