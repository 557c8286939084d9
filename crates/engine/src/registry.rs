//! What the engine decides around a registry transfer (the transfer
//! itself is the `registry` crate's): the options from wharf's daemon
//! configuration, docker's `--pull` policy, the images a push sends.

use std::path::Path;

use image::Reference;
use registry::{Options, Platform, Pulled, Pushed};
use serde_json::Value;
use store::Store;

use crate::{Error, Result};

/// Registry options: TLS verification as asked (`--tls-verify`), and the
/// insecure registries from `/etc/wharf/daemon.json` (the user's
/// `~/.config/wharf/daemon.json` when rootless; docker's
/// `insecure-registries` key; `WHARF_DAEMON_JSON` names another file) and
/// `WHARF_INSECURE_REGISTRIES`.
pub fn options(tls_verify: Option<bool>) -> Options {
    let mut insecure: Vec<String> = std::env::var("WHARF_INSECURE_REGISTRIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let daemon = std::env::var_os("WHARF_DAEMON_JSON")
        .unwrap_or_else(|| paths::config_dir().join("daemon.json").into_os_string());
    if let Ok(bytes) = std::fs::read(daemon) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let listed = v.get("insecure-registries").and_then(Value::as_array).cloned().unwrap_or_default();
            insecure.extend(listed.iter().filter_map(|s| s.as_str().map(str::to_owned)));
        }
    }
    Options { tls_verify, insecure_registries: insecure, max_concurrent: None, credentials: Vec::new() }
}

/// docker's `--pull=always|missing|never` for an image `run`, `create`
/// or `FROM` needs: the local image when the policy takes it, None when
/// it must be pulled, or the refusal.
pub fn local_image(
    store: &Store,
    name: &str,
    policy: &str,
    platform: Option<&Platform>,
) -> Result<Option<image::Digest>> {
    // With --platform, a local image of another platform does not count.
    // A local manifest list stands for its entry of the platform.
    let spec = platform.map_or_else(|| builder::host_platform().spec(), |p| p.to_string());
    let found = crate::manifests::resolve(store, name, &spec)?;
    let local = found.clone().filter(|id| platform.is_none_or(|p| is_of(store, id, p)));
    match (policy, local) {
        ("never", Some(id)) | ("missing", Some(id)) => Ok(Some(id)),
        ("never", None) => match (found, platform) {
            (Some(id), Some(p)) => Err(Error::not_found(format!(
                "image with reference {name} was found but does not match the specified platform: wanted {}/{}, actual: {}",
                p.os,
                p.arch,
                platform_of(store, &id)
            ))),
            _ => Err(Error::not_found(format!("No such image: {name}"))),
        },
        ("always" | "missing", _) => Ok(None),
        (other, _) => Err(Error::invalid(format!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ))),
    }
}

/// Whether image `id` is of `platform` (by its config's os/architecture).
fn is_of(store: &Store, id: &image::Digest, platform: &Platform) -> bool {
    platform_of(store, id) == format!("{}/{}", platform.os, platform.arch)
}

/// `os/architecture` of image `id`, from its config.
fn platform_of(store: &Store, id: &image::Digest) -> String {
    let cfg =
        store.config_bytes(id).map(|b| serde_json::from_slice::<Value>(&b).unwrap_or_default()).unwrap_or_default();
    let field = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    format!("{}/{}", field("os"), field("architecture"))
}

/// The references a push of `name` sends: it, or with `all_tags` every
/// local tag of its repository; each must name a local image.
pub fn push_targets(store: &Store, name: &str, all_tags: bool) -> Result<Vec<Reference>> {
    let named = Reference::parse_named(name)?;
    let targets: Vec<Reference> = if all_tags {
        let mut tags: Vec<Reference> =
            store.images()?.into_iter().flat_map(|i| i.tags).filter(|t| t.repository() == named.repository()).collect();
        tags.sort();
        tags
    } else {
        vec![Reference::parse(name)?]
    };
    let missing = |what: String| Error::not_found(format!("An image does not exist locally with the tag: {what}"));
    if targets.is_empty() {
        return Err(missing(named.familiar_repository()));
    }
    for t in &targets {
        store.resolve(&t.to_string()).map_err(|_| missing(t.familiar()))?;
    }
    Ok(targets)
}

/// Pulls `r` for `platform` into the store at `root` and records docker's
/// pull event (which names the image by reference).
pub fn pull(
    root: &Path,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    progress: &dyn registry::Progress,
) -> Result<Pulled> {
    let pulled = registry::pull(root, r, platform, opts, progress)?;
    if let (Some((index, chosen)), Some(_)) = (&pulled.index, r.tag()) {
        Store::open(root)?.put_manifest_list(&pulled_list(r, index, chosen, &pulled.id))?;
    }
    crate::events::image(root, "pull", &r.familiar(), &r.familiar());
    Ok(pulled)
}

/// The index a tag named, kept as a local manifest list of the same name:
/// the platform pulled is its local image, the others stay in the
/// registry (so that pushing the name back pushes the index whole).
fn pulled_list(r: &Reference, index: &Value, chosen: &image::Digest, id: &image::Digest) -> store::ManifestList {
    let entries = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["platform"]["os"].as_str().is_some_and(|os| os != "unknown"))
        .map(|m| {
            let field = |k: &str| m["platform"][k].as_str().unwrap_or_default().to_owned();
            let digest = m["digest"].as_str().unwrap_or_default().to_owned();
            store::ListEntry {
                source: r.to_string(),
                image: (digest == chosen.to_string()).then(|| id.to_string()),
                digest: Some(digest),
                size: m["size"].as_u64().unwrap_or(0),
                media_type: m["mediaType"].as_str().unwrap_or_default().to_owned(),
                os: field("os"),
                architecture: field("architecture"),
                variant: field("variant"),
                ..store::ListEntry::default()
            }
        })
        .collect();
    store::ManifestList { name: r.to_string(), created: store::now_rfc3339(), entries }
}

/// Pushes the local image `r` names, layers compressed with `codec` where
/// they are not yet, and records docker's push event.
pub fn push(
    root: &Path,
    r: &Reference,
    codec: store::Codec,
    opts: &Options,
    progress: &dyn registry::Progress,
) -> Result<Pushed> {
    let pushed = registry::push(root, r, codec, opts, progress)?;
    crate::events::image(root, "push", &r.familiar(), &r.familiar());
    Ok(pushed)
}

/// Pulls `name` quietly for the host's platform: a build's FROM of an
/// image the store lacks (or of every base, with `--pull`).
pub fn pull_quietly(root: &Path, name: &str, platform: &str, opts: &Options) -> Result<image::Digest> {
    let r = Reference::parse(name).map_err(|e| Error::invalid(format!("{name}: {e}")))?;
    let platform = Platform::parse(platform).map_err(|e| Error::invalid(e.to_string()))?;
    Ok(pull(root, &r, &platform, opts, &|_: registry::Event| {})?.id)
}
