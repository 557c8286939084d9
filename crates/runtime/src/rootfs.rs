//! A container's root filesystem: an overlay of the image's snapshot
//! directories (lowerdirs, top layer first) under a per-container upperdir.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

/// Where a container's overlay lives.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Snapshot `fs` directories, base layer first (as image configs list
    /// layers); overlayfs wants them top first, which `mount` handles.
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
}

impl Overlay {
    /// The overlay mount options. With no lower layer (`FROM scratch`) an
    /// empty directory beside the work directory stands in, since
    /// overlayfs needs one.
    fn options(&self) -> io::Result<String> {
        let mut lowers: Vec<String> = self.lowers.iter().rev().map(|p| escape(p)).collect();
        if lowers.is_empty() {
            lowers.push(escape(&self.empty_lower()));
        }
        Ok(format!("lowerdir={},upperdir={},workdir={}", lowers.join(":"), escape(&self.upper), escape(&self.work)))
    }

    fn empty_lower(&self) -> PathBuf {
        self.work.with_file_name("empty-lower")
    }

    /// Creates upper, work and target directories and mounts the overlay.
    pub fn mount(&self) -> io::Result<()> {
        for d in [&self.upper, &self.work, &self.target] {
            std::fs::create_dir_all(d)?;
        }
        if self.lowers.is_empty() {
            std::fs::create_dir_all(self.empty_lower())?;
        }
        let opts = self.options()?;
        // The kernel takes at most a page of options; many deep layers need
        // shorter paths (docker links them as l/XXXX) — not handled yet.
        if opts.len() >= 4096 {
            return Err(io::Error::other(format!(
                "overlay options too long ({} bytes, {} layers)",
                opts.len(),
                self.lowers.len()
            )));
        }
        if overlay_program() == Program::FuseOverlayfs {
            return self.mount_fuse(&opts);
        }
        // In an ordinary user's namespace the kernel (5.11+) keeps overlay's
        // metadata in `user.overlay.*` xattrs, as layers there are written.
        let kernel_opts = if paths::in_user_namespace() { format!("{opts},userxattr") } else { opts.clone() };
        let data = std::ffi::CString::new(kernel_opts).map_err(io::Error::other)?;
        match mount("overlay", &self.target, "overlay", MountFlags::empty(), Some(data.as_c_str())) {
            Ok(()) => Ok(()),
            // A kernel without overlayfs in user namespaces (before 5.11):
            // fuse-overlayfs, as podman falls back to.
            Err(e) if paths::in_user_namespace() && fuse_overlayfs().is_some() => {
                let _ = e;
                self.mount_fuse(&opts)
            }
            Err(e) => Err(io::Error::from_raw_os_error(e.raw_os_error())),
        }
    }

    /// Mounts with fuse-overlayfs (Debian's package), which reads the same
    /// whiteouts and opaque-directory xattrs, and goes on serving the
    /// mount until it is unmounted.
    fn mount_fuse(&self, opts: &str) -> io::Result<()> {
        let program = fuse_overlayfs().ok_or_else(|| io::Error::other("fuse-overlayfs is not installed"))?;
        let out = std::process::Command::new(program)
            .arg("-o")
            .arg(opts)
            .arg(&self.target)
            .stdin(std::process::Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!("fuse-overlayfs: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        Ok(())
    }

    /// Unmounts (lazily if busy).
    pub fn unmount(&self) -> io::Result<()> {
        unmount(&self.target, UnmountFlags::empty())
            .or_else(|_| unmount(&self.target, UnmountFlags::DETACH))
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    }
}

/// What mounts a container's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The kernel's overlayfs (in a user namespace: with `userxattr`).
    Kernel,
    /// fuse-overlayfs: asked for with `WHARF_OVERLAY=fuse-overlayfs`, or
    /// the fallback where the kernel refuses an overlay in a user
    /// namespace.
    FuseOverlayfs,
}

/// The overlay program asked for (`WHARF_OVERLAY`); the kernel's unless
/// fuse-overlayfs is.
pub fn overlay_program() -> Program {
    match std::env::var("WHARF_OVERLAY").as_deref() {
        Ok("fuse-overlayfs") => Program::FuseOverlayfs,
        _ => Program::Kernel,
    }
}

/// fuse-overlayfs, if installed.
pub fn fuse_overlayfs() -> Option<PathBuf> {
    ["/usr/bin/fuse-overlayfs", "/usr/local/bin/fuse-overlayfs"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// overlayfs separates options with `,` and layers with `:`; both, and
/// `\`, are escaped with a backslash.
fn escape(p: &Path) -> String {
    let s = p.display().to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
