//! Image operations that need neither a registry nor the builder: remove
//! (docker's rmi rules), tag, import, history, inspect, prune. Results in
//! the Engine API's shapes; nothing printed.

use std::io::Read;

use image::{Digest, Reference};
use serde::Serialize;
use serde_json::{json, Value};
use store::{ContainerState, Store};

use crate::{Error, Result};

/// The first 12 hex digits of an ID, as docker shows it.
pub fn short_id(id: &Digest) -> String {
    id.hex()[..12].to_owned()
}

/// docker's `ImageDeleteResponseItem`: one name removed, or the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

fn parse_ref(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(|e| Error::invalid(format!("{e}: {s}")))
}

/// Removes an image by docker's rules (the caller holds the store's
/// exclusive lock, and collects garbage after):
/// - a name untags; the image goes with its last name;
/// - an ID deletes, refusing without `force` if several repositories
///   name it;
/// - an image a running container uses is never deleted; one a stopped
///   container uses only with `force`, which untags it and keeps its
///   layers while the container needs them (docker deletes the record;
///   here the container's rootfs stands on the image's snapshots).
pub fn remove(store: &mut Store, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
    let id = store.resolve(name)?;
    let rec = store.image(&id)?;
    let by_name = Reference::parse(name).ok().filter(|r| rec.tags.contains(r) || rec.digests.contains(r));
    if let Some(r) = &by_name {
        // The name's manifest list (a multi-platform image) goes with it.
        store.remove_manifest_list(&r.to_string())?;
        if rec.tags.len() + rec.digests.len() > 1 && r.digest().is_none() {
            store.untag(r)?;
            crate::events::image(store.root(), "untag", &id.to_string(), &r.familiar());
            return Ok(vec![DeleteItem::Untagged(r.familiar())]);
        }
    } else if rec.tags.len() > 1 && !force {
        return Err(Error::conflict(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&id)
        )));
    }
    let users = store.containers_using(&id)?;
    if let Some((cid, state)) = users.iter().find(|(_, s)| *s == ContainerState::Running).or(users.first()) {
        if !force || *state == ContainerState::Running {
            let what = if *state == ContainerState::Running { "running" } else { "stopped" };
            return Err(Error::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by {what} container {}",
                short_id(&id),
                &cid[..12.min(cid.len())]
            )));
        }
    }
    let mut items = Vec::new();
    for r in rec.tags.iter().chain(rec.digests.iter()) {
        store.untag(r)?;
        items.push(DeleteItem::Untagged(r.familiar()));
        crate::events::image(store.root(), "untag", &id.to_string(), &r.familiar());
    }
    // An image a manifest list names stays (untagged) while it does: the
    // list is pushed from it.
    let listed = store.manifest_lists()?.iter().any(|l| l.entries.iter().any(|e| e.image == Some(id.to_string())));
    if users.is_empty() && !listed {
        store.delete_image(&id)?;
        crate::events::image(store.root(), "delete", &id.to_string(), &id.to_string());
        items.push(DeleteItem::Deleted(id.to_string()));
    }
    Ok(items)
}

/// Points `target` at the image `source` names.
/// `rmi NAME...`: each name removed by [`remove`]'s rules under the
/// store's exclusive lock, then what nothing uses collected; each name's
/// outcome, in order.
pub fn remove_all(store: &mut Store, names: &[String], force: bool) -> Result<Vec<Result<Vec<DeleteItem>>>> {
    let (lock, _) = crate::system::exclusive_lock(store)?;
    let outcomes = names.iter().map(|n| remove(store, n, force)).collect();
    store.gc(&lock)?;
    Ok(outcomes)
}

pub fn tag(store: &mut Store, source: &str, target: &str) -> Result<()> {
    let id = store.resolve(source)?;
    let target = parse_ref(target)?;
    store.tag(&id, &target)?;
    crate::events::image(store.root(), "tag", &id.to_string(), &target.familiar());
    Ok(())
}

/// What `import` makes an image with (docker's `POST /images/create`
/// with `fromSrc`).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to name it.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to its config (`--change`).
    pub changes: Vec<String>,
    /// Its history comment (default `Imported from SOURCE`).
    pub message: Option<String>,
    /// Where the tarball came from, for that comment (`-`, a path).
    pub source: String,
    pub platform: Option<String>,
}

/// An image of one layer from a rootfs tarball (plain, gzip or zstd).
pub fn import(store: &mut Store, tarball: impl Read, opts: &ImportOptions) -> Result<Digest> {
    let platform = opts.platform.as_deref().map(builder::config::parse_platform).transpose().map_err(Error::invalid)?;
    let target = opts.reference.as_deref().map(parse_ref).transpose()?;
    let mut cfg = builder::config::ImageConfig::new_imported(opts.message.as_deref(), &opts.source);
    if let Some(p) = platform {
        cfg.set_platform(&p);
    }
    for c in &opts.changes {
        cfg.apply_change(c).map_err(|e| Error::invalid(format!("--change {c:?}: {e}")))?;
    }
    let _lock = store.lock(false)?;
    let layer = store.import_layer(tarball, None)?;
    cfg.set_layers(std::slice::from_ref(&layer.diff_id));
    let id = store.add_image(&cfg.to_bytes(), &[layer])?;
    if let Some(t) = &target {
        store.tag(&id, t)?;
    }
    let name = target.as_ref().map(Reference::familiar).unwrap_or_default();
    crate::events::image(store.root(), "import", &id.to_string(), &name);
    Ok(id)
}

/// docker's `HistoryResponseItem`, newest first. `Id` is the image's for
/// its top entry and `<missing>` for the others (layers have no image of
/// their own); `Created` is kept as the config's RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

pub fn history(store: &Store, name: &str) -> Result<Vec<HistoryItem>> {
    let id = store.resolve(name)?;
    let cfg: Value = serde_json::from_slice(&store.config_bytes(&id)?)?;
    let rec = store.image(&id)?;
    let hist = cfg.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    // Layer sizes, in order, for the entries that made a layer.
    let mut sizes = rec.chain.iter().map(|c| store.snapshot_size(c).unwrap_or(0));
    let text = |h: &Value, k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let n = hist.len();
    let mut items = Vec::new();
    for (i, h) in hist.iter().enumerate() {
        let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
        items.push(HistoryItem {
            id: if i + 1 == n { id.to_string() } else { "<missing>".into() },
            created: text(h, "created"),
            created_by: text(h, "created_by"),
            size: if empty { 0 } else { sizes.next().unwrap_or(0) },
            comment: text(h, "comment"),
        });
    }
    items.reverse();
    Ok(items)
}

/// docker's `image inspect` object.
pub fn inspect(store: &Store, id: &Digest) -> Result<Value> {
    let rec = store.image(id)?;
    let cfg: Value = serde_json::from_slice(&store.config_bytes(id)?)?;
    let layers: Vec<String> = store.diff_ids(id)?.iter().map(ToString::to_string).collect();
    let last_layer = rec.chain.last().map(|c| store.snapshot_dir(c).display().to_string()).unwrap_or_default();
    Ok(json!({
        "Id": id.to_string(),
        "RepoTags": rec.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": rec.digests.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": cfg.get("comment").or_else(|| cfg.pointer("/history/0/comment")).cloned().unwrap_or(json!("")),
        "Created": cfg.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": "",
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Config": builder::config::docker_config(cfg.get("config")),
        "Architecture": cfg.get("architecture").cloned().unwrap_or(json!("")),
        "Variant": cfg.get("variant").cloned(),
        "Os": cfg.get("os").cloned().unwrap_or(json!("")),
        "Size": rec.size,
        "GraphDriver": {"Data": {"UpperDir": last_layer}, "Name": "wharf-overlay"},
        "RootFS": {"Type": "layers", "Layers": layers},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}

/// docker's `ImagesPruneResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    pub images_deleted: Vec<DeleteItem>,
    pub space_reclaimed: u64,
}

/// Removes the images no container uses: dangling ones, or all with
/// `all`; only those created before `until` when given. The caller holds
/// the exclusive lock.
pub fn prune(
    store: &mut Store,
    lock: &store::Lock,
    all: bool,
    filter: &crate::time::PruneFilter,
) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    // A manifest list's images stay while the list names them.
    let listed: std::collections::BTreeSet<String> =
        store.manifest_lists()?.into_iter().flat_map(|l| l.entries).filter_map(|e| e.image).collect();
    for img in store.images()? {
        if !all && !img.tags.is_empty() || listed.contains(&img.id.to_string()) {
            continue;
        }
        if !filter.lets_go(&image_labels(store, &img.id), &img.created) {
            continue;
        }
        if !store.containers_using(&img.id)?.is_empty() {
            continue;
        }
        for t in &img.tags {
            report.images_deleted.push(DeleteItem::Untagged(t.familiar()));
        }
        store.delete_image(&img.id)?;
        report.images_deleted.push(DeleteItem::Deleted(img.id.to_string()));
    }
    report.space_reclaimed = store.gc(lock)?.bytes;
    Ok(report)
}

/// The labels in an image's config (`config.Labels`).
fn image_labels(store: &Store, id: &Digest) -> std::collections::BTreeMap<String, String> {
    let config: Value = store.config_bytes(id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    serde_json::from_value(config["config"]["Labels"].clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with an image of no layers, named by `tags`.
    fn image(store: &mut Store, n: u32, tags: &[&str]) -> Digest {
        let config = json!({"created": format!("2024-01-0{n}T00:00:00Z"), "config": {}, "rootfs": {"type": "layers", "diff_ids": []}});
        let id = store.add_image(config.to_string().as_bytes(), &[]).expect("adds");
        for t in tags {
            store.tag(&id, &Reference::parse(t).expect("a reference")).expect("tags");
        }
        id
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        (dir, store)
    }

    #[test]
    fn a_name_untags_and_the_last_name_deletes() {
        let (_d, mut s) = store();
        let id = image(&mut s, 1, &["a:1", "b:1"]);
        assert_eq!(remove(&mut s, "a:1", false), Ok(vec![DeleteItem::Untagged("a:1".into())]));
        let gone = remove(&mut s, "b:1", false).expect("removes");
        assert_eq!(gone, vec![DeleteItem::Untagged("b:1".into()), DeleteItem::Deleted(id.to_string())]);
        assert!(s.image(&id).is_err());
    }

    #[test]
    fn an_id_named_by_several_repositories_needs_force() {
        let (_d, mut s) = store();
        let id = image(&mut s, 1, &["a:1", "b:1"]);
        let e = remove(&mut s, &short_id(&id), false).expect_err("refused");
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert!(e.message().contains("referenced in multiple repositories"), "{e}");
        let items = remove(&mut s, &short_id(&id), true).expect("forced");
        assert_eq!(items.len(), 3);
        assert_eq!(items.last(), Some(&DeleteItem::Deleted(id.to_string())));
    }

    #[test]
    fn a_running_containers_image_stays_and_a_stopped_ones_only_untags_with_force() {
        let (_d, mut s) = store();
        let id = image(&mut s, 1, &["busy:1"]);
        s.add_container("c1", "web", &id).expect("a container");
        let e = remove(&mut s, "busy:1", false).expect_err("refused");
        assert!(e.message().ends_with("image is being used by stopped container c1"), "{e}");
        s.set_container_running("c1", 1, 1).expect("runs");
        let e = remove(&mut s, "busy:1", true).expect_err("refused even with force");
        assert!(e.message().contains("being used by running container c1"), "{e}");
        s.set_container_exited("c1", 0, false).expect("exits");
        assert_eq!(remove(&mut s, "busy:1", true), Ok(vec![DeleteItem::Untagged("busy:1".into())]));
        assert!(s.image(&id).is_ok(), "the container's image stays (dangling)");
    }

    #[test]
    fn prune_takes_unused_dangling_images_or_all_unused_ones() {
        let (_d, mut s) = store();
        let dangling = image(&mut s, 1, &[]);
        let tagged = image(&mut s, 2, &["keep:1"]);
        let used = image(&mut s, 3, &[]);
        s.add_container("c1", "web", &used).expect("a container");
        let lock = s.lock(true).expect("locks");
        let none = crate::time::PruneFilter::default();
        let r = prune(&mut s, &lock, false, &none).expect("prunes");
        assert_eq!(r.images_deleted, vec![DeleteItem::Deleted(dangling.to_string())]);
        assert!(s.image(&tagged).is_ok() && s.image(&used).is_ok());
        let until = crate::time::PruneFilter::parse(&["until=2024-01-01T12:00:00Z".into()]).expect("a filter");
        let r = prune(&mut s, &lock, true, &until).expect("prunes");
        assert!(r.images_deleted.is_empty(), "keep:1 is newer than until");
        let labelled = crate::time::PruneFilter::parse(&["label=team".into()]).expect("a filter");
        let r = prune(&mut s, &lock, true, &labelled).expect("prunes");
        assert!(r.images_deleted.is_empty(), "keep:1 has no label team");
        let r = prune(&mut s, &lock, true, &none).expect("prunes");
        assert_eq!(
            r.images_deleted,
            vec![DeleteItem::Untagged("keep:1".into()), DeleteItem::Deleted(tagged.to_string())]
        );
    }
}
