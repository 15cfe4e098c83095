//! `swirl deploy`: uploads a manifest and the files it names to a running
//! server (`POST /apps`, multipart/form-data), building first if asked. The
//! server never builds; it checks the upload whole and deploys all or nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use swirl_app::manifest::Manifest;

use super::remote::{Remote, call, refused};
use super::{Outcome, report_manifest_errors};

/// Deploy an app to a running server
///
/// Uploads the manifest with its components and workflow files; every
/// function whose code or config changed becomes a new version, numbered
/// after the function's earlier ones (running instances keep theirs). With
/// --canary, a new version takes that share of the function's calls and
/// new instances, and the version that had most keeps the rest; deploy
/// again without it to promote, or `swirl rollback` to drop it. Prints
/// each function and workflow with its version.
///
/// Example: swirl deploy examples/event-based-greeting/swirl.toml --build
#[derive(clap::Args)]
pub struct Args {
    /// The app manifest (swirl.toml)
    manifest: PathBuf,
    /// Run the functions' build commands first
    #[arg(long)]
    build: bool,
    /// Give each new function version this percentage of calls (1 to 99)
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(1..100))]
    canary: Option<u32>,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(errors) => return Ok(report_manifest_errors(&errors)),
    };
    if args.build
        && let Err(errors) = swirl_app::app::build(&manifest)
    {
        return Ok(report_manifest_errors(&errors));
    }
    let boundary = format!("swirl-{}", swirl_core::ids::new_id());
    let text = std::fs::read(&manifest.path)
        .with_context(|| format!("cannot read {}", manifest.path.display()))?;
    let mut body = Vec::new();
    part(&mut body, &boundary, "manifest", "swirl.toml", &text);
    let files = manifest
        .functions
        .values()
        .map(|function| &function.source)
        .chain(&manifest.workflows);
    let mut largest = 0;
    for path in files {
        let name = relative(&manifest, path)?;
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read {} named by {}; build it first (or pass --build)",
                path.display(),
                manifest.path.display()
            )
        })?;
        largest = largest.max(bytes.len());
        part(&mut body, &boundary, &name, &name, &bytes);
    }
    if largest >= swirl_function::CompileProgress::REPORTED_BYTES {
        // The answer comes once the server compiled what changed: say why it may take a while.
        eprintln!(
            "deploying {} ({:.1} MB); the server compiles each changed function first, which takes seconds for a large component (its log says when it starts and ends)",
            manifest.app_name,
            body.len() as f64 / 1e6
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let headers = [(
        "content-type".to_string(),
        format!("multipart/form-data; boundary={boundary}"),
    )];
    let path = match args.canary {
        Some(percent) => format!("/apps?canary={percent}"),
        None => "/apps".to_string(),
    };
    let (status, answer) = call(&args.remote, "POST", &path, &headers, Some(body), false)?;
    if status >= 400 {
        for problem in answer["problems"].as_array().into_iter().flatten() {
            // Each names its file and severity (`file:line:column: error: …`).
            eprintln!("{}", problem.as_str().unwrap_or_default());
        }
        return Ok(refused(status, &answer));
    }
    if args.remote.json {
        println!("{answer}");
        return Ok(Outcome::Success);
    }
    println!(
        "{:<9} {:<24} {:<6} {:<18} STATUS",
        "KIND", "NAME", "NUMBER", "VERSION"
    );
    for (kind, key) in [("function", "functions"), ("workflow", "workflows")] {
        for item in answer[key].as_array().into_iter().flatten() {
            let text = |key: &str| item[key].as_str().unwrap_or("-").to_string();
            let number = item["number"]
                .as_u64()
                .map_or_else(|| "-".to_string(), |n| n.to_string());
            println!(
                "{kind:<9} {:<24} {number:<6} {:<18} {}",
                text("name"),
                text("version"),
                text("status")
            );
        }
    }
    Ok(Outcome::Success)
}

/// The path the manifest uses for `path`, which names the file's part.
fn relative(manifest: &Manifest, path: &Path) -> anyhow::Result<String> {
    match path.strip_prefix(manifest.dir()) {
        Ok(relative) => Ok(relative.to_string_lossy().into_owned()),
        Err(_) => bail!(
            "{} lies outside the directory of {}; a deployment carries only files under it",
            path.display(),
            manifest.path.display()
        ),
    }
}

fn part(body: &mut Vec<u8>, boundary: &str, name: &str, file_name: &str, bytes: &[u8]) {
    let name = name.replace('"', "%22");
    let file_name = file_name.replace('"', "%22");
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n");
}
