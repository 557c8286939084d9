//! A build cache through a registry: its layers pushed and fetched as an
//! image's are (kept blobs reused, mounted, compressed while uploaded;
//! fetched in parallel), its records as an OCI artifact whose manifest
//! the caller makes (engine::buildcache).

use std::path::Path;

use image::{Digest, Reference};
use oci_client::RegistryOperation;
use store::{Codec, LayerInfo, Store};

use crate::pull::{descriptor_digest, fetch_layers, fetch_manifest, fetch_small_blob, LayerJob};
use crate::session::Session;
use crate::{oci_reference, Options, RegistryError};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A layer as pushed.
#[derive(Debug, Clone)]
pub struct PushedBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Pushes `layers` (from the store at `root`) to `r`'s repository.
pub fn push_layers(
    root: &Path,
    r: &Reference,
    layers: &[LayerInfo],
    opts: &Options,
) -> Result<Vec<PushedBlob>, RegistryError> {
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Push)?;
    let quiet = |_| {};
    let blobs = crate::push::push_layers(root, &sess, &oref, layers, Codec::Gzip, &[], opts, &quiet)?;
    Ok(blobs
        .into_iter()
        .map(|b| PushedBlob { digest: b.digest, media_type: b.media_type.to_owned(), size: b.size })
        .collect())
}

/// Pushes an artifact's config blob and its manifest (an OCI image
/// manifest) under `r`'s tag.
pub fn push_artifact(r: &Reference, config: &[u8], manifest: &[u8], opts: &Options) -> Result<Digest, RegistryError> {
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Push)?;
    let config_digest = Digest::of(config).to_string();
    if !sess.retry("config", || sess.client.blob_exists(&oref, &config_digest))? {
        let bytes = bytes::Bytes::from(config.to_vec());
        sess.retry(&format!("config blob {config_digest}"), || {
            sess.client.push_blob(&oref, bytes.clone(), &config_digest)
        })?;
    }
    let content_type = reqwest::header::HeaderValue::from_static(OCI_MANIFEST);
    let bytes = bytes::Bytes::from(manifest.to_vec());
    sess.retry(&format!("manifest for {}", r.familiar()), || {
        sess.client.push_manifest_raw(&oref, bytes.clone(), content_type.clone())
    })?;
    Ok(Digest::of(manifest))
}

/// A manifest in a registry, as `manifest create/inspect` read it.
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    pub bytes: Vec<u8>,
    pub json: serde_json::Value,
    pub digest: Digest,
    pub media_type: String,
    /// The config blob of an image's (or an artifact's) manifest; None
    /// for an index.
    pub config: Option<Vec<u8>>,
}

/// The manifest `r` names, and its config blob unless it is an index.
pub fn remote_manifest(r: &Reference, opts: &Options) -> Result<RemoteManifest, RegistryError> {
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Pull)?;
    let name = r.familiar();
    let m = fetch_manifest(&sess, &oref, &name)?;
    let media_type = m.json["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_owned();
    let config = match m.json.get("manifests") {
        Some(_) => None,
        None => Some(fetch_small_blob(&sess, &oref, &descriptor_digest(&m.json["config"], &name)?)?),
    };
    Ok(RemoteManifest { bytes: m.bytes, json: m.json, digest: m.digest, media_type, config })
}

/// One layer to fetch into the store: its blob and where it goes.
#[derive(Debug, Clone)]
pub struct LayerFetch {
    pub blob: Digest,
    pub media_type: String,
    pub size: u64,
    pub diff_id: Digest,
    /// The chain below it (None: the bottom layer).
    pub parent: Option<Digest>,
}

/// Fetches `layers` from `r`'s repository into the store at `root`, in
/// parallel as a pull does (those the store has are skipped).
pub fn fetch_layers_into(
    root: &Path,
    r: &Reference,
    layers: Vec<LayerFetch>,
    opts: &Options,
) -> Result<(), RegistryError> {
    let oref = oci_reference(r);
    let sess = Session::open(&oref, opts, RegistryOperation::Pull)?;
    let jobs: Vec<LayerJob> = layers
        .into_iter()
        .map(|l| LayerJob {
            blob: l.blob,
            media_type: l.media_type,
            size: l.size,
            diff_id: l.diff_id,
            parent: l.parent,
        })
        .collect();
    let mut store = Store::open(root)?;
    let quiet = |_| {};
    fetch_layers(root, &sess, &oref, &jobs, opts, &quiet, &mut store)?;
    Ok(())
}
