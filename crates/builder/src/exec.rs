//! Running a RUN step: an overlay of the parent layers with a fresh upper
//! directory (which becomes the step's layer), an OCI bundle, the runtime,
//! and the output streamed to the progress printer.

use std::fs;
use std::path::{Path, PathBuf};

use runtime::logs::Stream;
use runtime::supervise::{self, SignalPipes};
use runtime::Runtime;

/// Paths the runtime creates as mount points when the image lacks them;
/// when they appear empty in the upper directory only because of that,
/// they are removed so they do not end up in the layer.
const MOUNT_POINTS: &[&str] = &["proc", "sys", "dev", "etc/resolv.conf", "etc/hosts", "etc/hostname", "run/secrets"];

/// A prepared step rootfs: `dir/fs` (upper, the future layer), `dir/work`,
/// `dir/merged`.
pub struct StepRootfs {
    pub dir: PathBuf,
    pub overlay: runtime::Overlay,
    absent: Vec<String>,
    /// Files the runtime made as mount points whose directories stay.
    mount_files: Vec<String>,
    /// Paths of the upper directory to remove once unmounted.
    leftovers: Vec<PathBuf>,
}

impl StepRootfs {
    pub fn mount(dir: PathBuf, lowers: Vec<PathBuf>) -> anyhow::Result<StepRootfs> {
        let overlay =
            runtime::Overlay { lowers, upper: dir.join("fs"), work: dir.join("work"), target: dir.join("merged") };
        overlay.mount().map_err(|e| anyhow::anyhow!("mounting the step's rootfs: {e}"))?;
        let mut step = StepRootfs { dir, overlay, absent: Vec::new(), mount_files: Vec::new(), leftovers: Vec::new() };
        step.will_mount(MOUNT_POINTS.iter().map(|p| format!("/{p}")));
        Ok(step)
    }

    /// Notes mount targets of the step: the topmost missing ancestor of
    /// each, which the runtime will create and `finish` removes again
    /// when it holds nothing but empty mount points.
    pub fn will_mount(&mut self, targets: impl IntoIterator<Item = String>) {
        for t in targets {
            let rel = t.trim_start_matches('/').to_owned();
            let mut cur = PathBuf::new();
            for c in Path::new(&rel).components() {
                cur.push(c);
                if fs::symlink_metadata(self.overlay.target.join(&cur)).is_err() {
                    let m = cur.display().to_string();
                    if !self.absent.contains(&m) {
                        self.absent.push(m);
                    }
                    break;
                }
            }
        }
    }

    /// Notes a file mount target (a bind of a file) that the runtime will
    /// make if missing: the empty file goes, its directories stay.
    pub fn will_mount_file(&mut self, target: &str) {
        let rel = target.trim_start_matches('/').to_owned();
        if fs::symlink_metadata(self.overlay.target.join(&rel)).is_err() {
            self.mount_files.push(rel);
        }
    }

    /// Notes paths of the upper directory (below the rootfs) that `finish`
    /// removes after unmounting: a planted seed's files the step did not
    /// keep (the overlay must not see its upper directory change).
    pub fn remove_after_unmount(&mut self, paths: Vec<PathBuf>) {
        self.leftovers.extend(paths);
    }

    pub fn merged(&self) -> &Path {
        &self.overlay.target
    }

    /// Unmounts and leaves only `fs` in the directory; returns whether the
    /// layer is empty.
    pub fn finish(self) -> anyhow::Result<bool> {
        self.overlay.unmount().map_err(|e| anyhow::anyhow!("unmounting the step's rootfs: {e}"))?;
        let upper = &self.overlay.upper;
        for p in &self.leftovers {
            image::layer::remove_tree(&upper.join(p))?;
        }
        for p in self.absent.iter().rev() {
            let _ = remove_empty_tree(&upper.join(p));
        }
        for f in &self.mount_files {
            let p = upper.join(f);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = fs::remove_file(&p);
            }
        }
        for d in ["work", "merged"] {
            let _ = image::layer::remove_tree(&self.dir.join(d));
        }
        let _ = fs::remove_file(self.dir.join("config.json"));
        let _ = fs::remove_file(self.dir.join("runtime.log"));
        let _ = fs::remove_file(self.dir.join("init.pid"));
        Ok(fs::read_dir(upper)?.next().is_none())
    }
}

/// Removes `path` if it is an empty file, or a directory holding only
/// such (mount points the runtime made); returns whether it went.
fn remove_empty_tree(path: &Path) -> std::io::Result<bool> {
    let m = fs::symlink_metadata(path)?;
    if m.is_file() && m.len() == 0 {
        fs::remove_file(path)?;
        return Ok(true);
    }
    if !m.is_dir() {
        return Ok(false);
    }
    let mut empty = true;
    for e in fs::read_dir(path)? {
        empty &= remove_empty_tree(&e?.path())?;
    }
    if empty {
        fs::remove_dir(path)?;
    }
    Ok(empty)
}

/// Runs the bundle in `step.dir` (config.json written by the caller)
/// and streams its output to `out`; returns the exit code.
pub fn run_bundle(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    signals: &mut SignalPipes,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> anyhow::Result<i32> {
    let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let pid = rt.create(id, bundle, [runtime::oci::null_fd()?, out_w, err_w], None)?;
    if let Err(e) = rt.start(id) {
        let _ = rt.delete(id);
        return Err(e.into());
    }
    // A build that is interrupted cancels the step, as BuildKit does: the
    // step's init may be a shell that ignores SIGTERM as pid 1.
    let mut forward = |_sig: i32| {
        let _ = supervise::send_signal(pid, libc::SIGKILL);
    };
    let code =
        supervise::supervise(pid, vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)], signals, out, &mut forward);
    let _ = rt.delete(id);
    Ok(code?)
}
