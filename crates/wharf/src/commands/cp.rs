//! `wharf cp`: copies between a container's filesystem and the host, in
//! both directions, running or not. Paths inside the container are
//! resolved inside its rootfs (a symlink in the container, absolute or
//! `../`, never leads the copy out of it: the CVE-2018-15664 class). A
//! running container is paused (frozen) while the copy runs, as docker
//! does since that CVE: it cannot swap a directory for a symlink between
//! the resolution of a path and its use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::ContainerState;

use clap::Args;
use store::Store;

use super::container::{self, engine};
use super::lifecycle::lookup;
use builder::context::{clean_rel, resolve_in};
use builder::copy::{copy_sources, Attrs};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path
    pub dest: String,
}

/// `NAME:PATH` (a container path) or a host path.
fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

pub fn cp(root: &Path, args: CpArgs) -> anyhow::Result<ExitCode> {
    let (key, to_container) = match (split(&args.src), split(&args.dest)) {
        (Some((c, _)), None) => (c.to_owned(), false),
        (None, Some((c, _))) => (c.to_owned(), true),
        (Some(_), Some(_)) => return Err(engine("copying between containers is not supported")),
        (None, None) => return Err(engine("must specify at least one container source")),
    };
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &key)?;
    let ov = container::overlay(&store, &rec.id, &rec.image_id)?;
    let mounted_here = !container::is_mounted(&ov.target);
    if mounted_here {
        ov.mount().map_err(|e| engine(format!("mounting the container's rootfs: {e}")))?;
    }
    // A frozen container cannot race the copy (see the module comment).
    let frozen = if rec.state == ContainerState::Running {
        let rt = container::oci_runtime(store.root(), &container::load_config(&rec))?;
        rt.pause(&rec.id).map_err(|e| engine(format!("pausing the container for the copy: {e}")))?;
        Some(rt)
    } else {
        None
    };
    // docker's: root owns what is copied, unless -a keeps the source's.
    let attrs = if args.archive { Attrs::keep_owners() } else { Attrs::root() };
    let result = if to_container {
        let path = split(&args.dest).map(|(_, p)| p).unwrap_or("/");
        copy_in(&ov.target, Path::new(&args.src), path, attrs)
    } else {
        let path = split(&args.src).map(|(_, p)| p).unwrap_or("/");
        copy_out(&ov.target, path, Path::new(&args.dest), args.follow_link, attrs)
    };
    if let Some(rt) = frozen {
        rt.resume(&rec.id).map_err(|e| engine(format!("resuming the container after the copy: {e}")))?;
    }
    if mounted_here {
        let _ = ov.unmount();
    }
    result?;
    Ok(ExitCode::SUCCESS)
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

fn copy_in(rootfs: &Path, src: &Path, ctr_path: &str, attrs: Attrs) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| engine(format!("lstat {}: {e}", src.display())))?;
    let dest = resolve_in(rootfs, &clean_rel(ctr_path), true)?;
    let dest_is_dir = dest.is_dir() || ctr_path.ends_with('/');
    if !dest.exists() && ctr_path.ends_with('/') {
        return Err(engine(format!("Could not find the file {ctr_path} in container")));
    }
    let contents = src.to_string_lossy().ends_with("/.");
    let t = target(dest, dest_is_dir, src, contents);
    if meta.is_dir() {
        std::fs::create_dir_all(&t)?;
    }
    copy_sources(&[(PathBuf::new(), src.to_owned())], &t, false, attrs, &|_| false)?;
    Ok(())
}

fn copy_out(rootfs: &Path, ctr_path: &str, dest: &Path, follow: bool, attrs: Attrs) -> anyhow::Result<()> {
    let src = resolve_in(rootfs, &clean_rel(ctr_path), follow)?;
    let meta = std::fs::symlink_metadata(&src)
        .map_err(|_| engine(format!("Could not find the file {ctr_path} in container")))?;
    let dest_is_dir = dest.is_dir();
    let contents = ctr_path.ends_with("/.");
    let t = target(dest.to_owned(), dest_is_dir, Path::new(ctr_path), contents);
    if meta.is_symlink() {
        // Without -L a symlink is copied as one: following it here would
        // resolve it against the host's root, not the container's.
        let link = std::fs::read_link(&src)?;
        let _ = std::fs::remove_file(&t);
        std::os::unix::fs::symlink(&link, &t).map_err(|e| engine(format!("symlink {}: {e}", t.display())))?;
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::create_dir_all(&t)?;
    }
    copy_sources(&[(PathBuf::new(), src)], &t, false, attrs, &|_| false)?;
    Ok(())
}
