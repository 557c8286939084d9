//! `wharf diff` and `wharf export`: a container's filesystem, as its
//! changes to the image (the overlay upper directory) or whole.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use store::Store;

use super::container;
use super::lifecycle::lookup;
use crate::exit::fail;

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

/// Whether `rel` (relative to the rootfs) in the upper directory is only a
/// mount point the runtime made: the files wharf mounts over /etc (empty
/// until then) and the kernel filesystems' directories. docker keeps these
/// in an "init" layer that diff and commit leave out.
pub fn is_runtime_mount_point(rel: &Path, meta: &std::fs::Metadata) -> bool {
    let (files, dirs) = RUNTIME_MOUNT_POINTS.split_at(3);
    (meta.is_file() && meta.len() == 0 && files.iter().any(|f| rel == Path::new(f)))
        || (meta.is_dir() && dirs.iter().any(|d| rel == Path::new(d)))
}

/// The paths `is_runtime_mount_point` knows: files first, then directories.
pub const RUNTIME_MOUNT_POINTS: [&str; 6] = ["etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "proc", "sys"];

/// An overlay whiteout: a character device 0/0.
fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether `rel` exists in the image: the topmost layer that has an entry
/// for it decides (a whiteout there means deleted).
fn in_image(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers.iter().rev().find_map(|l| std::fs::symlink_metadata(l.join(rel)).ok()).is_some_and(|m| !is_whiteout(&m))
}

/// Lists the changes under `dir` (the upper directory at `rel`); returns
/// whether any was listed.
fn changes(upper: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<(char, PathBuf)>) -> std::io::Result<bool> {
    let mut names: Vec<_> =
        std::fs::read_dir(upper.join(rel))?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    let mut any = false;
    for name in names {
        let path = rel.join(&name);
        let meta = std::fs::symlink_metadata(upper.join(&path))?;
        if is_whiteout(&meta) {
            out.push(('D', path));
            any = true;
            continue;
        }
        let existed = in_image(lowers, &path);
        let at = out.len();
        let inner = meta.is_dir() && changes(upper, &path, lowers, out)?;
        // A directory the image has is listed when something in it
        // changed (it is in the upper directory because of that).
        let listed = if !existed { !is_runtime_mount_point(&path, &meta) } else { !meta.is_dir() || inner };
        if listed {
            out.insert(at, (if existed { 'C' } else { 'A' }, path));
            any = true;
        }
    }
    Ok(any)
}

pub fn diff(root: &Path, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    let ov = container::overlay(&store, &rec.id, &rec.image_id)?;
    let mut out = Vec::new();
    changes(&ov.upper, Path::new(""), &ov.lowers, &mut out)?;
    let mut stdout = std::io::stdout().lock();
    for (kind, path) in out {
        writeln!(stdout, "{kind} /{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(root: &Path, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    if args.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let ov = container::overlay(&store, &rec.id, &rec.image_id)?;
    // A stopped container's rootfs is mounted for the time of the copy.
    let mounted_here = !container::is_mounted(&ov.target);
    if mounted_here {
        ov.mount().map_err(|e| fail(format!("mounting the container's rootfs: {e}")))?;
    }
    let written = match &args.output {
        Some(p) => image::layer::write_tree(&ov.target, std::fs::File::create(p)?),
        None => image::layer::write_tree(&ov.target, std::io::stdout().lock()),
    };
    if mounted_here {
        let _ = ov.unmount();
    }
    written?;
    Ok(ExitCode::SUCCESS)
}
