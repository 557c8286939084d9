//! wharf's store: the content store of blobs, one snapshot directory per
//! layer chain, and the SQLite index that ties them into images and tags.
//!
//! Layout under the root (DESIGN.md, "Storage"):
//!
//! ```text
//! wharf.db                  the index (WAL)
//! lock                      flock: shared for writers, exclusive for GC
//! content/blobs/sha256/HEX  configs, manifests, compressed layers
//! snapshots/HEX/fs          one extracted layer per chain ID (overlay lowerdir)
//! locks/snapshot-HEX        flock: held while that snapshot is made
//! tmp/                      staging; renamed into place when complete
//! ```
//!
//! Crash rule: every file is staged in `tmp/` and renamed into place only
//! when complete; the index row is written after the rename. A crash leaves
//! staging files and possibly an unindexed snapshot, both of which
//! [`Store::check`] finds and `repair` removes.

mod buildcache;
mod containers;
mod db;
mod lock;
mod manifests;
mod networks;
mod state;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub use buildcache::{CacheEntry, CachedStep};
pub use containers::ContainerRecord;
pub use db::ImageRecord;
use image::layer::{self, LayerOptions, Whiteouts};
use image::{ContentError, ContentStore, Digest, Reference};
pub use lock::Lock;
pub use manifests::{ListEntry, ManifestList};
pub use networks::NetworkRecord;
use rusqlite::Connection;
pub use state::ContainerState;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("{0}")]
    Conflict(String),
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Reference(#[from] image::BadReference),
    #[error("image config: {0}")]
    Config(String),
}

fn io_at(p: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |e| StoreError::Io(p.display().to_string(), e)
}

/// A layer as stored: its diffID, its chain ID, and its tar's size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerInfo {
    pub diff_id: Digest,
    pub chain_id: Digest,
    pub size: u64,
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub snapshots: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// The current time as RFC 3339 (UTC, nanoseconds), as docker writes it.
/// docker names a missing image as a reference would be: `x` is `x:latest`.
fn no_such_image(name: &str) -> StoreError {
    let shown = match Reference::parse(name) {
        Ok(r) if !name.starts_with("sha256:") => r.familiar(),
        _ => name.to_owned(),
    };
    StoreError::NoSuchImage(shown)
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// An opened store.
pub struct Store {
    root: PathBuf,
    content: ContentStore,
    conn: Connection,
}

impl Store {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["snapshots", "tmp", "containers", "volumes"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_at(&p))?;
        }
        let content = ContentStore::open(root.join("content/blobs"), root.join("tmp"))?;
        let conn = db::open(&root.join("wharf.db"))?;
        Ok(Store { root: root.to_owned(), content, conn })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Takes the store lock: shared for anything that adds, exclusive for
    /// anything that deletes (so GC never removes what a writer is adding).
    pub fn lock(&self, exclusive: bool) -> Result<Lock, StoreError> {
        Lock::acquire(&self.root.join("lock"), exclusive).map_err(io_at(&self.root))
    }

    /// The store lock, if it is free right now.
    pub fn try_lock(&self, exclusive: bool) -> Result<Option<Lock>, StoreError> {
        Lock::try_acquire(&self.root.join("lock"), exclusive).map_err(io_at(&self.root))
    }

    /// The extracted directory of a layer chain.
    pub fn snapshot_dir(&self, chain: &Digest) -> PathBuf {
        self.root.join("snapshots").join(chain.hex()).join("fs")
    }

    /// Extracts a layer tar (plain, gzip or zstd) as the layer above
    /// `parent`, and records it. The diffID is that of the layer's
    /// canonical tar (see `image::layer::write_layer`), so that saving or
    /// pushing it later streams exactly the bytes the ID names.
    pub fn import_layer(&mut self, r: impl Read, parent: Option<&Digest>) -> Result<LayerInfo, StoreError> {
        let staging = self.staging_dir("snap-")?;
        let fs_dir = staging.join("fs");
        fs::create_dir(&fs_dir).map_err(io_at(&fs_dir))?;
        let result = layer::apply(r, &fs_dir, Whiteouts::Overlay)
            .map_err(StoreError::from)
            .and_then(|_| self.adopt_snapshot(&staging, parent));
        if result.is_err() {
            let _ = layer::remove_tree(&staging);
        }
        result
    }

    /// Extracts a layer whose diffID is already known (a loaded or pulled
    /// layer: the image config names it). The uncompressed stream is hashed
    /// while it is extracted and must match `diff_id`; the layer's original
    /// blob is kept by the caller, so no canonical re-tar is needed.
    pub fn import_layer_declared(
        &mut self,
        r: impl Read,
        parent: Option<&Digest>,
        diff_id: &Digest,
    ) -> Result<LayerInfo, StoreError> {
        let (_, plain) = layer::decompress(r).map_err(|e| StoreError::Io("layer".into(), e))?;
        self.import_layer_measured(image::digest::HashingReader::new(plain), parent, diff_id)
    }

    /// As `import_layer_declared`, for an uncompressed stream whose digest
    /// the reader itself reports (a pull hashes it on another thread).
    pub fn import_layer_measured(
        &mut self,
        mut plain: impl MeasuredRead,
        parent: Option<&Digest>,
        diff_id: &Digest,
    ) -> Result<LayerInfo, StoreError> {
        let chain_id = Digest::chain_above(parent, diff_id);
        let dest = self.root.join("snapshots").join(chain_id.hex());
        // Another process making the same snapshot is waited for, and its
        // result taken.
        let _making = self.snapshot_lock(&chain_id)?;
        if dest.is_dir() && self.has_snapshot(&chain_id)? {
            return Ok(LayerInfo { diff_id: diff_id.clone(), size: self.snapshot_size(&chain_id)?, chain_id });
        }
        let staging = self.staging_dir("snap-")?;
        let fs_dir = staging.join("fs");
        fs::create_dir(&fs_dir).map_err(io_at(&fs_dir))?;
        let result = (|| {
            // Start writing the files back while they are extracted, so
            // the final sync below waits for little.
            let early = EarlyWriteback::start(&staging);
            let applied = layer::apply(&mut plain, &fs_dir, Whiteouts::Overlay);
            drop(early);
            applied?;
            let (actual, size) = plain.finish_measure().map_err(|e| StoreError::Io("layer".into(), e))?;
            if actual != *diff_id {
                return Err(StoreError::Corrupt(format!(
                    "layer content has digest {actual}, but the image config says {diff_id}"
                )));
            }
            if dest.exists() {
                // Unindexed, under the lock: a crashed maker's.
                layer::remove_tree(&dest).map_err(io_at(&dest))?;
            }
            sync_filesystem(&staging)?;
            fs::rename(&staging, &dest).map_err(io_at(&dest))?;
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            db::insert_snapshot(&tx, &chain_id, parent, diff_id, size, &now_rfc3339())?;
            tx.commit()?;
            Ok(LayerInfo { diff_id: diff_id.clone(), chain_id: chain_id.clone(), size })
        })();
        if result.is_err() {
            let _ = layer::remove_tree(&staging);
        }
        result
    }

    /// Commits a directory already laid out as a snapshot (e.g. an overlay
    /// upperdir moved into staging) as the layer above `parent`.
    pub fn adopt_snapshot(&mut self, staging: &Path, parent: Option<&Digest>) -> Result<LayerInfo, StoreError> {
        let fs_dir = staging.join("fs");
        layer::normalize_fuse_markers(&fs_dir).map_err(io_at(&fs_dir))?;
        // Flush the extracted files to disk while hashing them: one thread
        // waits on the disk, the other reads the page cache.
        let to_sync = staging.to_owned();
        let syncer = std::thread::spawn(move || sync_filesystem(&to_sync));
        let hashed = layer::write_layer(&fs_dir, io::sink(), &LayerOptions::default());
        let synced = syncer
            .join()
            .map_err(|_| StoreError::Io(staging.display().to_string(), io::Error::other("sync thread panicked")))?;
        let (diff_id, size) = hashed?;
        synced?;
        let chain_id = Digest::chain_above(parent, &diff_id);
        let dest = self.root.join("snapshots").join(chain_id.hex());
        let _making = self.snapshot_lock(&chain_id)?;
        if dest.is_dir() && self.has_snapshot(&chain_id)? {
            layer::remove_tree(staging).map_err(io_at(staging))?;
        } else {
            if dest.exists() {
                // Unindexed, under the lock: a crashed maker's.
                layer::remove_tree(&dest).map_err(io_at(&dest))?;
            }
            fs::rename(staging, &dest).map_err(io_at(&dest))?;
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::insert_snapshot(&tx, &chain_id, parent, &diff_id, size, &now_rfc3339())?;
        tx.commit()?;
        Ok(LayerInfo { diff_id, chain_id, size })
    }

    /// Held while snapshot `chain` is made, so that two processes making
    /// the same layer (concurrent pulls, loads, builds) do not undo each
    /// other's: the second waits, then finds it made. Taken under the
    /// shared store lock; GC (exclusive) removes the lock files.
    fn snapshot_lock(&self, chain: &Digest) -> Result<Lock, StoreError> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let path = dir.join(format!("snapshot-{}", chain.hex()));
        Lock::acquire(&path, true).map_err(io_at(&path))
    }

    /// A fresh directory under `tmp/`.
    pub fn staging_dir(&self, prefix: &str) -> Result<PathBuf, StoreError> {
        let tmp = self.root.join("tmp");
        let (path, file) = image::content::tempfile_in(&tmp, prefix)?;
        drop(file);
        fs::remove_file(&path).map_err(io_at(&path))?;
        fs::create_dir(&path).map_err(io_at(&path))?;
        Ok(path)
    }

    /// Writes a layer's canonical tar.
    pub fn write_layer_tar(&self, chain: &Digest, out: impl Write) -> Result<(Digest, u64), StoreError> {
        Ok(layer::write_layer(&self.snapshot_dir(chain), out, &LayerOptions::default())?)
    }

    /// Stores an image: its config blob (whose digest is the image ID) and
    /// its layers, which must already be stored.
    pub fn add_image(&mut self, config: &[u8], layers: &[LayerInfo]) -> Result<Digest, StoreError> {
        let cfg: serde_json::Value = serde_json::from_slice(config).map_err(|e| StoreError::Config(e.to_string()))?;
        let created = cfg.get("created").and_then(|c| c.as_str()).unwrap_or("").to_owned();
        let id = self.content.put(config)?;
        let size = layers.iter().map(|l| l.size).sum();
        let pairs: Vec<(Digest, Digest)> = layers.iter().map(|l| (l.chain_id.clone(), l.diff_id.clone())).collect();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::insert_image(&tx, &id, &created, size, &pairs, &now_rfc3339())?;
        tx.commit()?;
        Ok(id)
    }

    /// Records a blob (e.g. a manifest) as belonging to an image.
    pub fn add_image_blob(&mut self, id: &Digest, blob: &Digest) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::add_image_blob(&tx, id, blob)?;
        tx.commit()?;
        Ok(())
    }

    /// Records `repo@digest` as a name of the image.
    pub fn add_repo_digest(&mut self, r: &Reference, id: &Digest) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::add_repo_digest(&tx, r, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Points a tag at an image; returns the image it pointed at before.
    pub fn tag(&mut self, id: &Digest, name: &Reference) -> Result<Option<Digest>, StoreError> {
        if name.digest().is_some() {
            return Err(StoreError::Conflict(format!(
                "refusing to create a tag with a digest reference: {}",
                name.familiar()
            )));
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old = db::set_tag(&tx, name, id)?;
        tx.commit()?;
        Ok(old)
    }

    /// Removes a tag; false if it did not exist.
    pub fn untag(&mut self, name: &Reference) -> Result<bool, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let removed = db::remove_tag(&tx, name)?;
        tx.commit()?;
        Ok(removed)
    }

    /// Finds an image by docker's rules: full ID, tag or digest reference,
    /// then unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest, StoreError> {
        let hexish = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if let Some(h) = name.strip_prefix("sha256:") {
            if hexish(h) {
                return self.by_prefix(name, h);
            }
        }
        if name.len() == 64 && hexish(name) {
            if let Ok(d) = Digest::from_hex(name) {
                if db::image(&self.conn, &d)?.is_some() {
                    return Ok(d);
                }
            }
        }
        if let Ok(r) = Reference::parse(name) {
            let hit =
                if r.digest().is_some() { db::digest_target(&self.conn, &r)? } else { db::tag_target(&self.conn, &r)? };
            if let Some(id) = hit {
                return Ok(id);
            }
        }
        if hexish(name) {
            return self.by_prefix(name, name);
        }
        Err(no_such_image(name))
    }

    fn by_prefix(&self, name: &str, prefix: &str) -> Result<Digest, StoreError> {
        let ids = db::ids_with_prefix(&self.conn, prefix)?;
        match ids.len() {
            0 => Err(no_such_image(name)),
            1 => Ok(ids[0].clone()),
            _ => Err(StoreError::Ambiguous(format!("multiple IDs found with provided prefix: {prefix}"))),
        }
    }

    /// One image's record.
    pub fn image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        db::image(&self.conn, id)?.ok_or_else(|| StoreError::NoSuchImage(id.to_string()))
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        db::all_image_ids(&self.conn)?.iter().map(|id| self.image(id)).collect()
    }

    /// The image's config as stored (its bytes hash to the image ID).
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>, StoreError> {
        Ok(self.content.read(id)?)
    }

    /// The diffIDs of an image's layers, base first.
    pub fn diff_ids(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let cfg: serde_json::Value =
            serde_json::from_slice(&self.config_bytes(id)?).map_err(|e| StoreError::Config(e.to_string()))?;
        let ids = cfg.pointer("/rootfs/diff_ids").and_then(|v| v.as_array()).cloned().unwrap_or_default();
        ids.iter()
            .map(|v| v.as_str().unwrap_or_default().parse::<Digest>().map_err(|e| StoreError::Config(e.to_string())))
            .collect()
    }

    /// An image's layers, base first, as stored.
    pub fn image_layers(&self, id: &Digest) -> Result<Vec<LayerInfo>, StoreError> {
        let rec = self.image(id)?;
        let diffs = self.diff_ids(id)?;
        rec.chain
            .iter()
            .zip(diffs)
            .map(|(chain, diff_id)| {
                Ok(LayerInfo { diff_id, chain_id: chain.clone(), size: self.snapshot_size(chain)? })
            })
            .collect()
    }

    /// The size recorded for a layer chain.
    pub fn snapshot_size(&self, chain: &Digest) -> Result<u64, StoreError> {
        db::snapshot_size(&self.conn, chain)
    }

    /// Whether a snapshot for `chain` is recorded.
    pub fn has_snapshot(&self, chain: &Digest) -> Result<bool, StoreError> {
        db::snapshot_exists(&self.conn, chain)
    }

    /// Containers using the image: `(id, state)`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<(String, ContainerState)>, StoreError> {
        db::containers_using(&self.conn, id)
    }

    /// Records a new container (state `created`); a taken name is docker's
    /// conflict error.
    pub fn add_container(&mut self, id: &str, name: &str, image: &Digest) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::insert_container(&tx, id, name, image, &now_rfc3339())?;
        tx.commit()?;
        Ok(())
    }

    /// Moves a container to state `to` if its present state allows it
    /// (`ContainerState::entered_from`), in one statement: of two
    /// processes racing for the same change, one wins and the other gets
    /// false.
    pub fn transition(&mut self, id: &str, to: ContainerState) -> Result<bool, StoreError> {
        self.in_tx(|tx| containers::transition(tx, id, to))
    }

    /// Finds a container by name or unique ID prefix: `(id, name, state)`.
    pub fn find_container(&self, key: &str) -> Result<(String, String, ContainerState), StoreError> {
        let hits = db::find_containers(&self.conn, key)?;
        match hits.as_slice() {
            [] => Err(StoreError::NoSuchContainer(key.to_owned())),
            [one, ..] if one.1 == key => Ok(one.clone()),
            [one] => Ok(one.clone()),
            _ => Err(StoreError::Ambiguous(format!("multiple IDs found with provided prefix: {key}"))),
        }
    }

    /// A container by full ID.
    pub fn container(&self, id: &str) -> Result<ContainerRecord, StoreError> {
        containers::get(&self.conn, id)?.ok_or_else(|| StoreError::NoSuchContainer(id.to_owned()))
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        containers::all(&self.conn)
    }

    /// Stores a container's create-time configuration (JSON).
    pub fn set_container_config(&mut self, id: &str, config: &str) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::set_config(tx, id, config))
    }

    /// Records that a container's process runs as `pid` under `monitor_pid`;
    /// a conflict if its state does not allow it (it is being removed) or
    /// it is gone.
    pub fn set_container_running(&mut self, id: &str, pid: i32, monitor_pid: i32) -> Result<(), StoreError> {
        let done = self.in_tx(|tx| containers::set_running(tx, id, pid, monitor_pid, &now_rfc3339()))?;
        match done {
            true => Ok(()),
            false => Err(StoreError::Conflict(format!("container {id} can no longer be started: it is being removed"))),
        }
    }

    /// Records a container's exit.
    pub fn set_container_exited(&mut self, id: &str, code: i32, oom: bool) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::set_exited(tx, id, code, oom, &now_rfc3339()))
    }

    /// Records a failed start: the container stays created, with the
    /// failure's exit code and message.
    pub fn set_container_start_failed(&mut self, id: &str, code: i32, error: &str) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::set_start_failed(tx, id, code, error))
    }

    /// Records the monitor of a container (and how often it restarted it).
    pub fn set_container_monitor(&mut self, id: &str, monitor_pid: i32, restarts: i64) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::set_monitor(tx, id, monitor_pid, restarts))
    }

    /// Records a container's bridge address ('' to release it).
    pub fn set_container_ip(&mut self, id: &str, ip: &str) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::set_ip(tx, id, ip))
    }

    /// Renames a container; a taken name is docker's conflict error.
    pub fn rename_container(&mut self, id: &str, name: &str) -> Result<(), StoreError> {
        self.in_tx(|tx| containers::rename(tx, id, name))
    }

    // Write transactions begin IMMEDIATE: a deferred one that reads and
    // then writes cannot wait for another process's write (SQLite answers
    // "database is locked" at once, whatever the busy timeout), which
    // eight concurrent pulls hit in CI.
    fn in_tx<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// The layer a build step with this cache key made, if cached and its
    /// snapshots are all still there.
    pub fn cached_step(&self, key: &str) -> Result<Option<CachedStep>, StoreError> {
        let hit = buildcache::get(&self.conn, key)?;
        if let Some(CachedStep { layer: Some((chain, _, _)), .. }) = &hit {
            if !self.has_snapshot(chain)? {
                return Ok(None);
            }
        }
        if hit.is_some() {
            buildcache::touch(&self.conn, key, &now_rfc3339())?;
        }
        Ok(hit)
    }

    /// Records what a build step made.
    pub fn put_cached_step(&mut self, key: &str, step: &CachedStep) -> Result<(), StoreError> {
        buildcache::put(&self.conn, key, step, &now_rfc3339())
    }

    /// Forgets build cache entries last used before `before` (RFC 3339;
    /// all when None). Run [`Store::gc`] afterwards to free their layers.
    pub fn prune_build_cache(&mut self, before: Option<&str>) -> Result<usize, StoreError> {
        buildcache::prune(&self.conn, before)
    }

    /// The snapshot the last copy step of this lineage made, if it is
    /// still there: a COPY whose sources changed in part starts from its
    /// files (the builder's `seed` module).
    pub fn copy_seed(&self, lineage: &str) -> Result<Option<Digest>, StoreError> {
        match buildcache::seed_get(&self.conn, lineage)? {
            Some(chain) if self.has_snapshot(&chain)? => Ok(Some(chain)),
            _ => Ok(None),
        }
    }

    pub fn put_copy_seed(&mut self, lineage: &str, chain: &Digest) -> Result<(), StoreError> {
        buildcache::seed_put(&self.conn, lineage, chain)
    }

    /// The build cache's entries, last used first.
    pub fn build_cache(&self) -> Result<Vec<buildcache::CacheEntry>, StoreError> {
        buildcache::entries(&self.conn)
    }

    /// The content digest recorded for a context file with this stat
    /// stamp.
    pub fn stat_cached(&self, path: &str, stamp: &str) -> Result<Option<Digest>, StoreError> {
        buildcache::stat_get(&self.conn, path, stamp)
    }

    /// The stat cache entries under a directory: path → (stamp, digest),
    /// read in one query (a context of thousands of files is checked
    /// against memory).
    pub fn stat_cache_under(
        &self,
        dir: &str,
    ) -> Result<std::collections::HashMap<String, (String, Digest)>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for (p, stamp, d) in buildcache::stat_under(&self.conn, dir)? {
            if let Ok(d) = d.parse() {
                out.insert(p, (stamp, d));
            }
        }
        Ok(out)
    }

    pub fn put_stat_cache(&mut self, entries: &[(String, String, Digest)]) -> Result<(), StoreError> {
        buildcache::stat_put(&self.conn, entries)
    }

    /// The manifest list named `name` (a reference's full text).
    pub fn manifest_list(&self, name: &str) -> Result<Option<ManifestList>, StoreError> {
        manifests::get(&self.conn, name)
    }

    /// Creates or replaces a manifest list.
    pub fn put_manifest_list(&mut self, list: &ManifestList) -> Result<(), StoreError> {
        manifests::put(&self.conn, list)
    }

    /// Removes a manifest list; whether there was one.
    pub fn remove_manifest_list(&mut self, name: &str) -> Result<bool, StoreError> {
        manifests::remove(&self.conn, name)
    }

    pub fn manifest_lists(&self) -> Result<Vec<ManifestList>, StoreError> {
        manifests::all(&self.conn)
    }

    pub fn add_network(&mut self, n: &NetworkRecord) -> Result<(), StoreError> {
        networks::add(&self.conn, n)
    }

    /// A user network by name or ID prefix.
    pub fn network(&self, key: &str) -> Result<Option<NetworkRecord>, StoreError> {
        networks::find(&self.conn, key)
    }

    pub fn networks(&self) -> Result<Vec<NetworkRecord>, StoreError> {
        networks::all(&self.conn)
    }

    pub fn remove_network(&mut self, name: &str) -> Result<(), StoreError> {
        networks::remove(&self.conn, name)
    }

    /// Forgets a container.
    pub fn remove_container(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::delete_container(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes an image record (its tags go with it). Call [`Store::gc`]
    /// afterwards, under the exclusive lock, to free its layers.
    pub fn delete_image(&mut self, id: &Digest) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::delete_image(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// A compressed blob already made for a layer.
    pub fn layer_blob(&self, diff: &Digest, media_type: &str) -> Result<Option<(Digest, u64)>, StoreError> {
        // A record whose blob is gone (removed by hand, or by a GC before
        // the records were kept with it) is no blob.
        Ok(db::layer_blob(&self.conn, diff, media_type)?.filter(|(b, _)| self.content.contains(b)))
    }

    /// Records a compressed blob made for a layer, so it is reused.
    pub fn add_layer_blob(
        &mut self,
        diff: &Digest,
        media_type: &str,
        blob: &Digest,
        size: u64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::add_layer_blob(&tx, diff, media_type, blob, size)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes snapshots and blobs no image refers to. Needs the exclusive
    /// lock (pass it in as proof).
    pub fn gc(&mut self, _exclusive: &Lock) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        for chain in db::unreferenced_snapshots(&self.conn)? {
            let dir = self.root.join("snapshots").join(chain.hex());
            report.bytes += self.snapshot_size(&chain).unwrap_or(0);
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            db::delete_snapshot(&tx, &chain)?;
            tx.commit()?;
            layer::remove_tree(&dir).map_err(io_at(&dir))?;
            report.snapshots += 1;
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        db::forget_unused_layer_blobs(&tx)?;
        tx.commit()?;
        // Nobody holds a snapshot lock while GC holds the exclusive one.
        if let Ok(locks) = fs::read_dir(self.root.join("locks")) {
            for l in locks.flatten() {
                let _ = fs::remove_file(l.path());
            }
        }
        let keep: std::collections::HashSet<Digest> = db::referenced_blobs(&self.conn)?.into_iter().collect();
        for blob in self.content.list()? {
            if !keep.contains(&blob) {
                report.bytes += self.content.size(&blob).unwrap_or(0);
                self.content.delete(&blob)?;
                report.blobs += 1;
            }
        }
        Ok(report)
    }

    /// Disk use: (images, layer bytes, blob bytes).
    pub fn disk_usage(&self) -> Result<(usize, u64, u64), StoreError> {
        let images = db::all_image_ids(&self.conn)?.len();
        let layers = db::all_snapshots(&self.conn)?.iter().map(|(_, s)| s).sum();
        let blobs = self.content.list()?.iter().filter_map(|d| self.content.size(d)).sum();
        Ok((images, layers, blobs))
    }

    /// Walks the store for inconsistencies; with `repair`, fixes what can
    /// be fixed. Needs the exclusive lock.
    pub fn check(&mut self, lock: &Lock, repair: bool) -> Result<Vec<String>, StoreError> {
        check::run(self, lock, repair)
    }
}

/// Flushes the filesystem holding `path` (one `syncfs`, not one fsync per
/// file), so a completed snapshot survives power loss before it is renamed
/// into place.
/// An uncompressed layer stream that knows the digest and size of all
/// that passed through it.
pub trait MeasuredRead: Read {
    /// Reads what is left (a tar's end-of-archive padding) and returns the
    /// digest and size of the whole stream.
    fn finish_measure(self) -> io::Result<(Digest, u64)>;
}

impl<R: Read> MeasuredRead for image::digest::HashingReader<R> {
    fn finish_measure(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.finish())
    }
}

/// A thread that syncs a filesystem every 100 ms until dropped: writeback
/// of a large extraction then overlaps the extraction instead of all of
/// it waiting for the final `syncfs`.
struct EarlyWriteback {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EarlyWriteback {
    fn start(path: &Path) -> EarlyWriteback {
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let path = path.to_owned();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_millis(100))
            {
                let _ = sync_filesystem(&path);
            }
        });
        EarlyWriteback { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for EarlyWriteback {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sync_filesystem(path: &Path) -> Result<(), StoreError> {
    let fd =
        rustix::fs::open(path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
            .map_err(|e| StoreError::Io(path.display().to_string(), io::Error::from_raw_os_error(e.raw_os_error())))?;
    rustix::fs::syncfs(&fd)
        .map_err(|e| StoreError::Io(path.display().to_string(), io::Error::from_raw_os_error(e.raw_os_error())))
}

mod check;
mod compress;
mod pargzip;
pub use compress::{Codec, LAYER_TAR};
