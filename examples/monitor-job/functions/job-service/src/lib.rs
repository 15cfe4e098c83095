//! The monitor-job example's job service: the four functions of the
//! specification's Monitor Job workflow (`submitJob`, `checkJobStatus`,
//! `reportJobSuceeded`, `reportJobFailed`) as the operations of one swirl
//! function, chosen by the input's `op`.
//!
//! They are one function because they share the jobs: a function's kv store
//! is private to it, so separate functions could not see each other's jobs.
//!
//! A job counts the primes below a bound, named `primes-below-<N>`. swirl
//! runs functions only when called, so the service works the way a
//! cooperative scheduler does: each status check runs one slice of the job
//! (the manifest's `SLICE` numbers, 50,000 by default) and saves the
//! progress in kv. A job that is not done after `MAX_SLICES` checks (10 by
//! default) fails, as a job system stops a job that overruns its budget.
//!
//! | input | output |
//! | --- | --- |
//! | `{"op": "submit", "name": "primes-below-100000"}` | `{"jobuid": "job-primes-below-100000"}` |
//! | `{"op": "status", "name": "<uid>"}` | `{"jobstatus": S}`, S `"RUNNING"`, `"SUCCEEDED"` or `"FAILED"` |
//! | `{"op": "report-succeeded", "name": "<uid>"}` | `{"report": {"job", "status", "summary", "primes", "checks"}}` |
//! | `{"op": "report-failed", "name": "<uid>"}` | `{"report": {"job", "status", "summary", "checks"}}` |
//!
//! The uid and the status come wrapped in an object named as the workflow's
//! `dataResultsPath` (`$.jobuid`, `$.jobstatus`), which selects them from the
//! result.

mod primes;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use swirl_guest::{Context, Failure};

/// The largest bound a job may have, so that a job always fits in the slices
/// a budget allows to be configured.
const MAX_BOUND: u64 = 1_000_000_000;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Submit { name: String },
    Status { name: String },
    ReportSucceeded { name: String },
    ReportFailed { name: String },
}

/// A job's durable record, under `jobs/<uid>` in kv.
#[derive(Serialize, Deserialize)]
struct Job {
    name: String,
    bound: u64,
    /// The next number to examine; the job is done when it reaches `bound`.
    next: u64,
    primes: u64,
    checks: u32,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
enum Status {
    Running,
    Succeeded,
    Failed,
}

fn jobs(request: Request, _ctx: &Context) -> Result<Value, Failure> {
    match request {
        Request::Submit { name } => submit(&name).map(|uid| json!({ "jobuid": uid })),
        Request::Status { name } => check(&name).map(|status| json!({ "jobstatus": status })),
        Request::ReportSucceeded { name } => report(&name, Status::Succeeded),
        Request::ReportFailed { name } => report(&name, Status::Failed),
    }
}

fn submit(name: &str) -> Result<String, Failure> {
    let bound = name
        .strip_prefix("primes-below-")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| (2..=MAX_BOUND).contains(n))
        .ok_or_else(|| {
            Failure::new(
                "InvalidJobName",
                format!(
                    "cannot run a job named '{name}'; this service runs 'primes-below-<N>' with N from 2 to {MAX_BOUND}"
                ),
            )
        })?;
    // The uid follows from the name, so a submission that is retried after a
    // crash restarts the same job instead of leaving an orphan behind.
    let uid = format!("job-{name}");
    let job = Job {
        name: name.to_string(),
        bound,
        next: 2,
        primes: 0,
        checks: 0,
        status: Status::Running,
        reason: None,
    };
    save(&uid, &job)?;
    swirl_guest::log::info(&format!("submitted {uid}"));
    Ok(uid)
}

fn check(uid: &str) -> Result<Value, Failure> {
    let mut job = load(uid)?;
    if job.status == Status::Running {
        let slice = config_number("SLICE", 50_000).max(1);
        let budget = config_number("MAX_SLICES", 10).max(1);
        let end = job.bound.min(job.next.saturating_add(slice));
        job.primes += primes::count_in(job.next, end);
        job.next = end;
        job.checks += 1;
        if job.next >= job.bound {
            job.status = Status::Succeeded;
        } else if u64::from(job.checks) >= budget {
            job.status = Status::Failed;
            job.reason = Some(format!(
                "stopped at its budget of {} slices, with {} of {} numbers examined",
                job.checks,
                job.next - 2,
                job.bound - 2
            ));
        }
        save(uid, &job)?;
        swirl_guest::log::info(&format!(
            "{uid}: check {}, {} of {} numbers examined",
            job.checks,
            job.next - 2,
            job.bound - 2
        ));
    }
    Ok(serde_json::to_value(job.status).unwrap_or(Value::Null))
}

fn report(uid: &str, expected: Status) -> Result<Value, Failure> {
    let job = load(uid)?;
    if job.status != expected {
        return Err(Failure::new(
            "JobStatusMismatch",
            format!(
                "{uid} is {}, not {}",
                serde_json::to_value(job.status).unwrap_or(Value::Null),
                serde_json::to_value(expected).unwrap_or(Value::Null)
            ),
        ));
    }
    let report = match job.status {
        Status::Succeeded => json!({
            "job": uid,
            "status": job.status,
            "summary": format!("{} primes below {}", job.primes, job.bound),
            "primes": job.primes,
            "checks": job.checks,
        }),
        _ => json!({
            "job": uid,
            "status": job.status,
            "summary": job.reason,
            "checks": job.checks,
        }),
    };
    Ok(json!({ "report": report }))
}

fn load(uid: &str) -> Result<Job, Failure> {
    swirl_guest::kv::get_json(&format!("jobs/{uid}"))
        .map_err(|error| Failure::new(swirl_guest::FAIL, format!("job {uid} is damaged: {error}")))?
        .ok_or_else(|| {
            Failure::new(
                "UnknownJob",
                format!("there is no job '{uid}'; submit it first"),
            )
        })
}

fn save(uid: &str, job: &Job) -> Result<(), Failure> {
    swirl_guest::kv::set_json(&format!("jobs/{uid}"), job)
        .map_err(|error| Failure::new(swirl_guest::FAIL, error.to_string()))
}

fn config_number(key: &str, default: u64) -> u64 {
    swirl_guest::config(key)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

swirl_guest::export!(jobs);
