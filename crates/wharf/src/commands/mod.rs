//! One module per command group.

mod dockerfile;

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{version_line, Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        if cli.global.version {
            println!("{}", version_line());
        } else {
            Cli::command().print_help()?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Dockerfile(cmd) => dockerfile::run(cmd),
    }
}
