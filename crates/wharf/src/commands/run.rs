//! `wharf run` and `wharf create`: the flags as the API's create body
//! (create_flags), the engine makes the container (engine::create); then,
//! for `run`, the monitor: in this process for a foreground run (wharf
//! exits with the container's code), or a detached one for `-d` (wharf
//! prints the ID and returns).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::container::{self, engine, Attach};
pub use super::create_flags::CreateArgs;

#[derive(Debug, Args)]
#[command(disable_help_flag = true, override_usage = "wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
pub struct RunArgs {
    /// Print help (docker uses -h for --hostname here)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short, long, value_name = "list", value_parser = parse_stream)]
    pub attach: Vec<Stream>,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// A stream `-a` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

fn parse_stream(s: &str) -> Result<Stream, String> {
    match s.to_ascii_lowercase().as_str() {
        "stdin" => Ok(Stream::Stdin),
        "stdout" => Ok(Stream::Stdout),
        "stderr" => Ok(Stream::Stderr),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".into()),
    }
}

impl RunArgs {
    /// The streams attached, as docker's CLI: those `-a` names (stdin too
    /// with `-i`), else stdout and stderr; none when detached.
    fn stdio(&self) -> super::create_flags::Stdio {
        let named = |s| self.attach.contains(&s) || (self.attach.is_empty() && s != Stream::Stdin);
        let attached = !self.detach;
        super::create_flags::Stdio {
            tty: self.tty,
            interactive: self.interactive,
            detach: self.detach,
            stdout: attached && named(Stream::Stdout),
            stderr: attached && named(Stream::Stderr),
        }
    }
}

/// Creates a container as `run` and `create` do: the image pulled per
/// `--pull` (docker's CLI pulls, then asks the engine), the flags as the
/// API's create body, the engine's warnings printed, `--cidfile` written.
pub fn create(root: &Path, args: &CreateArgs, mode: super::create_flags::Stdio) -> anyhow::Result<(String, Store)> {
    if let Some(f) = args.cidfile.as_ref().filter(|f| f.exists()) {
        return Err(engine(format!(
            "Container ID file found, make sure the other container isn't running or delete {}",
            f.display()
        )));
    }
    let request = args.request(mode)?;
    let mut store = Store::open(root)?;
    if store.resolve(args.image()).is_err() || args.pull == "always" || args.platform.is_some() {
        crate::commands::registry::ensure_image(root, args.image(), &args.pull, args.quiet, args.platform.as_deref())
            .map_err(|e| engine(e.to_string()))?;
    }
    let created = engine::create::create(&mut store, &request)?;
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(f) = &args.cidfile {
        if let Err(e) = std::fs::write(f, &created.id) {
            let _ = container::remove_files(&mut store, &created.id);
            return Err(engine(format!("Failed to create the container ID file: {e}")));
        }
    }
    Ok((created.id, store))
}

pub fn run(root: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    run_container(root, args).map_err(crate::exit::as_run_error)
}

fn run_container(root: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    // The container starts in a few ms (here, or in the monitor for -d):
    // pay the first cgroup migration's wait meanwhile (runtime::warmup).
    runtime::warmup::start();
    let keys =
        super::attach::parse_detach_keys(args.detach_keys.as_deref().unwrap_or(super::attach::DEFAULT_DETACH_KEYS))?;
    // Refused before anything is made, as docker's.
    super::attach::check_tty(args.interactive && !args.detach, args.tty)?;
    if args.detach && !args.attach.is_empty() {
        return Err(crate::exit::fail("conflicting options: cannot specify both --attach and --detach"));
    }
    let mode = args.stdio();
    let (id, store) = create(root, &args.create, mode)?;
    if args.tty && args.interactive && !args.detach {
        // As docker: this CLI is an attach client of the container's
        // monitor, so the detach keys leave the container running.
        drop(store);
        let sock = container::spawn_monitor_attached(root, &id)?;
        runtime::warmup::finish();
        return super::attach::run_attached(root, &id, sock, keys);
    }
    if args.detach {
        drop(store);
        container::spawn_monitor(root, &id)?;
        runtime::warmup::finish();
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let code = container::monitor_in(
        store,
        &id,
        Attach::Terminal { stdin: args.interactive, stdout: mode.stdout, stderr: mode.stderr },
    )?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true, override_usage = "wharf create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
pub struct CreateCmdArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// `wharf create`: prints the new container's ID.
pub fn create_cmd(root: &Path, args: CreateCmdArgs) -> anyhow::Result<ExitCode> {
    let mode = super::create_flags::Stdio {
        tty: args.tty,
        interactive: args.interactive,
        detach: false,
        stdout: true,
        stderr: true,
    };
    let (id, store) = create(root, &args.create, mode).map_err(crate::exit::as_command_error)?;
    let rec = store.container(&id)?;
    let ov = container::overlay(&store, &id, &rec.image_id)?;
    let _ = ov.unmount();
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}
