//! `swirl-load`: drives a running `swirl serve` over real HTTP on keep-alive
//! connections and prints what it measured as rows of the table in
//! `BENCHMARKS.md` (`| figure | target | result | met? |`).
//!
//! Each subcommand is one kind of load on the benchmark app (`bench/app`):
//! - `start`: workflow instances started with `POST /workflows/{id}/instances?wait=true`
//!   by N clients, one request at a time each: latency and completed instances/s;
//! - `post`: the same load on any url that answers when its work is done
//!   (a peer engine's, for `bench/peer.sh`), each answer checked against the
//!   expected JSON;
//! - `events`: the same workflow started by CloudEvents (`POST /events`),
//!   counting instances completed per second until the last one is done;
//! - `correlate`: many instances left waiting for a correlated event, then
//!   the latency of waking one of them, and the server's resident memory;
//! - `idle`: resident memory of a server whose functions are idle, warmed by
//!   a burst, and idle again past their idle-timeout.
//!
//! `bench/run.sh` starts the servers and runs these in order, `bench/peer.sh`
//! runs `post` against swirl and Restate; see `bench/README.md`.

mod client;
mod scenarios;
mod stats;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "swirl-load",
    about = "Load generator for a running swirl serve"
)]
struct Cli {
    /// The server's base url
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    #[command(subcommand)]
    command: scenarios::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread: the client must leave the server the other core, and 32
    // connections waiting on their answers need no more than one.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("swirl-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(scenarios::run(&cli.server, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("swirl-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}
