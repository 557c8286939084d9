//! The build cache: step cache keys → the layer the step made, and the
//! stat cache that lets an unchanged build context be checked without
//! reading it (path + size + mtime + ctime + inode → content digest).

use image::Digest;
use rusqlite::{params, Connection, OptionalExtension};

use crate::StoreError;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS build_cache(
    key       TEXT PRIMARY KEY,
    chain_id  TEXT,
    diff_id   TEXT,
    size      INTEGER NOT NULL,
    created   TEXT NOT NULL,
    last_used TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS copy_seeds(
    lineage  TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stat_cache(
    path   TEXT PRIMARY KEY,
    stamp  TEXT NOT NULL,
    digest TEXT NOT NULL
);
"#;

/// What a cached step produced: a layer (chain and diff IDs), or nothing
/// (an empty layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedStep {
    pub layer: Option<(Digest, Digest, u64)>,
    /// When the step first ran (RFC 3339): the history time of the layer,
    /// so that a cached rebuild gives the same image ID.
    pub created: String,
}

pub fn get(conn: &Connection, key: &str) -> Result<Option<CachedStep>, StoreError> {
    type Row = (Option<String>, Option<String>, i64, String);
    let row: Option<Row> = conn
        .query_row("SELECT chain_id, diff_id, size, created FROM build_cache WHERE key = ?1", [key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((chain, diff, size, created)) = row else { return Ok(None) };
    let layer = match (chain, diff) {
        (Some(c), Some(d)) => Some((parse(&c)?, parse(&d)?, size as u64)),
        _ => None,
    };
    Ok(Some(CachedStep { layer, created }))
}

fn parse(s: &str) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad digest {s:?} in the build cache")))
}

pub fn touch(conn: &Connection, key: &str, now: &str) -> Result<(), StoreError> {
    conn.execute("UPDATE build_cache SET last_used = ?2 WHERE key = ?1", params![key, now])?;
    Ok(())
}

pub fn put(conn: &Connection, key: &str, step: &CachedStep, now: &str) -> Result<(), StoreError> {
    let (c, d, s) = match &step.layer {
        Some((c, d, s)) => (Some(c.to_string()), Some(d.to_string()), *s as i64),
        None => (None, None, 0),
    };
    conn.execute(
        "INSERT OR REPLACE INTO build_cache(key, chain_id, diff_id, size, created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key, c, d, s, if step.created.is_empty() { now } else { step.created.as_str() }, now],
    )?;
    Ok(())
}

/// Removes cache entries last used before `before` (all when None);
/// returns how many.
pub fn prune(conn: &Connection, before: Option<&str>) -> Result<usize, StoreError> {
    let n = match before {
        Some(t) => conn.execute("DELETE FROM build_cache WHERE last_used < ?1", [t])?,
        None => conn.execute("DELETE FROM build_cache", [])?,
    };
    // Seeds are hints; those of forgotten steps go with them.
    conn.execute(
        "DELETE FROM copy_seeds WHERE chain_id NOT IN (SELECT chain_id FROM build_cache WHERE chain_id IS NOT NULL)",
        [],
    )?;
    Ok(n)
}

/// One build cache entry, as `system df -v` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub key: String,
    /// The layer the step made (None: it made none).
    pub chain_id: Option<String>,
    pub size: u64,
    pub created: String,
    pub last_used: String,
    /// Whether an image holds its layer (`builder prune` does not free it).
    pub in_use: bool,
}

pub fn entries(conn: &Connection) -> Result<Vec<CacheEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT b.key, b.chain_id, b.size, b.created, b.last_used, \
         EXISTS (SELECT 1 FROM image_layers l WHERE l.chain_id = b.chain_id) \
         FROM build_cache b ORDER BY b.last_used DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(CacheEntry {
            key: r.get(0)?,
            chain_id: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            created: r.get(3)?,
            last_used: r.get(4)?,
            in_use: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The layer the last copy of this lineage made (see the builder's
/// `seed` module), a hint the caller checks.
pub fn seed_get(conn: &Connection, lineage: &str) -> Result<Option<Digest>, StoreError> {
    let c: Option<String> =
        conn.query_row("SELECT chain_id FROM copy_seeds WHERE lineage = ?1", [lineage], |r| r.get(0)).optional()?;
    c.map(|c| parse(&c)).transpose()
}

pub fn seed_put(conn: &Connection, lineage: &str, chain: &Digest) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO copy_seeds(lineage, chain_id) VALUES (?1, ?2)",
        params![lineage, chain.to_string()],
    )?;
    Ok(())
}

pub fn stat_get(conn: &Connection, path: &str, stamp: &str) -> Result<Option<Digest>, StoreError> {
    let d: Option<String> = conn
        .query_row("SELECT digest FROM stat_cache WHERE path = ?1 AND stamp = ?2", [path, stamp], |r| r.get(0))
        .optional()?;
    d.map(|d| parse(&d)).transpose()
}

pub fn stat_put(conn: &Connection, entries: &[(String, String, Digest)]) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut st = tx.prepare("INSERT OR REPLACE INTO stat_cache(path, stamp, digest) VALUES (?1, ?2, ?3)")?;
        for (p, s, d) in entries {
            st.execute(params![p, s, d.to_string()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Every stat-cache entry under a directory prefix: path → (stamp, digest).
pub fn stat_under(conn: &Connection, prefix: &str) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut st = conn.prepare("SELECT path, stamp, digest FROM stat_cache WHERE path >= ?1 AND path < ?2")?;
    // Paths under "P/" sort between "P/" and "P0" ('0' follows '/').
    let lo = format!("{}/", prefix.trim_end_matches('/'));
    let hi = format!("{}0", prefix.trim_end_matches('/'));
    let rows = st.query_map([lo, hi], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
