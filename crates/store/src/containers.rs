//! Container records: identity (id, name, image, creation config) and the
//! state the monitor keeps true (pid, exit code, times).

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::{ContainerState, StoreError};

/// Columns added after the first schema; added to older databases on open.
const STATE_COLUMNS: &[(&str, &str)] = &[
    ("config", "TEXT NOT NULL DEFAULT '{}'"),
    ("pid", "INTEGER NOT NULL DEFAULT 0"),
    ("monitor_pid", "INTEGER NOT NULL DEFAULT 0"),
    ("exit_code", "INTEGER NOT NULL DEFAULT 0"),
    ("oom_killed", "INTEGER NOT NULL DEFAULT 0"),
    ("started", "TEXT NOT NULL DEFAULT ''"),
    ("finished", "TEXT NOT NULL DEFAULT ''"),
    ("restarts", "INTEGER NOT NULL DEFAULT 0"),
    ("ip", "TEXT NOT NULL DEFAULT ''"),
    ("error", "TEXT NOT NULL DEFAULT ''"),
];

pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    add_missing_columns(conn, "containers", STATE_COLUMNS)
}

/// Adds to `table` whichever of `columns` (name, declaration) a store made
/// by an older wharf lacks.
pub(crate) fn add_missing_columns(conn: &Connection, table: &str, columns: &[(&str, &str)]) -> Result<(), StoreError> {
    let mut st = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let have: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for (col, decl) in columns {
        if !have.iter().any(|h| h == col) {
            // Another process opening the same store may add it first.
            match conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {col} {decl}")) {
                Err(e) if e.to_string().contains("duplicate column name") => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// One container as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub created: String,
    pub state: ContainerState,
    /// The create-time configuration (JSON, wharf's own shape).
    pub config: String,
    /// The container's init as the host sees it (0 when not running).
    pub pid: i32,
    pub monitor_pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub started: String,
    pub finished: String,
    pub restarts: i64,
    /// Address on the bridge network ('' when none).
    pub ip: String,
    /// Why the last start failed ('' when it did not).
    pub error: String,
}

const SELECT: &str = "SELECT id, name, image_id, created, state, config, pid, monitor_pid, exit_code, oom_killed, \
                      started, finished, restarts, ip, error FROM containers";

fn record(r: &Row) -> rusqlite::Result<ContainerRecord> {
    Ok(ContainerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        created: r.get(3)?,
        state: r.get(4)?,
        config: r.get(5)?,
        pid: r.get(6)?,
        monitor_pid: r.get(7)?,
        exit_code: r.get(8)?,
        oom_killed: r.get::<_, i64>(9)? != 0,
        started: r.get(10)?,
        finished: r.get(11)?,
        restarts: r.get(12)?,
        ip: r.get(13)?,
        error: r.get(14)?,
    })
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<ContainerRecord>, StoreError> {
    Ok(conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id], record).optional()?)
}

/// Every container, newest first.
pub fn all(conn: &Connection) -> Result<Vec<ContainerRecord>, StoreError> {
    let mut st = conn.prepare(&format!("{SELECT} ORDER BY created DESC, rowid DESC"))?;
    let rows = st.query_map([], record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_config(tx: &Transaction, id: &str, config: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE containers SET config = ?2 WHERE id = ?1", params![id, config])?;
    Ok(())
}

/// `WHERE` clause text: the state is one of those `to` is entered from.
fn from_states(to: ContainerState) -> String {
    let words: Vec<String> = ContainerState::entered_from(to).iter().map(|s| format!("'{s}'")).collect();
    format!("state IN ({})", words.join(", "))
}

/// Records the container running. Refused (false) unless its state may
/// become running: a container being removed is not brought back.
pub fn set_running(tx: &Transaction, id: &str, pid: i32, monitor_pid: i32, now: &str) -> Result<bool, StoreError> {
    let n = tx.execute(
        &format!(
            "UPDATE containers SET state = 'running', pid = ?2, monitor_pid = ?3, started = ?4, exit_code = 0, \
             oom_killed = 0, finished = '', error = '' WHERE id = ?1 AND {}",
            from_states(ContainerState::Running)
        ),
        params![id, pid, monitor_pid, now],
    )?;
    Ok(n == 1)
}

/// Moves the container to `to` if its current state allows it; false
/// (nothing changed) if not, or if there is no such container.
pub fn transition(tx: &Transaction, id: &str, to: ContainerState) -> Result<bool, StoreError> {
    let n = tx
        .execute(&format!("UPDATE containers SET state = ?2 WHERE id = ?1 AND {}", from_states(to)), params![id, to])?;
    Ok(n == 1)
}

/// A start that failed, with its exit code and message. As docker's, a
/// container that never ran stays created, one that ran before is exited.
pub fn set_start_failed(tx: &Transaction, id: &str, code: i32, error: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE containers SET state = CASE WHEN started = '' THEN 'created' ELSE 'exited' END, pid = 0, \
         monitor_pid = 0, exit_code = ?2, error = ?3 WHERE id = ?1",
        params![id, code, error],
    )?;
    Ok(())
}

pub fn set_exited(tx: &Transaction, id: &str, code: i32, oom: bool, now: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE containers SET state = 'exited', pid = 0, monitor_pid = 0, exit_code = ?2, oom_killed = ?3, \
         finished = ?4 WHERE id = ?1",
        params![id, code, oom as i64, now],
    )?;
    Ok(())
}

pub fn set_monitor(tx: &Transaction, id: &str, monitor_pid: i32, restarts: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE containers SET monitor_pid = ?2, restarts = ?3 WHERE id = ?1",
        params![id, monitor_pid, restarts],
    )?;
    Ok(())
}

pub fn rename(tx: &Transaction, id: &str, name: &str) -> Result<(), StoreError> {
    match tx.execute("UPDATE containers SET name = ?2 WHERE id = ?1", params![id, name]) {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by another container"
            )))
        }
        other => other.map(drop).map_err(StoreError::from),
    }
}

pub fn set_ip(tx: &Transaction, id: &str, ip: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE containers SET ip = ?2 WHERE id = ?1", params![id, ip])?;
    Ok(())
}
