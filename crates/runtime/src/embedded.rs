//! The embedded runtime: youki's libcontainer, in process. It forks with a
//! raw clone and runs Rust code in the child, so it is only ever called
//! from a single-threaded process (the monitor, `wharf exec`, or a build
//! between steps), never after threads exist (youki#3011). The
//! container's init (and an exec'd process) become direct children of the
//! caller, which must reap them.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::config::YoukiConfig;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
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
        // Every process of the container is found through its cgroup; an
        // ordinary user's container without delegation has none, so its
        // init is signalled, and SIGKILL to the init of a PID namespace
        // ends all of it.
        let all = crate::delegation::own_cgroups();
        self.load(id)?.kill(sig, all).map_err(failed("kill"))
    }

    pub fn pause(&self, id: &str) -> Result<(), OciError> {
        if !crate::delegation::own_cgroups() {
            return Err(OciError::Failed {
                op: "pause",
                msg: "pausing needs the freezer cgroup, which an ordinary user's containers do not have (no cgroup v2 delegation)".into(),
            });
        }
        self.load(id)?.pause().map_err(failed("pause"))
    }

    pub fn resume(&self, id: &str) -> Result<(), OciError> {
        self.load(id)?.resume().map_err(failed("resume"))
    }

    /// Resumes the container if it is paused; one that is not is left.
    pub fn thaw(&self, id: &str) -> Result<(), OciError> {
        let mut container = self.load(id)?;
        if container.status() != ContainerStatus::Paused {
            return Ok(());
        }
        container.resume().map_err(failed("resume"))
    }

    /// Removes the state and cgroup, killing what is left.
    pub fn delete(&self, id: &str) -> Result<(), OciError> {
        let root = self.state_root.join(id);
        if !root.exists() {
            return Ok(());
        }
        let mut container = self.load(id)?;
        if container.status() == ContainerStatus::Stopped && delete_stopped(&root).is_ok() {
            return Ok(());
        }
        container.delete(true).map_err(failed("delete"))
    }

    /// Starts a process in the running container (its namespaces and
    /// cgroup), as `user` (uid, gid, supplementary gids) if given; returns
    /// its pid (a child of the caller).
    pub fn exec(
        &self,
        id: &str,
        argv: &[String],
        env: &[String],
        cwd: Option<&str>,
        user: Option<(u32, u32, Vec<u32>)>,
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
            .with_user(user.as_ref().map(|u| u.0))
            .with_group(user.as_ref().map(|u| u.1))
            .with_additional_gids(user.map(|u| u.2).unwrap_or_default())
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
        crate::supervise::unignore_signals();
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

/// What libcontainer's delete does for a stopped container with no hooks:
/// remove its cgroup in every hierarchy, then its state. libcgroups reads
/// /proc/self/mountinfo once for each of a dozen v1 controllers, 0.85 ms
/// of a 22 ms `run --rm`; this reads the mount table once. Anything unusual (hooks, a
/// cgroup that will not go, such as one with a process left) is an error,
/// and the caller leaves the work to libcontainer, which kills and retries.
fn delete_stopped(root: &Path) -> std::io::Result<()> {
    let config = YoukiConfig::load(root).map_err(std::io::Error::other)?;
    if config.hooks.is_some() {
        return Err(std::io::Error::other("hooks to run"));
    }
    let relative = config.cgroup_path.strip_prefix("/").unwrap_or(&config.cgroup_path);
    if relative.as_os_str().is_empty() {
        return Err(std::io::Error::other("the root cgroup"));
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    for mount in cgroup_mounts(&mounts) {
        match std::fs::remove_dir(Path::new(mount).join(relative)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::remove_dir_all(root)
}

/// The mount points of the cgroup (v1) and cgroup2 hierarchies in a
/// /proc/self/mounts text. Mount points with spaces or escapes are not
/// cgroup hierarchies anyone mounts, and are skipped.
fn cgroup_mounts(mounts: &str) -> impl Iterator<Item = &str> {
    mounts.lines().filter_map(|line| {
        let mut fields = line.split(' ').skip(1);
        let (point, fstype) = (fields.next()?, fields.next()?);
        (matches!(fstype, "cgroup" | "cgroup2") && !point.contains('\\')).then_some(point)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mounts_are_found_by_filesystem_type() {
        let mounts = "\
sysfs /sys sysfs rw,nosuid 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
cgroup /tmp/with\\040space cgroup rw,pids 0 0
";
        let found: Vec<&str> = cgroup_mounts(mounts).collect();
        assert_eq!(found, ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory"]);
    }
}
