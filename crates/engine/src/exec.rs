//! `exec`: a process in a running container's namespaces and cgroup,
//! from the Engine API's `ExecConfig`. The CLI runs it with its own
//! stdio, or on a pty it relays (`Exec::run_terminal`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use store::{ContainerState, Store};

pub use crate::api::ExecConfig;
use crate::container::load_config;
use crate::{Error, Result};

/// An exec checked and resolved, ready to run.
pub struct Exec {
    pub container_id: String,
    runtime: runtime::Runtime,
    opts: runtime::ExecOptions,
    argv: Vec<String>,
    spec: PathBuf,
}

/// Checks an exec in container `key` (running, the command found in its
/// rootfs) and resolves its user (the container's unless given, with the
/// container's `--group-add`), environment and working directory (the
/// container's unless given, as docker's).
pub fn prepare(store: &mut Store, key: &str, config: &ExecConfig, detach: bool) -> Result<Exec> {
    let rec = crate::lifecycle::lookup(store, key)?;
    if rec.state != ContainerState::Running {
        return Err(Error::not_running(format!("container {} is not running", rec.id)));
    }
    let argv =
        config.cmd.clone().filter(|c| !c.is_empty()).ok_or_else(|| Error::invalid("No exec command specified"))?;
    let cfg = load_config(&rec);
    let paths = crate::Layout::new(store.root()).container(&rec.id);
    let merged = crate::monitor::container_dir(store.root(), &rec.id).join("merged");
    let user_spec = config.user.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| cfg.user.clone());
    let mut user = runtime::resolve_user(&merged, &user_spec)?;
    user.add_groups(&merged, &cfg.group_add)?;
    let given = config.env.clone().unwrap_or_default();
    let env: Vec<String> = cfg.env.iter().chain(&given).cloned().collect();
    let cwd = config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| cfg.working_dir.clone());
    crate::monitor::check_executable(&merged, &argv[0], &env, &cwd)?;
    let opts = runtime::ExecOptions {
        detach,
        tty: config.tty.unwrap_or(false),
        stdin: config.attach_stdin.unwrap_or(false),
        env: given,
        user: Some(format!("{}:{}", user.uid, user.gid)),
        additional_gids: user.additional_gids,
        cwd: Some(cwd).filter(|c| !c.is_empty()),
    };
    let runtime = crate::monitor::oci_runtime(store.root(), &cfg)?;
    Ok(Exec { container_id: rec.id, runtime, opts, argv, spec: paths.spec() })
}

/// Where a terminal exec's pty is relayed.
pub struct TerminalIo<'a> {
    /// The user's input, copied to the pty (with `AttachStdin`).
    pub input: Option<OwnedFd>,
    /// Receives the pty's output.
    pub output: &'a mut dyn FnMut(&[u8]),
    /// Sets the pty's window size: called once it exists, and on SIGWINCH.
    pub resize: &'a mut dyn FnMut(&OwnedFd),
}

impl Exec {
    /// Whether the exec needs `run_terminal`: a pty the embedded runtime
    /// hands over (a runtime binary manages its own).
    pub fn wants_terminal(&self) -> bool {
        self.opts.tty && !self.opts.detach && matches!(self.runtime, runtime::Runtime::Embedded(_))
    }

    /// Runs it with this process's stdio; returns its exit code (0 at once
    /// when detached).
    pub fn run_inherited(&self) -> Result<i32> {
        Ok(self.runtime.exec(&self.container_id, &self.opts, &self.argv)?)
    }

    /// Runs it on a pty received over a console socket, relayed to `io`,
    /// with the container's process settings (capabilities, ...) and this
    /// command; INT, TERM and HUP are passed on to it.
    pub fn run_terminal(&self, io: TerminalIo) -> Result<i32> {
        let runtime::Runtime::Embedded(rt) = &self.runtime else {
            return Err(Error::internal("a terminal exec needs the embedded runtime"));
        };
        let id = &self.container_id;
        let tag = format!("{}-{}", &id[..12], std::process::id());
        let dir = self.spec.parent().map(PathBuf::from).unwrap_or_default();
        let process_file = dir.join(format!("exec-{tag}.json"));
        std::fs::write(&process_file, serde_json::to_vec(&self.process()?)?)?;
        let sock = crate::layout::run_dir().join(format!("exec-{tag}.sock"));
        paths::ensure_run_dir()?;
        runtime::supervise::become_subreaper()?;
        let mut signals =
            runtime::supervise::SignalPipes::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGWINCH])?;
        let listener = runtime::console::listen(&sock)?;
        let started = rt.exec_with_terminal(id, &process_file, &sock);
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(&process_file);
        let pid = started?;
        let master = runtime::console::receive_master(&listener)?;
        (io.resize)(&master);
        let relay = runtime::supervise::Io {
            outputs: vec![(runtime::logs::Stream::Stdout, master.try_clone()?)],
            user_input: io.input,
            stdin: self.opts.stdin.then(|| master.try_clone()).transpose()?,
            terminal: None,
        };
        let output = io.output;
        let resize = io.resize;
        let mut sink = |_: runtime::logs::Stream, b: &[u8]| output(b);
        let mut forward = |sig: i32| {
            if sig == libc::SIGWINCH {
                resize(&master);
            } else {
                let _ = runtime::supervise::send_signal(pid, sig);
            }
        };
        Ok(runtime::supervise::supervise_io(pid, relay, None, &mut signals, &mut sink, &mut forward)?)
    }

    /// The container's process settings with this exec's command, env,
    /// user and working directory, on a terminal.
    fn process(&self) -> Result<serde_json::Value> {
        let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&self.spec)?)?;
        let mut process = spec.get("process").cloned().unwrap_or_default();
        process["args"] = serde_json::json!(self.argv);
        process["terminal"] = serde_json::json!(true);
        let mut env: Vec<String> = process["env"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        for e in &self.opts.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        if !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        process["env"] = serde_json::json!(env);
        if let Some(cwd) = &self.opts.cwd {
            process["cwd"] = serde_json::json!(cwd);
        }
        if let Some((u, g)) = self.opts.user.as_deref().and_then(|u| u.split_once(':')) {
            process["user"]["uid"] = serde_json::json!(u.parse::<u32>().unwrap_or(0));
            process["user"]["gid"] = serde_json::json!(g.parse::<u32>().unwrap_or(0));
            process["user"]["additionalGids"] = serde_json::json!(self.opts.additional_gids);
        }
        Ok(process)
    }
}
