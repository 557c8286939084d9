//! Build cache export and import (`build --cache-to` / `--cache-from`):
//! `type=local` (an OCI image layout directory) and `type=registry` (any
//! OCI registry). Either way the cache is one OCI artifact: an image
//! manifest of artifactType [`ARTIFACT_TYPE`] whose config
//! ([`CONFIG_TYPE`]) holds the step records (cache key → layer chain) and
//! the layer blobs they need, and whose layers are those blobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use builder::{CacheExport, CacheImport, CacheRecord};
use image::{Digest, Reference};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Codec, LayerInfo, Store};

use crate::error::ResultExt;
use crate::{Error, Result};

/// The key of an image config under which `--cache-to type=inline` puts
/// the records (BuildKit's is `moby.buildkit.cache.v0`).
pub const INLINE_KEY: &str = builder::cache::INLINE_KEY;

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.wharf.buildcache.v1";
/// The media type of the records (the manifest's config).
pub const CONFIG_TYPE: &str = "application/vnd.wharf.buildcache.config.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Where a cache goes or comes from (`type=...,` options as BuildKit's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSpec {
    /// `type=local,dest=DIR` / `type=local,src=DIR`.
    Local(PathBuf),
    /// `type=registry,ref=REF` (or a bare `REF` in `--cache-from`).
    Registry(Reference),
    /// `type=inline` (`--cache-to` only): the records go into the image's
    /// own config; pushing the image shares them, and `--cache-from` of it
    /// reads them back.
    Inline,
}

/// `mode=min` (the target stage's steps) or `mode=max` (every stage's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    Min,
    Max,
}

/// Parses a `--cache-to` / `--cache-from` value.
pub fn parse_spec(spec: &str, exporting: bool) -> Result<(CacheSpec, CacheMode)> {
    let bad = |why: &str| Error::invalid(format!("invalid cache {} \"{spec}\": {why}", dir(exporting)));
    if !spec.contains('=') {
        let r = Reference::parse(spec).map_err(|e| bad(&e.to_string()))?;
        return Ok((CacheSpec::Registry(r), CacheMode::Min));
    }
    let mut fields = BTreeMap::new();
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| bad(&format!("{part:?} is not KEY=VALUE")))?;
        fields.insert(k.trim(), v.trim());
    }
    let mode = match fields.get("mode").copied() {
        None | Some("min") => CacheMode::Min,
        Some("max") => CacheMode::Max,
        Some(m) => return Err(bad(&format!("unknown mode {m:?} (min or max)"))),
    };
    let path_key = if exporting { "dest" } else { "src" };
    let spec = match fields.get("type").copied() {
        Some("local") => {
            let p = fields.get(path_key).ok_or_else(|| bad(&format!("type=local needs {path_key}=DIR")))?;
            CacheSpec::Local(PathBuf::from(p))
        }
        Some("registry") => {
            let r = fields.get("ref").ok_or_else(|| bad("type=registry needs ref=REF"))?;
            CacheSpec::Registry(Reference::parse(r).map_err(|e| bad(&e.to_string()))?)
        }
        Some("inline") if exporting => CacheSpec::Inline,
        Some(t) => return Err(bad(&format!("unsupported cache type {t:?} (local, registry or inline)"))),
        None => return Err(bad("no type= given")),
    };
    Ok((spec, mode))
}

fn dir(exporting: bool) -> &'static str {
    if exporting {
        "export"
    } else {
        "import"
    }
}

/// The artifact's config: the records and their layers' blobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CacheConfig {
    records: Vec<CacheRecord>,
    /// diffID → its blob.
    layers: BTreeMap<Digest, BlobRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlobRef {
    digest: Digest,
    #[serde(rename = "mediaType")]
    media_type: String,
    size: u64,
}

/// Every layer the records name, each with its chain (the first record
/// naming a diffID gives its place).
fn layers_of(records: &[CacheRecord]) -> Vec<LayerInfo> {
    let mut seen = BTreeMap::new();
    for r in records {
        for i in 0..r.diff_ids.len() {
            let diff = &r.diff_ids[i];
            if !seen.contains_key(diff) {
                let chain = Digest::chain_id(&r.diff_ids[..=i]).unwrap_or_else(|| diff.clone());
                let size = if i + 1 == r.diff_ids.len() { r.size } else { 0 };
                seen.insert(diff.clone(), (seen.len(), LayerInfo { diff_id: diff.clone(), chain_id: chain, size }));
            }
        }
    }
    let mut out: Vec<_> = seen.into_values().collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, l)| l).collect()
}

/// Exports what `cache` holds for `mode` to `spec`.
pub fn export(root: &Path, spec: &CacheSpec, mode: CacheMode, cache: &CacheExport) -> Result<()> {
    let records = match mode {
        CacheMode::Min => cache.min.clone(),
        CacheMode::Max => cache.max.clone(),
    };
    match spec {
        CacheSpec::Local(dir) => export_local(root, dir, records),
        CacheSpec::Registry(r) => export_registry(root, r, records),
        // Written into the image by the builder (BuildOptions::inline_cache).
        CacheSpec::Inline => Ok(()),
    }
}

fn export_local(root: &Path, dir: &Path, records: Vec<CacheRecord>) -> Result<()> {
    let mut store = Store::open(root)?;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_ctx(|| format!("making {}", blobs.display()))?;
    let mut config = CacheConfig { records, layers: BTreeMap::new() };
    let mut descriptors = Vec::new();
    for l in layers_of(&config.records) {
        let (digest, size) = store.compressed_layer(&l.chain_id, &l.diff_id, Codec::Gzip)?;
        let path = blobs.join(digest.hex());
        if !path.exists() {
            copy_blob(&store, &digest, &path)?;
        }
        let media_type = Codec::Gzip.media_type().to_owned();
        descriptors.push(json!({"mediaType": media_type, "digest": digest.to_string(), "size": size}));
        config.layers.insert(l.diff_id, BlobRef { digest, media_type, size });
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = manifest(&config_bytes, descriptors);
    let manifest_digest = Digest::of(&manifest);
    write_new(&blobs.join(Digest::of(&config_bytes).hex()), &config_bytes)?;
    write_new(&blobs.join(manifest_digest.hex()), &manifest)?;
    let index = json!({
        "schemaVersion": 2, "mediaType": INDEX_TYPE,
        "manifests": [{"mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
                       "digest": manifest_digest.to_string(), "size": manifest.len()}],
    });
    write_new(&dir.join("index.json"), &serde_json::to_vec(&index)?)?;
    write_new(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
}

/// The artifact manifest of a cache whose config is `config`.
fn manifest(config: &[u8], layers: Vec<Value>) -> Vec<u8> {
    let m = json!({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": Digest::of(config).to_string(), "size": config.len()},
        "layers": layers,
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// Writes a file whole (a temporary name, then renamed over the old one).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("wharf-tmp");
    std::fs::write(&tmp, bytes).with_ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_ctx(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn copy_blob(store: &Store, digest: &Digest, to: &Path) -> Result<()> {
    let tmp = to.with_extension("wharf-tmp");
    let mut out = std::fs::File::create(&tmp).with_ctx(|| format!("writing {}", tmp.display()))?;
    std::io::copy(&mut store.content().open_blob(digest)?, &mut out)?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

fn export_registry(root: &Path, r: &Reference, records: Vec<CacheRecord>) -> Result<()> {
    let layers = layers_of(&records);
    let opts = crate::registry::options(None);
    let pushed = registry::cache::push_layers(root, r, &layers, &opts)?;
    let mut config = CacheConfig { records, layers: BTreeMap::new() };
    let mut descriptors = Vec::new();
    for (l, b) in layers.iter().zip(pushed) {
        descriptors.push(json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size}));
        config.layers.insert(l.diff_id.clone(), BlobRef { digest: b.digest, media_type: b.media_type, size: b.size });
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = manifest(&config_bytes, descriptors);
    registry::cache::push_artifact(r, &config_bytes, &manifest, &opts)?;
    Ok(())
}

/// Reads every `--cache-from` source; None when there are none. A
/// source that is not there (a first build) is skipped with a warning,
/// as BuildKit's.
pub fn import(specs: &[String], warn: &mut dyn FnMut(String)) -> Result<Option<CacheImport>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut all = CacheImport::default();
    for s in specs {
        let (spec, _) = parse_spec(s, false)?;
        let config = match read_config(&spec) {
            Ok(c) => c,
            Err(e) => {
                warn(format!("cache source {s}: {e}"));
                continue;
            }
        };
        let source = all.sources.len();
        all.sources.push(s.clone());
        all.records.extend(config.records);
        for (diff, b) in config.layers {
            all.blobs.entry(diff).or_insert(builder::cache::CacheBlob {
                digest: b.digest,
                media_type: b.media_type,
                size: b.size,
                source,
            });
        }
    }
    Ok(Some(all))
}

fn read_config(spec: &CacheSpec) -> Result<CacheConfig> {
    let bytes = match spec {
        CacheSpec::Inline => return Err(Error::invalid("type=inline is for --cache-to")),
        CacheSpec::Local(dir) => read_local_config(dir)?,
        CacheSpec::Registry(r) => {
            let m = registry::cache::remote_manifest(r, &crate::registry::options(None))?;
            let config = m.config.ok_or_else(|| Error::invalid("an index, not a build cache or an image"))?;
            if m.json["config"]["mediaType"] != CONFIG_TYPE {
                return inline_config(&m.json, &config);
            }
            config
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("not a wharf build cache: {e}")))
}

/// The records an image built with `--cache-to type=inline` carries in
/// its config ([`INLINE_KEY`]), its own layers their blobs.
fn inline_config(manifest: &Value, config: &[u8]) -> Result<CacheConfig> {
    let image: Value = serde_json::from_slice(config).map_err(|e| Error::invalid(format!("image config: {e}")))?;
    let records: Vec<CacheRecord> = match image.get(INLINE_KEY) {
        Some(r) => serde_json::from_value(r.clone()).map_err(|e| Error::invalid(format!("inline cache: {e}")))?,
        None => {
            return Err(Error::not_found("the image has no inline build cache (build it with --cache-to type=inline)"))
        }
    };
    let diffs = image.pointer("/rootfs/diff_ids").and_then(Value::as_array).cloned().unwrap_or_default();
    let blobs = manifest["layers"].as_array().cloned().unwrap_or_default();
    let mut layers = BTreeMap::new();
    for (diff, blob) in diffs.iter().zip(&blobs) {
        let (Some(diff), Some(digest)) = (diff.as_str().and_then(|d| d.parse().ok()), blob["digest"].as_str()) else {
            continue;
        };
        let digest = digest.parse().map_err(|_| Error::invalid(format!("bad layer digest {digest}")))?;
        let media_type = blob["mediaType"].as_str().unwrap_or_default().to_owned();
        layers.insert(diff, BlobRef { digest, media_type, size: blob["size"].as_u64().unwrap_or(0) });
    }
    Ok(CacheConfig { records, layers })
}

fn read_local_config(dir: &Path) -> Result<Vec<u8>> {
    let blob = |d: &str| -> Result<Vec<u8>> {
        let d: Digest = d.parse().map_err(|_| Error::invalid(format!("bad digest {d:?}")))?;
        let bytes = std::fs::read(dir.join("blobs/sha256").join(d.hex())).with_ctx(|| format!("reading blob {d}"))?;
        if Digest::of(&bytes) != d {
            return Err(Error::invalid(format!("blob {d} does not match its digest")));
        }
        Ok(bytes)
    };
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json")).with_ctx(|| format!("reading {}", dir.display()))?,
    )?;
    let entry = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["artifactType"] == ARTIFACT_TYPE)
        .ok_or_else(|| Error::invalid("no wharf build cache in its index.json"))?;
    let manifest: Value = serde_json::from_slice(&blob(entry["digest"].as_str().unwrap_or_default())?)?;
    if manifest["config"]["mediaType"] != CONFIG_TYPE {
        return Err(Error::invalid("its manifest is not a wharf build cache"));
    }
    blob(manifest["config"]["digest"].as_str().unwrap_or_default())
}

/// The builder's [`builder::CacheFetcher`]: brings the layers of chain
/// `diffs` that the store lacks in from the sources that hold them.
pub fn fetch(root: &Path, import: &CacheImport, diffs: &[Digest]) -> std::result::Result<(), String> {
    fetch_chain(root, import, diffs).map_err(|e| e.to_string())
}

fn fetch_chain(root: &Path, import: &CacheImport, diffs: &[Digest]) -> Result<()> {
    let mut store = Store::open(root)?;
    let mut parent: Option<Digest> = None;
    // Layers of one registry source are fetched together, in parallel.
    let mut batch: Vec<(Reference, registry::cache::LayerFetch)> = Vec::new();
    for (i, diff) in diffs.iter().enumerate() {
        let chain = Digest::chain_id(&diffs[..=i]).unwrap_or_else(|| diff.clone());
        if !store.has_snapshot(&chain)? {
            let b =
                import.blobs.get(diff).ok_or_else(|| Error::not_found(format!("no cached blob of layer {diff}")))?;
            let source = import.sources.get(b.source).ok_or_else(|| Error::internal("a cache blob of no source"))?;
            match parse_spec(source, false)?.0 {
                CacheSpec::Inline => return Err(Error::invalid("type=inline is for --cache-to")),
                CacheSpec::Local(dir) => {
                    fetch_batch(root, std::mem::take(&mut batch))?;
                    let f = std::fs::File::open(dir.join("blobs/sha256").join(b.digest.hex()))
                        .with_ctx(|| format!("reading cached layer {}", b.digest))?;
                    store.import_layer_declared(f, parent.as_ref(), diff).with_ctx(|| format!("layer {diff}"))?;
                }
                CacheSpec::Registry(r) => batch.push((
                    r,
                    registry::cache::LayerFetch {
                        blob: b.digest.clone(),
                        media_type: b.media_type.clone(),
                        size: b.size,
                        diff_id: diff.clone(),
                        parent: parent.clone(),
                    },
                )),
            }
        }
        parent = Some(chain);
    }
    drop(store);
    fetch_batch(root, batch)
}

/// Fetches layers from registries, those of one repository together.
fn fetch_batch(root: &Path, batch: Vec<(Reference, registry::cache::LayerFetch)>) -> Result<()> {
    let mut by_repo: Vec<(Reference, Vec<registry::cache::LayerFetch>)> = Vec::new();
    for (r, l) in batch {
        match by_repo.iter_mut().find(|(o, _)| *o == r) {
            Some((_, v)) => v.push(l),
            None => by_repo.push((r, vec![l])),
        }
    }
    let opts = crate::registry::options(None);
    for (r, layers) in by_repo {
        registry::cache::fetch_layers_into(root, &r, layers, &opts)?;
    }
    Ok(())
}
