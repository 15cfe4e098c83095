//! `swirl completions`: the shell completion script, from the same clap
//! definition that parses the command line.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Outcome};

/// Print a completion script for a shell
///
/// Example: swirl completions bash > ~/.local/share/bash-completion/completions/swirl
#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell
    shell: Shell,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "swirl",
        &mut std::io::stdout(),
    );
    Ok(Outcome::Success)
}
