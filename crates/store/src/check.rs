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
    for (diff, media, blob) in db::all_layer_blobs(&store.conn)? {
        if !store.content.contains(&blob) {
            fix(format!("layer {diff} names blob {blob} ({media}), which is missing"), &mut found);
            if repair {
                let tx = store.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                db::delete_layer_blob(&tx, &diff, &media)?;
                tx.commit()?;
            }
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

#[cfg(test)]
mod tests {
    use crate::{Store, LAYER_TAR};

    fn one_file_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"abc"[..]).expect("append");
        b.into_inner().expect("tar")
    }

    /// An image removed and collected takes its layers' blob records
    /// along: an image made later of the same layer (a rebuild, a load)
    /// must not be given a blob that GC deleted (`save` failed with "blob
    /// ... not found in the content store").
    #[test]
    fn a_collected_layers_blob_record_goes_with_its_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        let config = br#"{"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = store.import_layer(&one_file_layer()[..], None).expect("layer");
        let img = store.add_image(config, std::slice::from_ref(&layer)).expect("image");
        let blob = store.content().put(&one_file_layer()).expect("blob");
        store.add_layer_blob(&layer.diff_id, LAYER_TAR, &blob, 10).expect("record");
        store.delete_image(&img).expect("rmi");
        let lock = store.lock(true).expect("lock");
        store.gc(&lock).expect("gc");
        assert!(!store.content().contains(&blob), "the blob is collected");
        let again = store.import_layer(&one_file_layer()[..], None).expect("the same layer");
        store.add_image(config, &[again]).expect("image");
        assert_eq!(store.layer_blob(&layer.diff_id, LAYER_TAR).expect("query"), None);
        assert!(store.check(&lock, false).expect("check").is_empty());
    }
}
