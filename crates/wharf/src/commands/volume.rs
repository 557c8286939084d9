//! `wharf volume`: docker's local volumes. A volume is a directory,
//! `volumes/NAME/_data`, made by `volume create` or by the first container
//! that mounts it (`-v NAME:/path`, `--mount type=volume`); its labels and
//! creation time are in `volumes/NAME/meta.json`. Which containers use a
//! volume is read from their records, so there is nothing to keep in step.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::Store;

use super::container::{engine, load_config};
use crate::exit::fail;
use crate::format;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name (only "local")
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// The volume's name (random if not given)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (dangling=true|false, name=..., label=...)
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print volumes using a Go template or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes (a missing one is no error)
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// What `volumes/NAME/meta.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Meta {
    created: String,
    labels: BTreeMap<String, String>,
}

pub fn run(root: &Path, cmd: VolumeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VolumeCommand::Create(a) => create(root, a),
        VolumeCommand::Ls(a) => ls(root, a),
        VolumeCommand::Inspect(a) => inspect(root, a),
        VolumeCommand::Rm(a) => rm(root, a),
        VolumeCommand::Prune(a) => prune(root, a),
    }
}

fn dir(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name)
}

/// docker's rule for a local volume's name.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() >= 2
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        return Ok(());
    }
    Err(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    ))
}

/// The data directory of volume `name`, made if it does not exist. A new
/// volume mounted at `seed.1` gets the content the image has there
/// (`seed.0` is the container's rootfs), as docker's do.
pub fn ensure(root: &Path, name: &str, seed: Option<(&Path, &str)>) -> anyhow::Result<PathBuf> {
    check_name(name).map_err(engine)?;
    let data = dir(root, name).join("_data");
    if data.exists() {
        return Ok(data);
    }
    // Made aside (in the store's tmp/, which `system check --repair`
    // clears after a crash) and renamed into place: a volume is whole or
    // absent, and of two made at once the first renamed wins.
    let staging = root.join("tmp").join(format!("volume-{name}-{}", std::process::id()));
    let _ = image::layer::remove_tree(&staging);
    std::fs::create_dir_all(&staging)?;
    if let Some((rootfs, dst)) = seed {
        let from = builder::context::resolve_in(rootfs, &builder::context::clean_rel(dst), true)?;
        if from.is_dir() {
            // `cp -a` keeps owners, modes, xattrs and hardlinks: the copy
            // docker makes of an image path into a new volume.
            let st = std::process::Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", from.display()))
                .arg(&staging)
                .status()?;
            if !st.success() {
                return Err(engine(format!("copying {dst} from the image into volume {name} failed")));
            }
        }
    }
    std::fs::create_dir_all(dir(root, name))?;
    if let Err(e) = std::fs::rename(&staging, &data) {
        let _ = image::layer::remove_tree(&staging);
        if !data.is_dir() {
            return Err(e.into());
        }
        return Ok(data);
    }
    let meta = Meta { created: format::rfc3339(SystemTime::now()), labels: BTreeMap::new() };
    let _ = write_meta(root, name, &meta);
    Ok(data)
}

fn write_meta(root: &Path, name: &str, meta: &Meta) -> anyhow::Result<()> {
    engine::files::replace(&dir(root, name).join("meta.json"), &serde_json::to_vec(meta)?)?;
    Ok(())
}

fn read_meta(root: &Path, name: &str) -> Meta {
    let mut meta: Meta = std::fs::read(dir(root, name).join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if meta.created.is_empty() {
        // A volume from before meta.json: its directory's time.
        let t = std::fs::metadata(dir(root, name).join("_data")).and_then(|m| m.modified());
        meta.created = format::rfc3339(t.unwrap_or(SystemTime::UNIX_EPOCH));
    }
    meta
}

/// Every volume's name, sorted.
pub fn names(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("volumes"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && dir(root, n).join("_data").is_dir())
        .collect();
    out.sort();
    out
}

/// Volume name -> the containers (any state) that mount it.
pub fn users(store: &Store) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in store.containers()? {
        let cfg = load_config(&c);
        let mut used: BTreeSet<String> = cfg.volumes.iter().chain(&cfg.anon_volumes).cloned().collect();
        // Records from before `volumes` was kept: the `-v` sources.
        for b in &cfg.binds {
            let src = b.split(':').next().unwrap_or_default();
            if b.contains(':') && !src.starts_with('/') {
                used.insert(src.to_owned());
            }
        }
        for v in used {
            out.entry(v).or_default().push(c.id.clone());
        }
    }
    Ok(out)
}

fn create(root: &Path, a: CreateArgs) -> anyhow::Result<ExitCode> {
    if a.driver != "local" {
        return Err(fail(format!("error looking up volume plugin {}: plugin \"{}\" not found", a.driver, a.driver)));
    }
    if !a.opt.is_empty() {
        // The local driver's options mount a filesystem (tmpfs, nfs, a
        // device) at each use; wharf does not do that yet, and a volume
        // silently without them would lose data where none was expected.
        return Err(fail("volume options (-o/--opt) are not supported by wharf's local driver"));
    }
    let name = match a.name {
        Some(n) => n,
        None => super::run::random_hex(32)?,
    };
    check_name(&name).map_err(fail)?;
    let existed = dir(root, &name).join("_data").is_dir();
    ensure(root, &name, None)?;
    if !existed && !a.label.is_empty() {
        let mut meta = read_meta(root, &name);
        for l in &a.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            meta.labels.insert(k.to_owned(), v.to_owned());
        }
        write_meta(root, &name, &meta)?;
    }
    if !existed {
        super::events::emit(root, "volume", "create", &name, &[("driver", "local")]);
    }
    println!("{name}");
    Ok(ExitCode::SUCCESS)
}

/// docker's inspect object of a volume.
fn object(root: &Path, name: &str) -> serde_json::Value {
    let meta = read_meta(root, name);
    json!({
        "CreatedAt": meta.created,
        "Driver": "local",
        "Labels": if meta.labels.is_empty() { serde_json::Value::Null } else { json!(meta.labels) },
        "Mountpoint": dir(root, name).join("_data").display().to_string(),
        "Name": name,
        "Options": null,
        "Scope": "local",
    })
}

/// Whether volume `name` passes every `--filter` (docker's keys).
fn matches(root: &Path, name: &str, used: bool, filters: &[String]) -> anyhow::Result<bool> {
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        let ok = match k {
            "dangling" => (v == "true" || v == "1") != used,
            "name" => name.contains(v),
            "driver" => v == "local",
            "label" => {
                let labels = read_meta(root, name).labels;
                match v.split_once('=') {
                    Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                    None => labels.contains_key(v),
                }
            }
            _ => return Err(fail(format!("invalid filter '{k}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ls(root: &Path, a: LsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let users = users(&store)?;
    let mut shown = Vec::new();
    for n in names(root) {
        if matches(root, &n, users.contains_key(&n), &a.filter)? {
            shown.push(n);
        }
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for n in shown {
            writeln!(out, "{n}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match a.format.as_deref() {
        Some(f) => {
            let rows: Vec<BTreeMap<String, serde_json::Value>> = shown
                .iter()
                .map(|n| {
                    let labels = read_meta(root, n).labels;
                    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    BTreeMap::from([
                        ("Name".to_owned(), json!(n)),
                        ("Driver".to_owned(), json!("local")),
                        ("Scope".to_owned(), json!("local")),
                        ("Mountpoint".to_owned(), json!(dir(root, n).join("_data").display().to_string())),
                        ("Labels".to_owned(), json!(labels.join(","))),
                    ])
                })
                .collect();
            write!(out, "{}", format::render(f, &rows)?)?;
        }
        None => {
            let body: Vec<Vec<String>> = shown.iter().map(|n| vec!["local".to_owned(), n.clone()]).collect();
            write!(out, "{}", format::table(&["DRIVER", "VOLUME NAME"], &body))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(root: &Path, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut values = Vec::new();
    let mut failed = false;
    for name in &a.volumes {
        if dir(root, name).join("_data").is_dir() {
            values.push(object(root, name));
        } else {
            eprintln!("Error response from daemon: get {name}: no such volume");
            failed = true;
        }
    }
    super::ps::print_values(&values, a.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn rm(root: &Path, a: RmArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let users = users(&store)?;
    let mut failed = false;
    for name in &a.volumes {
        if !dir(root, name).join("_data").is_dir() {
            if a.force {
                println!("{name}");
            } else {
                eprintln!("Error response from daemon: get {name}: no such volume");
                failed = true;
            }
            continue;
        }
        if let Some(ids) = users.get(name) {
            // Even with -f, as docker: a volume in use is never removed.
            eprintln!("Error response from daemon: remove {name}: volume is in use - [{}]", ids.join(", "));
            failed = true;
            continue;
        }
        image::layer::remove_tree(&dir(root, name))?;
        super::events::emit(root, "volume", "destroy", name, &[("driver", "local")]);
        println!("{name}");
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn prune(root: &Path, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !a.force {
        eprint!("WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let store = Store::open(root)?;
    let users = users(&store)?;
    let mut removed = Vec::new();
    let mut reclaimed = 0;
    for name in names(root) {
        if users.contains_key(&name) {
            continue;
        }
        reclaimed += super::system::tree_size(&dir(root, &name).join("_data"));
        image::layer::remove_tree(&dir(root, &name))?;
        removed.push(name);
    }
    let mut out = std::io::stdout().lock();
    if !removed.is_empty() {
        writeln!(out, "Deleted Volumes:")?;
        for r in &removed {
            writeln!(out, "{r}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", format::human_size(reclaimed))?;
    Ok(ExitCode::SUCCESS)
}
