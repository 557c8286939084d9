//! User networks (`wharf network create`): name, ID, subnet and bridge.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::StoreError;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS networks(
    name    TEXT PRIMARY KEY,
    id      TEXT UNIQUE NOT NULL,
    subnet  TEXT NOT NULL,
    bridge  TEXT NOT NULL,
    created TEXT NOT NULL
);
"#;

/// One user network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub subnet: String,
    pub bridge: String,
    pub created: String,
}

fn record(r: &Row) -> rusqlite::Result<NetworkRecord> {
    Ok(NetworkRecord { name: r.get(0)?, id: r.get(1)?, subnet: r.get(2)?, bridge: r.get(3)?, created: r.get(4)? })
}

pub fn add(conn: &Connection, n: &NetworkRecord) -> Result<(), StoreError> {
    match conn.execute(
        "INSERT INTO networks(name, id, subnet, bridge, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![n.name, n.id, n.subnet, n.bridge, n.created],
    ) {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::Conflict(format!("network with name {} already exists", n.name)))
        }
        other => other.map(drop).map_err(StoreError::from),
    }
}

/// A network by name, or by ID prefix.
pub fn find(conn: &Connection, key: &str) -> Result<Option<NetworkRecord>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT name, id, subnet, bridge, created FROM networks WHERE name = ?1 OR id LIKE ?1 || '%' \
             ORDER BY (name = ?1) DESC LIMIT 1",
            [key],
            record,
        )
        .optional()?)
}

pub fn all(conn: &Connection) -> Result<Vec<NetworkRecord>, StoreError> {
    let mut st = conn.prepare("SELECT name, id, subnet, bridge, created FROM networks ORDER BY name")?;
    let rows = st.query_map([], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn remove(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM networks WHERE name = ?1", [name])?;
    Ok(())
}
