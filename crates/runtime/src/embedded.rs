//! The embedded runtime: youki's libcontainer, in process. It forks with a
//! raw clone and runs Rust code in the child, so it is only ever called
//! from a single-threaded process (the monitor, `wharf exec`, or a build
//! between steps), never after threads exist (youki#3011). The
//! container's init (and an exec'd process) become direct children of the
//! caller, which must reap them.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;

use crate::oci::OciError;

fn failed(op: &'static str) -> impl FnOnce(libcontainer::error::LibcontainerError) -> OciError {
    move |e| OciError::Failed { op, msg: e.to_string() }
}

/// libcontainer with its state under `state_root/ID`.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub state_root: PathBuf,
}

impl Embedded {
    fn load(&self, id: &str) -> Result<Container, OciError> {
        Container::load(self.state_root.join(id)).map_err(failed("load"))
    }

    /// Creates the container of `bundle` with the given stdio; returns its
    /// init's pid (a child of the caller).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: [OwnedFd; 3],
        console: Option<&Path>,
    ) -> Result<i32, OciError> {
        std::fs::create_dir_all(&self.state_root).map_err(|e| OciError::Failed { op: "create", msg: e.to_string() })?;
        crate::warmup::finish();
        let [stdin, stdout, stderr] = stdio;
        let container = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
            .with_root_path(&self.state_root)
            .map_err(failed("create"))?
            .validate_id()
            .map_err(failed("create"))?
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr)
            .with_console_socket(console)
            .as_init(bundle)
            .with_systemd(false)
            // libcontainer takes a console socket only in detached mode;
            // the caller is a subreaper, so the init is reaped either way.
            .with_detach(console.is_some())
            .build()
            .map_err(failed("create"))?;
        container.pid().map(|p| p.as_raw()).ok_or_else(|| OciError::PidFile("libcontainer reported no pid".into()))
    }

    pub fn start(&self, id: &str) -> Result<(), OciError> {
        self.load(id)?.start().map_err(failed("start"))
    }

    pub fn kill(&self, id: &str, signal: i32) -> Result<(), OciError> {
        let sig = Signal::try_from(signal).map_err(|e| OciError::Failed { op: "kill", msg: e.to_string() })?;
        self.load(id)?.kill(sig, true).map_err(failed("kill"))
    }

    pub fn pause(&self, id: &str) -> Result<(), OciError> {
        self.load(id)?.pause().map_err(failed("pause"))
    }

    pub fn resume(&self, id: &str) -> Result<(), OciError> {
        self.load(id)?.resume().map_err(failed("resume"))
    }

    /// Removes the state and cgroup, killing what is left.
    pub fn delete(&self, id: &str) -> Result<(), OciError> {
        if !self.state_root.join(id).exists() {
            return Ok(());
        }
        self.load(id)?.delete(true).map_err(failed("delete"))
    }

    /// Starts a process in the running container (its namespaces and
    /// cgroup); returns its pid (a child of the caller).
    pub fn exec(
        &self,
        id: &str,
        argv: &[String],
        env: &[String],
        cwd: Option<&str>,
        user: Option<(u32, u32)>,
        stdio: [OwnedFd; 3],
    ) -> Result<i32, OciError> {
        crate::warmup::finish();
        let [stdin, stdout, stderr] = stdio;
        let env: HashMap<String, String> = env
            .iter()
            .map(|e| e.split_once('=').map_or((e.clone(), String::new()), |(k, v)| (k.into(), v.into())))
            .collect();
        let pid = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
            .with_root_path(&self.state_root)
            .map_err(failed("exec"))?
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr)
            .as_tenant()
            .with_container_args(argv.to_vec())
            .with_env(env)
            .with_cwd(cwd)
            .with_user(user.map(|u| u.0))
            .with_group(user.map(|u| u.1))
            .with_detach(false)
            .build()
            .map_err(failed("exec"))?;
        Ok(pid.as_raw())
    }
}

impl Embedded {
    /// Starts the process described by a process.json (an OCI `process`
    /// object) in the running container, with a pty sent to `console`;
    /// returns its pid. The caller must be a subreaper to reap it.
    pub fn exec_with_terminal(&self, id: &str, process_json: &Path, console: &Path) -> Result<i32, OciError> {
        crate::warmup::finish();
        let null = || crate::oci::null_fd();
        let pid = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
            .with_root_path(&self.state_root)
            .map_err(failed("exec"))?
            .with_stdin(null()?)
            .with_stdout(null()?)
            .with_stderr(null()?)
            .with_console_socket(Some(console))
            .as_tenant()
            .with_process(Some(process_json))
            // libcontainer takes a console socket only in detached mode.
            .with_detach(true)
            .build()
            .map_err(failed("exec"))?;
        Ok(pid.as_raw())
    }
}
