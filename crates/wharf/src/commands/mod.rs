//! One module per command group.

pub mod archive;
mod dockerfile;
pub mod image;
pub mod run;
pub mod system;

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{version_line, Cli, Command, ImageCommand, SystemCommand};

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
    let root = cli.global.root.as_path();
    match command {
        Command::Dockerfile(cmd) => dockerfile::run(cmd),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => image::images(root, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => image::import(root, a),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => image::inspect(root, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => image::tag(root, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => image::rmi(root, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => image::history(root, a),
        Command::Image(ImageCommand::Prune(a)) => image::prune(root, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(root, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(root, a),
        Command::System(SystemCommand::Df(a)) => system::df(root, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(root, a),
        Command::System(SystemCommand::Check(a)) => system::check(root, a),
        Command::Run(a) => run::run(root, a),
        Command::Rm(a) => run::rm(root, a),
    }
}
