//! The monitor-patient-vital-signs example's three functions
//! (`sendTylenolOrder`, `callNurse`, `callPulmonologist`) in one component:
//! the manifest deploys it three times, and each deployment's `VITAL` config
//! says which vital sign it watches and what it does about it.
//!
//! The monitoring device raises an event when it thinks a reading is high;
//! the function checks the reading against the clinical limit before acting,
//! because devices raise false alarms (the specification's own sample event
//! carries a normal temperature, 98.6F). Input `{"patientid", "reading"}`,
//! output `{"assessment": {"patientid", "vital", "reading", "limit",
//! "aboveLimit", "action"}}`.
//!
//! | `VITAL` | reading | limit (config, default) | action when above |
//! | --- | --- | --- | --- |
//! | `temperature` | `"101.3F"`, `"38.5C"`, or °F as a number | `TEMPERATURE_LIMIT_F`, 100.4 | orders Tylenol |
//! | `blood-pressure` | `"150/95"` (mmHg) | `SYSTOLIC_LIMIT` 140 / `DIASTOLIC_LIMIT` 90 | calls the nurse |
//! | `respiration-rate` | `"24"` or 24 (breaths per minute) | `RESPIRATION_LIMIT`, 20 | pages the pulmonologist |

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Request {
    patientid: String,
    reading: Value,
}

#[derive(Serialize)]
struct Reply {
    assessment: Assessment,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Assessment {
    patientid: String,
    vital: &'static str,
    reading: String,
    limit: String,
    above_limit: bool,
    action: String,
}

/// What one reading says: its text, the limit as text, and whether it is above.
struct Check {
    reading: String,
    limit: String,
    above: bool,
}

fn assess(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let reading = match &request.reading {
        Value::String(text) => text.trim().to_string(),
        Value::Number(number) => number.to_string(),
        other => return Err(invalid(&other.to_string(), "a string or a number")),
    };
    let vital_kind = swirl_guest::config("VITAL").unwrap_or_default();
    let (vital, check, act) = match vital_kind.as_str() {
        "temperature" => (
            "body temperature",
            temperature(&reading, limit("TEMPERATURE_LIMIT_F", 100.4))?,
            "ordered Tylenol 650 mg",
        ),
        "blood-pressure" => (
            "blood pressure",
            blood_pressure(
                &reading,
                limit("SYSTOLIC_LIMIT", 140.0),
                limit("DIASTOLIC_LIMIT", 90.0),
            )?,
            "called the nurse to the bedside",
        ),
        "respiration-rate" => (
            "respiration rate",
            respiration(&reading, limit("RESPIRATION_LIMIT", 20.0))?,
            "paged the pulmonologist",
        ),
        other => {
            return Err(Failure::new(
                "MisconfiguredFunction",
                format!(
                    "config VITAL is '{other}'; set it to temperature, blood-pressure or respiration-rate"
                ),
            ));
        }
    };
    let action = if check.above {
        format!("{act} for {}", request.patientid)
    } else {
        format!(
            "none: {} is within the {} limit, so the device's alert is not confirmed",
            check.reading, check.limit
        )
    };
    swirl_guest::log::info(&format!(
        "{}: {vital} {}: {action}",
        request.patientid, check.reading
    ));
    Ok(Reply {
        assessment: Assessment {
            patientid: request.patientid,
            vital,
            reading: check.reading,
            limit: check.limit,
            above_limit: check.above,
            action,
        },
    })
}

/// `"101.3F"`, `"38.5C"` or a bare number of °F, compared in °F.
fn temperature(reading: &str, limit: f64) -> Result<Check, Failure> {
    let upper = reading.to_ascii_uppercase();
    let (number, celsius) = if let Some(n) = upper.strip_suffix('C') {
        (n, true)
    } else {
        (upper.strip_suffix('F').unwrap_or(&upper), false)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| invalid(reading, "a temperature such as 101.3F or 38.5C"))?;
    let fahrenheit = if celsius {
        value * 9.0 / 5.0 + 32.0
    } else {
        value
    };
    Ok(Check {
        reading: reading.to_string(),
        limit: format!("{limit}F"),
        above: fahrenheit > limit,
    })
}

/// `"150/95"`: high when either the systolic or the diastolic value reaches its limit.
fn blood_pressure(
    reading: &str,
    systolic_limit: f64,
    diastolic_limit: f64,
) -> Result<Check, Failure> {
    let parsed = reading
        .trim_end_matches("mmHg")
        .split_once('/')
        .and_then(|(s, d)| Some((s.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?)));
    let (systolic, diastolic) =
        parsed.ok_or_else(|| invalid(reading, "systolic/diastolic such as 150/95"))?;
    Ok(Check {
        reading: reading.to_string(),
        limit: format!("{systolic_limit}/{diastolic_limit}"),
        above: systolic >= systolic_limit || diastolic >= diastolic_limit,
    })
}

/// Breaths per minute, `"24"` or `"24/min"`.
fn respiration(reading: &str, limit: f64) -> Result<Check, Failure> {
    let rate: f64 = reading
        .trim_end_matches("/min")
        .trim()
        .parse()
        .map_err(|_| invalid(reading, "breaths per minute such as 24"))?;
    Ok(Check {
        reading: reading.to_string(),
        limit: format!("{limit}/min"),
        above: rate > limit,
    })
}

/// A limit from the function's config, or its clinical default.
fn limit(key: &str, default: f64) -> f64 {
    swirl_guest::config(key)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn invalid(reading: &str, expected: &str) -> Failure {
    Failure::new(
        "InvalidReading",
        format!("cannot read '{reading}'; expected {expected}"),
    )
}

swirl_guest::export!(assess);

#[cfg(test)]
mod tests {
    use super::*;

    fn high_temperature(reading: &str) -> bool {
        temperature(reading, 100.4).unwrap().above
    }

    #[test]
    fn temperatures_compare_in_fahrenheit_whatever_their_unit() {
        assert!(!high_temperature("98.6F"));
        assert!(high_temperature("104.2F"));
        assert!(high_temperature("38.5C"));
        assert!(!high_temperature("37c"));
        assert!(high_temperature("101"));
        assert_eq!(
            temperature("hot", 100.4).err().unwrap().code,
            "InvalidReading"
        );
    }

    #[test]
    fn blood_pressure_is_high_when_either_number_is() {
        let high = |reading| blood_pressure(reading, 140.0, 90.0).unwrap().above;
        assert!(high("150/85"));
        assert!(high("130/92 mmHg"));
        assert!(!high("120/80"));
        assert!(blood_pressure("120", 140.0, 90.0).is_err());
    }

    #[test]
    fn respiration_rate_above_the_limit() {
        assert!(respiration("24/min", 20.0).unwrap().above);
        assert!(!respiration("16", 20.0).unwrap().above);
    }
}
