//! Snapshots made by the layer extractor work as overlay lowerdirs: a
//! whiteout hides the lower file, an opaque directory hides the lower
//! directory's content, and writes land in the upperdir. Runs as root.

use std::io::Cursor;

use image::layer::{apply, Whiteouts};

fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn snapshots_stack_as_overlay_lowers() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l1, l2) = (t.path().join("l1"), t.path().join("l2"));
    std::fs::create_dir_all(&l1).unwrap();
    std::fs::create_dir_all(&l2).unwrap();
    apply(
        Cursor::new(layer(&[("etc/keep", b"1"), ("etc/gone", b"2"), ("var/cache/a", b"3")])),
        &l1,
        Whiteouts::Overlay,
    )
    .unwrap();
    apply(
        Cursor::new(layer(&[("etc/.wh.gone", b""), ("var/cache/.wh..wh..opq", b""), ("var/cache/b", b"4")])),
        &l2,
        Whiteouts::Overlay,
    )
    .unwrap();
    let ov = runtime::Overlay {
        lowers: vec![l1, l2],
        upper: t.path().join("upper"),
        work: t.path().join("work"),
        target: t.path().join("merged"),
    };
    ov.mount().unwrap();
    let m = &ov.target;
    let keep = std::fs::read(m.join("etc/keep"));
    let gone = m.join("etc/gone").exists();
    let a = m.join("var/cache/a").exists();
    let b = std::fs::read(m.join("var/cache/b"));
    std::fs::write(m.join("new"), b"x").unwrap();
    ov.unmount().unwrap();
    assert_eq!(keep.unwrap(), b"1");
    assert!(!gone, "whiteout hides the lower file");
    assert!(!a, "opaque directory hides lower content");
    assert_eq!(b.unwrap(), b"4");
    assert!(ov.upper.join("new").exists(), "writes land in the upperdir");
}
