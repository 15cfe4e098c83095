//! The send-cloudevent example's `provisionOrderFunction`: provisions one
//! order of the ForEach from the warehouse's stock, answering
//! `{"provisioned": {"id": "123", "outcome": "SUCCESS"}}`, or `"FAILURE"`
//! when the warehouse holds fewer units than the order asks for. The outcome
//! is wrapped so that it merges into the iteration's data under one name,
//! which the iteration's output filter then selects.
//!
//! The stock levels are the manifest's `STOCK` (`laptop=20,desktop=2`); an
//! item it does not list has none. The function reads them and never
//! decrements them: the ForEach provisions its orders in parallel, and two
//! calls that read, decrement and write the same kv key at once would lose
//! one update. A real service would reserve stock in its own database.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    order: Order,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    item: String,
    /// A number, or a string of digits as the specification's example writes it.
    quantity: Value,
}

#[derive(Serialize)]
struct Reply {
    provisioned: Outcome,
}

#[derive(Serialize)]
struct Outcome {
    id: String,
    outcome: &'static str,
}

fn provision(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let order = request.order;
    let quantity = match &order.quantity {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|&n| n > 0)
    .ok_or_else(|| {
        Failure::new(
            "InvalidOrder",
            format!(
                "order '{}' has quantity {}, which is not a whole number above 0",
                order.id, order.quantity
            ),
        )
    })?;
    let in_stock = stock_of(&order.item);
    let outcome = if quantity <= in_stock {
        "SUCCESS"
    } else {
        "FAILURE"
    };
    swirl_guest::log::info(&format!(
        "order {}: {quantity} x {} wanted, {in_stock} in stock: {outcome}",
        order.id, order.item
    ));
    Ok(Reply {
        provisioned: Outcome {
            id: order.id,
            outcome,
        },
    })
}

/// The units of `item` that `STOCK` lists, 0 when it does not list them.
fn stock_of(item: &str) -> u64 {
    swirl_guest::config("STOCK")
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| entry.split_once('='))
        .find(|(name, _)| name.trim() == item)
        .and_then(|(_, units)| units.trim().parse().ok())
        .unwrap_or(0)
}

swirl_guest::export!(provision);
