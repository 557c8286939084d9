//! Local manifest lists (`wharf manifest create/add/annotate/push/rm`):
//! a name and its entries, each an image of one platform, local (by image
//! ID) or in a registry (by manifest digest). A build's `FROM` of a list
//! takes the entry of its stage's platform, as podman's does.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS manifest_lists(
    name    TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    entries TEXT NOT NULL
);
"#;

/// One image of a manifest list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListEntry {
    /// The reference the entry was added as.
    pub source: String,
    /// The local image, when it is one.
    pub image: Option<String>,
    /// Its manifest's digest, size and media type, when known (an image
    /// in a registry, or a local one once pushed).
    pub digest: Option<String>,
    pub size: u64,
    pub media_type: String,
    pub os: String,
    pub architecture: String,
    pub variant: String,
    pub os_version: String,
    pub os_features: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// A manifest list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestList {
    pub name: String,
    pub created: String,
    pub entries: Vec<ListEntry>,
}

impl ManifestList {
    /// The local image of the entry for a platform (a variant matches
    /// when either side names none).
    pub fn image_for(&self, os: &str, arch: &str, variant: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.os == os
                    && e.architecture == arch
                    && (variant.is_empty() || e.variant.is_empty() || e.variant == variant)
            })
            .and_then(|e| e.image.as_deref())
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("a manifest list: {e}"))
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<ManifestList>, StoreError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT created, entries FROM manifest_lists WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((created, entries)) = row else { return Ok(None) };
    Ok(Some(ManifestList { name: name.to_owned(), created, entries: serde_json::from_str(&entries).map_err(corrupt)? }))
}

/// Creates or replaces the list.
pub fn put(conn: &Connection, list: &ManifestList) -> Result<(), StoreError> {
    let entries = serde_json::to_string(&list.entries).map_err(corrupt)?;
    conn.execute(
        "INSERT INTO manifest_lists(name, created, entries) VALUES (?1, ?2, ?3) \
         ON CONFLICT(name) DO UPDATE SET entries = excluded.entries",
        params![list.name, list.created, entries],
    )?;
    Ok(())
}

/// Removes the list; whether there was one.
pub fn remove(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM manifest_lists WHERE name = ?1", [name])? > 0)
}

pub fn all(conn: &Connection) -> Result<Vec<ManifestList>, StoreError> {
    let mut st = conn.prepare("SELECT name FROM manifest_lists ORDER BY name")?;
    let names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    names.iter().filter_map(|n| get(conn, n).transpose()).collect()
}
