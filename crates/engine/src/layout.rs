//! Every path wharf uses, named once: under the store's root (`--root`,
//! default /var/lib/wharf) and under the run directory (/run/wharf or the
//! user's, see the paths crate; for
//! sockets that must be short: a unix socket path has at most 108 bytes).
//! Nothing else in the engine joins path names onto the root.

use std::path::{Path, PathBuf};

/// The runtime directory (`/run/wharf`, or the user's when rootless):
/// sockets of attach servers and consoles.
pub fn run_dir() -> PathBuf {
    paths::run_dir()
}

/// The layout of one store root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

/// The first 16 characters of an ID: enough to be unique among sockets,
/// short enough for a socket path.
fn short(id: &str) -> &str {
    &id[..16.min(id.len())]
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Staging on the store's filesystem (atomic renames into place).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The events log: one JSON event a line (see `events`).
    pub fn events_log(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// The store's lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// State of the embedded runtime (libcontainer), one dir a container.
    pub fn embedded_runtime_state(&self) -> PathBuf {
        self.root.join("libcontainer")
    }

    /// `--root` of an OCI runtime binary (`--runtime PATH`).
    pub fn binary_runtime_state(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// Exit codes of auto-removed containers, kept for a late `wait`.
    pub fn exits_dir(&self) -> PathBuf {
        self.root.join("exits")
    }

    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.exits_dir().join(id)
    }

    /// RUN --mount=type=cache directories, by hashed cache id.
    pub fn build_mounts(&self) -> PathBuf {
        self.root.join("build-mounts")
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// A volume's directory: `_data` (its contents) and `meta.json`.
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name)
    }

    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    pub fn volume_meta(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("meta.json")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// The paths of one container.
    pub fn container(&self, id: &str) -> ContainerPaths {
        ContainerPaths { dir: self.containers_dir().join(id), id: id.to_owned() }
    }
}

/// The files of one container: its bundle (config.json), overlay
/// directories, log, and the state its processes leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    dir: PathBuf,
    id: String,
}

impl ContainerPaths {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OCI bundle's config.json.
    pub fn spec(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// The mounted rootfs.
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// docker's json-file log.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }

    /// What the monitor and the health checker print about themselves.
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }

    /// Held (flock) by the container's monitor for its whole life.
    pub fn monitor_lock(&self) -> PathBuf {
        self.dir.join("monitor.lock")
    }

    /// Locked (flock) by a command that froze the container to copy its
    /// files; left unlocked by one that died meanwhile.
    pub fn freeze_lock(&self) -> PathBuf {
        self.dir.join("frozen-by")
    }

    /// Present while the user's stop is in force (no restart).
    pub fn stop_marker(&self) -> PathBuf {
        self.dir.join("stopped-by-user")
    }

    /// The health checker's state (docker's `State.Health`).
    pub fn health(&self) -> PathBuf {
        self.dir.join("health.json")
    }

    /// The host-side /dev/shm of an `--ipc shareable` container.
    pub fn shm(&self) -> PathBuf {
        self.dir.join("shm")
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    /// Where the monitor listens for `attach` clients.
    pub fn attach_socket(&self) -> PathBuf {
        run_dir().join(format!("attach-{}.sock", short(&self.id)))
    }

    /// Where the runtime hands over a `-t` container's terminal.
    pub fn console_socket(&self) -> PathBuf {
        run_dir().join(format!("console-{}.sock", short(&self.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_stay_short_and_files_stay_in_the_container_dir() {
        let id = "0123456789abcdef".repeat(4);
        let c = Layout::new("/var/lib/wharf").container(&id);
        // The runtime directory is the user's when these run unprivileged
        // (scripts/test.sh runs them as nobody too).
        assert_eq!(c.attach_socket(), run_dir().join("attach-0123456789abcdef.sock"));
        assert!(c.console_socket().as_os_str().len() < 108);
        for p in [c.spec(), c.log(), c.merged(), c.health(), c.stop_marker(), c.shm(), c.hosts()] {
            assert_eq!(p.parent(), Some(c.dir()), "{}", p.display());
        }
        assert_eq!(c.log().file_name().and_then(|n| n.to_str()), Some(format!("{id}-json.log").as_str()));
    }
}
