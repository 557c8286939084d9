//! Build cache shared between machines (`--cache-to` / `--cache-from`):
//! the records a build made or used, each a step's cache key and the
//! layer chain it left, and the blobs of those layers. Keys depend on
//! content only (base image digests, file digests, instructions, args),
//! so a key computed here finds a record made elsewhere.
//!
//! The builder never does I/O with a cache source: it is given the
//! imported records (in [`crate::BuildOptions::cache_import`]) and a
//! [`CacheFetcher`] that brings a chain's missing layers into the store.
//! A step found only in an imported record is a hit at once; its layers
//! are fetched only when something needs their files (a step run on top,
//! a `COPY --from` of them, the final image): a cached stage whose files
//! nothing reads is never downloaded.

use std::collections::BTreeMap;

use image::Digest;
use serde::{Deserialize, Serialize};
use store::{CachedStep, LayerInfo};

/// Where in an image's config `--cache-to type=inline` puts the target
/// stage's records.
pub const INLINE_KEY: &str = "wharf.buildcache.v1";

/// One step's result as exported: its cache key, when it first ran, and
/// the layer chain of the stage after it (its own layer last, unless it
/// made none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub key: String,
    pub created: String,
    /// The diffIDs of every layer below and including the step's.
    pub diff_ids: Vec<Digest>,
    /// The step made no layer (`diff_ids` is its parent's chain).
    pub empty: bool,
    /// The size of the step's own layer.
    pub size: u64,
}

impl CacheRecord {
    /// The cached step this record stands for.
    pub fn step(&self) -> CachedStep {
        let layer = match (self.empty, self.diff_ids.last(), Digest::chain_id(&self.diff_ids)) {
            (false, Some(diff), Some(chain)) => Some((chain, diff.clone(), self.size)),
            _ => None,
        };
        CachedStep { layer, created: self.created.clone() }
    }
}

/// A layer blob of an imported cache: where to get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The index of the source in [`CacheImport::sources`].
    pub source: usize,
}

/// Everything imported with `--cache-from`: the sources as given, their
/// records, and their layers' blobs by diffID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheImport {
    pub sources: Vec<String>,
    pub records: Vec<CacheRecord>,
    pub blobs: BTreeMap<Digest, CacheBlob>,
}

impl CacheImport {
    /// The record of step `key`, if a source has one.
    pub fn find(&self, key: &str) -> Option<&CacheRecord> {
        self.records.iter().find(|r| r.key == key)
    }
}

/// Brings the layers of a chain (diffIDs, bottom first) that the store
/// lacks in from the cache sources; the error is a message.
pub type CacheFetcher<'a> = &'a dyn Fn(&CacheImport, &[Digest]) -> Result<(), String>;

/// The records a build leaves for `--cache-to`: those of the target
/// stage's steps (`mode=min`) and of every stage built (`mode=max`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheExport {
    pub min: Vec<CacheRecord>,
    pub max: Vec<CacheRecord>,
}

/// The record of a step whose stage now has `layers`.
pub(crate) fn record(key: &str, step: &CachedStep, layers: &[LayerInfo]) -> CacheRecord {
    CacheRecord {
        key: key.to_owned(),
        created: step.created.clone(),
        diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        empty: step.layer.is_none(),
        size: step.layer.as_ref().map_or(0, |(_, _, s)| *s),
    }
}

/// Records once each, in the order first seen.
pub(crate) fn dedup(records: impl IntoIterator<Item = CacheRecord>) -> Vec<CacheRecord> {
    let mut seen = std::collections::BTreeSet::new();
    records.into_iter().filter(|r| seen.insert(r.key.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_gives_back_the_step_it_was_made_from() {
        let d = |s: &str| Digest::of(s.as_bytes());
        let layers = vec![
            LayerInfo { diff_id: d("a"), chain_id: d("a"), size: 1 },
            LayerInfo { diff_id: d("b"), chain_id: Digest::chain_id(&[d("a"), d("b")]).expect("a chain"), size: 2 },
        ];
        let step = CachedStep { layer: Some((layers[1].chain_id.clone(), d("b"), 2)), created: "t".into() };
        assert_eq!(record("k", &step, &layers).step(), step);
        let empty = CachedStep { layer: None, created: "t".into() };
        assert_eq!(record("k", &empty, &layers).step(), empty);
    }
}
