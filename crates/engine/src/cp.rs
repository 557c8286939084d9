//! `cp`: copies between a container's filesystem and the host, in both
//! directions, running or not. Paths inside the container are resolved
//! inside its rootfs (a symlink in the container, absolute or `../`, never
//! leads the copy out of it: the CVE-2018-15664 class). A running
//! container is paused (frozen) while the copy runs, as docker does since
//! that CVE: it cannot swap a directory for a symlink between the
//! resolution of a path and its use.

use std::path::{Path, PathBuf};

use builder::context::{clean_rel, resolve_in};
use builder::copy::{copy_sources, Attrs};
use store::{ContainerState, Store};

use crate::{Error, Result};

/// Which way a copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// A host path into the container at a path.
    In { host: PathBuf, container_path: String },
    /// A container path out to a host path (`follow`: `-L`).
    Out { container_path: String, host: PathBuf, follow: bool },
}

/// Copies as `direction` says; `keep_owners` (`-a`) keeps the source's
/// owners, else root owns what is copied, as docker's.
pub fn copy(store: &mut Store, key: &str, direction: &Direction, keep_owners: bool) -> Result<()> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let ov = crate::monitor::overlay(store, &rec.id, &rec.image_id)?;
    let mounted_here = !crate::monitor::is_mounted(&ov.target);
    if mounted_here {
        ov.mount().map_err(|e| Error::internal(format!("mounting the container's rootfs: {e}")))?;
    }
    // A frozen container cannot race the copy (see the module comment).
    let frozen = if rec.state == ContainerState::Running {
        let rt = crate::monitor::oci_runtime(store.root(), &crate::container::load_config(&rec))?;
        rt.pause(&rec.id).map_err(|e| Error::internal(format!("pausing the container for the copy: {e}")))?;
        Some(rt)
    } else {
        None
    };
    let attrs = if keep_owners { Attrs::keep_owners() } else { Attrs::root() };
    let result = match direction {
        Direction::In { host, container_path } => copy_in(&ov.target, host, container_path, attrs),
        Direction::Out { container_path, host, follow } => copy_out(&ov.target, container_path, host, *follow, attrs),
    };
    if let Some(rt) = frozen {
        rt.resume(&rec.id).map_err(|e| Error::internal(format!("resuming the container after the copy: {e}")))?;
    }
    if mounted_here {
        let _ = ov.unmount();
    }
    result
}

/// docker's target rule: into an existing directory (or one named with a
/// trailing slash) under the source's name, else to that name; `SRC/.`
/// copies a directory's contents.
fn target(dest: PathBuf, dest_is_dir: bool, src_name: &Path, contents_only: bool) -> PathBuf {
    if dest_is_dir && !contents_only {
        dest.join(src_name.file_name().unwrap_or_default())
    } else {
        dest
    }
}

fn copy_in(rootfs: &Path, src: &Path, ctr_path: &str, attrs: Attrs) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| Error::not_found(format!("lstat {}: {e}", src.display())))?;
    let dest = resolve_in(rootfs, &clean_rel(ctr_path), true)?;
    let dest_is_dir = dest.is_dir() || ctr_path.ends_with('/');
    if !dest.exists() && ctr_path.ends_with('/') {
        return Err(Error::not_found(format!("Could not find the file {ctr_path} in container")));
    }
    let contents = src.to_string_lossy().ends_with("/.");
    let t = target(dest, dest_is_dir, src, contents);
    if meta.is_dir() {
        std::fs::create_dir_all(&t)?;
    }
    copy_sources(&[(PathBuf::new(), src.to_owned())], &t, false, attrs, &|_| false)?;
    Ok(())
}

fn copy_out(rootfs: &Path, ctr_path: &str, dest: &Path, follow: bool, attrs: Attrs) -> Result<()> {
    let src = resolve_in(rootfs, &clean_rel(ctr_path), follow)?;
    let meta = std::fs::symlink_metadata(&src)
        .map_err(|_| Error::not_found(format!("Could not find the file {ctr_path} in container")))?;
    let dest_is_dir = dest.is_dir();
    let contents = ctr_path.ends_with("/.");
    let t = target(dest.to_owned(), dest_is_dir, Path::new(ctr_path), contents);
    if meta.is_symlink() {
        // Without -L a symlink is copied as one: following it here would
        // resolve it against the host's root, not the container's.
        let link = std::fs::read_link(&src)?;
        let _ = std::fs::remove_file(&t);
        std::os::unix::fs::symlink(&link, &t).map_err(|e| Error::internal(format!("symlink {}: {e}", t.display())))?;
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::create_dir_all(&t)?;
    }
    copy_sources(&[(PathBuf::new(), src)], &t, false, attrs, &|_| false)?;
    Ok(())
}
