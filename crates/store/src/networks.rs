//! User networks (`wharf network create`): name, ID, subnet, bridge and
//! driver options.

use std::collections::BTreeMap;

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

/// Adds the columns newer than a store's networks table.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    crate::containers::add_missing_columns(
        conn,
        "networks",
        &[
            ("options", "TEXT NOT NULL DEFAULT '{}'"),
            ("labels", "TEXT NOT NULL DEFAULT '{}'"),
            ("internal", "INTEGER NOT NULL DEFAULT 0"),
            ("gateway", "TEXT NOT NULL DEFAULT ''"),
            ("ip_range", "TEXT NOT NULL DEFAULT ''"),
            ("ipv6", "INTEGER NOT NULL DEFAULT 0"),
            ("subnet6", "TEXT NOT NULL DEFAULT ''"),
            ("gateway6", "TEXT NOT NULL DEFAULT ''"),
        ],
    )
}

/// One user network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub subnet: String,
    pub bridge: String,
    pub created: String,
    /// Driver options (`-o KEY=VALUE`), as `network inspect` shows them.
    pub options: BTreeMap<String, String>,
    /// `--label KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// `--internal`: no way out of the network.
    pub internal: bool,
    /// `--gateway`, or the one picked with the subnet; empty: the
    /// subnet's first address (not shown by `inspect`, as docker's).
    pub gateway: String,
    /// `--ip-range`; empty: the whole subnet.
    pub ip_range: String,
    /// `--ipv6`: containers also get an address of `subnet6`.
    pub ipv6: bool,
    pub subnet6: String,
    /// The IPv6 `--gateway`; empty: the subnet's first address.
    pub gateway6: String,
}

const COLUMNS: &str =
    "name, id, subnet, bridge, created, options, labels, internal, gateway, ip_range, ipv6, subnet6, gateway6";

fn json_map(r: &Row, i: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

fn record(r: &Row) -> rusqlite::Result<NetworkRecord> {
    Ok(NetworkRecord {
        name: r.get(0)?,
        id: r.get(1)?,
        subnet: r.get(2)?,
        bridge: r.get(3)?,
        created: r.get(4)?,
        options: json_map(r, 5)?,
        labels: json_map(r, 6)?,
        internal: r.get(7)?,
        gateway: r.get(8)?,
        ip_range: r.get(9)?,
        ipv6: r.get(10)?,
        subnet6: r.get(11)?,
        gateway6: r.get(12)?,
    })
}

pub fn add(conn: &Connection, n: &NetworkRecord) -> Result<(), StoreError> {
    let options = serde_json::to_string(&n.options).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let labels = serde_json::to_string(&n.labels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    match conn.execute(
        &format!("INSERT INTO networks({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            n.name, n.id, n.subnet, n.bridge, n.created, options, labels, n.internal, n.gateway, n.ip_range, n.ipv6,
            n.subnet6, n.gateway6
        ],
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
            &format!(
                "SELECT {COLUMNS} FROM networks WHERE name = ?1 OR id LIKE ?1 || '%' \
                 ORDER BY (name = ?1) DESC LIMIT 1"
            ),
            [key],
            record,
        )
        .optional()?)
}

pub fn all(conn: &Connection) -> Result<Vec<NetworkRecord>, StoreError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM networks ORDER BY name"))?;
    let rows = st.query_map([], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn remove(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM networks WHERE name = ?1", [name])?;
    Ok(())
}
