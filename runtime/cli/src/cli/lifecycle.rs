//! A function's lifecycle on a running server: `swirl alias set|ls|rm` and
//! `swirl rollback`, clients of `/functions/{name}/aliases` and
//! `/functions/{name}/rollback` (`swirl deploy --canary` is in `deploy.rs`).

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use super::Outcome;
use super::remote::{Remote, call, encode, refused};

/// Point an alias of a function at versions, by weight, or list or delete aliases
///
/// A workflow calls a function through an alias by naming `function@alias`
/// as its resource; each new instance picks the version once, by weight,
/// and keeps it. `POST /functions/NAME/invoke?alias=ALIAS` picks per call.
///
/// Example: swirl alias set greet live 1=90 2=10
#[derive(clap::Args)]
pub struct AliasArgs {
    #[command(subcommand)]
    command: AliasCommand,
}

#[derive(clap::Subcommand)]
enum AliasCommand {
    /// Set an alias: VERSION=WEIGHT pairs, versions by number or id, weights whole percentages summing to 100
    Set {
        function: String,
        alias: String,
        /// VERSION=WEIGHT, e.g. 1=90 2=10 (one version alone: 3=100)
        #[arg(required = true, value_name = "VERSION=WEIGHT")]
        weights: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a function's aliases with their versions and weights
    Ls {
        function: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete an alias (refused while a workflow calls through it)
    Rm {
        function: String,
        alias: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Make the version before the current one current again
///
/// All calls of the function's name, and new instances of workflows that
/// call it, go to the version numbered before the newest one it routes to
/// now; running instances keep theirs. Aliases do not change.
///
/// Example: swirl rollback greet
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The function name
    function: String,
    #[command(flatten)]
    remote: Remote,
}

pub fn alias(args: AliasArgs) -> anyhow::Result<Outcome> {
    match args.command {
        AliasCommand::Set {
            function,
            alias,
            weights,
            remote,
        } => {
            let body = json!({ "versions": parse_weights(&weights)? });
            let path = format!(
                "/functions/{}/aliases/{}",
                encode(&function),
                encode(&alias)
            );
            let headers = [("content-type".to_string(), "application/json".to_string())];
            let (status, answer) = call(
                &remote,
                "PUT",
                &path,
                &headers,
                Some(body.to_string().into_bytes()),
                false,
            )?;
            if status >= 400 {
                return Ok(refused(status, &answer));
            }
            if remote.json {
                println!("{answer}");
            } else {
                println!("{function}@{alias}  {}", route_line(&answer["versions"]));
            }
            Ok(Outcome::Success)
        }
        AliasCommand::Ls { function, remote } => {
            let path = format!("/functions/{}/aliases", encode(&function));
            let (status, answer) = call(&remote, "GET", &path, &[], None, false)?;
            if status >= 400 {
                return Ok(refused(status, &answer));
            }
            if remote.json {
                println!("{answer}");
                return Ok(Outcome::Success);
            }
            println!("{:<24} VERSIONS (NUMBER=WEIGHT)", "ALIAS");
            for (alias, route) in answer["aliases"].as_object().into_iter().flatten() {
                println!("{alias:<24} {}", route_line(route));
            }
            Ok(Outcome::Success)
        }
        AliasCommand::Rm {
            function,
            alias,
            remote,
        } => {
            let path = format!(
                "/functions/{}/aliases/{}",
                encode(&function),
                encode(&alias)
            );
            let (status, answer) = call(&remote, "DELETE", &path, &[], None, false)?;
            if status >= 400 {
                return Ok(refused(status, &answer));
            }
            if remote.json {
                println!("{answer}");
            }
            Ok(Outcome::Success)
        }
    }
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<Outcome> {
    let path = format!("/functions/{}/rollback", encode(&args.function));
    let (status, answer) = call(&args.remote, "POST", &path, &[], None, false)?;
    if status >= 400 {
        return Ok(refused(status, &answer));
    }
    if args.remote.json {
        println!("{answer}");
    } else {
        let current = &answer["current"];
        println!(
            "{}: version {} ({}) is current",
            args.function,
            current["number"],
            current["version"].as_str().unwrap_or("-")
        );
    }
    Ok(Outcome::Success)
}

/// `1=90 2=10` → `{"1": 90, "2": 10}`.
fn parse_weights(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut versions = Map::new();
    for pair in pairs {
        let (version, weight) = pair
            .split_once('=')
            .with_context(|| format!("'{pair}' is not VERSION=WEIGHT, like 2=10"))?;
        let weight: u32 = weight.parse().with_context(|| {
            format!("the weight in '{pair}' is not a whole percentage from 0 to 100")
        })?;
        if versions
            .insert(version.to_string(), json!(weight))
            .is_some()
        {
            bail!("version {version} is given twice; give each version one weight");
        }
    }
    Ok(versions)
}

/// A route as `1=90 2=10`.
fn route_line(route: &Value) -> String {
    let parts: Vec<String> = route
        .as_array()
        .into_iter()
        .flatten()
        .map(|routed| format!("{}={}", routed["number"], routed["weight"]))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_read_from_pairs() {
        let pairs = |items: &[&str]| items.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            Value::Object(parse_weights(&pairs(&["1=90", "2=10"])).unwrap()),
            json!({"1": 90, "2": 10})
        );
        for bad in [&["1"][..], &["1=x"], &["1=50", "1=50"], &["1=-5"]] {
            assert!(parse_weights(&pairs(bad)).is_err(), "{bad:?}");
        }
    }
}
