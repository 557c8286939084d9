//! A container's filesystem: its changes to the image (`diff`), the
//! changes as a new image (`commit`), or the whole tree (`export`).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use builder::config::ImageConfig;
use serde::Serialize;
use serde_json::{json, Value};
use store::{ContainerState, LayerInfo, Store};

use crate::container::{load_config, ContainerConfig};
use crate::{Error, Result};

/// Whether `rel` (relative to the rootfs) in the upper directory is only a
/// mount point the runtime made: the files wharf mounts over /etc (empty
/// until then) and the kernel filesystems' directories. docker keeps these
/// in an "init" layer that diff and commit leave out.
pub fn is_runtime_mount_point(rel: &Path, meta: &std::fs::Metadata) -> bool {
    let (files, dirs) = RUNTIME_MOUNT_POINTS.split_at(4);
    (meta.is_file() && meta.len() == 0 && files.iter().any(|f| rel == Path::new(f)))
        || (meta.is_dir() && dirs.iter().any(|d| rel == Path::new(d)))
}

/// The paths `is_runtime_mount_point` knows: files first, then directories.
pub const RUNTIME_MOUNT_POINTS: [&str; 7] =
    [".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "proc", "sys"];

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
        // fuse-overlayfs's opaque-directory markers are not changes.
        if image::layer::is_fuse_marker(name.as_encoded_bytes()) {
            continue;
        }
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

/// docker's `FilesystemChange`: a path and how it changed (`C`hanged,
/// `A`dded, `D`eleted; the API's Kind 0, 1, 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: char,
    /// Absolute, in the container.
    pub path: String,
}

impl Change {
    /// The API's `Kind`: 0 changed, 1 added, 2 deleted.
    pub fn kind_code(&self) -> u8 {
        match self.kind {
            'A' => 1,
            'D' => 2,
            _ => 0,
        }
    }
}

/// The container's changes to its image, in path order.
pub fn diff(store: &mut Store, key: &str) -> Result<Vec<Change>> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let ov = crate::monitor::overlay(store, &rec.id, &rec.image_id)?;
    let mut out = Vec::new();
    changes(&ov.upper, Path::new(""), &ov.lowers, &mut out)?;
    Ok(out.into_iter().map(|(kind, p)| Change { kind, path: format!("/{}", p.display()) }).collect())
}

/// Writes the container's whole filesystem as a tar to `out`; a stopped
/// container's rootfs is mounted for the time of it.
pub fn export(store: &mut Store, key: &str, out: &mut dyn Write) -> Result<()> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let ov = crate::monitor::overlay(store, &rec.id, &rec.image_id)?;
    let mounted_here = !crate::monitor::is_mounted(&ov.target);
    if mounted_here {
        ov.mount().map_err(|e| Error::internal(format!("mounting the container's rootfs: {e}")))?;
    }
    let written = image::layer::write_tree(&ov.target, out);
    if mounted_here {
        let _ = ov.unmount();
    }
    Ok(written?)
}

/// docker's commit options (`POST /commit`'s query).
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// REPOSITORY[:TAG] to name the image.
    pub reference: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions applied to its config.
    pub changes: Vec<String>,
    /// Freeze the container while its files are copied.
    pub pause: bool,
}

/// The container's changes as a new image on top of its image, with the
/// container's configuration, as docker's commit makes it.
pub fn commit(store: &mut Store, key: &str, opts: &CommitOptions) -> Result<image::Digest> {
    let target = match opts.reference.as_deref() {
        Some(r) => Some(image::Reference::parse(r).map_err(|e| Error::invalid(format!("{e}: {r}")))?),
        None => None,
    };
    let rec = crate::lifecycle::lookup(store, key)?;
    let cfg = load_config(&rec);
    let base: image::Digest =
        rec.image_id.parse().map_err(|_| Error::internal(format!("bad image id {}", rec.image_id)))?;
    let mut config = ImageConfig(serde_json::from_slice(&store.config_bytes(&base)?)?);
    set_container_config(&mut config.0, &cfg);
    // Every change is checked before any file is copied.
    for c in &opts.changes {
        config.apply_change(c).map_err(|e| Error::invalid(format!("--change {c:?}: {e}")))?;
    }
    // Shared, as import and build take it: a concurrent prune (exclusive)
    // must not collect the new snapshot before the image holds it.
    let _lock = store.lock(false)?;
    // Frozen while its files are copied, so that the layer is one state.
    let rt = crate::monitor::oci_runtime(store.root(), &cfg)?;
    // An ordinary user's containers without cgroup delegation have no
    // freezer: committed running, as podman commits by default.
    let frozen = match opts.pause && rec.state == ContainerState::Running && runtime::delegation::own_cgroups() {
        true => Some(crate::freeze::freeze(store.root(), &rt, &rec.id)?),
        false => None,
    };
    let staged = stage_changes(store, &crate::Layout::new(store.root()).container(&rec.id).upper());
    if let Some(f) = frozen {
        f.thaw()?;
    }
    let staged = staged?;
    let mut layers = store.image_layers(&base)?;
    let changed = std::fs::read_dir(staged.join("fs"))?.next().is_some();
    if changed {
        let parent = layers.last().map(|l| l.chain_id.clone());
        layers.push(store.adopt_snapshot(&staged, parent.as_ref())?);
    } else {
        image::layer::remove_tree(&staged).map_err(|e| Error::internal(e.to_string()))?;
    }
    record(&mut config, opts, &rec.id, &cfg, changed, &layers);
    let id = store.add_image(&config.to_bytes(), &layers)?;
    if let Some(t) = &target {
        store.tag(&id, t)?;
    }
    Ok(id)
}

/// Copies the upper directory into a staging snapshot (`DIR/fs`), less
/// the mount points the runtime made there (rootfs::is_runtime_mount_point).
fn stage_changes(store: &Store, upper: &Path) -> Result<std::path::PathBuf> {
    let staging = store.staging_dir("commit-")?;
    let fs = staging.join("fs");
    std::fs::create_dir(&fs)?;
    // `cp -a` keeps owners, modes, xattrs (overlay's opaque markers),
    // whiteout devices and hardlinks.
    let mut cp = std::process::Command::new("cp");
    cp.arg("-a").arg(format!("{}/.", upper.display())).arg(&fs);
    let st = crate::files::dies_with_parent(&mut cp).status()?;
    if !st.success() {
        let _ = image::layer::remove_tree(&staging);
        return Err(Error::internal(format!("copying the container's changes from {} failed", upper.display())));
    }
    for rel in RUNTIME_MOUNT_POINTS {
        let p = fs.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if is_runtime_mount_point(Path::new(rel), &m) && m.is_dir() => {
                let _ = std::fs::remove_dir(&p); // only when empty
            }
            Ok(m) if is_runtime_mount_point(Path::new(rel), &m) => std::fs::remove_file(&p)?,
            _ => {}
        }
    }
    let _ = std::fs::remove_dir(fs.join("etc")); // when nothing else changed there
    Ok(staging)
}

/// The image's `config` from the container's: what `run` was given on top
/// of the image (command, environment, user, working directory, labels,
/// ports), as docker's commit takes the container's Config.
fn set_container_config(cfg: &mut Value, c: &ContainerConfig) {
    let conf = &mut cfg["config"];
    if !conf.is_object() {
        *conf = json!({});
    }
    conf["Cmd"] = if c.cmd.is_empty() { Value::Null } else { json!(c.cmd) };
    conf["Entrypoint"] = if c.entrypoint.is_empty() { Value::Null } else { json!(c.entrypoint) };
    conf["Env"] = json!(c.env);
    conf["User"] = json!(c.user);
    let image_workdir = conf["WorkingDir"].as_str().unwrap_or_default().to_owned();
    if !(c.working_dir == "/" && image_workdir.is_empty()) {
        conf["WorkingDir"] = json!(c.working_dir);
    }
    if !c.labels.is_empty() {
        conf["Labels"] = json!(c.labels);
    }
    if !c.exposed.is_empty() {
        conf["ExposedPorts"] = c.exposed.iter().map(|p| (p.clone(), json!({}))).collect();
    }
}

/// Author, message, the history entry and the new layer list.
fn record(
    config: &mut ImageConfig,
    opts: &CommitOptions,
    id: &str,
    c: &ContainerConfig,
    changed: bool,
    layers: &[LayerInfo],
) {
    let diffs: Vec<image::Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    config.set_layers(&diffs);
    let cfg = &mut config.0;
    let now = store::now_rfc3339();
    let mut h =
        json!({"created": now, "created_by": c.entrypoint.iter().chain(&c.cmd).cloned().collect::<Vec<_>>().join(" ")});
    if let Some(a) = &opts.author {
        cfg["author"] = json!(a);
        h["author"] = json!(a);
    }
    if let Some(m) = &opts.message {
        cfg["comment"] = json!(m);
        h["comment"] = json!(m);
    }
    if !changed {
        h["empty_layer"] = json!(true);
    }
    cfg["created"] = json!(now);
    cfg["container"] = json!(id);
    match cfg["history"].as_array_mut() {
        Some(hist) => hist.push(h),
        None => cfg["history"] = json!([h]),
    }
}
