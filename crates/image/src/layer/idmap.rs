//! The IDs this process can give files. On the host every ID maps; in an
//! ordinary user's namespace (crates/userns) only root (the user) and the
//! user's subordinate range do, and a user without a range has root alone.
//! An owner outside the map becomes root, as podman's `ignore_chown_errors`
//! does, rather than failing the whole layer with EINVAL.

/// `uid` if this process can own files as it, else root.
pub(super) fn owner_uid(uid: u32) -> u32 {
    if paths::uid_mapped(uid) {
        uid
    } else {
        0
    }
}

/// `gid` if this process can own files as it, else root's group.
pub(super) fn owner_gid(gid: u32) -> u32 {
    if paths::gid_mapped(gid) {
        gid
    } else {
        0
    }
}

/// The xattr overlayfs marks an opaque directory with: `trusted.` on the
/// host; in a user namespace the kernel (5.11+, mounted with `userxattr`)
/// reads `user.overlay.*`, as trusted xattrs need host privileges.
pub fn opaque_xattr() -> &'static str {
    static IN_USERNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *IN_USERNS.get_or_init(paths::in_user_namespace) {
        "user.overlay.opaque"
    } else {
        "trusted.overlay.opaque"
    }
}

/// Whether an xattr is overlayfs's own bookkeeping, never part of a layer.
pub fn is_overlay_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}
