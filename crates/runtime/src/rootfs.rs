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
        let mut opts = format!("lowerdir={},upperdir={},workdir={}", lowers.join(":"), escape(&self.upper), escape(&self.work));
        // In an ordinary user's namespace the kernel (5.11+) keeps overlay's
        // metadata in `user.overlay.*` xattrs, as layers there are written.
        if paths::in_user_namespace() {
            opts.push_str(",userxattr");
        }
        Ok(opts)
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
        let data = std::ffi::CString::new(opts).map_err(io::Error::other)?;
        mount("overlay", &self.target, "overlay", MountFlags::empty(), Some(data.as_c_str()))
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    }

    /// Unmounts (lazily if busy).
    pub fn unmount(&self) -> io::Result<()> {
        unmount(&self.target, UnmountFlags::empty())
            .or_else(|_| unmount(&self.target, UnmountFlags::DETACH))
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    }
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
