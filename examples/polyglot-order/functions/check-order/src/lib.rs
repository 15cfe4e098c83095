//! The polyglot-order example's Rust step: checks an order's items and
//! totals them, `{"items": [{"sku", "qty", "price"}]}` →
//! `{"checked": {"total": 42.5, "count": 3}}`, or fails with `InvalidOrder`.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Order {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    sku: String,
    qty: u32,
    price: f64,
}

#[derive(Serialize)]
struct Reply {
    checked: Checked,
}

#[derive(Serialize)]
struct Checked {
    total: f64,
    count: u32,
}

fn check(order: Order, _ctx: &Context) -> Result<Reply, Failure> {
    if order.items.is_empty() {
        return Err(Failure::new("InvalidOrder", "the order has no items"));
    }
    if let Some(item) = order
        .items
        .iter()
        .find(|item| item.qty == 0 || item.price < 0.0)
    {
        return Err(Failure::new(
            "InvalidOrder",
            format!(
                "item '{}' needs a quantity above 0 and a price of at least 0",
                item.sku
            ),
        ));
    }
    let total = order
        .items
        .iter()
        .map(|item| f64::from(item.qty) * item.price)
        .sum();
    let count = order.items.iter().map(|item| item.qty).sum();
    Ok(Reply {
        checked: Checked { total, count },
    })
}

swirl_guest::export!(check);
