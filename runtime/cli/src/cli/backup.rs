//! `swirl backup` and `swirl restore`: a data directory's store as one file
//! (`swirl_store::backup` has what it holds), taken from a running server
//! through `GET /backup` or from a stopped data directory, and brought back
//! into an empty directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use swirl_store::Store;

use super::{DataDir, Outcome};

/// Back up a server's data into one file
///
/// From a running server (--server) while it serves, or from a stopped
/// data directory (--data-dir). The backup holds every instance, history, event mark, buffered event,
/// kv value, dead letter, deployment and stored file; `swirl restore`
/// brings it back. A running server takes it between two commits: every
/// instance acknowledged before the backup started is in it.
/// SWIRL_ADMIN_TOKEN, when set, is sent as the admin token.
///
/// Example: swirl backup --server http://127.0.0.1:8080 swirl.backup
#[derive(clap::Args)]
pub struct BackupArgs {
    /// File to write the backup to (replaced once complete)
    output: PathBuf,
    /// A running server to back up, e.g. http://127.0.0.1:8080; without it
    /// the data directory is opened (its server must be stopped)
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    #[command(flatten)]
    data_dir: DataDir,
}

/// Restore a backup into an empty data directory
///
/// The directory must be empty or absent; `swirl serve --data-dir DIR`
/// then serves what the backup held, resuming its unfinished instances.
///
/// Example: swirl restore swirl.backup --data-dir .swirl
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup file
    backup: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<Outcome> {
    let partial = PathBuf::from(format!("{}.partial", args.output.display()));
    let outcome = match &args.server {
        Some(server) => download(server, &partial)?,
        None => {
            let data_dir = &args.data_dir.data_dir;
            if !data_dir.join("db").is_dir() {
                anyhow::bail!(
                    "{} holds no swirl data (no db/ in it); give --data-dir the directory swirl serve used, or --server a running server",
                    data_dir.display()
                );
            }
            let store = super::open_store(data_dir)?;
            let file = fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            store.backup(&file)?;
            file.sync_all()?;
            Outcome::Success
        }
    };
    if !matches!(outcome, Outcome::Success) {
        let _ = fs::remove_file(&partial);
        return Ok(outcome);
    }
    fs::rename(&partial, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let bytes = fs::metadata(&args.output)?.len();
    println!("backed up {bytes} bytes to {}", args.output.display());
    Ok(Outcome::Success)
}

/// Streams `GET {server}/backup` into `path`.
fn download(server: &str, path: &Path) -> anyhow::Result<Outcome> {
    let url = format!("{}/backup", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut request = hyper::Request::get(&url);
        if let Some(token) = super::remote::token(false) {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .with_context(|| format!("'{url}' is not a valid request url"))?;
        let response = client.request(request).await.with_context(|| {
            format!("cannot reach the server at {server}; is `swirl serve` running?")
        })?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        if status != 200 {
            let bytes = body.collect().await?.to_bytes();
            let answer = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            });
            return Ok(super::remote::refused(status, &answer));
        }
        let mut file =
            fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                file.write_all(&data)?;
            }
        }
        file.sync_all()?;
        Ok(Outcome::Success)
    })
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<Outcome> {
    let file = fs::File::open(&args.backup)
        .with_context(|| format!("cannot open {}", args.backup.display()))?;
    let target = &args.data_dir.data_dir;
    let restored = Store::restore(target, file).with_context(|| {
        format!(
            "cannot restore {} into {}",
            args.backup.display(),
            target.display()
        )
    })?;
    println!(
        "restored {} entries and {} files into {}",
        restored.entries,
        restored.files,
        target.display()
    );
    Ok(Outcome::Success)
}
