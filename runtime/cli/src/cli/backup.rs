//! `swirl backup` and `swirl restore`: a data directory's store as one file
//! (`swirl_store::backup` has what it holds), taken from a running server
//! through `GET /backup` or from a stopped data directory, and brought back
//! into an empty directory.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use swirl_client::{Request, blocking};
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
        // Nothing half-written stays behind.
        Some(server) => download(server, &partial).inspect_err(|_| {
            let _ = fs::remove_file(&partial);
        })?,
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
    let request = super::remote::authorized(Request::get(&url), false);
    let mut file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let answer = blocking::Client::new()?
        .download(request, &mut file)
        .map_err(|error| super::remote::cannot_reach(server, error))?;
    if answer.status != 200 {
        let status = answer.status.as_u16();
        return Ok(super::remote::refused(
            status,
            &super::remote::json_or_text(&answer),
        ));
    }
    file.sync_all()?;
    Ok(Outcome::Success)
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
