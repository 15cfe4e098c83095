//! The `swirl` command: parses the command line, runs the command, prints the
//! error chain once, and exits 0 (success), 1 (the function or workflow
//! failed) or 2 (usage, manifest or definition errors).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
