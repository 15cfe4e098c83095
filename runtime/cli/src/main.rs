//! The `swirl` command: parses the command line, runs the command, prints the
//! error chain once, and exits 0 (success), 1 (the function or workflow
//! failed) or 2 (usage, manifest or definition errors).

mod cli;

/// Runs copy sled's tree nodes on every write; mimalloc reuses those
/// buffers where glibc's malloc maps, zeroes and unmaps them each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
