//! One module per command group.

pub mod archive;
pub mod attach;
pub mod build;
mod build_progress;
pub mod commit;
pub mod container;
pub mod cp;
mod create_flags;
mod df_verbose;
mod dockerfile;
pub mod events;
pub mod health;
pub mod image;
pub mod info;
pub mod lifecycle;
pub mod logging;
pub mod manifest;
pub mod network;
pub mod object;
pub mod ps;
pub mod registry;
pub mod resources;
pub mod rootfs;
pub mod run;
pub mod stats;
pub mod system;
pub mod update;
pub mod volume;

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{version_line, BuilderCommand, Cli, Command, ContainerCommand as C, ImageCommand, SystemCommand};

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
    // An ordinary user's store is made private to them before any command
    // writes in it (rootless: no other user reads it).
    if paths::rootless() && !root.exists() {
        paths::make_private_dir(root)?;
    }
    match command {
        Command::Dockerfile(cmd) => dockerfile::run(cmd),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => image::images(root, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => image::import(root, a),
        Command::Inspect(a) => object::inspect(root, a),
        Command::Image(ImageCommand::Inspect(a)) => image::inspect(root, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => image::tag(root, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => image::rmi(root, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => image::history(root, a),
        Command::Image(ImageCommand::Prune(a)) => image::prune(root, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(root, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(root, a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => registry::pull(root, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => registry::push(root, a),
        Command::Login(a) => registry::login(a),
        Command::Logout(a) => registry::logout(a),
        Command::System(SystemCommand::Df(a)) => system::df(root, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(root, a),
        Command::System(SystemCommand::Check(a)) => system::check(root, a),
        Command::System(SystemCommand::Service(a)) => system::service(root, a),
        Command::Build(a) => build::build(root, a),
        Command::Image(ImageCommand::Build(a)) => build::build(root, *a),
        Command::Builder(BuilderCommand::Prune(a)) => build::prune(root, a),
        Command::Run(a) | Command::Container(C::Run(a)) => run::run(root, a),
        Command::Create(a) | Command::Container(C::Create(a)) => run::create_cmd(root, a),
        Command::Rm(a) | Command::Container(C::Rm(a)) => lifecycle::rm(root, a),
        Command::Ps(a) | Command::Container(C::Ls(a)) => ps::ps(root, a),
        Command::Logs(a) | Command::Container(C::Logs(a)) => logging::logs(root, a),
        Command::Stop(a) | Command::Container(C::Stop(a)) => lifecycle::stop(root, a),
        Command::Kill(a) | Command::Container(C::Kill(a)) => lifecycle::kill(root, a),
        Command::Start(a) | Command::Container(C::Start(a)) => lifecycle::start(root, a),
        Command::Restart(a) | Command::Container(C::Restart(a)) => lifecycle::restart(root, a),
        Command::Wait(a) | Command::Container(C::Wait(a)) => lifecycle::wait(root, a),
        Command::Rename(a) | Command::Container(C::Rename(a)) => lifecycle::rename(root, a),
        Command::Pause(a) | Command::Container(C::Pause(a)) => lifecycle::pause(root, a, false),
        Command::Unpause(a) | Command::Container(C::Unpause(a)) => lifecycle::pause(root, a, true),
        Command::Top(a) | Command::Container(C::Top(a)) => lifecycle::top(root, a),
        Command::Container(C::Inspect(a)) => ps::inspect(root, a),
        Command::Port(a) | Command::Container(C::Port(a)) => ps::port(root, a),
        Command::Exec(a) | Command::Container(C::Exec(a)) => lifecycle::exec(root, a),
        Command::Cp(a) | Command::Container(C::Cp(a)) => cp::cp(root, a),
        Command::Attach(a) | Command::Container(C::Attach(a)) => attach::attach(root, a),
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::events(root, a),
        Command::Container(C::Prune(a)) => ps::prune(root, a),
        Command::Manifest(c) => manifest::run(root, c),
        Command::Network(c) => network::run(root, c),
        Command::Volume(c) => volume::run(root, c),
        Command::Update(a) | Command::Container(C::Update(a)) => update::update(root, a),
        Command::Version(a) => info::version(a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => info::info(root, a),
        Command::Stats(a) | Command::Container(C::Stats(a)) => stats::stats(root, a),
        Command::Diff(a) | Command::Container(C::Diff(a)) => rootfs::diff(root, a),
        Command::Export(a) | Command::Container(C::Export(a)) => rootfs::export(root, a),
        Command::Commit(a) | Command::Container(C::Commit(a)) => commit::commit(root, a),
        Command::Internal { job } => internal(root, &job),
    }
}

/// `wharf internal JOB`: one of the engine's own processes.
fn internal(root: &std::path::Path, job: &str) -> anyhow::Result<ExitCode> {
    use engine::internal::Job;
    let job = Job::parse(job)?;
    let code = engine::internal::run(root, &job)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
