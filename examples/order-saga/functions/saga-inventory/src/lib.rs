//! The order-saga example's inventory service: reserves stock for an order
//! and, when a later step of the saga fails, releases it again.
//!
//! | input | output |
//! | --- | --- |
//! | `{"op": "reserve", "orderId", "item", "quantity"}` | `{"reservation": {"reservationId", "item", "quantity", "undo"}}` |
//! | `{"op": "release", "reservationId"}` (the `undo` of a reservation) | `{"release": {"reservationId", "item", "quantity", "status": "RELEASED"}}` |
//!
//! Results are wrapped in one named object, so that they merge into the
//! saga's data under that name.
//!
//! Each reservation carries its own compensation, `undo`, the exact input
//! that releases it: the saga does not need to know how to undo a step, only
//! to hand the step's `undo` back. Stock levels are the manifest's `STOCK`
//! (`laptop=10,phone=25`); what is reserved lives in the function's kv
//! store. Both operations are idempotent, because a workflow runs an action
//! at least once: reserving for an order that already holds a reservation
//! returns that reservation, and releasing twice releases once.
//! Too little stock fails the call with `OutOfStock`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    #[serde(rename_all = "camelCase")]
    Reserve {
        order_id: String,
        item: String,
        quantity: u64,
    },
    #[serde(rename_all = "camelCase")]
    Release { reservation_id: String },
}

/// A reservation's record, under `reservations/<reservationId>`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reservation {
    reservation_id: String,
    item: String,
    quantity: u64,
}

fn inventory(request: Request, _ctx: &Context) -> Result<Value, Failure> {
    match request {
        Request::Reserve {
            order_id,
            item,
            quantity,
        } => reserve(&order_id, &item, quantity),
        Request::Release { reservation_id } => release(&reservation_id),
    }
}

fn reserve(order_id: &str, item: &str, quantity: u64) -> Result<Value, Failure> {
    if order_id.trim().is_empty() || quantity == 0 {
        return Err(Failure::new(
            "InvalidReservation",
            "a reservation needs an order id and a quantity above 0",
        ));
    }
    let reservation_id = format!("res-{order_id}");
    let key = format!("reservations/{reservation_id}");
    let reservation = match load::<Reservation>(&key)? {
        Some(existing) => existing,
        None => {
            let reserved_key = format!("reserved/{item}");
            let reserved: u64 = load(&reserved_key)?.unwrap_or(0);
            let available = stock_of(item).saturating_sub(reserved);
            if quantity > available {
                return Err(Failure::new(
                    "OutOfStock",
                    format!(
                        "order '{order_id}' wants {quantity} x {item} but only {available} are available"
                    ),
                ));
            }
            let reservation = Reservation {
                reservation_id: reservation_id.clone(),
                item: item.to_string(),
                quantity,
            };
            save(&reserved_key, &(reserved + quantity))?;
            save(&key, &reservation)?;
            swirl_guest::log::info(&format!("reserved {quantity} x {item} for {order_id}"));
            reservation
        }
    };
    Ok(json!({
        "reservation": {
            "reservationId": reservation.reservation_id,
            "item": reservation.item,
            "quantity": reservation.quantity,
            "undo": { "op": "release", "reservationId": reservation.reservation_id },
        }
    }))
}

fn release(reservation_id: &str) -> Result<Value, Failure> {
    let key = format!("reservations/{reservation_id}");
    let Some(reservation) = load::<Reservation>(&key)? else {
        // Already released (this is a repeated release) or never made: either
        // way nothing is held, which is what the caller wants.
        return Ok(json!({
            "release": { "reservationId": reservation_id, "status": "RELEASED" }
        }));
    };
    let reserved_key = format!("reserved/{}", reservation.item);
    let reserved: u64 = load(&reserved_key)?.unwrap_or(0);
    save(
        &reserved_key,
        &reserved.saturating_sub(reservation.quantity),
    )?;
    swirl_guest::kv::delete(&key);
    swirl_guest::log::info(&format!(
        "released {} x {} of {reservation_id}",
        reservation.quantity, reservation.item
    ));
    Ok(json!({
        "release": {
            "reservationId": reservation_id,
            "item": reservation.item,
            "quantity": reservation.quantity,
            "status": "RELEASED",
        }
    }))
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

fn load<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, Failure> {
    swirl_guest::kv::get_json(key)
        .map_err(|error| Failure::new(swirl_guest::FAIL, format!("{key} is damaged: {error}")))
}

fn save<T: Serialize>(key: &str, value: &T) -> Result<(), Failure> {
    swirl_guest::kv::set_json(key, value)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))
}

swirl_guest::export!(inventory);
