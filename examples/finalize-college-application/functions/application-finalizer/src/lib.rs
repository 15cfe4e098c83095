//! The finalize-college-application example's `finalizeApplicationFunction`:
//! once the application, the SAT scores and the recommendation letter of a
//! student have all arrived, decides the application from them.
//!
//! Input `{"student", "name", "program", "satScores": {"math",
//! "readingWriting"}, "recommendation": {"from", "rating"}}`, gathered by the
//! workflow from the three events. The rules, with the marks from the
//! manifest's config:
//!
//! | decision | when |
//! | --- | --- |
//! | `ADMITTED` | SAT total at least `ADMIT_SAT` (1300) and a `strong` or `positive` recommendation |
//! | `WAITLISTED` | otherwise, SAT total at least `WAITLIST_SAT` (1100) and a recommendation that is not `negative` |
//! | `DECLINED` | otherwise |
//!
//! The decision is recorded in the function's kv store under the student,
//! so a finalization that is retried decides, and records, the same thing.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    student: String,
    name: String,
    program: String,
    sat_scores: SatScores,
    recommendation: Recommendation,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SatScores {
    math: u32,
    reading_writing: u32,
}

#[derive(Deserialize)]
struct Recommendation {
    from: String,
    rating: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    finalized_application: Decision,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Decision {
    student: String,
    name: String,
    program: String,
    sat_total: u32,
    recommendation: String,
    decision: &'static str,
    reason: String,
}

/// The marks a decision is measured against.
struct Marks {
    admit: u32,
    waitlist: u32,
}

fn finalize(request: Request, _ctx: &Context) -> Result<Reply, Failure> {
    let marks = Marks {
        admit: config_number("ADMIT_SAT", 1300),
        waitlist: config_number("WAITLIST_SAT", 1100),
    };
    let decision = decide(request, &marks)?;
    swirl_guest::kv::set_json(&format!("decisions/{}", decision.student), &decision)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))?;
    swirl_guest::log::info(&format!("{}: {}", decision.student, decision.decision));
    Ok(Reply {
        finalized_application: decision,
    })
}

fn decide(request: Request, marks: &Marks) -> Result<Decision, Failure> {
    let scores = &request.sat_scores;
    // Each SAT section is scored from 200 to 800; anything else is a data error.
    for (section, score) in [
        ("math", scores.math),
        ("readingWriting", scores.reading_writing),
    ] {
        if !(200..=800).contains(&score) {
            return Err(Failure::new(
                "InvalidScores",
                format!("SAT {section} score {score} is outside 200-800"),
            ));
        }
    }
    let total = scores.math + scores.reading_writing;
    let rating = request.recommendation.rating.trim().to_ascii_lowercase();
    let favourable = match rating.as_str() {
        "strong" | "positive" => true,
        "neutral" | "negative" => false,
        other => {
            return Err(Failure::new(
                "InvalidRecommendation",
                format!(
                    "recommendation rating '{other}' is not strong, positive, neutral or negative"
                ),
            ));
        }
    };
    let from = request.recommendation.from.trim();
    let (decision, reason) = if total >= marks.admit && favourable {
        (
            "ADMITTED",
            format!(
                "SAT {total} reaches the {} admission mark and the recommendation from {from} is {rating}",
                marks.admit
            ),
        )
    } else if total >= marks.waitlist && rating != "negative" {
        let why = if total >= marks.admit {
            format!("the recommendation from {from} is only {rating}")
        } else {
            format!("SAT {total} is below the {} admission mark", marks.admit)
        };
        ("WAITLISTED", why)
    } else if rating == "negative" {
        (
            "DECLINED",
            format!("the recommendation from {from} is negative"),
        )
    } else {
        (
            "DECLINED",
            format!("SAT {total} is below the {} waitlist mark", marks.waitlist),
        )
    };
    Ok(Decision {
        student: request.student,
        name: request.name,
        program: request.program,
        sat_total: total,
        recommendation: rating,
        decision,
        reason,
    })
}

fn config_number(key: &str, default: u32) -> u32 {
    swirl_guest::config(key)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

swirl_guest::export!(finalize);

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(math: u32, reading_writing: u32, rating: &str) -> &'static str {
        let request = Request {
            student: "A-1".into(),
            name: "Jane Doe".into(),
            program: "Physics".into(),
            sat_scores: SatScores {
                math,
                reading_writing,
            },
            recommendation: Recommendation {
                from: "Ms. Rivera".into(),
                rating: rating.into(),
            },
        };
        let marks = Marks {
            admit: 1300,
            waitlist: 1100,
        };
        decide(request, &marks)
            .map(|d| d.decision)
            .unwrap_or("error")
    }

    #[test]
    fn decisions_follow_scores_and_recommendation() {
        assert_eq!(decision(760, 720, "Strong"), "ADMITTED");
        assert_eq!(decision(700, 700, "neutral"), "WAITLISTED");
        assert_eq!(decision(600, 600, "strong"), "WAITLISTED");
        assert_eq!(decision(500, 500, "positive"), "DECLINED");
        assert_eq!(decision(800, 800, "negative"), "DECLINED");
        assert_eq!(decision(900, 500, "strong"), "error");
        assert_eq!(decision(700, 700, "glowing"), "error");
    }
}
