//! `cp`: copies between a container's filesystem and the host, in both
//! directions, running or not. Paths inside the container are resolved
//! inside its rootfs (a symlink in the container, absolute or `../`, never
//! leads the copy out of it: the CVE-2018-15664 class). A running
//! container is paused (frozen) while the copy runs, as docker does since
//! that CVE: it cannot swap a directory for a symlink between the
//! resolution of a path and its use.

use std::io::Read;
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
    let attrs = if keep_owners { Attrs::keep_owners() } else { Attrs::root() };
    with_rootfs(store, key, |rootfs| match direction {
        Direction::In { host, container_path } => copy_in(rootfs, host, container_path, attrs),
        Direction::Out { container_path, host, follow } => copy_out(rootfs, container_path, host, *follow, attrs),
    })
}

/// Runs `f` on the container's rootfs: mounted for it if the container
/// does not run, frozen while it runs if it does.
fn with_rootfs<T>(store: &mut Store, key: &str, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let ov = crate::monitor::overlay(store, &rec.id, &rec.image_id)?;
    let mounted_here = !crate::monitor::is_mounted(&ov.target);
    if mounted_here {
        ov.mount().map_err(|e| Error::internal(format!("mounting the container's rootfs: {e}")))?;
    }
    // A frozen container cannot race the copy (see the module comment);
    // a cp killed meanwhile leaves it for the next command to thaw.
    let rt = crate::monitor::oci_runtime(store.root(), &crate::container::load_config(&rec))?;
    // An ordinary user's containers without cgroup delegation have no
    // freezer: the copy runs beside them, confined to the rootfs all the same.
    let frozen = match rec.state == ContainerState::Running && runtime::delegation::own_cgroups() {
        true => Some(
            crate::freeze::freeze(store.root(), &rt, &rec.id)
                .map_err(|e| Error::internal(format!("pausing the container for the copy: {e}")))?,
        ),
        false => None,
    };
    let result = f(&ov.target);
    if let Some(f) = frozen {
        f.thaw().map_err(|e| Error::internal(format!("resuming the container after the copy: {e}")))?;
    }
    if mounted_here {
        let _ = ov.unmount();
    }
    result.map_err(|e| named_container(e, key))
}

/// docker names the container as it was given in "Could not find the
/// file PATH in container NAME".
fn named_container(e: Error, key: &str) -> Error {
    match e.to_string() {
        m if m.starts_with("Could not find the file ") && m.ends_with(" in container") => {
            Error::not_found(format!("{m} {key}"))
        }
        _ => e,
    }
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
    copy_sources(&[(PathBuf::new(), src.to_owned())], &t, false, attrs, &|_: &Path| false)?;
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
    copy_sources(&[(PathBuf::new(), src)], &t, false, attrs, &|_: &Path| false)?;
    Ok(())
}

/// What docker's archive endpoints say of a path in a container
/// (`X-Docker-Container-Path-Stat`): its mode in Go's `os.FileMode` bits,
/// which docker's CLI reads to tell a directory from a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` for a file's `st_mode`.
fn go_file_mode(mode: u32) -> u32 {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    let special = [(libc::S_ISUID, 1 << 23), (libc::S_ISGID, 1 << 22), (libc::S_ISVTX, 1 << 20)];
    special.iter().filter(|(bit, _)| mode & bit != 0).fold(kind | (mode & 0o777), |m, (_, go)| m | go)
}

/// The path `ctr_path` in the container, not following a last symlink.
pub fn stat_path(store: &mut Store, key: &str, ctr_path: &str) -> Result<PathStat> {
    with_rootfs(store, key, |rootfs| stat_in(rootfs, ctr_path).map(|(s, _)| s))
}

fn stat_in(rootfs: &Path, ctr_path: &str) -> Result<(PathStat, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let missing = || Error::not_found(format!("Could not find the file {ctr_path} in container"));
    let host = resolve_in(rootfs, &clean_rel(ctr_path), false).map_err(|_| missing())?;
    let meta = std::fs::symlink_metadata(&host).map_err(|_| missing())?;
    let link_target =
        if meta.is_symlink() { std::fs::read_link(&host)?.to_string_lossy().into_owned() } else { String::new() };
    let name = Path::new(ctr_path).file_name().map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned());
    let mtime =
        crate::time::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime().max(0) as u64));
    let stat = PathStat { name, size: meta.size() as i64, mode: go_file_mode(meta.mode()), mtime, link_target };
    Ok((stat, host))
}

/// A tar of `ctr_path` (a directory with everything under it), named by
/// its last component as docker's `GET /containers/{id}/archive`.
pub fn archive_out(store: &mut Store, key: &str, ctr_path: &str, out: &mut dyn std::io::Write) -> Result<PathStat> {
    with_rootfs(store, key, |rootfs| {
        let (stat, host) = stat_in(rootfs, ctr_path)?;
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let name = if stat.name == "/" { ".".to_owned() } else { stat.name.clone() };
        if host.is_dir() && !host.is_symlink() {
            tar.append_dir_all(&name, &host)?;
        } else {
            tar.append_path_with_name(&host, &name)?;
        }
        tar.finish()?;
        Ok(stat)
    })
}

/// Extracts the tar `input` into the directory `ctr_path` of the
/// container (docker's `PUT /containers/{id}/archive`): owners as in the
/// archive with `keep_owners`, else root's. Each entry's parent is
/// resolved inside the rootfs, so no entry and no symlink in the
/// container leads the extraction out of it.
pub fn archive_in(store: &mut Store, key: &str, ctr_path: &str, input: impl Read, keep_owners: bool) -> Result<()> {
    with_rootfs(store, key, |rootfs| {
        let dir = resolve_in(rootfs, &clean_rel(ctr_path), true)
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| Error::not_found(format!("Could not find the file {ctr_path} in container")))?;
        let rel_dir = dir.strip_prefix(rootfs).unwrap_or(Path::new("")).to_owned();
        let mut archive = tar::Archive::new(input);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(keep_owners);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        for (read, entry) in
            archive.entries().map_err(|e| Error::invalid(format!("reading the archive: {e}")))?.enumerate()
        {
            let mut entry = entry.map_err(|e| {
                Error::invalid(format!("reading the archive: {}", image::layer::tar_read_error(e, read)))
            })?;
            let path = entry.path().map_err(|e| Error::invalid(format!("reading the archive: {e}")))?.into_owned();
            let rel = rel_dir.join(clean_rel(&path.to_string_lossy()));
            if rel == rel_dir {
                continue;
            }
            let dest = resolve_in(rootfs, &rel, false)?;
            if entry.header().entry_type() != tar::EntryType::Directory {
                if let Ok(m) = std::fs::symlink_metadata(&dest) {
                    if !m.is_dir() {
                        std::fs::remove_file(&dest)?;
                    }
                }
            }
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            entry.unpack(&dest).map_err(|e| Error::internal(format!("extracting {}: {e}", path.display())))?;
        }
        Ok(())
    })
}
