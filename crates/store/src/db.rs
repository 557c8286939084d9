//! The SQLite index (WAL mode): the only mutable metadata in the store.

use std::path::Path;
use std::time::Duration;

use image::{Digest, Reference};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::StoreError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS snapshots(
    chain_id TEXT PRIMARY KEY,
    parent   TEXT,
    diff_id  TEXT NOT NULL,
    size     INTEGER NOT NULL,
    created  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images(
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    size    INTEGER NOT NULL,
    added   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers(
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES snapshots(chain_id),
    diff_id  TEXT NOT NULL,
    PRIMARY KEY(image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags(
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests(
    repo     TEXT NOT NULL,
    digest   TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY(repo, digest)
);
CREATE TABLE IF NOT EXISTS layer_blobs(
    diff_id    TEXT NOT NULL,
    media_type TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY(diff_id, media_type)
);
CREATE TABLE IF NOT EXISTS image_blobs(
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY(image_id, digest)
);
CREATE TABLE IF NOT EXISTS containers(
    id       TEXT PRIMARY KEY,
    name     TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id),
    created  TEXT NOT NULL,
    state    TEXT NOT NULL
);
"#;

/// Bumped whenever the schema changes; a database at this version needs
/// no setup on open.
const SCHEMA_VERSION: i64 = 8;

/// Opens (creating) the database with WAL and a busy timeout, so several
/// wharf processes can share it.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // Closing the last connection would checkpoint the WAL into the
    // database and delete it: two fsyncs, a directory fsync when the next
    // command creates the WAL again, about 0.7 ms of every short command
    // here. Left open, the WAL is checkpointed by SQLite's auto-checkpoint
    // (every 1000 pages) during some commit instead; readers see the same
    // data either way.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        setup(&conn, path)?;
    }
    Ok(conn)
}

/// Creates or migrates the schema. Two processes doing this at once would
/// fail with "database is locked" (SQLite does not wait on racing schema
/// changes), so they take turns under a file lock.
fn setup(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let lock_path = path.with_extension("db-init.lock");
    let _init =
        crate::lock::Lock::acquire(&lock_path, true).map_err(|e| StoreError::Io(lock_path.display().to_string(), e))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(SCHEMA)?;
    crate::containers::migrate(conn)?;
    conn.execute_batch(crate::buildcache::SCHEMA)?;
    conn.execute_batch(crate::networks::SCHEMA)?;
    crate::networks::migrate(conn)?;
    conn.execute_batch(crate::manifests::SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

/// One stored image, as the image commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: Digest,
    /// The image's creation time (RFC 3339, from its config).
    pub created: String,
    /// Sum of its layers' uncompressed sizes.
    pub size: u64,
    pub tags: Vec<Reference>,
    /// `repo@digest` of manifests it was pulled or pushed as.
    pub digests: Vec<Reference>,
    /// Layer chain IDs, base first.
    pub chain: Vec<Digest>,
}

fn digest(s: String) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad digest in database: {s}")))
}

pub fn snapshot_exists(conn: &Connection, chain: &Digest) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM snapshots WHERE chain_id = ?1", [chain.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert_snapshot(
    tx: &Transaction,
    chain: &Digest,
    parent: Option<&Digest>,
    diff: &Digest,
    size: u64,
    now: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO snapshots(chain_id, parent, diff_id, size, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![chain.to_string(), parent.map(|p| p.to_string()), diff.to_string(), size as i64, now],
    )?;
    Ok(())
}

pub fn snapshot_size(conn: &Connection, chain: &Digest) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT size FROM snapshots WHERE chain_id = ?1", [chain.to_string()], |r| r.get::<_, i64>(0))?
        as u64)
}

/// Records an image and its layers (idempotent).
pub fn insert_image(
    tx: &Transaction,
    id: &Digest,
    created: &str,
    size: u64,
    layers: &[(Digest, Digest)],
    now: &str,
) -> Result<(), StoreError> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO images(id, created, size, added) VALUES (?1, ?2, ?3, ?4)",
        params![id.to_string(), created, size as i64, now],
    )?;
    if n == 0 {
        return Ok(());
    }
    for (i, (chain, diff)) in layers.iter().enumerate() {
        tx.execute(
            "INSERT INTO image_layers(image_id, idx, chain_id, diff_id) VALUES (?1, ?2, ?3, ?4)",
            params![id.to_string(), i as i64, chain.to_string(), diff.to_string()],
        )?;
    }
    Ok(())
}

/// Points `name` at `id`; returns the image it pointed at before, if any.
pub fn set_tag(tx: &Transaction, name: &Reference, id: &Digest) -> Result<Option<Digest>, StoreError> {
    let old: Option<String> =
        tx.query_row("SELECT image_id FROM tags WHERE name = ?1", [name.to_string()], |r| r.get(0)).optional()?;
    tx.execute(
        "INSERT OR REPLACE INTO tags(name, image_id) VALUES (?1, ?2)",
        params![name.to_string(), id.to_string()],
    )?;
    old.map(digest).transpose()
}

pub fn remove_tag(tx: &Transaction, name: &Reference) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM tags WHERE name = ?1", [name.to_string()])? > 0)
}

pub fn add_repo_digest(tx: &Transaction, r: &Reference, id: &Digest) -> Result<(), StoreError> {
    let (Some(d), repo) = (r.digest(), r.repository()) else { return Ok(()) };
    tx.execute(
        "INSERT OR REPLACE INTO repo_digests(repo, digest, image_id) VALUES (?1, ?2, ?3)",
        params![repo, d.to_string(), id.to_string()],
    )?;
    Ok(())
}

pub fn tag_target(conn: &Connection, name: &Reference) -> Result<Option<Digest>, StoreError> {
    conn.query_row("SELECT image_id FROM tags WHERE name = ?1", [name.to_string()], |r| r.get::<_, String>(0))
        .optional()?
        .map(digest)
        .transpose()
}

pub fn digest_target(conn: &Connection, r: &Reference) -> Result<Option<Digest>, StoreError> {
    let Some(d) = r.digest() else { return Ok(None) };
    conn.query_row(
        "SELECT image_id FROM repo_digests WHERE repo = ?1 AND digest = ?2",
        params![r.repository(), d.to_string()],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .map(digest)
    .transpose()
}

/// Image IDs whose hex starts with `prefix`.
pub fn ids_with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<Digest>, StoreError> {
    let mut st = conn.prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
    let lo = format!("sha256:{prefix}");
    let hi = format!("sha256:{prefix}\u{7f}");
    let rows = st.query_map(params![lo, hi], |r| r.get::<_, String>(0))?;
    rows.map(|r| digest(r?)).collect()
}

pub fn image(conn: &Connection, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row("SELECT created, size FROM images WHERE id = ?1", [id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((created, size)) = row else { return Ok(None) };
    let refs = |sql: &str| -> Result<Vec<Reference>, StoreError> {
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let s = r?;
            out.push(Reference::parse(&s).map_err(|_| StoreError::Corrupt(format!("bad reference in database: {s}")))?);
        }
        Ok(out)
    };
    let tags = refs("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
    let digests = refs("SELECT repo || '@' || digest FROM repo_digests WHERE image_id = ?1 ORDER BY repo")?;
    let mut st = conn.prepare("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx")?;
    let chain =
        st.query_map([id.to_string()], |r| r.get::<_, String>(0))?.map(|r| digest(r?)).collect::<Result<_, _>>()?;
    Ok(Some(ImageRecord { id: id.clone(), created, size: size as u64, tags, digests, chain }))
}

pub fn all_image_ids(conn: &Connection) -> Result<Vec<Digest>, StoreError> {
    let mut st = conn.prepare("SELECT id FROM images ORDER BY created DESC, id")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| digest(r?)).collect()
}

pub fn delete_image(tx: &Transaction, id: &Digest) -> Result<(), StoreError> {
    tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
    Ok(())
}

/// Containers (any state) created from the image.
pub fn containers_using(conn: &Connection, id: &Digest) -> Result<Vec<(String, crate::ContainerState)>, StoreError> {
    let mut st = conn.prepare("SELECT id, state FROM containers WHERE image_id = ?1")?;
    let rows = st.query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Snapshots no image layer refers to.
pub fn unreferenced_snapshots(conn: &Connection) -> Result<Vec<Digest>, StoreError> {
    let mut st = conn.prepare(
        "SELECT chain_id FROM snapshots s WHERE NOT EXISTS (SELECT 1 FROM image_layers l WHERE l.chain_id = s.chain_id) \
         AND NOT EXISTS (SELECT 1 FROM build_cache b WHERE b.chain_id = s.chain_id)",
    )?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| digest(r?)).collect()
}

pub fn all_snapshots(conn: &Connection) -> Result<Vec<(Digest, u64)>, StoreError> {
    let mut st = conn.prepare("SELECT chain_id, size FROM snapshots")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|r| {
        let (c, s) = r?;
        Ok((digest(c)?, s as u64))
    })
    .collect()
}

pub fn delete_snapshot(tx: &Transaction, chain: &Digest) -> Result<(), StoreError> {
    tx.execute("DELETE FROM snapshots WHERE chain_id = ?1", [chain.to_string()])?;
    Ok(())
}

/// Every blob some record refers to: image configs, manifests, and the
/// compressed forms of layers that still exist.
pub fn referenced_blobs(conn: &Connection) -> Result<Vec<Digest>, StoreError> {
    let mut st = conn.prepare(
        "SELECT id FROM images UNION SELECT digest FROM image_blobs \
         UNION SELECT b.digest FROM layer_blobs b WHERE EXISTS (SELECT 1 FROM image_layers l WHERE l.diff_id = b.diff_id)",
    )?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| digest(r?)).collect()
}

pub fn add_image_blob(tx: &Transaction, id: &Digest, blob: &Digest) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO image_blobs(image_id, digest) VALUES (?1, ?2)",
        params![id.to_string(), blob.to_string()],
    )?;
    Ok(())
}

/// A compressed blob already made for a layer, if any.
pub fn layer_blob(conn: &Connection, diff: &Digest, media_type: &str) -> Result<Option<(Digest, u64)>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT digest, size FROM layer_blobs WHERE diff_id = ?1 AND media_type = ?2",
            params![diff.to_string(), media_type],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(d, s)| Ok((digest(d)?, s as u64))).transpose()
}

/// Forgets the compressed forms of layers no image has any more: GC then
/// deletes their blobs, and a later image with the same layer must not
/// find a record of a blob that is gone.
pub fn forget_unused_layer_blobs(tx: &Transaction) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM layer_blobs WHERE NOT EXISTS (SELECT 1 FROM image_layers l WHERE l.diff_id = layer_blobs.diff_id)",
        [],
    )?)
}

/// Every (diffID, media type, blob) recorded.
pub fn all_layer_blobs(conn: &Connection) -> Result<Vec<(String, String, Digest)>, StoreError> {
    let mut st = conn.prepare("SELECT diff_id, media_type, digest FROM layer_blobs")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    rows.map(|r| {
        let (d, m, b) = r?;
        Ok((d, m, digest(b)?))
    })
    .collect()
}

pub fn delete_layer_blob(tx: &Transaction, diff: &str, media_type: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM layer_blobs WHERE diff_id = ?1 AND media_type = ?2", params![diff, media_type])?;
    Ok(())
}

pub fn add_layer_blob(
    tx: &Transaction,
    diff: &Digest,
    media_type: &str,
    blob: &Digest,
    size: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR REPLACE INTO layer_blobs(diff_id, media_type, digest, size) VALUES (?1, ?2, ?3, ?4)",
        params![diff.to_string(), media_type, blob.to_string(), size as i64],
    )?;
    Ok(())
}

pub fn insert_container(tx: &Transaction, id: &str, name: &str, image: &Digest, now: &str) -> Result<(), StoreError> {
    match tx.execute(
        "INSERT INTO containers(id, name, image_id, created, state) VALUES (?1, ?2, ?3, ?4, 'created')",
        params![id, name, image.to_string(), now],
    ) {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by another container"
            )))
        }
        other => other.map(drop).map_err(StoreError::from),
    }
}

pub fn delete_container(tx: &Transaction, id: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
    Ok(())
}

/// Containers whose name is `key`, or whose ID starts with it.
pub fn find_containers(
    conn: &Connection,
    key: &str,
) -> Result<Vec<(String, String, crate::ContainerState)>, StoreError> {
    let mut st = conn.prepare(
        "SELECT id, name, state FROM containers WHERE name = ?1 OR id LIKE ?2 || '%' ORDER BY (name = ?1) DESC",
    )?;
    let rows = st.query_map(params![key, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
