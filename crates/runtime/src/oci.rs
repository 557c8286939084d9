//! Driving an OCI runtime binary (runc, crun, youki, runsc) over a bundle:
//! `create` with the container's stdio, then `start`, `kill`, `pause`,
//! `resume`, `delete`. The runtime's own error messages go to a log file
//! in the bundle so they can be reported (the container's stderr is the
//! caller's pipe).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An OCI runtime failure, with the runtime's message.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot run the OCI runtime {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("OCI runtime {op} failed: {msg}")]
    Failed { op: &'static str, msg: String },
    #[error("OCI runtime wrote no usable pid file: {0}")]
    PidFile(String),
}

/// What `exec` runs a process with besides the container's own settings.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub detach: bool,
    /// A pty (binary runtimes manage it themselves with `--tty`).
    pub tty: bool,
    pub stdin: bool,
    /// `KEY=value` added to the container's environment.
    pub env: Vec<String>,
    /// `uid:gid`.
    pub user: Option<String>,
    /// Supplementary groups. The embedded runtime sets them; a runtime
    /// binary is given `user` only and keeps the container's.
    pub additional_gids: Vec<u32>,
    pub cwd: Option<String>,
}

/// An OCI runtime binary with its state directory.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    pub bin: PathBuf,
    pub state_root: PathBuf,
}

impl OciRuntime {
    /// The first of runc and crun found on PATH (or in /usr/sbin,
    /// /usr/bin).
    pub fn find(state_root: PathBuf) -> Option<OciRuntime> {
        let path = std::env::var("PATH").unwrap_or_default();
        for name in ["runc", "crun"] {
            for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
                let p = Path::new(dir).join(name);
                if p.is_file() {
                    return Some(OciRuntime { bin: p, state_root });
                }
            }
        }
        None
    }

    fn cmd(&self, log: Option<&Path>) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.state_root);
        if let Some(l) = log {
            c.arg("--log").arg(l).args(["--log-format", "json"]);
        }
        c
    }

    /// Creates the container of `bundle` with the given stdio and returns
    /// its init's pid. The init is not a child of the caller; set the
    /// caller as child subreaper first to be able to reap it.
    pub fn create(&self, id: &str, bundle: &Path, stdio: [Stdio; 3], console: Option<&Path>) -> Result<i32, OciError> {
        let log = bundle.join("runtime.log");
        let pid_file = bundle.join("init.pid");
        let _ = fs::remove_file(&pid_file);
        let [stdin, stdout, stderr] = stdio;
        let mut cmd = self.cmd(Some(&log));
        if let Some(c) = console {
            cmd.arg("create").arg("--console-socket").arg(c);
        } else {
            cmd.arg("create");
        }
        let status = cmd
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(|e| OciError::Spawn(self.bin.display().to_string(), e))?;
        if !status.success() {
            return Err(OciError::Failed { op: "create", msg: last_error(&log) });
        }
        let text = fs::read_to_string(&pid_file).map_err(|e| OciError::PidFile(e.to_string()))?;
        text.trim().parse().map_err(|_| OciError::PidFile(text))
    }

    /// Starts a created container (runs its process).
    pub fn start(&self, id: &str) -> Result<(), OciError> {
        self.simple("start", &[id])
    }

    /// Runs a process in the running container (`runc exec`) with the
    /// caller's stdio; returns its exit code (128+N for a signal).
    pub fn exec(&self, id: &str, opts: &ExecOptions, argv: &[String]) -> Result<i32, OciError> {
        let mut c = self.exec_command(id, opts, argv);
        if !opts.stdin {
            c.stdin(Stdio::null());
        }
        let status = c.status().map_err(|e| OciError::Spawn(self.bin.display().to_string(), e))?;
        Ok(match status.code() {
            Some(code) => code,
            None => 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0),
        })
    }

    /// `runc exec` with `stdio`, not waited for: its pid.
    fn exec_spawn(&self, id: &str, opts: &ExecOptions, argv: &[String], stdio: [OwnedFd; 3]) -> Result<i32, OciError> {
        let [stdin, stdout, stderr] = stdio;
        let child = self
            .exec_command(id, opts, argv)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| OciError::Spawn(self.bin.display().to_string(), e))?;
        Ok(child.id() as i32)
    }

    fn exec_command(&self, id: &str, opts: &ExecOptions, argv: &[String]) -> Command {
        let mut c = self.cmd(None);
        c.arg("exec");
        if opts.detach {
            c.arg("--detach");
        }
        if opts.tty {
            c.arg("--tty");
        }
        for e in &opts.env {
            c.arg("--env").arg(e);
        }
        if let Some(u) = &opts.user {
            c.arg("--user").arg(u);
        }
        if let Some(w) = &opts.cwd {
            c.arg("--cwd").arg(w);
        }
        c.arg(id).args(argv);
        c
    }

    /// Sends `signal` (a number or name) to the container's init.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), OciError> {
        self.simple("kill", &[id, signal])
    }

    pub fn pause(&self, id: &str) -> Result<(), OciError> {
        self.simple("pause", &[id])
    }

    pub fn resume(&self, id: &str) -> Result<(), OciError> {
        self.simple("resume", &[id])
    }

    /// Deletes the runtime's state (and cgroup) of the container, killing
    /// what is left of it.
    pub fn delete(&self, id: &str) -> Result<(), OciError> {
        self.simple("delete", &["--force", id])
    }

    fn simple(&self, op: &'static str, args: &[&str]) -> Result<(), OciError> {
        let out = self
            .cmd(None)
            .arg(op)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| OciError::Spawn(self.bin.display().to_string(), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(OciError::Failed { op, msg: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
        }
    }
}

/// The last error message in a runtime's JSON log.
fn last_error(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no message (see the runtime's log)".into())
}

/// The runtime a container runs with: embedded libcontainer (the default)
/// or an OCI runtime binary (`--runtime PATH`).
#[derive(Debug, Clone)]
pub enum Runtime {
    Embedded(crate::embedded::Embedded),
    Binary(OciRuntime),
}

/// A copy of the caller's stdin (0), stdout (1) or stderr (2).
pub fn dup_stdio(fd: i32) -> Result<std::os::fd::OwnedFd, OciError> {
    use std::os::fd::AsFd;
    let r = match fd {
        0 => std::io::stdin().as_fd().try_clone_to_owned(),
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        _ => std::io::stderr().as_fd().try_clone_to_owned(),
    };
    r.map_err(|e| OciError::Failed { op: "dup stdio", msg: e.to_string() })
}

/// /dev/null, for a process without stdin.
pub fn null_fd() -> Result<std::os::fd::OwnedFd, OciError> {
    let f =
        std::fs::File::open("/dev/null").map_err(|e| OciError::Failed { op: "open /dev/null", msg: e.to_string() })?;
    Ok(f.into())
}

impl Runtime {
    /// Creates the container with the given stdio; returns its init's pid
    /// (a child of the caller for the embedded runtime, an orphan to adopt
    /// as subreaper for a binary).
    /// With `console`, the process gets a pty whose master the runtime
    /// sends to that socket (see `console`).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: [std::os::fd::OwnedFd; 3],
        console: Option<&Path>,
    ) -> Result<i32, OciError> {
        crate::supervise::unignore_signals();
        match self {
            Runtime::Embedded(e) => e.create(id, bundle, stdio, console),
            Runtime::Binary(b) => {
                let [i, o, e] = stdio;
                b.create(id, bundle, [Stdio::from(i), Stdio::from(o), Stdio::from(e)], console)
            }
        }
    }

    pub fn start(&self, id: &str) -> Result<(), OciError> {
        match self {
            Runtime::Embedded(e) => e.start(id),
            Runtime::Binary(b) => b.start(id),
        }
    }

    pub fn pause(&self, id: &str) -> Result<(), OciError> {
        match self {
            Runtime::Embedded(e) => e.pause(id),
            Runtime::Binary(b) => b.pause(id),
        }
    }

    pub fn resume(&self, id: &str) -> Result<(), OciError> {
        match self {
            Runtime::Embedded(e) => e.resume(id),
            Runtime::Binary(b) => b.resume(id),
        }
    }

    /// Resumes the container if it is paused (a freeze whose holder died
    /// may have ended before or after the pause itself).
    pub fn thaw(&self, id: &str) -> Result<(), OciError> {
        match self {
            Runtime::Embedded(e) => e.thaw(id),
            // runc and crun refuse to resume what is not paused.
            Runtime::Binary(b) => match b.resume(id) {
                Err(e) if e.to_string().contains("not paused") => Ok(()),
                other => other,
            },
        }
    }

    pub fn delete(&self, id: &str) -> Result<(), OciError> {
        match self {
            Runtime::Embedded(e) => e.delete(id),
            Runtime::Binary(b) => b.delete(id),
        }
    }

    /// Whether the runtime holds state for `id` (left by a crash).
    pub fn has_state(&self, id: &str) -> bool {
        let root = match self {
            Runtime::Embedded(e) => &e.state_root,
            Runtime::Binary(b) => &b.state_root,
        };
        root.join(id).exists()
    }

    /// Starts a process in the running container with `stdio` and returns
    /// a child's pid to wait for: the process itself (embedded), or the
    /// runtime binary's `exec`, which exits with its code.
    pub fn exec_spawn(
        &self,
        id: &str,
        opts: &ExecOptions,
        argv: &[String],
        stdio: [OwnedFd; 3],
    ) -> Result<i32, OciError> {
        crate::supervise::unignore_signals();
        match self {
            Runtime::Binary(b) => b.exec_spawn(id, opts, argv, stdio),
            Runtime::Embedded(e) => e.exec(id, argv, &opts.env, opts.cwd.as_deref(), embedded_user(opts), stdio),
        }
    }

    /// Runs a process in the running container with the caller's stdio
    /// (stdin only with `opts.stdin`); waits for it unless `opts.detach`.
    /// Returns its exit code.
    pub fn exec(&self, id: &str, opts: &ExecOptions, argv: &[String]) -> Result<i32, OciError> {
        crate::supervise::unignore_signals();
        match self {
            Runtime::Binary(b) => b.exec(id, opts, argv),
            Runtime::Embedded(e) => {
                let stdin = if opts.stdin { dup_stdio(0)? } else { null_fd()? };
                let stdio = [stdin, dup_stdio(1)?, dup_stdio(2)?];
                let pid = e.exec(id, argv, &opts.env, opts.cwd.as_deref(), embedded_user(opts), stdio)?;
                if opts.detach {
                    return Ok(0);
                }
                let pid = rustix::process::Pid::from_raw(pid).ok_or_else(|| OciError::PidFile(pid.to_string()))?;
                loop {
                    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
                        Ok(Some((_, st))) => return Ok(crate::supervise::exit_code(st)),
                        Ok(None) => {}
                        Err(rustix::io::Errno::INTR) => {}
                        Err(err) => return Err(OciError::Failed { op: "exec", msg: err.to_string() }),
                    }
                }
            }
        }
    }
}

/// The embedded runtime's form of `opts.user` (`uid:gid`) and groups.
fn embedded_user(opts: &ExecOptions) -> Option<(u32, u32, Vec<u32>)> {
    let (uid, gid) = opts.user.as_deref()?.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?, opts.additional_gids.clone()))
}
