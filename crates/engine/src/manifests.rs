//! Manifest lists (`manifest create/add/annotate/inspect/push/rm`, docker's
//! and podman's commands): a local list of images, one per platform,
//! local (podman's way) or in a registry (docker's), pushed as an OCI
//! index. Builds and runs that name a list take its entry for their
//! platform ([`resolve`]).

use std::path::Path;

use image::{Digest, Reference};
use serde_json::{json, Value};
use store::{ListEntry, ManifestList, Store};

use crate::{Error, Result};

const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `--os`, `--arch`, `--variant`, ... of `manifest add` and `annotate`:
/// what to set on an entry over what its image says.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    pub os_version: Option<String>,
    pub os_features: Vec<String>,
    pub annotations: Vec<String>,
}

/// A list's stored name: the reference's full text.
fn list_name(name: &str) -> Result<String> {
    Ok(Reference::parse(name).map_err(|e| Error::invalid(format!("{name}: {e}")))?.to_string())
}

fn no_such_list(name: &str) -> Error {
    Error::not_found(format!("No such manifest: {name}"))
}

/// `manifest create LIST [IMAGE...]`: a new list (or, with `amend`, the
/// existing one) with an entry per image; returns the list's name.
pub fn create(root: &Path, list: &str, images: &[String], amend: bool, opts: &registry::Options) -> Result<String> {
    let name = list_name(list)?;
    let mut store = Store::open(root)?;
    let existing = store.manifest_list(&name)?;
    if existing.is_some() && !amend {
        return Err(Error::conflict(format!(
            "refusing to amend an existing manifest list with no --amend flag: {name}"
        )));
    }
    let mut l =
        existing.unwrap_or_else(|| ManifestList { name: name.clone(), created: store::now_rfc3339(), entries: vec![] });
    for i in images {
        let e = entry(&store, i, opts)?;
        replace_entry(&mut l.entries, e);
    }
    store.put_manifest_list(&l)?;
    Ok(name)
}

/// `manifest add LIST IMAGE` (podman's): adds or replaces the image's
/// entry, with `platform` over what the image says.
pub fn add(root: &Path, list: &str, image: &str, platform: &Platform, opts: &registry::Options) -> Result<()> {
    let name = list_name(list)?;
    let mut store = Store::open(root)?;
    let mut l = store.manifest_list(&name)?.ok_or_else(|| no_such_list(&name))?;
    let mut e = entry(&store, image, opts)?;
    apply(&mut e, platform)?;
    replace_entry(&mut l.entries, e);
    store.put_manifest_list(&l)?;
    Ok(())
}

/// `manifest annotate LIST IMAGE --arch ...`: changes the image's entry.
pub fn annotate(root: &Path, list: &str, image: &str, platform: &Platform) -> Result<()> {
    let name = list_name(list)?;
    let mut store = Store::open(root)?;
    let mut l = store.manifest_list(&name)?.ok_or_else(|| no_such_list(&name))?;
    let want = list_name(image)?;
    let local = store.resolve(image).ok().map(|d| d.to_string());
    let e = l
        .entries
        .iter_mut()
        .find(|e| list_name(&e.source).ok() == Some(want.clone()) || (local.is_some() && e.image == local))
        .ok_or_else(|| Error::not_found(format!("manifest for image {image} does not exist in {name}")))?;
    apply(e, platform)?;
    store.put_manifest_list(&l)?;
    Ok(())
}

/// `manifest rm LIST...`: every list named is removed, the missing ones
/// reported together.
pub fn remove(root: &Path, lists: &[String]) -> Result<()> {
    let mut store = Store::open(root)?;
    let mut missing = Vec::new();
    for l in lists {
        let name = list_name(l)?;
        if !store.remove_manifest_list(&name)? {
            missing.push(name);
        }
    }
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(no_such_list(one)),
        many => Err(Error::not_found(format!("No such manifests: {}", many.join(", ")))),
    }
}

/// `manifest inspect NAME`: a local list as the index it would push
/// (docker's manifest list shape), else the manifest in its registry.
pub fn inspect(root: &Path, name: &str, opts: &registry::Options) -> Result<Value> {
    let full = list_name(name)?;
    let mut store = Store::open(root)?;
    if let Some(l) = store.manifest_list(&full)? {
        let mut manifests = Vec::new();
        for e in &l.entries {
            let (digest, size, media_type) = match (&e.digest, &e.image) {
                (Some(d), _) => (d.clone(), e.size, e.media_type.clone()),
                (None, Some(id)) => {
                    let (bytes, digest) = local_manifest(&mut store, id)?;
                    (digest.to_string(), bytes.len() as u64, OCI_MANIFEST.to_owned())
                }
                (None, None) => continue,
            };
            manifests
                .push(json!({"mediaType": media_type, "size": size, "digest": digest, "platform": platform_json(e)}));
        }
        return Ok(json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": manifests}));
    }
    let r = Reference::parse(name).map_err(|e| Error::invalid(e.to_string()))?;
    let m = registry::cache::remote_manifest(&r, opts).map_err(|e| match e {
        registry::RegistryError::NotFound(_) => Error::not_found(format!("no such manifest: {full}")),
        other => other.into(),
    })?;
    Ok(m.json)
}

fn platform_json(e: &ListEntry) -> Value {
    let mut p = json!({"architecture": e.architecture, "os": e.os});
    if !e.variant.is_empty() {
        p["variant"] = json!(e.variant);
    }
    if !e.os_version.is_empty() {
        p["os.version"] = json!(e.os_version);
    }
    if !e.os_features.is_empty() {
        p["os.features"] = json!(e.os_features);
    }
    p
}

/// `manifest push LIST [DEST]`: each local image pushed by digest to
/// DEST's repository, then the index under DEST's tag; returns the
/// index's digest. With `purge`, the local list goes afterwards.
pub fn push(root: &Path, list: &str, dest: Option<&str>, purge: bool, opts: &registry::Options) -> Result<Digest> {
    let name = list_name(list)?;
    let l = Store::open(root)?.manifest_list(&name)?.ok_or_else(|| no_such_list(&name))?;
    let dest = Reference::parse(dest.unwrap_or(&name)).map_err(|e| Error::invalid(e.to_string()))?;
    if l.entries.is_empty() {
        return Err(Error::invalid(format!("{name} has no images to push")));
    }
    let quiet = |_: registry::Event| {};
    let mut entries = Vec::new();
    for e in &l.entries {
        // An entry the destination repository already holds is not pushed
        // again (a pulled index pushed back).
        let in_dest = Reference::parse(&e.source).is_ok_and(|s| s.repository() == dest.repository());
        let (digest, size, media_type) = match &e.image {
            Some(_) if in_dest && e.digest.is_some() => {
                let d = e.digest.as_deref().unwrap_or_default();
                (
                    d.parse().map_err(|_| Error::internal(format!("bad digest {d}")))?,
                    e.size as usize,
                    e.media_type.clone(),
                )
            }
            Some(id) => {
                let id: Digest = id.parse().map_err(|_| Error::internal(format!("bad image ID {id}")))?;
                let pushed = registry::push_image(root, &id, &dest, true, store::Codec::Gzip, opts, &quiet)
                    .map_err(|err| Error::from(err).context(format!("pushing {}", e.source)))?;
                (pushed.digest, pushed.size, String::new())
            }
            None => {
                let d = e.digest.as_deref().unwrap_or_default();
                let src = Reference::parse(&e.source).map_err(|e| Error::invalid(e.to_string()))?;
                if src.repository() != dest.repository() {
                    return Err(Error::invalid(format!(
                        "{}: an image of another repository (push it to {} first, or add it from there)",
                        e.source,
                        dest.repository()
                    )));
                }
                (
                    d.parse().map_err(|_| Error::internal(format!("bad digest {d}")))?,
                    e.size as usize,
                    e.media_type.clone(),
                )
            }
        };
        entries.push(registry::IndexEntry {
            digest,
            size,
            media_type,
            os: e.os.clone(),
            architecture: e.architecture.clone(),
            variant: e.variant.clone(),
            os_version: e.os_version.clone(),
            os_features: e.os_features.clone(),
            annotations: e.annotations.clone(),
        });
    }
    let pushed = registry::push_index(&dest, &entries, opts)?;
    if purge {
        Store::open(root)?.remove_manifest_list(&name)?;
    }
    Ok(pushed.digest)
}

/// The entry of `image`: a local image (by name or ID), else the manifest
/// its registry has.
fn entry(store: &Store, image: &str, opts: &registry::Options) -> Result<ListEntry> {
    if let Ok(id) = store.resolve(image) {
        let cfg: Value = serde_json::from_slice(&store.config_bytes(&id)?)?;
        let field = |k: &str| cfg[k].as_str().unwrap_or_default().to_owned();
        return Ok(ListEntry {
            source: image.to_owned(),
            image: Some(id.to_string()),
            os: field("os"),
            architecture: field("architecture"),
            variant: field("variant"),
            ..ListEntry::default()
        });
    }
    let r = Reference::parse(image).map_err(|e| Error::invalid(format!("{image}: {e}")))?;
    let m = registry::cache::remote_manifest(&r, opts).map_err(|e| match e {
        registry::RegistryError::NotFound(_) => Error::not_found(format!("no such manifest: {r}")),
        other => other.into(),
    })?;
    let Some(cfg) = m.config else {
        return Err(Error::invalid(format!("{} is a manifest list", r)));
    };
    let cfg: Value = serde_json::from_slice(&cfg).map_err(|e| Error::invalid(format!("{r}: image config: {e}")))?;
    let field = |k: &str| cfg[k].as_str().unwrap_or_default().to_owned();
    Ok(ListEntry {
        source: r.to_string(),
        image: None,
        digest: Some(m.digest.to_string()),
        size: m.bytes.len() as u64,
        media_type: m.media_type,
        os: field("os"),
        architecture: field("architecture"),
        variant: field("variant"),
        ..ListEntry::default()
    })
}

/// An entry for the same platform (or the same image) is replaced.
fn replace_entry(entries: &mut Vec<ListEntry>, e: ListEntry) {
    entries.retain(|o| {
        let same_image = o.image.is_some() && o.image == e.image || o.digest.is_some() && o.digest == e.digest;
        let same_platform = o.os == e.os && o.architecture == e.architecture && o.variant == e.variant;
        !(same_image || same_platform)
    });
    entries.push(e);
}

fn apply(e: &mut ListEntry, p: &Platform) -> Result<()> {
    if let Some(os) = &p.os {
        e.os = os.clone();
    }
    if let Some(a) = &p.arch {
        e.architecture = builder::config::parse_platform(&format!("linux/{a}")).map_err(Error::invalid)?.arch;
    }
    if let Some(v) = &p.variant {
        e.variant = v.clone();
    }
    if let Some(v) = &p.os_version {
        e.os_version = v.clone();
    }
    if !p.os_features.is_empty() {
        e.os_features = p.os_features.clone();
    }
    for a in &p.annotations {
        let (k, v) = a.split_once('=').ok_or_else(|| Error::invalid(format!("no value given for annotation {a:?}")))?;
        e.annotations.insert(k.to_owned(), v.to_owned());
    }
    Ok(())
}

/// The OCI manifest a push of local image `id` makes (its layers
/// compressed now if no blob is kept): its bytes and digest.
fn local_manifest(store: &mut Store, id: &str) -> Result<(Vec<u8>, Digest)> {
    let id: Digest = id.parse().map_err(|_| Error::internal(format!("bad image ID {id}")))?;
    let config = store.config_bytes(&id)?;
    let mut layers = Vec::new();
    for l in store.image_layers(&id)? {
        let (blob, size) = store.compressed_layer(&l.chain_id, &l.diff_id, store::Codec::Gzip)?;
        layers.push((blob, size, store::Codec::Gzip.media_type()));
    }
    let bytes = registry::image_manifest(&id, config.len(), &layers);
    let digest = Digest::of(&bytes);
    Ok((bytes, digest))
}

/// The image `name` stands for on `platform` (`os/arch[/variant]`): a
/// tag's image, or a local manifest list's entry for the platform (its
/// local image). None when neither is here.
pub fn resolve(store: &Store, name: &str, platform: &str) -> Result<Option<Digest>> {
    let tagged = store.resolve(name).ok();
    // The common case (a container start): a tag, for the host, which is
    // what a multi-platform name's tag names too; no list to look up.
    if tagged.is_some() && platform == builder::host_platform().spec() {
        return Ok(tagged);
    }
    let list = match list_name(name) {
        Ok(full) => store.manifest_list(&full)?,
        Err(_) => None,
    };
    let Some(l) = list else { return Ok(tagged) };
    // A multi-platform name: the tag has the host's image, the list the
    // platform's.
    let p = builder::config::parse_platform(platform).map_err(Error::invalid)?;
    match l.image_for(&p.os, &p.arch, &p.variant) {
        Some(id) => Ok(Some(id.parse().map_err(|_| Error::internal(format!("bad image ID {id}")))?)),
        None => Ok(tagged),
    }
}
