//! `save` and `load`: docker-archive tarballs in the layout of docker 25+
//! (an OCI image layout with docker's `manifest.json` beside it), read
//! back along with archives from older docker, podman and skopeo
//! (`docker-archive:` and `oci-archive:`); OCI archives and directories.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use image::{Digest, Reference};
use oci_spec::image::{DescriptorBuilder, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};
use store::Store;

use crate::error::ResultExt;
use crate::{Error, Result};

use store::LAYER_TAR;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The archive `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// docker 25+ layout: OCI layout plus manifest.json, uncompressed layers
    DockerArchive,
    /// OCI image layout in a tar, compressed layers
    OciArchive,
    /// OCI image layout in a directory, compressed layers
    OciDir,
}

/// Where `save` writes it.
pub enum SaveTarget<'a> {
    /// A file, written aside and renamed into place.
    File(PathBuf),
    /// A directory (the OCI layout).
    Dir(PathBuf),
    /// A stream (the CLI's stdout).
    Stream(&'a mut dyn Write),
}

/// Saves the images `names` name (each under the names given, or all its
/// tags when named by ID... as docker's).
pub fn save(
    store: &mut Store,
    names: &[String],
    format: SaveFormat,
    codec: store::Codec,
    target: SaveTarget,
) -> Result<()> {
    let _lock = store.lock(false)?;
    let mut saved: Vec<Saved> = Vec::new();
    let mut lists: Vec<SavedList> = Vec::new();
    for name in names {
        if let Some(list) = saved_list(store, name, &mut saved)? {
            lists.push(list);
            continue;
        }
        let id = store.resolve(name)?;
        let rec = store.image(&id)?;
        let names: Vec<Reference> = match Reference::parse(name) {
            Ok(r) if rec.tags.contains(&r) => vec![r],
            _ if name.starts_with("sha256:") || id.hex().starts_with(name.as_str()) => Vec::new(),
            _ => rec.tags.clone(),
        };
        match saved.iter_mut().find(|s| s.id == id) {
            Some(s) => s.names.extend(names),
            None => saved.push(Saved {
                diff_ids: store.diff_ids(&id)?,
                chain: rec.chain.clone(),
                id,
                names,
                platform: None,
            }),
        }
    }
    match (format, target) {
        (SaveFormat::OciDir, SaveTarget::Dir(dir)) => {
            std::fs::create_dir_all(dir.join("blobs/sha256")).with_ctx(|| format!("create {}", dir.display()))?;
            write_oci(store, &saved, &lists, codec, &mut DirSink(dir.clone()))
        }
        (SaveFormat::OciDir, _) => Err(Error::invalid("oci-dir needs -o DIRECTORY")),
        (SaveFormat::OciArchive, SaveTarget::File(path)) => into_file(&path, |file| {
            let mut sink = TarSink(tar::Builder::new(io::BufWriter::with_capacity(1 << 20, file)));
            write_oci(store, &saved, &lists, codec, &mut sink)?;
            Ok(sink.0.into_inner()?.flush()?)
        }),
        (SaveFormat::OciArchive, _) => Err(Error::invalid("oci-archive needs -o FILE")),
        (SaveFormat::DockerArchive, SaveTarget::File(path)) => {
            into_file(&path, |file| write_archive(store, &saved, &lists, io::BufWriter::with_capacity(1 << 20, file)))
        }
        (SaveFormat::DockerArchive, SaveTarget::Stream(out)) => {
            write_archive(store, &saved, &lists, io::BufWriter::with_capacity(1 << 20, out))
        }
        (SaveFormat::DockerArchive, SaveTarget::Dir(_)) => Err(Error::invalid("docker-archive is written to a file")),
    }
}

/// Writes `path` through `write`: aside first, renamed into place, so a
/// failed save leaves no partial archive under the name.
fn into_file(path: &Path, write: impl FnOnce(File) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("wharf-partial");
    let file = File::create(&tmp).with_ctx(|| format!("create {}", tmp.display()))?;
    if let Err(e) = write(file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).with_ctx(|| format!("rename to {}", path.display()))
}

/// An image `load` stored, and the names it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: Digest,
    pub names: Vec<Reference>,
}

/// Loads every image of an archive (docker's, podman's, skopeo's, OCI).
pub fn load(store: &mut Store, input: impl Read) -> Result<Vec<Loaded>> {
    let _lock = store.lock(false)?;
    let sp = spool(store, input)?;
    let found = if sp.0.contains_key("manifest.json") {
        docker_archive(store, &sp, &sp.bytes(store, "manifest.json")?)?
    } else if sp.0.contains_key("index.json") {
        oci_archive(store, &sp, &sp.bytes(store, "index.json")?)?
    } else {
        return Err(Error::invalid("unrecognized image archive: no manifest.json or index.json"));
    };
    let mut loaded = Vec::new();
    for f in found {
        let id = load_one(store, &f)?;
        let first = f.names.first().map(|n| n.familiar()).unwrap_or_default();
        crate::events::image(store.root(), "load", &id.to_string(), &first);
        for n in &f.names {
            store.tag(&id, n)?;
        }
        loaded.push(Loaded { id, names: f.names });
    }
    if sp.0.contains_key("index.json") {
        load_lists(store, &sp)?;
    }
    Ok(loaded)
}

/// Keeps the multi-platform images of an archive whole: each named
/// nested index becomes a local manifest list of the same name, every
/// platform's image loaded.
fn load_lists(store: &mut Store, sp: &Spool) -> Result<()> {
    let index: Value = serde_json::from_slice(&sp.bytes(store, "index.json")?).ctx("index.json")?;
    for entry in index["manifests"].as_array().into_iter().flatten() {
        let is_index =
            entry["mediaType"] == INDEX || entry["mediaType"].as_str().is_some_and(|m| m.contains("manifest.list"));
        let name = entry["annotations"]["io.containerd.image.name"].as_str().and_then(|n| Reference::parse(n).ok());
        let (true, Some(name)) = (is_index, name) else { continue };
        let d: Digest = entry["digest"].as_str().unwrap_or_default().parse()?;
        let nested: Value = serde_json::from_slice(&sp.bytes(store, &blob_path(&d))?).ctx("a nested index")?;
        let mut entries = Vec::new();
        for m in nested["manifests"].as_array().into_iter().flatten() {
            let md: Digest = m["digest"].as_str().unwrap_or_default().parse()?;
            let manifest = ImageManifest::from_reader(&sp.bytes(store, &blob_path(&md))?[..])?;
            let cd: Digest = manifest.config().digest().to_string().parse()?;
            let config = sp.bytes(store, &blob_path(&cd))?;
            let mut layers = Vec::new();
            for l in manifest.layers() {
                let p = blob_path(&l.digest().to_string().parse::<Digest>()?);
                layers.push((sp.blob(store, &p)?, p));
            }
            let id = load_one(store, &Found { config, layers, names: Vec::new() })?;
            let field = |k: &str| m["platform"][k].as_str().unwrap_or_default().to_owned();
            entries.push(store::ListEntry {
                source: name.to_string(),
                image: Some(id.to_string()),
                os: field("os"),
                architecture: field("architecture"),
                variant: field("variant"),
                ..store::ListEntry::default()
            });
        }
        store.put_manifest_list(&store::ManifestList {
            name: name.to_string(),
            created: store::now_rfc3339(),
            entries,
        })?;
    }
    Ok(())
}

/// One image to save and the names it is saved under.
struct Saved {
    id: Digest,
    names: Vec<Reference>,
    diff_ids: Vec<Digest>,
    chain: Vec<Digest>,
    /// Its platform, when it is saved as an entry of a manifest list (the
    /// index names it; the top level does not).
    platform: Option<Value>,
}

/// A manifest list saved as a nested index: its name and its images (by
/// index in the saved list).
struct SavedList {
    name: Reference,
    images: Vec<usize>,
}

/// The images of the local manifest list `name`, when there is one: each
/// saved (the host's platform's under the list's name, so that loaders of
/// `manifest.json` get the image this host runs), the list returned.
fn saved_list(store: &Store, name: &str, saved: &mut Vec<Saved>) -> Result<Option<SavedList>> {
    let Ok(r) = Reference::parse(name) else { return Ok(None) };
    let Some(list) = store.manifest_list(&r.to_string())? else { return Ok(None) };
    let host = builder::host_platform();
    let mut images = Vec::new();
    for e in list.entries.iter().filter(|e| e.image.is_some()) {
        let id: Digest = e.image.as_deref().unwrap_or_default().parse()?;
        let rec = store.image(&id)?;
        let is_host = e.os == host.os && e.architecture == host.arch;
        let mut platform = json!({"architecture": e.architecture, "os": e.os});
        if !e.variant.is_empty() {
            platform["variant"] = json!(e.variant);
        }
        images.push(saved.len());
        saved.push(Saved {
            diff_ids: store.diff_ids(&id)?,
            chain: rec.chain.clone(),
            id,
            names: if is_host { vec![r.clone()] } else { Vec::new() },
            platform: Some(platform),
        });
    }
    if images.is_empty() {
        return Err(Error::invalid(format!("{name}: a manifest list with no local image")));
    }
    Ok(Some(SavedList { name: r, images }))
}

/// The nested indexes of `lists` (their bytes and top-level entries),
/// given each saved image's manifest (digest, size).
fn list_indexes(lists: &[SavedList], saved: &[Saved], manifests: &[(Digest, usize)]) -> Result<Vec<(Vec<u8>, Value)>> {
    let mut out = Vec::new();
    for l in lists {
        let entries: Vec<Value> = l
            .images
            .iter()
            .map(|&i| {
                json!({"mediaType": MANIFEST, "digest": manifests[i].0.to_string(), "size": manifests[i].1,
                       "platform": saved[i].platform})
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
        let bytes = serde_json::to_vec(&index)?;
        let tag = l.name.tag().unwrap_or("latest").to_owned();
        let entry = json!({"mediaType": INDEX, "digest": Digest::of(&bytes).to_string(), "size": bytes.len(),
            "annotations": {"io.containerd.image.name": l.name.to_string(), "org.opencontainers.image.ref.name": tag}});
        out.push((bytes, entry));
    }
    Ok(out)
}

/// Where OCI layout files go: a tar or a directory.
trait Sink {
    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()>;
}

struct TarSink<W: Write>(tar::Builder<W>);

impl<W: Write> Sink for TarSink<W> {
    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut h, path, data)
    }
}

struct DirSink(PathBuf);

impl Sink for DirSink {
    fn file(&mut self, path: &str, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        let dest = self.0.join(path);
        let mut f = File::create(&dest)?;
        io::copy(data, &mut f)?;
        f.sync_all()
    }
}

/// An OCI image layout: config, compressed layers (made once and kept in
/// the store), manifests and `index.json`.
fn write_oci(
    store: &mut Store,
    saved: &[Saved],
    lists: &[SavedList],
    codec: store::Codec,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut written = std::collections::HashSet::new();
    let mut index_entries = Vec::new();
    let mut manifests = Vec::new();
    for s in saved {
        let config = store.config_bytes(&s.id)?;
        if written.insert(s.id.clone()) {
            sink.file(&blob_path(&s.id), config.len() as u64, &mut &config[..])?;
        }
        let mut layers = Vec::new();
        for (diff, chain) in s.diff_ids.iter().zip(&s.chain) {
            let (blob, size) = store.compressed_layer(chain, diff, codec)?;
            if written.insert(blob.clone()) {
                sink.file(&blob_path(&blob), size, &mut store.content().open_blob(&blob)?)?;
            }
            layers.push(json!({"mediaType": codec.media_type(), "digest": blob.to_string(), "size": size}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": s.id.to_string(), "size": config.len()},
            "layers": layers,
        });
        let mbytes = serde_json::to_vec(&manifest)?;
        let mdigest = Digest::of(&mbytes);
        if written.insert(mdigest.clone()) {
            sink.file(&blob_path(&mdigest), mbytes.len() as u64, &mut &mbytes[..])?;
        }
        manifests.push((mdigest.clone(), mbytes.len()));
        if s.platform.is_some() {
            // A list's image: named by the list's index.
            continue;
        }
        let names: Vec<Option<&Reference>> =
            if s.names.is_empty() { vec![None] } else { s.names.iter().map(Some).collect() };
        for n in names {
            let mut d = json!({"mediaType": MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()});
            if let Some(r) = n {
                d["annotations"] = json!({"io.containerd.image.name": r.to_string(), "org.opencontainers.image.ref.name": r.familiar()});
            }
            index_entries.push(d);
        }
    }
    for (bytes, entry) in list_indexes(lists, saved, &manifests)? {
        let d: Digest = entry["digest"].as_str().unwrap_or_default().parse()?;
        sink.file(&blob_path(&d), bytes.len() as u64, &mut &bytes[..])?;
        index_entries.push(entry);
    }
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": index_entries});
    let ib = serde_json::to_vec(&index)?;
    sink.file("index.json", ib.len() as u64, &mut &ib[..])?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    sink.file("oci-layout", layout.len() as u64, &mut &layout[..])?;
    Ok(())
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data)
}

fn write_archive<W: Write>(store: &Store, saved: &[Saved], lists: &[SavedList], out: W) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut written = std::collections::HashSet::new();
    let mut index_entries = Vec::new();
    let mut manifests = Vec::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in saved {
        let config = store.config_bytes(&s.id)?;
        if written.insert(s.id.clone()) {
            append_bytes(&mut b, &blob_path(&s.id), &config)?;
        }
        let mut layer_descs = Vec::new();
        for (diff, chain) in s.diff_ids.iter().zip(&s.chain) {
            let size = write_layer_entry(store, &mut b, diff, chain, &mut written)?;
            layer_descs.push(
                DescriptorBuilder::default()
                    .media_type(MediaType::ImageLayer)
                    .digest(oci_digest(diff)?)
                    .size(size)
                    .build()?,
            );
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(
                DescriptorBuilder::default()
                    .media_type(MediaType::ImageConfig)
                    .digest(oci_digest(&s.id)?)
                    .size(config.len() as u64)
                    .build()?,
            )
            .layers(layer_descs)
            .build()?;
        let mbytes = manifest.to_string()?.into_bytes();
        let mdigest = Digest::of(&mbytes);
        if written.insert(mdigest.clone()) {
            append_bytes(&mut b, &blob_path(&mdigest), &mbytes)?;
        }
        manifests.push((mdigest.clone(), mbytes.len()));
        if s.platform.is_some() {
            // A list's image: named by the list's index; manifest.json
            // (what older loaders read) has the host's platform's alone.
            if !s.names.is_empty() {
                manifest_json.push(json!({
                    "Config": blob_path(&s.id),
                    "RepoTags": s.names.iter().map(Reference::familiar).collect::<Vec<_>>(),
                    "Layers": s.diff_ids.iter().map(blob_path).collect::<Vec<_>>(),
                }));
            }
            continue;
        }
        // The index is written as plain JSON: oci-spec keeps annotations in
        // a HashMap, whose order would make two saves differ.
        let names: Vec<Option<&Reference>> =
            if s.names.is_empty() { vec![None] } else { s.names.iter().map(Some).collect() };
        for n in names {
            let mut d = json!({"mediaType": MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()});
            if let Some(r) = n {
                let tag = r.tag().unwrap_or("latest").to_owned();
                d["annotations"] =
                    json!({"io.containerd.image.name": r.to_string(), "org.opencontainers.image.ref.name": tag});
                let top = s.diff_ids.last().map(|d| d.hex()).unwrap_or_default();
                repositories.entry(r.familiar_repository()).or_default().insert(tag, top);
            }
            index_entries.push(d);
        }
        manifest_json.push(json!({
            "Config": blob_path(&s.id),
            "RepoTags": s.names.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Layers": s.diff_ids.iter().map(blob_path).collect::<Vec<_>>(),
        }));
    }
    for (bytes, entry) in list_indexes(lists, saved, &manifests)? {
        let d: Digest = entry["digest"].as_str().unwrap_or_default().parse()?;
        append_bytes(&mut b, &blob_path(&d), &bytes)?;
        index_entries.push(entry);
    }
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": index_entries});
    append_bytes(&mut b, "index.json", serde_json::to_string(&index)?.as_bytes())?;
    append_bytes(&mut b, "manifest.json", serde_json::to_string(&manifest_json)?.as_bytes())?;
    append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repositories.is_empty() {
        append_bytes(&mut b, "repositories", serde_json::to_string(&repositories)?.as_bytes())?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}

fn oci_digest(d: &Digest) -> Result<oci_spec::image::Digest> {
    d.to_string().parse().map_err(|e| Error::invalid(format!("digest {d}: {e:?}")))
}

/// Writes one layer as `blobs/sha256/<diffID>`: the original tar if the
/// store kept it, otherwise the canonical tar of the snapshot, streamed
/// straight into the archive and checked against the diffID as it goes.
fn write_layer_entry<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    diff: &Digest,
    chain: &Digest,
    written: &mut std::collections::HashSet<Digest>,
) -> Result<u64> {
    let size = store.snapshot_size(chain)?;
    if !written.insert(diff.clone()) {
        return Ok(size);
    }
    if let Some((blob, bsize)) = store.layer_blob(diff, LAYER_TAR)? {
        let mut h = tar::Header::new_ustar();
        h.set_size(bsize);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, blob_path(diff), store.content().open_blob(&blob)?)?;
        return Ok(bsize);
    }
    let mut h = tar::Header::new_ustar();
    h.set_path(blob_path(diff))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let out = b.get_mut();
    out.write_all(h.as_bytes())?;
    let (digest, n) = store.write_layer_tar(chain, &mut *out)?;
    if digest != *diff || n != size {
        return Err(Error::invalid(format!(
            "layer {diff} changed on disk (now {digest}, {n} bytes); run 'wharf system check'"
        )));
    }
    let pad = (512 - (n % 512)) % 512;
    out.write_all(&vec![0u8; pad as usize])?;
    Ok(size)
}

/// A file of an archive: small ones (configs, manifests, small layers) are
/// held in memory; large ones (layers) go straight into the content store.
enum Member {
    Small(Vec<u8>),
    Blob(Digest),
}

/// Files of an archive by path.
struct Spool(HashMap<String, Member>);

const SMALL: u64 = 4 << 20;

impl Spool {
    fn bytes(&self, store: &Store, path: &str) -> Result<Vec<u8>> {
        match self.0.get(path) {
            Some(Member::Small(b)) => Ok(b.clone()),
            Some(Member::Blob(d)) => Ok(store.content().read(d)?),
            None => Err(Error::invalid(format!("archive has no {path}"))),
        }
    }

    /// The member as a stored blob (storing it now if it is small).
    fn blob(&self, store: &Store, path: &str) -> Result<Digest> {
        match self.0.get(path) {
            Some(Member::Small(b)) => Ok(store.content().put(b)?),
            Some(Member::Blob(d)) => Ok(d.clone()),
            None => Err(Error::invalid(format!("archive has no {path}"))),
        }
    }
}

fn spool(store: &Store, r: impl Read) -> Result<Spool> {
    let (_, plain) = image::layer::decompress(r)?;
    let mut ar = tar::Archive::new(plain);
    let mut sp = Spool(HashMap::new());
    for (read, e) in ar.entries()?.enumerate() {
        let mut e = e.map_err(|e| image::layer::tar_read_error(e, read))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let path = e.path()?.to_string_lossy().trim_start_matches("./").to_owned();
        // A member named by its digest must have that digest.
        let expected = path.strip_prefix("blobs/sha256/").and_then(|h| Digest::from_hex(h).ok());
        let member = if e.header().size()? <= SMALL {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf)?;
            if let Some(x) = &expected {
                let actual = Digest::of(&buf);
                if actual != *x {
                    return Err(Error::invalid(format!("archive member {path} has digest {actual}")));
                }
            }
            Member::Small(buf)
        } else {
            let mut w = store.content().writer()?;
            io::copy(&mut e, &mut w)?;
            Member::Blob(w.commit(expected.as_ref()).with_ctx(|| format!("archive member {path}"))?)
        };
        sp.0.insert(path, member);
    }
    Ok(sp)
}

/// An image found in an archive: its config and layer blobs.
struct Found {
    config: Vec<u8>,
    layers: Vec<(Digest, String)>,
    names: Vec<Reference>,
}

fn docker_archive(store: &Store, sp: &Spool, manifest: &[u8]) -> Result<Vec<Found>> {
    let items: Vec<Value> = serde_json::from_slice(manifest).ctx("manifest.json")?;
    let mut out = Vec::new();
    for it in items {
        let cfg_path = it["Config"].as_str().ctx("manifest.json: Config")?;
        let config = sp.bytes(store, cfg_path)?;
        let mut layers = Vec::new();
        for l in it["Layers"].as_array().ctx("manifest.json: Layers")? {
            let p = l.as_str().ctx("layer path")?;
            layers.push((sp.blob(store, p)?, p.to_owned()));
        }
        let names = it["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()).filter_map(|t| Reference::parse(t).ok()).collect())
            .unwrap_or_default();
        out.push(Found { config, layers, names });
    }
    Ok(out)
}

fn oci_archive(store: &Store, sp: &Spool, index: &[u8]) -> Result<Vec<Found>> {
    let index = ImageIndex::from_reader(index).ctx("index.json")?;
    let mut out = Vec::new();
    let mut todo: Vec<(oci_spec::image::Descriptor, Option<String>)> =
        index.manifests().iter().map(|m| (m.clone(), None)).collect();
    while let Some((desc, inherited)) = todo.pop() {
        let d: Digest = desc.digest().to_string().parse()?;
        let bytes = sp.bytes(store, &blob_path(&d))?;
        let ann = desc.annotations().clone().unwrap_or_default();
        let name = ann
            .get("io.containerd.image.name")
            .cloned()
            .or(inherited.clone())
            .or_else(|| ann.get("org.opencontainers.image.ref.name").cloned());
        if matches!(desc.media_type(), MediaType::ImageIndex) || desc.media_type().to_string().contains("manifest.list")
        {
            let sub = ImageIndex::from_reader(&bytes[..])?;
            let pick = sub.manifests().iter().find(|m| {
                m.platform().as_ref().is_none_or(|p| {
                    p.os().to_string() == "linux" && p.architecture().to_string() == builder::config::host_arch()
                })
            });
            if let Some(m) = pick {
                todo.push((m.clone(), name));
            }
            continue;
        }
        let m = ImageManifest::from_reader(&bytes[..])?;
        let cd: Digest = m.config().digest().to_string().parse()?;
        let config = sp.bytes(store, &blob_path(&cd))?;
        let mut layers = Vec::new();
        for l in m.layers() {
            let p = blob_path(&l.digest().to_string().parse::<Digest>()?);
            layers.push((sp.blob(store, &p)?, p));
        }
        let names = name.and_then(|n| Reference::parse(&n).ok()).into_iter().collect();
        out.push(Found { config, layers, names });
    }
    Ok(out)
}

fn load_one(store: &mut Store, f: &Found) -> Result<Digest> {
    let cfg: Value = serde_json::from_slice(&f.config).ctx("image config")?;
    let diff_ids: Vec<Digest> = cfg
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ctx("image config has no rootfs.diff_ids")?
        .iter()
        .map(|v| v.as_str().unwrap_or_default().parse::<Digest>())
        .collect::<Result<_, _>>()?;
    if diff_ids.len() != f.layers.len() {
        return Err(Error::invalid(format!(
            "image config names {} layers, the archive has {}",
            diff_ids.len(),
            f.layers.len()
        )));
    }
    let mut parent: Option<Digest> = None;
    let mut infos = Vec::new();
    for ((blob, path), diff) in f.layers.iter().zip(&diff_ids) {
        let info = store
            .import_layer_declared(store.content().open_blob(blob)?, parent.as_ref(), diff)
            .with_ctx(|| format!("layer {path}"))?;
        let media = blob_media_type(store, blob)?;
        let size = store.content().size(blob).unwrap_or(0);
        store.add_layer_blob(diff, media, blob, size)?;
        parent = Some(info.chain_id.clone());
        infos.push(info);
    }
    Ok(store.add_image(&f.config, &infos)?)
}

/// The layer media type of a stored blob, from its magic bytes.
fn blob_media_type(store: &Store, blob: &Digest) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let n = store.content().open_blob(blob)?.read(&mut head)?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => LAYER_TAR,
    })
}
