//! cgroup v2 delegation for an ordinary user's containers. On a pure v2
//! host where a subtree of the hierarchy belongs to the user (systemd's
//! `Delegate=yes` for `user@UID.service`, or an administrator's chown),
//! the user may make cgroups there, enable controllers and move their own
//! processes: containers then get cgroups of their own under
//! `DELEGATED/wharf/ID`, and limits, pause and stats work as for root.
//! On cgroup v1 (never delegated) or without such a subtree they run in
//! the cgroup of whoever started them, without limits.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const BASE: &str = "/sys/fs/cgroup";

/// The topmost cgroup (relative to /sys/fs/cgroup) at or above this
/// process's own that belongs to the user, on a pure v2 host; None for
/// root on the host (every cgroup is root's), on v1, or when nothing is
/// delegated.
pub fn delegated_root() -> Option<&'static str> {
    static ROOT: OnceLock<Option<String>> = OnceLock::new();
    ROOT.get_or_init(find).as_deref()
}

/// Whether containers get cgroups of their own: always for root, for an
/// ordinary user only with delegation.
pub fn own_cgroups() -> bool {
    !paths::in_user_namespace() || delegated_root().is_some()
}

/// The parent of containers' cgroups when none is asked for: `wharf`, or
/// `DELEGATED/wharf` for an ordinary user with delegation.
pub fn default_parent() -> String {
    match delegated_root() {
        Some(root) => format!("{root}/wharf"),
        None => "wharf".to_owned(),
    }
}

fn find() -> Option<String> {
    if !paths::in_user_namespace() || !Path::new(BASE).join("cgroup.controllers").exists() {
        return None;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim().trim_start_matches('/');
    topmost_owned(Path::new(BASE), Path::new(own), rustix::process::geteuid().as_raw())
}

/// Walks from `own` up: the last cgroup still owned by `uid` (with its
/// `cgroup.procs`, which moving processes needs).
fn topmost_owned(base: &Path, own: &Path, uid: u32) -> Option<String> {
    let owned = |rel: &Path| {
        let dir = base.join(rel);
        std::fs::metadata(&dir).is_ok_and(|m| m.uid() == uid)
            && std::fs::metadata(dir.join("cgroup.procs")).is_ok_and(|m| m.uid() == uid)
    };
    let mut best: Option<PathBuf> = None;
    let mut at = Some(own);
    while let Some(rel) = at.filter(|r| !r.as_os_str().is_empty()) {
        if !owned(rel) {
            break;
        }
        best = Some(rel.to_owned());
        at = rel.parent();
    }
    best.map(|p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topmost_owned_cgroup_is_the_delegated_one() {
        let base = tempfile::tempdir().expect("tempdir");
        let uid = rustix::process::geteuid().as_raw();
        for d in ["user.slice/u/app", "user.slice/u"] {
            std::fs::create_dir_all(base.path().join(d)).expect("mkdir");
            std::fs::write(base.path().join(d).join("cgroup.procs"), "").expect("write");
        }
        // Everything here is this process's own: the walk stops at the top
        // of what has a cgroup.procs.
        let found = topmost_owned(base.path(), Path::new("user.slice/u/app"), uid);
        assert_eq!(found.as_deref(), Some("user.slice/u"));
        assert_eq!(topmost_owned(base.path(), Path::new("user.slice/u/app"), uid + 1), None);
    }
}
