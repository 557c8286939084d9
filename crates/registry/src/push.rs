//! Push: layers (compressed once and kept, so a second push or save
//! reuses them), then the config, then an OCI manifest naming them, with
//! `max_concurrent` layers at once. A layer with no kept blob is
//! compressed and uploaded at the same time (`upload.rs`). Of a kept
//! blob, one the registry already has is skipped (HEAD), one another
//! repository of the same registry has is mounted from it, and the rest
//! are uploaded as one streamed PUT each.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use image::{Digest, Reference};
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;
use serde_json::json;
use store::{Codec, LayerInfo, Store};

use crate::session::Session;
use crate::{oci_reference, short_id, Event, Options, Progress, RegistryError};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest's digest and size, as docker prints them.
    pub digest: Digest,
    pub size: usize,
}

/// A layer as pushed: its blob, size and media type.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) media_type: &'static str,
}

/// Pushes the stored image `r` names to its registry.
pub fn push(
    root: &Path,
    r: &Reference,
    codec: Codec,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Pushed, RegistryError> {
    let id = Store::open(root)?.resolve(&r.to_string())?;
    push_image(root, &id, r, false, codec, opts, progress)
}

/// Pushes the stored image `id` to `r`'s repository: under `r`'s tag, or
/// with `by_digest` under its manifest's digest alone (an index's entry).
pub fn push_image(
    root: &Path,
    id: &Digest,
    r: &Reference,
    by_digest: bool,
    codec: Codec,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Pushed, RegistryError> {
    let mut store = Store::open(root)?;
    let _lock = store.lock(false)?;
    let id = id.clone();
    let config = store.config_bytes(&id)?;
    let layers = store.image_layers(&id)?;
    let record = store.image(&id)?;
    // Other repositories of the same registry that hold this image's
    // blobs: a layer is mounted from them rather than uploaded.
    let mount_from: Vec<oci_client::Reference> = record
        .digests
        .iter()
        .chain(&record.tags)
        .filter(|o| o.domain() == r.domain() && o.path() != r.path())
        .map(oci_reference)
        .collect();
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Push)?;
    let blobs = push_layers(root, &sess, &oref, &layers, codec, &mount_from, opts, progress)?;
    let config_digest = id.to_string();
    if !sess.retry("config", || sess.client.blob_exists(&oref, &config_digest))? {
        let bytes = bytes::Bytes::from(config.clone());
        sess.retry(&format!("config blob {config_digest}"), || {
            sess.client.push_blob(&oref, bytes.clone(), &config_digest)
        })?;
    }
    let layers: Vec<(Digest, u64, &str)> = blobs.iter().map(|b| (b.digest.clone(), b.size, b.media_type)).collect();
    let body = image_manifest(&id, config.len(), &layers);
    let digest = Digest::of(&body);
    let content_type = reqwest::header::HeaderValue::from_static(OCI_MANIFEST);
    let bytes = bytes::Bytes::from(body.clone());
    let target = if by_digest { oref.clone_with_digest(digest.to_string()) } else { oref.clone() };
    sess.retry(&format!("manifest for {}", r.familiar()), || {
        sess.client.push_manifest_raw(&target, bytes.clone(), content_type.clone())
    })?;
    drop(sess);
    store.content().put(&body)?;
    store.add_image_blob(&id, &digest)?;
    store.add_repo_digest(&r.with_digest(digest.clone()), &id)?;
    Ok(Pushed { digest, size: body.len() })
}

/// The OCI manifest a push writes for an image: its config (`id`, of
/// `config_size` bytes) and its layer blobs (digest, size, media type).
/// `manifest inspect` of a local list computes the same bytes, so its
/// digests are those a push gives.
pub fn image_manifest(id: &Digest, config_size: usize, layers: &[(Digest, u64, &str)]) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": id.to_string(), "size": config_size},
        "layers": layers.iter().map(|(d, size, m)| json!({"mediaType": m, "digest": d.to_string(), "size": size})).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// One image of a multi-platform index: its manifest as pushed and its
/// platform (`os`, `architecture`, `variant`).
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub digest: Digest,
    pub size: usize,
    /// The manifest's media type (OCI's when empty).
    pub media_type: String,
    pub os_version: String,
    pub os_features: Vec<String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

/// Pushes an OCI image index of `entries` (already pushed to `r`'s
/// repository) under `r`'s tag.
pub fn push_index(r: &Reference, entries: &[IndexEntry], opts: &Options) -> Result<Pushed, RegistryError> {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut platform = json!({"architecture": e.architecture, "os": e.os});
            if !e.variant.is_empty() {
                platform["variant"] = json!(e.variant);
            }
            if !e.os_version.is_empty() {
                platform["os.version"] = json!(e.os_version);
            }
            if !e.os_features.is_empty() {
                platform["os.features"] = json!(e.os_features);
            }
            let media_type = if e.media_type.is_empty() { OCI_MANIFEST } else { e.media_type.as_str() };
            let mut m =
                json!({"mediaType": media_type, "digest": e.digest.to_string(), "size": e.size, "platform": platform});
            if !e.annotations.is_empty() {
                m["annotations"] = json!(e.annotations);
            }
            m
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let body = serde_json::to_vec(&index).map_err(|e| RegistryError::Protocol(e.to_string()))?;
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Push)?;
    let content_type = reqwest::header::HeaderValue::from_static(OCI_INDEX);
    let bytes = bytes::Bytes::from(body.clone());
    sess.retry(&format!("index for {}", r.familiar()), || {
        sess.client.push_manifest_raw(&oref, bytes.clone(), content_type.clone())
    })?;
    Ok(Pushed { digest: Digest::of(&body), size: body.len() })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn push_layers(
    root: &Path,
    sess: &Session,
    oref: &oci_client::Reference,
    layers: &[LayerInfo],
    codec: Codec,
    mount_from: &[oci_client::Reference],
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Vec<Blob>, RegistryError> {
    let workers = opts.max_concurrent.unwrap_or(5);
    crate::pool::run(root, layers, workers, |store, layer| {
        push_layer(store, sess, oref, layer, codec, mount_from, progress)
    })
    .into_iter()
    .map(|r| r.unwrap_or_else(|| Err(RegistryError::Protocol("layer not pushed".into()))))
    .collect()
}

/// The compressed blob kept for a layer, of the codec asked for or else
/// the other one.
fn kept_blob(store: &mut Store, layer: &LayerInfo, codec: Codec) -> Result<Option<Blob>, RegistryError> {
    let other = if codec == Codec::Gzip { Codec::Zstd } else { Codec::Gzip };
    for c in [codec, other] {
        if let Some((digest, size)) = store.layer_blob(&layer.diff_id, c.media_type())? {
            if store.content().contains(&digest) {
                return Ok(Some(Blob { digest, size, media_type: c.media_type() }));
            }
        }
    }
    Ok(None)
}

/// Pushes one layer. Progress lines name it by its diffID, as docker's do.
fn push_layer(
    store: &mut Store,
    sess: &Session,
    oref: &oci_client::Reference,
    layer: &LayerInfo,
    codec: Codec,
    mount_from: &[oci_client::Reference],
    progress: &dyn Progress,
) -> Result<Blob, RegistryError> {
    let id = short_id(&layer.diff_id);
    if let Some(blob) = kept_blob(store, layer, codec)? {
        push_kept(store, sess, oref, &blob, &id, mount_from, progress)?;
        return Ok(blob);
    }
    let (blob, uploaded) = compress_and_upload(store, sess, oref, layer, codec, &id, progress)?;
    match uploaded {
        Ok(()) => progress.event(Event::Done { id }),
        Err(reason) => {
            progress.event(Event::Retrying { id: id.clone(), reason });
            push_kept(store, sess, oref, &blob, &id, mount_from, progress)?;
        }
    }
    Ok(blob)
}

/// Compresses a layer no blob is kept for and uploads it while it is
/// made, as docker does: a push is bound by compression, and the upload
/// then costs no time of its own. Returns the blob (kept in the store
/// either way) and how the upload went; one that failed is for the caller
/// to retry from the kept blob, since a stream cannot be replayed.
fn compress_and_upload(
    store: &mut Store,
    sess: &Session,
    oref: &oci_client::Reference,
    layer: &LayerInfo,
    codec: Codec,
    id: &str,
    progress: &dyn Progress,
) -> Result<(Blob, Result<(), String>), RegistryError> {
    // Total 0: the compressed size is not known until the end.
    progress.event(Event::Started { id: id.to_owned(), total: 0 });
    let upload = sess.block_on(sess.open_upload(oref.repository()));
    let sent = AtomicU64::new(0);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, BoxError>>(4);
    let (made, sent_to) = watched(progress, id, 0, &sent, || {
        std::thread::scope(|s| {
            let compressing = s.spawn(|| {
                let mut copy = ChannelWriter { tx: &tx, sent: &sent };
                let made = store.compress_layer_teed(&layer.chain_id, &layer.diff_id, codec, &mut copy);
                if let Err(e) = &made {
                    // Fail the upload rather than let it commit what came so far.
                    let _ = tx.blocking_send(Err(e.to_string().into()));
                }
                drop(tx);
                made
            });
            let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let sent_to = match &upload {
                Ok(location) => sess.block_on(sess.send_blob(location, body)),
                Err(e) => {
                    // Nothing reads the pieces: the compressing thread must
                    // find the channel closed, not wait on it.
                    drop(body);
                    Err(e.clone())
                }
            };
            let made = compressing
                .join()
                .unwrap_or_else(|_| Err(store::StoreError::Corrupt("the compressing thread panicked".into())));
            (made, sent_to)
        })
    });
    let (digest, size) = made?;
    let blob = Blob { digest, size, media_type: codec.media_type() };
    let uploaded = match sent_to {
        Ok(location) => sess.block_on(sess.commit_upload(&location, &blob.digest.to_string())),
        Err(e) => Err(e),
    };
    Ok((blob, uploaded))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Hands what it is given (a whole gzip member at a time) to the upload.
/// Once the upload is gone (it failed), writes fail, and the blob's maker
/// stops copying.
struct ChannelWriter<'a> {
    tx: &'a tokio::sync::mpsc::Sender<Result<Bytes, BoxError>>,
    sent: &'a AtomicU64,
}

impl std::io::Write for ChannelWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.tx.blocking_send(Ok(Bytes::copy_from_slice(data))).map_err(|_| std::io::Error::other("upload ended"))?;
        self.sent.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` while a watcher turns `sent` into progress events, every
/// 200 ms until it ends.
fn watched<R>(progress: &dyn Progress, id: &str, total: u64, sent: &AtomicU64, work: impl FnOnce() -> R) -> R {
    let (finished, finished_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = finished_rx.recv_timeout(Duration::from_millis(200)) {
                let done = sent.load(Ordering::Relaxed);
                progress.event(Event::Progress { id: id.to_owned(), done, total });
            }
        });
        let r = work();
        drop(finished);
        r
    })
}

/// Pushes a kept blob: skipped if the registry has it, mounted if another
/// repository there has it, else uploaded from the store.
fn push_kept(
    store: &Store,
    sess: &Session,
    oref: &oci_client::Reference,
    blob: &Blob,
    id: &str,
    mount_from: &[oci_client::Reference],
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let id = id.to_owned();
    let digest = blob.digest.to_string();
    if sess.retry(&format!("blob {digest}"), || sess.client.blob_exists(oref, &digest))? {
        progress.event(Event::Exists { id });
        return Ok(());
    }
    for source in mount_from {
        let mounted = sess.block_on(sess.client.mount_blob(oref, source, &digest)).is_ok()
            && sess.block_on(sess.client.blob_exists(oref, &digest)).unwrap_or(false);
        if mounted {
            progress.event(Event::Mounted { id, from: source.repository().to_owned() });
            return Ok(());
        }
    }
    progress.event(Event::Started { id: id.clone(), total: blob.size });
    let path = store.content().path(&blob.digest);
    // The body stream must be 'static, so it counts into a shared counter.
    let sent = Arc::new(AtomicU64::new(0));
    watched(progress, &id, blob.size, &sent, || {
        sess.retry(&format!("blob {digest}"), || {
            let (path, digest, sent) = (path.clone(), digest.clone(), sent.clone());
            let total = blob.size;
            async move {
                sent.store(0, Ordering::Relaxed);
                let file = tokio::fs::File::open(&path).await?;
                let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |chunk| {
                    let chunk = chunk.map_err(OciDistributionError::IoError)?;
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    Ok(chunk)
                });
                sess.client.push_blob_stream(oref, body, &digest, Some(total)).await
            }
        })
    })?;
    progress.event(Event::Done { id });
    Ok(())
}
