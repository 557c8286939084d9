//! `wharf commit`: a container's changes (its overlay upper directory) as
//! a new image on top of the container's image, with the container's
//! configuration, as docker's.

use std::path::Path;
use std::process::ExitCode;
use store::ContainerState;

use clap::{ArgAction, Args};
use serde_json::{json, Value};
use store::{LayerInfo, Store};

use super::container::{self, load_config};
use super::rootfs::{is_runtime_mount_point, RUNTIME_MOUNT_POINTS};
use crate::exit::fail;
use builder::config::ImageConfig;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

pub fn commit(root: &Path, args: CommitArgs) -> anyhow::Result<ExitCode> {
    let target = match args.reference.as_deref() {
        Some(r) => Some(image::Reference::parse(r).map_err(|e| fail(format!("{e}: {r}")))?),
        None => None,
    };
    let mut store = Store::open(root)?;
    let rec = super::lifecycle::lookup(&mut store, &args.container)?;
    let cfg = load_config(&rec);
    let base: image::Digest = rec.image_id.parse().map_err(|_| fail(format!("bad image id {}", rec.image_id)))?;
    let mut config = ImageConfig(serde_json::from_slice(&store.config_bytes(&base)?)?);
    set_container_config(&mut config.0, &cfg);
    // Every change is checked before any file is copied.
    for c in &args.change {
        config.apply_change(c).map_err(|e| fail(format!("--change {c:?}: {e}")))?;
    }
    // Shared, as import and build take it: a concurrent prune (exclusive)
    // must not collect the new snapshot before the image holds it.
    let _lock = store.lock(false)?;
    // Frozen while its files are copied, so that the layer is one state.
    let rt = container::oci_runtime(root, &cfg)?;
    let frozen = args.pause && rec.state == ContainerState::Running;
    if frozen {
        rt.pause(&rec.id)?;
    }
    let staged = stage_changes(&store, &container::container_dir(root, &rec.id).join("upper"));
    if frozen {
        rt.resume(&rec.id)?;
    }
    let staged = staged?;
    let mut layers = store.image_layers(&base)?;
    let changed = std::fs::read_dir(staged.join("fs"))?.next().is_some();
    if changed {
        let parent = layers.last().map(|l| l.chain_id.clone());
        layers.push(store.adopt_snapshot(&staged, parent.as_ref())?);
    } else {
        image::layer::remove_tree(&staged)?;
    }
    record(&mut config, &args, &rec.id, &cfg, changed, &layers);
    let id = store.add_image(&config.to_bytes(), &layers)?;
    if let Some(t) = &target {
        store.tag(&id, t)?;
    }
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Copies the upper directory into a staging snapshot (`DIR/fs`), less
/// the mount points the runtime made there (rootfs::is_runtime_mount_point).
fn stage_changes(store: &Store, upper: &Path) -> anyhow::Result<std::path::PathBuf> {
    let staging = store.staging_dir("commit-")?;
    let fs = staging.join("fs");
    std::fs::create_dir(&fs)?;
    // `cp -a` keeps owners, modes, xattrs (overlay's opaque markers),
    // whiteout devices and hardlinks.
    let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", upper.display())).arg(&fs).status()?;
    if !st.success() {
        let _ = image::layer::remove_tree(&staging);
        return Err(fail(format!("copying the container's changes from {} failed", upper.display())));
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
fn set_container_config(cfg: &mut Value, c: &container::ContainerConfig) {
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
    args: &CommitArgs,
    id: &str,
    c: &container::ContainerConfig,
    changed: bool,
    layers: &[LayerInfo],
) {
    let diffs: Vec<image::Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    config.set_layers(&diffs);
    let cfg = &mut config.0;
    let now = store::now_rfc3339();
    let mut h =
        json!({"created": now, "created_by": c.entrypoint.iter().chain(&c.cmd).cloned().collect::<Vec<_>>().join(" ")});
    if let Some(a) = &args.author {
        cfg["author"] = json!(a);
        h["author"] = json!(a);
    }
    if let Some(m) = &args.message {
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
