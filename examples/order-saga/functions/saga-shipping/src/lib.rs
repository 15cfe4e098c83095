//! The order-saga example's shipping service: schedules the delivery of an
//! order, or fails with `AddressNotServed` when the order goes to a country
//! the carrier does not serve, the failure that makes the saga refund and
//! release what the earlier steps did.
//!
//! Input `{"order": {"id", "address": {"country"}}}`; output
//! `{"shipment": {"shipmentId", "country", "estimatedDays"}}`, wrapped so
//! that it merges into the saga's data under that name. The served countries are the
//! manifest's `SHIP_TO` (`NL,BE,DE`); deliveries inside `WAREHOUSE_COUNTRY`
//! take one day, others two.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    order: Order,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    address: Address,
}

#[derive(Deserialize)]
struct Address {
    country: String,
}

#[derive(Serialize)]
struct Reply {
    shipment: Shipment,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shipment {
    shipment_id: String,
    country: String,
    estimated_days: u32,
}

fn schedule(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let order = request.order;
    let country = order.address.country.trim().to_ascii_uppercase();
    let served = swirl_guest::config("SHIP_TO").unwrap_or_default();
    if !served
        .split(',')
        .any(|c| c.trim().eq_ignore_ascii_case(&country))
    {
        return Err(Failure::new(
            "AddressNotServed",
            format!(
                "order '{}' goes to {country}, and we ship to {served} only",
                order.id
            ),
        ));
    }
    let home = swirl_guest::config("WAREHOUSE_COUNTRY").unwrap_or_default();
    let estimated_days = if home.eq_ignore_ascii_case(&country) {
        1
    } else {
        2
    };
    swirl_guest::log::info(&format!("scheduled order {} to {country}", order.id));
    Ok(Reply {
        shipment: Shipment {
            shipment_id: format!("shp-{}", order.id),
            country,
            estimated_days,
        },
    })
}

swirl_guest::export!(schedule);
