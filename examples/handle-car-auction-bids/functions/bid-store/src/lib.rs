//! The car-auction example's `StoreBidFunction`: records the bids of one bid
//! event durably and keeps the highest bid per car.
//!
//! Input `{"bid": [{"carid", "amount", "bidder": {"id", "firstName",
//! "lastName"}}]}` (the specification's event data; a single bid object
//! instead of the array is accepted too). Each bid is stored in the
//! function's kv store as `cars/<carid>/bids/<n>`, and the car's summary
//! `cars/<carid>` keeps the bid count and the highest bid. A bid stands when
//! it is higher than every earlier bid on the car; a bid equal to the
//! highest loses to the earlier one, as at an auction.
//!
//! Output `{"storedBids": [{"carid", "amount", "bidder", "bidNumber",
//! "standing", "highestBid"}]}` with `standing` `HIGHEST` or `OUTBID`.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

/// Bids per event: each bid writes two kv keys, and a call may write 1,000.
const MAX_BIDS_PER_EVENT: usize = 100;

#[derive(Deserialize)]
struct Request {
    bid: OneOrMany,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<Bid>),
    One(Bid),
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Bid {
    carid: String,
    amount: u64,
    bidder: Bidder,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Bidder {
    id: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

/// A car's running summary, under `cars/<carid>`.
#[derive(Deserialize, Serialize, Default)]
struct Car {
    bids: u64,
    highest: Option<Highest>,
}

#[derive(Deserialize, Serialize)]
struct Highest {
    amount: u64,
    bidder: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    stored_bids: Vec<Stored>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    carid: String,
    amount: u64,
    bidder: String,
    bid_number: u64,
    standing: &'static str,
    highest_bid: u64,
}

fn store_bids(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let bids = match request.bid {
        OneOrMany::Many(bids) => bids,
        OneOrMany::One(bid) => vec![bid],
    };
    if bids.is_empty() || bids.len() > MAX_BIDS_PER_EVENT {
        return Err(Failure::new(
            "InvalidBid",
            format!(
                "an event carries from 1 to {MAX_BIDS_PER_EVENT} bids, this one {}",
                bids.len()
            ),
        ));
    }
    let mut stored = Vec::with_capacity(bids.len());
    for bid in bids {
        stored.push(store(bid)?);
    }
    Ok(Reply {
        stored_bids: stored,
    })
}

fn store(bid: Bid) -> Result<Stored, Failure> {
    if bid.carid.trim().is_empty() || bid.bidder.id.trim().is_empty() {
        return Err(Failure::new(
            "InvalidBid",
            "a bid needs a 'carid' and a 'bidder.id'",
        ));
    }
    if bid.amount == 0 {
        return Err(Failure::new(
            "InvalidBid",
            format!("bid of {} on {} is not above 0", bid.bidder.id, bid.carid),
        ));
    }
    let key = format!("cars/{}", bid.carid);
    let mut car: Car = swirl_guest::kv::get_json(&key)
        .map_err(|error| Failure::new(swirl_guest::FAIL, format!("{key} is damaged: {error}")))?
        .unwrap_or_default();
    car.bids += 1;
    let stands = car.highest.as_ref().is_none_or(|h| bid.amount > h.amount);
    if stands {
        car.highest = Some(Highest {
            amount: bid.amount,
            bidder: bid.bidder.id.clone(),
        });
    }
    save(&format!("{key}/bids/{}", car.bids), &bid)?;
    save(&key, &car)?;
    let highest_bid = car.highest.as_ref().map_or(bid.amount, |h| h.amount);
    swirl_guest::log::info(&format!(
        "bid {} on {}: {} by {}",
        car.bids, bid.carid, bid.amount, bid.bidder.id
    ));
    Ok(Stored {
        carid: bid.carid,
        amount: bid.amount,
        bidder: bid.bidder.id,
        bid_number: car.bids,
        standing: if stands { "HIGHEST" } else { "OUTBID" },
        highest_bid,
    })
}

fn save<T: Serialize>(key: &str, value: &T) -> Result<(), Failure> {
    swirl_guest::kv::set_json(key, value)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))
}

swirl_guest::export!(store_bids);
