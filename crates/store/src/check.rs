//! `wharf system check`: finds what a crash or outside hands left behind.

use std::collections::HashSet;
use std::fs;

use image::layer;
use image::Digest;

use crate::{db, io_at, Lock, Store, StoreError};

pub(crate) fn run(store: &mut Store, lock: &Lock, repair: bool) -> Result<Vec<String>, StoreError> {
    if !lock.is_exclusive() {
        return Err(StoreError::Conflict("store check needs the exclusive lock".into()));
    }
    let mut found = Vec::new();
    let fix = |msg: String, found: &mut Vec<String>| found.push(if repair { format!("{msg} (repaired)") } else { msg });

    // Staging leftovers: nobody else is writing while we hold the lock.
    let tmp = store.root.join("tmp");
    for e in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
        let p = e.map_err(io_at(&tmp))?.path();
        fix(format!("orphaned temporary file {}", p.display()), &mut found);
        if repair {
            layer::remove_tree(&p).map_err(io_at(&p))?;
        }
    }

    // Snapshot directories vs. the index.
    let known: HashSet<Digest> = db::all_snapshots(&store.conn)?.into_iter().map(|(d, _)| d).collect();
    let snaps = store.root.join("snapshots");
    for e in fs::read_dir(&snaps).map_err(io_at(&snaps))? {
        let e = e.map_err(io_at(&snaps))?;
        let name = e.file_name().to_string_lossy().into_owned();
        match Digest::from_hex(&name) {
            Ok(d) if known.contains(&d) => {}
            _ => {
                fix(format!("snapshot directory {name} is not in the index"), &mut found);
                if repair {
                    layer::remove_tree(&e.path()).map_err(io_at(&e.path()))?;
                }
            }
        }
    }
    for d in &known {
        if !store.snapshot_dir(d).is_dir() {
            found.push(format!("snapshot {d} is indexed but its directory is missing"));
        }
    }
    for d in db::unreferenced_snapshots(&store.conn)? {
        fix(format!("snapshot {d} is not used by any image"), &mut found);
    }

    // Blobs: wrong bytes, unreferenced, or missing.
    let referenced: HashSet<Digest> = db::referenced_blobs(&store.conn)?.into_iter().collect();
    for b in store.content.list()? {
        if !store.content.verify(&b)? {
            fix(format!("blob {b} does not match its digest"), &mut found);
            if repair {
                store.content.delete(&b)?;
            }
        } else if !referenced.contains(&b) {
            fix(format!("blob {b} is not referenced"), &mut found);
        }
    }
    for id in db::all_image_ids(&store.conn)? {
        if !store.content.contains(&id) {
            fix(format!("image {id} has no config blob"), &mut found);
            if repair {
                store.delete_image(&id)?;
            }
        }
    }
    let integrity: String = store.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        found.push(format!("database integrity check: {integrity}"));
    }
    if repair {
        store.gc(lock)?;
    }
    Ok(found)
}
