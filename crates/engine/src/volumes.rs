//! Volumes of the local driver: `ROOT/volumes/NAME/_data` and its
//! `meta.json` (creation time, labels). Results in the Engine API's shape.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use store::Store;

use crate::container::load_config;
use crate::{Error, Layout, Result};

/// What `volumes/NAME/meta.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Meta {
    created: String,
    labels: BTreeMap<String, String>,
}

/// docker's `Volume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    /// null when it has none, as docker shows it.
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    /// Set by `system df` alone, as docker's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsage>,
}

/// docker's `VolumeUsageData`: bytes used and how many containers mount it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsage {
    pub size: i64,
    pub ref_count: i64,
}

/// Whether volume `name` exists.
pub fn exists(root: &Path, name: &str) -> bool {
    Layout::new(root).volume_data(name).is_dir()
}

fn no_such_volume(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

/// docker's rule for a local volume's name.
pub fn check_name(name: &str) -> Result<(), String> {
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
pub fn ensure(root: &Path, name: &str, seed: Option<(&Path, &str)>) -> Result<PathBuf> {
    check_name(name).map_err(Error::invalid)?;
    let data = Layout::new(root).volume_data(name);
    if data.exists() {
        return Ok(data);
    }
    // Made aside (in the store's tmp/, which `system check --repair`
    // clears after a crash) and renamed into place: a volume is whole or
    // absent, and of two made at once the first renamed wins.
    let staging = Layout::new(root).tmp().join(format!("volume-{name}-{}", std::process::id()));
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
                return Err(Error::internal(format!("copying {dst} from the image into volume {name} failed")));
            }
        }
    }
    std::fs::create_dir_all(Layout::new(root).volume_dir(name))?;
    if let Err(e) = std::fs::rename(&staging, &data) {
        let _ = image::layer::remove_tree(&staging);
        if !data.is_dir() {
            return Err(e.into());
        }
        return Ok(data);
    }
    let meta = Meta { created: crate::time::rfc3339(SystemTime::now()), labels: BTreeMap::new() };
    let _ = write_meta(root, name, &meta);
    Ok(data)
}

fn write_meta(root: &Path, name: &str, meta: &Meta) -> Result<()> {
    crate::files::replace(&Layout::new(root).volume_meta(name), &serde_json::to_vec(meta)?)?;
    Ok(())
}

fn read_meta(root: &Path, name: &str) -> Meta {
    let mut meta: Meta = std::fs::read(Layout::new(root).volume_meta(name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if meta.created.is_empty() {
        // A volume from before meta.json: its directory's time.
        let t = std::fs::metadata(Layout::new(root).volume_data(name)).and_then(|m| m.modified());
        meta.created = crate::time::rfc3339(t.unwrap_or(SystemTime::UNIX_EPOCH));
    }
    meta
}

/// Every volume's name, sorted.
pub fn names(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(Layout::new(root).volumes_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && exists(root, n))
        .collect();
    out.sort();
    out
}

/// Volume name -> the containers (any state) that mount it.
pub fn users(store: &Store) -> Result<BTreeMap<String, Vec<String>>> {
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

/// Whether volume `name` passes every `--filter` (docker's keys).
fn matches(root: &Path, name: &str, used: bool, filters: &[(String, String)]) -> Result<bool> {
    for (k, v) in filters {
        let (k, v) = (k.as_str(), v.as_str());
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
            _ => return Err(Error::invalid(format!("Invalid filter '{k}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// docker's object for volume `name`.
pub fn inspect(root: &Path, name: &str) -> Result<Volume> {
    if !exists(root, name) {
        return Err(no_such_volume(name));
    }
    let meta = read_meta(root, name);
    Ok(Volume {
        created_at: meta.created,
        driver: "local".into(),
        labels: (!meta.labels.is_empty()).then_some(meta.labels),
        mountpoint: Layout::new(root).volume_data(name).display().to_string(),
        name: name.to_owned(),
        options: None,
        scope: "local".into(),
        usage_data: None,
    })
}

/// docker's `VolumeCreateOptions`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// None: a random name, as docker's daemon gives.
    pub name: Option<String>,
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// Creates a volume (an existing one is returned as it is, as docker's).
pub fn create(root: &Path, opts: &CreateOptions) -> Result<Volume> {
    if !opts.driver.is_empty() && opts.driver != "local" {
        let d = &opts.driver;
        return Err(Error::not_found(format!("error looking up volume plugin {d}: plugin \"{d}\" not found")));
    }
    if !opts.driver_opts.is_empty() {
        // The local driver's options mount a filesystem (tmpfs, nfs, a
        // device) at each use; wharf does not do that yet, and a volume
        // silently without them would lose data where none was expected.
        return Err(Error::invalid("volume options (-o/--opt) are not supported by wharf's local driver"));
    }
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => crate::files::random_hex(32)?,
    };
    check_name(&name).map_err(Error::invalid)?;
    let existed = exists(root, &name);
    ensure(root, &name, None)?;
    if !existed {
        if !opts.labels.is_empty() {
            let mut meta = read_meta(root, &name);
            meta.labels = opts.labels.clone();
            write_meta(root, &name, &meta)?;
        }
        crate::events::emit(root, "volume", "create", &name, &[("driver", "local")]);
    }
    inspect(root, &name)
}

/// The volumes passing `filters` (docker's keys: dangling, name, driver,
/// label).
pub fn list(store: &Store, filters: &[(String, String)]) -> Result<Vec<Volume>> {
    let users = users(store)?;
    let mut out = Vec::new();
    for n in names(store.root()) {
        if matches(store.root(), &n, users.contains_key(&n), filters)? {
            out.push(inspect(store.root(), &n)?);
        }
    }
    Ok(out)
}

/// Removes a volume no container uses (even with `force`, as docker's:
/// `force` only makes a missing volume no error).
pub fn remove(store: &Store, name: &str, force: bool) -> Result<()> {
    if !exists(store.root(), name) {
        return if force { Ok(()) } else { Err(no_such_volume(name)) };
    }
    if let Some(ids) = users(store)?.get(name) {
        return Err(Error::conflict(format!("remove {name}: volume is in use - [{}]", ids.join(", "))));
    }
    image::layer::remove_tree(&Layout::new(store.root()).volume_dir(name))
        .map_err(|e| Error::internal(format!("remove {name}: {e}")))?;
    crate::events::emit(store.root(), "volume", "destroy", name, &[("driver", "local")]);
    Ok(())
}

/// docker's `VolumesPruneResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// Removes every volume no container uses that `filter` lets go.
pub fn prune(store: &Store, filter: &crate::time::PruneFilter) -> Result<PruneReport> {
    let users = users(store)?;
    let layout = Layout::new(store.root());
    let mut report = PruneReport::default();
    for name in names(store.root()) {
        let meta = read_meta(store.root(), &name);
        if users.contains_key(&name) || !filter.lets_go(&meta.labels, &meta.created) {
            continue;
        }
        report.space_reclaimed += crate::files::tree_size(&layout.volume_data(&name));
        image::layer::remove_tree(&layout.volume_dir(&name))
            .map_err(|e| Error::internal(format!("remove {name}: {e}")))?;
        report.volumes_deleted.push(name);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_local_drivers_rule() {
        assert!(check_name("data_1.v-2").is_ok());
        assert!(check_name("x").is_err() && check_name("-x").is_err() && check_name("a/b").is_err());
    }

    #[test]
    fn a_volume_in_use_is_never_removed_and_prune_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("opens");
        let root = dir.path().to_owned();
        let labels = BTreeMap::from([("tier".to_owned(), "db".to_owned())]);
        let made = create(&root, &CreateOptions { name: Some("db".into()), labels, ..CreateOptions::default() })
            .expect("creates");
        assert_eq!((made.name.as_str(), made.driver.as_str()), ("db", "local"));
        create(&root, &CreateOptions { name: Some("scratch".into()), ..CreateOptions::default() }).expect("creates");
        let config = br#"{"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let img = store.add_image(config, &[]).expect("an image");
        store.add_container("c1", "web", &img).expect("a container");
        let cfg = crate::container::ContainerConfig { volumes: vec!["db".into()], ..Default::default() };
        store.set_container_config("c1", &serde_json::to_string(&cfg).expect("json")).expect("config");
        let e = remove(&store, "db", true).expect_err("in use");
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert_eq!(e.message(), "remove db: volume is in use - [c1]");
        let dangling = list(&store, &[("dangling".into(), "true".into())]).expect("lists");
        assert_eq!(dangling.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["scratch"]);
        let by_label = list(&store, &[("label".into(), "tier=db".into())]).expect("lists");
        assert_eq!(by_label.len(), 1);
        assert_eq!(prune(&store, &Default::default()).expect("prunes").volumes_deleted, ["scratch"]);
        assert!(exists(&root, "db") && !exists(&root, "scratch"));
        assert_eq!(remove(&store, "scratch", false).expect_err("gone").kind(), crate::ErrorKind::NotFound);
        assert!(remove(&store, "scratch", true).is_ok(), "force: a missing volume is no error");
    }
}
