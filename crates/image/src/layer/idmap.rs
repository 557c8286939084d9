//! The IDs this process can give files. On the host every ID maps; in an
//! ordinary user's namespace (crates/userns) only root (the user) and the
//! user's subordinate range do, and a user without a range has root alone.
//! An owner outside the map becomes root, as podman's `ignore_chown_errors`
//! does, rather than failing the whole layer with EINVAL.

use std::sync::OnceLock;

/// Inside ranges (first ID, count) of one `/proc/self/{uid,gid}_map`.
struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    fn read(file: &str) -> Ranges {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        Ranges::parse(&text)
    }

    fn parse(text: &str) -> Ranges {
        let ranges = text
            .lines()
            .filter_map(|line| {
                let f: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
                (f.len() == 3).then(|| (f[0] as u32, f[2].min(u64::from(u32::MAX)) as u32))
            })
            .collect::<Vec<_>>();
        // Unreadable (no /proc): assume the host's identity map.
        Ranges(if ranges.is_empty() { vec![(0, u32::MAX)] } else { ranges })
    }

    fn maps(&self, id: u32) -> bool {
        self.0.iter().any(|&(first, count)| id >= first && u64::from(id) < u64::from(first) + u64::from(count))
    }
}

fn uids() -> &'static Ranges {
    static R: OnceLock<Ranges> = OnceLock::new();
    R.get_or_init(|| Ranges::read("/proc/self/uid_map"))
}

fn gids() -> &'static Ranges {
    static R: OnceLock<Ranges> = OnceLock::new();
    R.get_or_init(|| Ranges::read("/proc/self/gid_map"))
}

/// `uid` if this process can own files as it, else root.
pub(super) fn owner_uid(uid: u32) -> u32 {
    if uids().maps(uid) {
        uid
    } else {
        0
    }
}

/// `gid` if this process can own files as it, else root's group.
pub(super) fn owner_gid(gid: u32) -> u32 {
    if gids().maps(gid) {
        gid
    } else {
        0
    }
}

/// Whether this process is in a user namespace other than the host's.
fn in_user_namespace() -> bool {
    uids().0 != [(0, u32::MAX)]
}

/// The xattr overlayfs marks an opaque directory with: `trusted.` on the
/// host; in a user namespace the kernel (5.11+, mounted with `userxattr`)
/// reads `user.overlay.*`, as trusted xattrs need host privileges.
pub fn opaque_xattr() -> &'static str {
    if in_user_namespace() {
        "user.overlay.opaque"
    } else {
        "trusted.overlay.opaque"
    }
}

/// Whether an xattr is overlayfs's own bookkeeping, never part of a layer.
pub fn is_overlay_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_namespace_maps_root_and_the_range() {
        let r = Ranges::parse("         0       1000          1\n         1     100000      65536\n");
        assert!(r.maps(0) && r.maps(1) && r.maps(65536));
        assert!(!r.maps(65537) && !r.maps(100000));
        let host = Ranges::parse("         0          0 4294967295\n");
        assert!(host.maps(0) && host.maps(4_000_000_000));
    }
}
