//! `wharf run` in the foreground: image config + flags → an overlay rootfs
//! over the image's snapshots and an OCI bundle (runtime::container_spec),
//! run by an OCI runtime binary with the terminal's stdio; wharf exits with
//! the container's code.
//!
//! Not yet here (issue 4): the embedded runtime (youki's libcontainer), the
//! per-container monitor (so `-d`, logs, ps/stop/exec), networking, limits
//! flags. Until the embedded runtime lands, the runtime binary defaults to
//! `runc` (or `crun`) found on PATH; `--runtime PATH` picks another.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use store::Store;

use crate::exit::{Failure, ENGINE_ERROR};

#[derive(Debug, Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (docker uses -h for --hostname here)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Path to an OCI runtime binary (runc, crun, youki, runsc)
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    pub command: Vec<String>,
}

fn engine(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(ENGINE_ERROR, msg).into()
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// docker's rule: `--entrypoint` replaces the image's ENTRYPOINT and drops
/// its CMD; a command after the image replaces CMD.
fn argv(config: Option<&Value>, args: &RunArgs) -> Vec<String> {
    let mut entry = strings(config.and_then(|c| c.get("Entrypoint")));
    let mut cmd = strings(config.and_then(|c| c.get("Cmd")));
    if let Some(e) = &args.entrypoint {
        entry = if e.is_empty() { Vec::new() } else { vec![e.clone()] };
        cmd.clear();
    }
    if !args.command.is_empty() {
        cmd = args.command.clone();
    }
    entry.into_iter().chain(cmd).collect()
}

/// Finds `prog` in the container's PATH, as the runtime's exec will; gives
/// docker's 127 (not found) and 126 (cannot invoke) before starting.
fn check_executable(rootfs: &Path, prog: &str, env: &[String], cwd: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(runtime::spec::DEFAULT_PATH);
    let candidates: Vec<String> = if prog.contains('/') {
        vec![if prog.starts_with('/') { prog.to_owned() } else { format!("{cwd}/{prog}") }]
    } else {
        path.split(':').map(|d| format!("{d}/{prog}")).collect()
    };
    for c in &candidates {
        // Resolve inside the rootfs only (symlinks like /bin/sh -> busybox
        // are followed relative to it by the kernel at exec time; a
        // metadata lookup through the host path is good enough to tell
        // "missing" from "present").
        let p = rootfs.join(c.trim_start_matches('/'));
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.file_type().is_symlink() || (m.is_file() && m.permissions().mode() & 0o111 != 0) {
                return Ok(());
            }
            if prog.contains('/') {
                return Err(Failure::new(126, format!("exec: \"{prog}\": permission denied")).into());
            }
        }
    }
    Err(Failure::new(127, format!("exec: \"{prog}\": executable file not found in $PATH")).into())
}

/// A container's overlay under its directory `dir`.
fn container_overlay(dir: &Path, lowers: Vec<PathBuf>) -> runtime::Overlay {
    runtime::Overlay { lowers, upper: dir.join("upper"), work: dir.join("work"), target: dir.join("merged") }
}

fn find_runtime(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    for name in ["runc", "crun"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/bin"]) {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(engine("no OCI runtime found: install runc or crun, or pass --runtime PATH"))
}

pub fn run(root: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root).map_err(|e| engine(e.to_string()))?;
    let image = store
        .resolve(&args.image)
        .map_err(|e| engine(format!("Unable to find image '{}' locally: {e}", args.image)))?;
    let cfg: Value = serde_json::from_slice(&store.config_bytes(&image)?).context("image config")?;
    let config = cfg.get("config");
    let argv = argv(config, &args);
    if argv.is_empty() {
        return Err(engine("No command specified"));
    }
    let runtime_bin = find_runtime(args.runtime.as_ref())?;
    let id = random_hex(32)?;
    let name = args.name.clone().unwrap_or_else(|| format!("wharf_{}", &id[..12]));
    store.add_container(&id, &name, &image).map_err(|e| engine(e.to_string()))?;
    let result = run_container(&mut store, &id, &image, config, argv, &args, &runtime_bin);
    let dir = root.join("containers").join(&id);
    let _ = container_overlay(&dir, Vec::new()).unmount();
    if !args.rm && result.is_ok() {
        store.set_container_state(&id, "exited")?;
    } else {
        store.remove_container(&id)?;
        let _ = image::layer::remove_tree(&dir);
    }
    let code = result?;
    Ok(ExitCode::from(code))
}

fn run_container(
    store: &mut Store,
    id: &str,
    image: &image::Digest,
    config: Option<&Value>,
    argv: Vec<String>,
    args: &RunArgs,
    runtime_bin: &Path,
) -> anyhow::Result<u8> {
    let rec = store.image(image)?;
    let dir = store.root().join("containers").join(id);
    let overlay = container_overlay(&dir, rec.chain.iter().map(|c| store.snapshot_dir(c)).collect());
    overlay.mount().map_err(|e| engine(format!("mounting the container's rootfs: {e}")))?;
    let mut env = strings(config.and_then(|c| c.get("Env")));
    for e in &args.env {
        let e = if e.contains('=') { e.clone() } else { format!("{e}={}", std::env::var(e).unwrap_or_default()) };
        let key = e.split('=').next().unwrap_or_default().to_owned();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    let cwd = args
        .workdir
        .clone()
        .or_else(|| config.and_then(|c| c.get("WorkingDir")).and_then(Value::as_str).map(str::to_owned))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    std::fs::create_dir_all(overlay.target.join(cwd.trim_start_matches('/'))).ok();
    let user_spec = args
        .user
        .clone()
        .or_else(|| config.and_then(|c| c.get("User")).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let user = runtime::resolve_user(&overlay.target, &user_spec).map_err(|e| engine(e.to_string()))?;
    check_executable(&overlay.target, &argv[0], &env, &cwd)?;
    let mut opts = runtime::RunOptions::new(id, overlay.target.clone(), argv, user);
    opts.env = env;
    opts.cwd = cwd;
    opts.read_only = args.read_only;
    if let Some(h) = &args.hostname {
        opts.hostname = h.clone();
    }
    let spec = runtime::container_spec(&opts).map_err(|e| engine(e.to_string()))?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;
    store.set_container_state(id, "running")?;
    let status = Command::new(runtime_bin)
        .args(["--root"])
        .arg(store.root().join("runtime"))
        .arg("run")
        .arg("--bundle")
        .arg(&dir)
        .arg(id)
        .status()
        .map_err(|e| engine(format!("starting {}: {e}", runtime_bin.display())))?;
    let _ =
        Command::new(runtime_bin).arg("--root").arg(store.root().join("runtime")).args(["delete", "-f", id]).output();
    Ok(match status.code() {
        Some(c) => c as u8,
        None => 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0) as u8,
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Containers to remove (name or ID prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Force the removal of a running container
    #[arg(short, long)]
    pub force: bool,
}

/// `wharf rm`: removes containers (a running one only with -f, after
/// killing it through the runtime), their rootfs mount and directory.
pub fn rm(root: &Path, args: RmArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut failed = false;
    for key in &args.containers {
        let found = store.find_container(key);
        let (id, _name, state) = match found {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
                continue;
            }
        };
        if state == "running" && !args.force {
            eprintln!(
                "Error response from daemon: cannot remove container \"{key}\": container is running: stop the container before removing or force remove"
            );
            failed = true;
            continue;
        }
        if let Ok(rt) = find_runtime(None) {
            let _ = Command::new(rt).arg("--root").arg(root.join("runtime")).args(["delete", "-f", &id]).output();
        }
        let dir = root.join("containers").join(&id);
        let _ = container_overlay(&dir, Vec::new()).unmount();
        image::layer::remove_tree(&dir).with_context(|| format!("removing {}", dir.display()))?;
        store.remove_container(&id)?;
        println!("{key}");
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
