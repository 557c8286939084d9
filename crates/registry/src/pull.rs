//! Pull: manifest (through an index when there is one) → config → layers.
//! Each missing layer is fetched on its own thread (at most
//! `Options::max_concurrent` at once) in one pass: the compressed bytes go
//! to a staging blob and, at the same time, through the decompressor into
//! a staging snapshot, hashed on both sides. The snapshot is kept only if
//! the uncompressed bytes hash to the config's diffID, the blob only if
//! the compressed bytes hash to the manifest's digest; a failed layer is
//! fetched again from the start (with backoff), and in the end the error
//! names the blob.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use bytes::Bytes;
use futures_util::StreamExt;
use image::{Digest, Reference};
use oci_client::RegistryOperation;
use serde_json::Value;
use store::{Codec, LayerInfo, Store, LAYER_TAR};

use crate::session::{backoff, Session, ATTEMPTS};
use crate::{oci_reference, short_id, Event, Options, Progress, RegistryError};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An `os/arch[/variant]` to pick from a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform wharf runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform { os: "linux".into(), arch: arch.into(), variant: None }
    }

    /// Parses `os[/arch[/variant]]`; the arch defaults to the host's.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty());
        let (Some(os), arch, variant, None) = (os, parts.next(), parts.next(), parts.next()) else {
            return Err(RegistryError::Protocol(format!("invalid platform {s:?}: want os[/arch[/variant]]")));
        };
        let host = Platform::host();
        Ok(Platform {
            os: os.to_owned(),
            arch: arch.map_or(host.arch, str::to_owned),
            variant: variant.map(str::to_owned),
        })
    }

    fn matches(&self, p: &Value) -> bool {
        let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
        field("os") == self.os
            && field("architecture") == self.arch
            && self.variant.as_deref().is_none_or(|v| field("variant") == v)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image ID (config digest).
    pub id: Digest,
    /// The digest of what the reference named: the index for a
    /// multi-platform image, else the manifest (docker's RepoDigest).
    pub digest: Digest,
    /// Layers fetched; 0 means the image was up to date.
    pub fetched: usize,
    /// The index the reference named (a multi-platform image), and the
    /// digest of the entry pulled.
    pub index: Option<(Value, Digest)>,
}

/// A layer of the manifest being pulled.
pub(crate) struct LayerJob {
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    pub(crate) size: u64,
    pub(crate) diff_id: Digest,
    pub(crate) parent: Option<Digest>,
}

/// Pulls `r` into the store at `root`, tags it (when `r` has a tag) and
/// records its repo digest.
pub fn pull(
    root: &Path,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Pulled, RegistryError> {
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Pull)?;
    let name = r.familiar();
    let top = fetch_manifest(&sess, &oref, &name)?;
    let manifest = match top.json.get("manifests") {
        Some(list) => {
            let chosen = choose(list, platform).ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "{name}: no matching manifest for {platform} in the manifest list entries"
                ))
            })?;
            fetch_manifest(&sess, &oref.clone_with_digest(chosen.to_string()), &name)?
        }
        None => Manifest { bytes: top.bytes.clone(), json: top.json.clone(), digest: top.digest.clone() },
    };
    if manifest.json.get("schemaVersion").and_then(Value::as_i64) == Some(1) {
        return Err(RegistryError::Protocol(format!(
            "{name}: docker schema 1 manifests are not supported (push the image again with a current client)"
        )));
    }
    let config_digest = descriptor_digest(&manifest.json["config"], &name)?;
    let mut store = Store::open(root)?;
    let lock = store.lock(false)?;
    let config = fetch_config(&sess, &oref, &store, &config_digest)?;
    let jobs = layer_jobs(&manifest.json, &config, &name)?;
    let infos = match fetch_layers(root, &sess, &oref, &jobs, opts, progress, &mut store) {
        Ok(infos) => infos,
        Err(e) => {
            drop(lock);
            discard_unreferenced(&mut store);
            return Err(e);
        }
    };
    let fetched = infos.iter().filter(|(_, fetched)| *fetched).count();
    let infos: Vec<LayerInfo> = infos.into_iter().map(|(i, _)| i).collect();
    // Drop the runtime (joining its threads) before touching the store
    // further: the caller may fork next.
    drop(sess);
    let id = store.add_image(&config, &infos)?;
    for m in [&manifest, &top] {
        store.content().put(&m.bytes)?;
        store.add_image_blob(&id, &m.digest)?;
    }
    if let Some(tag) = r.tag() {
        store.tag(&id, &r.with_tag(tag))?;
    }
    store.add_repo_digest(&r.with_digest(top.digest.clone()), &id)?;
    let index = top.json.get("manifests").is_some().then(|| (top.json.clone(), manifest.digest.clone()));
    Ok(Pulled { id, digest: top.digest, fetched, index })
}

/// After a failed pull, removes the layers it fetched (no image refers to
/// them) when no other wharf process is adding to the store right now;
/// otherwise a later `system prune`/`check --repair` does.
fn discard_unreferenced(store: &mut Store) {
    if let Ok(Some(exclusive)) = store.try_lock(true) {
        let _ = store.gc(&exclusive);
    }
}

/// Fetches a manifest or index and checks its bytes against the digest
/// the reference names (if any).
pub(crate) fn fetch_manifest(
    sess: &Session,
    oref: &oci_client::Reference,
    name: &str,
) -> Result<Manifest, RegistryError> {
    let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    let (bytes, _) =
        sess.retry(name, || sess.client.pull_manifest_raw(oref, &sess.auth, &accept)).map_err(|e| match e {
            RegistryError::NotFound(_) => {
                RegistryError::NotFound(format!("manifest for {name} not found: manifest unknown"))
            }
            other => other,
        })?;
    let digest = Digest::of(&bytes);
    if let Some(want) = oref.digest() {
        if want != digest.to_string() {
            return Err(RegistryError::Transient(format!("{name}: manifest {want} read back as {digest}")));
        }
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Protocol(format!("{name}: manifest is not JSON: {e}")))?;
    Ok(Manifest { bytes: bytes.to_vec(), json: v, digest })
}

/// A manifest or index as fetched: the registry's bytes (the digest names
/// exactly them) and their parse.
pub(crate) struct Manifest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) json: Value,
    pub(crate) digest: Digest,
}

fn choose(list: &Value, platform: &Platform) -> Option<Digest> {
    list.as_array()?
        .iter()
        .find(|m| m.get("platform").is_some_and(|p| platform.matches(p)))
        .and_then(|m| m.get("digest")?.as_str()?.parse().ok())
}

pub(crate) fn descriptor_digest(desc: &Value, name: &str) -> Result<Digest, RegistryError> {
    desc.get("digest")
        .and_then(Value::as_str)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| RegistryError::Protocol(format!("{name}: manifest has a descriptor without a sha256 digest")))
}

fn fetch_config(
    sess: &Session,
    oref: &oci_client::Reference,
    store: &Store,
    digest: &Digest,
) -> Result<Vec<u8>, RegistryError> {
    if let Ok(bytes) = store.content().read(digest) {
        if Digest::of(&bytes) == *digest {
            return Ok(bytes);
        }
    }
    fetch_small_blob(sess, oref, digest)
}

/// A small blob (a config) read whole from the registry, checked against
/// its digest.
pub(crate) fn fetch_small_blob(
    sess: &Session,
    oref: &oci_client::Reference,
    digest: &Digest,
) -> Result<Vec<u8>, RegistryError> {
    let d = digest.to_string();
    let bytes = sess.retry(&format!("config blob {d}"), || async {
        let mut v = Vec::new();
        sess.client.pull_blob(oref, d.as_str(), &mut v).await.map(|_| v)
    })?;
    if Digest::of(&bytes) != *digest {
        return Err(RegistryError::Transient(format!("config blob {d}: wrong bytes")));
    }
    Ok(bytes)
}

fn layer_jobs(manifest: &Value, config: &[u8], name: &str) -> Result<Vec<LayerJob>, RegistryError> {
    let cfg: Value =
        serde_json::from_slice(config).map_err(|e| RegistryError::Protocol(format!("{name}: image config: {e}")))?;
    let diff_ids: Vec<Digest> = cfg
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let layers = manifest.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(RegistryError::Protocol(format!(
            "{name}: the manifest has {} layers, the image config {}",
            layers.len(),
            diff_ids.len()
        )));
    }
    let mut parent: Option<Digest> = None;
    let mut jobs = Vec::new();
    for (l, diff_id) in layers.iter().zip(diff_ids) {
        let media_type = l.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_owned();
        if media_type.contains("foreign") || media_type.contains("nondistributable") {
            return Err(RegistryError::Protocol(format!("{name}: foreign layer {media_type} is not supported")));
        }
        let blob = descriptor_digest(l, name)?;
        let size = l.get("size").and_then(Value::as_u64).unwrap_or(0);
        let chain = Digest::chain_above(parent.as_ref(), &diff_id);
        jobs.push(LayerJob { blob, media_type, size, diff_id, parent: parent.replace(chain) });
    }
    Ok(jobs)
}

/// Fetches the layers the store lacks, `max_concurrent` at once. Returns
/// every layer's info, base first, and whether it was fetched.
pub(crate) fn fetch_layers(
    root: &Path,
    sess: &Session,
    oref: &oci_client::Reference,
    jobs: &[LayerJob],
    opts: &Options,
    progress: &dyn Progress,
    store: &mut Store,
) -> Result<Vec<(LayerInfo, bool)>, RegistryError> {
    let mut results: Vec<Option<Result<(LayerInfo, bool), RegistryError>>> = Vec::new();
    // Layers the store has are not fetched again ("Already exists").
    let mut todo = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let chain = job_chain(job);
        if store.has_snapshot(&chain)? && store.snapshot_dir(&chain).is_dir() {
            progress.event(Event::Exists { id: short_id(&job.blob) });
            let size = store.snapshot_size(&chain)?;
            results.push(Some(Ok((LayerInfo { diff_id: job.diff_id.clone(), chain_id: chain, size }, false))));
        } else {
            results.push(None);
            todo.push(i);
        }
    }
    let todo_jobs: Vec<&LayerJob> = todo.iter().map(|&i| &jobs[i]).collect();
    let fetched = crate::pool::run(root, &todo_jobs, opts.max_concurrent(), |store, job| {
        fetch_layer_retrying(sess, oref, store, job, progress)
    });
    for (&i, r) in todo.iter().zip(fetched) {
        results[i] = r.map(|r| r.map(|info| (info, true)));
    }
    results
        .into_iter()
        .zip(jobs)
        .map(|(r, job)| r.unwrap_or_else(|| Err(RegistryError::Protocol(format!("layer {}: not fetched", job.blob)))))
        .collect()
}

fn job_chain(job: &LayerJob) -> Digest {
    Digest::chain_above(job.parent.as_ref(), &job.diff_id)
}

fn fetch_layer_retrying(
    sess: &Session,
    oref: &oci_client::Reference,
    store: &mut Store,
    job: &LayerJob,
    progress: &dyn Progress,
) -> Result<LayerInfo, RegistryError> {
    let id = short_id(&job.blob);
    let mut attempt = 1;
    loop {
        progress.event(Event::Started { id: id.clone(), total: job.size });
        match fetch_layer(sess, oref, store, job, progress) {
            Ok(info) => {
                progress.event(Event::Done { id });
                return Ok(info);
            }
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                progress.event(Event::Retrying { id: id.clone(), reason: e.to_string() });
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            Err(e) => {
                return Err(match e {
                    RegistryError::Transient(m) => {
                        RegistryError::Transient(format!("layer {}: gave up after {attempt} attempts: {m}", job.blob))
                    }
                    named if named.to_string().contains(&job.blob.to_string()) => named,
                    other => RegistryError::Protocol(format!("layer {}: {other}", job.blob)),
                })
            }
        }
    }
}

/// One attempt at one layer: download → (blob file, decompress → extract).
fn fetch_layer(
    sess: &Session,
    oref: &oci_client::Reference,
    store: &mut Store,
    job: &LayerJob,
    progress: &dyn Progress,
) -> Result<LayerInfo, RegistryError> {
    let digest = job.blob.to_string();
    let sized = sess
        .block_on(sess.client.pull_blob_stream(oref, digest.as_str()))
        .map_err(|e| RegistryError::from_oci(&format!("blob {digest}"), e))?;
    let mut blob = store.content().writer()?;
    let (copy_tx, copy_rx) = mpsc::sync_channel::<Bytes>(64);
    let body = BodyReader {
        sess,
        stream: sized.stream,
        chunk: Bytes::new(),
        ended: false,
        done: 0,
        total: job.size,
        id: short_id(&job.blob),
        progress,
        copy: copy_tx,
    };
    // Three threads per layer: this one extracts (and hashes the diffID),
    // one receives and decompresses, one keeps and hashes the blob. The
    // receiving thread is the busiest (perf: 55% of a pull's samples with
    // all three jobs on it), so the rest is spread to the other two.
    let (tx, rx) = mpsc::sync_channel(16);
    let (spare_tx, spare_rx) = mpsc::sync_channel(20);
    let (produced, imported) = std::thread::scope(|s| {
        let blob = &mut blob;
        // Ends when the body reader (and with it the sender) is dropped.
        let writer = s.spawn(move || copy_rx.into_iter().try_for_each(|b| blob.write_all(&b)));
        // The sender moves into the producer: when it is done, the
        // channel closes and the reader below sees the end.
        let producer = s.spawn(move || decompress_into(body, &tx, &spare_rx));
        let plain = ChannelReader {
            rx,
            spare: spare_tx,
            chunk: Vec::new(),
            len: 0,
            pos: 0,
            hasher: Some(image::digest::HashingWriter::new(io::sink())),
            measured: None,
        };
        let imported = store.import_layer_measured(plain, job.parent.as_ref(), &job.diff_id);
        // The reader is gone: the producer's sends fail from here on, and
        // it stops decompressing, but still reads the rest of the blob
        // (all of it, when extraction failed early): only then is it known
        // whether a failure was the transfer's or the layer's own.
        let produced = producer.join().unwrap_or_else(|_| Err(io::Error::other("blob reader panicked")));
        let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("blob writer panicked")));
        // A failed write shows in the producer as a stopped writer: report
        // the write's own error.
        (written.and(produced), imported)
    });
    if let Err(e) = produced {
        return Err(RegistryError::Transient(format!("blob {digest}: {e}")));
    }
    let size = blob.written();
    match blob.commit(Some(&job.blob)) {
        Err(image::content::ContentError::Mismatch { actual, .. }) => {
            return Err(RegistryError::Transient(format!(
                "blob {digest}: the registry sent wrong bytes (they hash to {actual})"
            )));
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let info = match imported {
        Ok(info) => info,
        Err(e) => {
            // The registry sent exactly the blob it named, and that blob is
            // not a usable layer: trying again would not help.
            let _ = store.content().delete(&job.blob);
            return Err(RegistryError::Protocol(format!("blob {digest}: {e}")));
        }
    };
    store.add_layer_blob(&job.diff_id, stored_media_type(&job.media_type), &job.blob, size)?;
    Ok(info)
}

/// The OCI media type wharf files a pulled layer blob under (docker's
/// names for the same formats map onto OCI's).
fn stored_media_type(media: &str) -> &'static str {
    if media.ends_with("zstd") {
        Codec::Zstd.media_type()
    } else if media.ends_with("gzip") || media.ends_with(".tar.gz") {
        Codec::Gzip.media_type()
    } else if media.ends_with(".tar") || media.ends_with("tar.diff") {
        LAYER_TAR
    } else {
        Codec::Gzip.media_type()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransferError(String);

/// A blob's body as a `Read`: each chunk is awaited on the session's
/// runtime from this (plain) thread.
struct BodyReader<'a> {
    sess: &'a Session,
    stream: futures_util::stream::BoxStream<'static, Result<Bytes, io::Error>>,
    chunk: Bytes,
    /// The stream said it ended (polling it again is not allowed: its
    /// digest check would run a second time on nothing).
    ended: bool,
    done: u64,
    total: u64,
    id: String,
    progress: &'a dyn Progress,
    /// Every chunk received also goes here, to be kept as the blob.
    copy: SyncSender<Bytes>,
}

impl BodyReader<'_> {
    /// Waits for the next chunk while the current one is used up; leaves
    /// it empty at the end of the body.
    fn refill(&mut self) -> io::Result<()> {
        while self.chunk.is_empty() && !self.ended {
            match self.sess.block_on(self.stream.next()) {
                Some(Ok(b)) => {
                    self.done += b.len() as u64;
                    self.progress.event(Event::Progress { id: self.id.clone(), done: self.done, total: self.total });
                    self.copy.send(b.clone()).map_err(|_| io::Error::other("the blob's writer stopped"))?;
                    self.chunk = b;
                }
                Some(Err(e)) => return Err(io::Error::other(TransferError(e.to_string()))),
                None if self.total > 0 && self.done < self.total => {
                    return Err(io::Error::other(TransferError(format!(
                        "connection closed after {} of {} bytes",
                        self.done, self.total
                    ))))
                }
                None => self.ended = true,
            }
        }
        Ok(())
    }
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.refill()?;
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// The decompressor reads the received chunks where they are.
impl BufRead for BodyReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.refill()?;
        Ok(&self.chunk)
    }

    fn consume(&mut self, n: usize) {
        let _ = self.chunk.split_to(n.min(self.chunk.len()));
    }
}

/// Decompresses a blob into `tx` in chunks, then reads what the
/// decompressor left (padding, trailers) so the whole blob passes `copy`.
/// Buffers go to the extracting thread and come back through `spare` to
/// be filled again, so no byte is copied between the threads.
fn decompress_into<R: BufRead>(mut blob: R, tx: &SyncSender<Piece>, spare: &Receiver<Vec<u8>>) -> io::Result<()> {
    let result = (|| {
        let (_, mut plain) = image::layer::decompress_buffered(&mut blob)?;
        let mut receiving = true;
        while receiving {
            // Buffers stay PIECE long (no zeroing again); `len` says how
            // much of one is data.
            // The first buffer back is the reader's empty one from the
            // start: a read into it would look like the end.
            let mut buf = spare.try_recv().ok().filter(|b| b.len() == PIECE).unwrap_or_else(|| vec![0u8; PIECE]);
            let len = plain.read(&mut buf)?;
            if len == 0 {
                break;
            }
            receiving = tx.send(Piece::Data { buf, len }).is_ok();
        }
        if receiving {
            let _ = tx.send(Piece::End);
        }
        drop(plain);
        io::copy(&mut blob, &mut io::sink()).map(|_| ())
    })();
    if let Err(e) = &result {
        let _ = tx.send(Piece::Failed(io::Error::new(e.kind(), e.to_string())));
    }
    result
}

/// How much the decompressing thread sends at once.
const PIECE: usize = 256 << 10;

/// What the decompressing thread sends the extracting one.
enum Piece {
    Data {
        buf: Vec<u8>,
        len: usize,
    },
    /// The end of the layer.
    End,
    Failed(io::Error),
}

/// The uncompressed layer, as the decompressing thread sends it.
struct ChannelReader {
    rx: Receiver<Piece>,
    /// Where read-out chunks go back to, to be filled again.
    spare: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    /// How much of `chunk` is data.
    len: usize,
    pos: usize,
    /// Hashes every chunk received: the diffID.
    hasher: Option<image::digest::HashingWriter<io::Sink>>,
    /// The diffID and size, once the end was received.
    measured: Option<(Digest, u64)>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.len {
            if self.measured.is_some() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Piece::Data { buf: chunk, len }) => {
                    if let Some(h) = self.hasher.as_mut() {
                        io::Write::write_all(h, &chunk[..len])?;
                    }
                    self.len = len;
                    let used = std::mem::replace(&mut self.chunk, chunk);
                    // A full return channel drops it.
                    let _ = self.spare.try_send(used);
                    self.pos = 0;
                }
                Ok(Piece::End) => {
                    if let Some(h) = self.hasher.take() {
                        let (digest, size, _) = h.finish();
                        self.measured = Some((digest, size));
                    }
                }
                Ok(Piece::Failed(e)) => return Err(e),
                Err(_) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the layer's download stopped")),
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl store::MeasuredRead for ChannelReader {
    fn finish_measure(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        self.measured.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the layer's download stopped"))
    }
}
