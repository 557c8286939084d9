//! Container commands after `run`: stop, kill, start, restart, wait, rm,
//! rename, pause/unpause, top, exec. Flags → the engine's operations
//! (`engine::lifecycle`) → docker's output.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use store::{ContainerState, Store};

pub use engine::lifecycle::{lookup, parse_signal};

use super::container::{self, load_config, Attach};

/// Runs `f` on each container named, as docker's CLI does: each error
/// printed as the daemon's answer, exit 1 if any failed.
fn each(
    keys: &[String],
    f: impl FnMut(&mut Store, &str) -> anyhow::Result<()>,
    root: &Path,
) -> anyhow::Result<ExitCode> {
    let failed = each_failed(keys, f, root)?;
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// As [`each`]; returns the keys that failed.
fn each_failed(
    keys: &[String],
    mut f: impl FnMut(&mut Store, &str) -> anyhow::Result<()>,
    root: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut store = Store::open(root)?;
    let mut failed = Vec::new();
    for key in keys {
        if let Err(e) = f(&mut store, key) {
            eprintln!("Error response from daemon: {e:#}");
            failed.push(key.clone());
        }
    }
    Ok(failed)
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(root: &Path, args: StopArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            engine::lifecycle::stop(store, key, args.time, args.signal.as_deref())?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(root: &Path, args: KillArgs) -> anyhow::Result<ExitCode> {
    let sig =
        parse_signal(&args.signal).ok_or_else(|| engine::Error::invalid(format!("Invalid signal: {}", args.signal)))?;
    each(
        &args.containers,
        |store, key| {
            engine::lifecycle::kill(store, key, sig)?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn start(root: &Path, args: StartArgs) -> anyhow::Result<ExitCode> {
    if args.attach {
        let [key] = args.containers.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        };
        let mut store = Store::open(root)?;
        let rec = lookup(&mut store, key)?;
        drop(store);
        if rec.state == ContainerState::Running {
            // As docker: attaches to it.
            let attach = super::attach::AttachArgs {
                detach_keys: args.detach_keys.clone(),
                no_stdin: !args.interactive,
                sig_proxy: true,
                container: rec.id.clone(),
            };
            return super::attach::attach(root, attach);
        }
        let keys = super::attach::parse_detach_keys(
            args.detach_keys.as_deref().unwrap_or(super::attach::DEFAULT_DETACH_KEYS),
        )?;
        if args.interactive && load_config(&rec).tty {
            super::attach::check_tty(true, true)?;
            let sock = container::spawn_monitor_attached(root, &rec.id)?;
            return super::attach::run_attached(root, &rec.id, sock, keys);
        }
        let code = container::monitor(
            root,
            &rec.id,
            Attach::Terminal { stdin: args.interactive, stdout: true, stderr: true },
        )?;
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let failed = each_failed(
        &args.containers,
        |store, key| {
            engine::lifecycle::start(store, key)?;
            println!("{key}");
            Ok(())
        },
        root,
    )?;
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    Err(crate::exit::fail(format!("Error: failed to start containers: {}", failed.join(", "))))
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn restart(root: &Path, args: RestartArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            engine::lifecycle::restart(store, key, args.time)?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(root: &Path, args: WaitArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            println!("{}", engine::lifecycle::wait(store, key)?);
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(root: &Path, args: RmArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            engine::lifecycle::remove_container(store, key, args.force, args.volumes)?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(root: &Path, args: RenameArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    if let Err(e) = engine::lifecycle::rename(&mut store, &args.container, &args.new_name) {
        eprintln!("Error response from daemon: {e}");
        return Err(crate::exit::fail(format!("Error: failed to rename container named {}", args.container)));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(root: &Path, args: PauseArgs, resume: bool) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            engine::lifecycle::pause(store, key, resume)?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct TopArgs {
    pub container: String,
    /// ps options (docker's default: -ef); everything after the container
    /// is ps's, `-o pid,comm` included
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// The container's processes, as docker's CLI prints them (Go's
/// tabwriter: minimum width 20, padding 3).
pub fn top(root: &Path, args: TopArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let top = engine::lifecycle::top(&mut store, &args.container, &args.ps_args)?;
    let header: Vec<&str> = top.titles.iter().map(String::as_str).collect();
    print!("{}", crate::format::table_min(&header, &top.processes, 20));
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(required = true)]
    pub command: Vec<String>,
}

/// `wharf exec`: the flags as the API's `ExecConfig`, run by the engine
/// with this process's stdio, or on a pty relayed to the terminal.
pub fn exec(root: &Path, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let config = engine::exec::ExecConfig {
        attach_stdin: Some(args.interactive),
        tty: Some(args.tty),
        env: Some(super::create_flags::given_env(&args.env_file, &args.env)?),
        cmd: Some(args.command.clone()),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        ..Default::default()
    };
    let mut store = Store::open(root)?;
    let exec = engine::exec::prepare(&mut store, &args.container, &config, args.detach)?;
    drop(store);
    super::attach::check_tty(args.interactive && !args.detach, args.tty)?;
    let code = if exec.wants_terminal() {
        let _raw = runtime::console::RawMode::enter();
        let mut output = |b: &[u8]| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b).and_then(|_| out.flush());
        };
        let mut resize = |master: &std::os::fd::OwnedFd| runtime::console::copy_window_size(master);
        let input = args.interactive.then(|| runtime::oci::dup_stdio(0)).transpose()?;
        exec.run_terminal(engine::exec::TerminalIo { input, output: &mut output, resize: &mut resize })?
    } else {
        exec.run_inherited()?
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
