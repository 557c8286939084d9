//! Where wharf keeps things on the host. As root: the store in
//! `/var/lib/wharf`, runtime state (sockets, leases, markers) in
//! `/run/wharf`, configuration in `/etc/wharf`. As an ordinary user
//! (rootless, as podman's): the XDG base directories, so that two users
//! share nothing: `$XDG_DATA_HOME/wharf` (default `~/.local/share/wharf`),
//! `$XDG_RUNTIME_DIR/wharf` (a private `/tmp/wharf-UID` when unset) and
//! `$XDG_CONFIG_HOME/wharf` (default `~/.config/wharf`).
//!
//! Written by hand rather than with the `dirs`/`xdg` crates: three
//! variables with their spec defaults, and the runtime fallback must be
//! private to the user, which those crates leave to the caller.

use std::path::PathBuf;

/// Whether wharf runs for an ordinary user: its effective UID is not 0,
/// or it is root only inside the user's namespace (crates/userns), where
/// it stays the user as far as the host is concerned.
pub fn rootless() -> bool {
    host_uid() != 0
}

/// The UID this process has on the host: the effective UID, or, for root
/// inside a user namespace, the host UID that namespace's root maps to.
pub fn host_uid() -> u32 {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return euid;
    }
    // Root's map is read once: a process is root (on the host or in the
    // user's namespace) from the time it joins to its end.
    static ROOT_IS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ROOT_IS.get_or_init(|| outside_of_root(&read_map("uid_map")).unwrap_or(0))
}

/// Whether this process runs in a user namespace other than the host's
/// (its UID map is not the whole identity range).
pub fn in_user_namespace() -> bool {
    // Read once per process when it is root there; an ordinary user's
    // process not yet joined is in none (and asks again after joining).
    if !rustix::process::geteuid().is_root() {
        return !is_identity_map(&read_map("uid_map"));
    }
    static IN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN.get_or_init(|| !is_identity_map(&read_map("uid_map")))
}

/// Whether UID `uid` exists in this process's user namespace (the host's
/// has them all; an ordinary user's only root and the user's ranges).
pub fn uid_mapped(uid: u32) -> bool {
    static MAP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    map_has(MAP.get_or_init(|| read_map("uid_map")), uid)
}

/// Whether GID `gid` exists in this process's user namespace.
pub fn gid_mapped(gid: u32) -> bool {
    static MAP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    map_has(MAP.get_or_init(|| read_map("gid_map")), gid)
}

/// `/proc/self/{uid,gid}_map`; the identity map when unreadable.
fn read_map(file: &str) -> String {
    std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_else(|_| "0 0 4294967295".into())
}

/// Whether an ID map (`inside outside count` lines) has `id` inside.
fn map_has(map: &str, id: u32) -> bool {
    map.lines().any(|l| {
        let f: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        f.len() == 3 && u64::from(id) >= f[0] && u64::from(id) < f[0] + f[2]
    })
}

fn is_identity_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// The host UID that UID 0 maps to, per a `/proc/PID/uid_map`; 0 for the
/// host's own (identity) map.
fn outside_of_root(map: &str) -> Option<u32> {
    if is_identity_map(map) {
        return Some(0);
    }
    map.lines().find_map(|line| {
        let f: Vec<u32> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        (f.len() == 3 && f[0] == 0 && f[2] > 0).then(|| f[1])
    })
}

fn home() -> PathBuf {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// An XDG base directory: the variable when set to an absolute path, else
/// HOME's default.
fn xdg(var: &str, default_in_home: &str) -> PathBuf {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => home().join(default_in_home),
    }
}

/// The default store root.
pub fn default_root() -> PathBuf {
    if rootless() {
        xdg("XDG_DATA_HOME", ".local/share").join("wharf")
    } else {
        PathBuf::from("/var/lib/wharf")
    }
}

/// Runtime state: sockets, address leases, port rules, markers. Gone at
/// reboot (`/run` and `$XDG_RUNTIME_DIR` are tmpfs).
pub fn run_dir() -> PathBuf {
    if !rootless() {
        return PathBuf::from("/run/wharf");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p.join("wharf"),
        _ => PathBuf::from(format!("/tmp/wharf-{}", host_uid())),
    }
}

/// Configuration (`daemon.json`).
pub fn config_dir() -> PathBuf {
    if rootless() {
        xdg("XDG_CONFIG_HOME", ".config").join("wharf")
    } else {
        PathBuf::from("/etc/wharf")
    }
}

/// A program of the host's (iptables, slirp4netns, newuidmap...): from
/// PATH, else the sbin and bin directories, which an ordinary user's PATH
/// may leave out; the bare name when found nowhere (running it then says
/// so).
pub fn host_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// An exclusive lock on the file `name` in the runtime directory (both
/// made when missing), held until the returned file is dropped (or its
/// process dies).
pub fn lock_in_run_dir(name: &str) -> std::io::Result<std::fs::File> {
    let path = ensure_run_dir()?.join(name);
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(&path)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// Makes `dir` (and its missing parents) readable by its owner alone.
pub fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Makes the runtime directory; a user's is private to the user: in
/// `/tmp` another user could otherwise have made it first, so one that is
/// not ours or that others can write to is refused.
pub fn ensure_run_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = run_dir();
    // Root's /run/wharf stays readable (a docker group's clients reach the
    // API socket in it); a user's is the user's alone.
    let mode = if rootless() { 0o700 } else { 0o755 };
    match std::fs::DirBuilder::new().recursive(true).mode(mode).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if rootless() {
        let m = std::fs::metadata(&dir)?;
        if m.uid() != rustix::process::geteuid().as_raw() || m.mode() & 0o022 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} is not private to this user", dir.display()),
            ));
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keeps_the_system_locations() {
        if rootless() {
            return;
        }
        assert_eq!(default_root(), PathBuf::from("/var/lib/wharf"));
        assert_eq!(run_dir(), PathBuf::from("/run/wharf"));
        assert_eq!(config_dir(), PathBuf::from("/etc/wharf"));
    }

    #[test]
    fn root_of_a_user_namespace_is_its_owner_on_the_host() {
        assert_eq!(outside_of_root("         0          0 4294967295\n"), Some(0));
        assert_eq!(outside_of_root("         0       1000          1\n         1     100000      65536\n"), Some(1000));
        assert_eq!(outside_of_root("         1     100000      65536\n"), None);
        assert!(is_identity_map("0 0 4294967295"));
        let ranged = "         0       1000          1\n         1     100000      65536\n";
        assert!(map_has(ranged, 0) && map_has(ranged, 65536) && !map_has(ranged, 65537));
        assert!(map_has("0 0 4294967295", 4_000_000_000));
        assert!(!is_identity_map("0 1000 1"));
    }

    #[test]
    fn xdg_takes_absolute_paths_only() {
        std::env::set_var("WHARF_TEST_XDG", "relative/dir");
        std::env::set_var("HOME", "/home/u");
        assert_eq!(xdg("WHARF_TEST_XDG", ".local/share"), PathBuf::from("/home/u/.local/share"));
        std::env::set_var("WHARF_TEST_XDG", "/data");
        assert_eq!(xdg("WHARF_TEST_XDG", ".local/share"), PathBuf::from("/data"));
    }
}
