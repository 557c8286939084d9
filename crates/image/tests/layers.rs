//! Layer extraction against hostile tarballs, and deterministic layer
//! creation. Runs as root (chown, mknod and trusted.* xattrs need it).

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::layer::{apply, write_layer, ApplyStats, LayerError, LayerOptions, Whiteouts};

/// A scratch area: `root` is the extraction target; `outside` sits next to
/// it and must stay untouched.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    Scratch { _dir: dir, root, outside }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Builds a tar with raw names (the tar crate's own path checks would
/// refuse the hostile ones).
struct RawTar(tar::Builder<Vec<u8>>);

impl RawTar {
    fn new() -> Self {
        RawTar(tar::Builder::new(Vec::new()))
    }

    fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    fn file(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, data.len() as u64, mode);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn dir(mut self, name: &str) -> Self {
        let mut h = Self::header(name, tar::EntryType::Directory, 0, 0o755);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(name, kind, 0, 0o777);
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn device(mut self, name: &str, major: u32, minor: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Char, 0, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn xattr_file(mut self, name: &str, xattrs: &[(&str, &[u8])]) -> Self {
        let recs: Vec<(String, &[u8])> = xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v)).collect();
        self.0.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v))).unwrap();
        self.file(name, b"x", 0o644)
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn extract(s: &Scratch, tar: Vec<u8>) -> Result<ApplyStats, LayerError> {
    apply(Cursor::new(tar), &s.root, Whiteouts::Overlay)
}

fn outside_untouched(s: &Scratch) {
    assert_eq!(fs::read_dir(&s.outside).unwrap().count(), 0, "something was written outside the root");
}

#[test]
fn dotdot_entries_are_rejected() {
    let s = scratch();
    let err = extract(&s, RawTar::new().file("../outside/evil", b"x", 0o644).bytes()).unwrap_err();
    assert!(matches!(err, LayerError::Breakout(_)), "{err}");
    let err = extract(&s, RawTar::new().file("a/../../outside/evil", b"x", 0o644).bytes()).unwrap_err();
    assert!(matches!(err, LayerError::Breakout(_)), "{err}");
    outside_untouched(&s);
}

#[test]
fn absolute_names_stay_inside() {
    let s = scratch();
    let abs = format!("{}/abs-file", s.outside.display());
    extract(&s, RawTar::new().file(&abs, b"x", 0o644).bytes()).unwrap();
    outside_untouched(&s);
    assert!(s.root.join(abs.trim_start_matches('/')).is_file());
}

#[test]
fn writes_through_escaping_symlinks_stay_inside() {
    if !is_root() {
        return;
    }
    let s = scratch();
    let out = s.outside.display().to_string();
    // Absolute symlink to the outside directory, then a file through it.
    let tar = RawTar::new()
        .link(tar::EntryType::Symlink, "abs", &out)
        .file("abs/through-absolute", b"x", 0o644)
        .link(tar::EntryType::Symlink, "rel", "../../../../../../../..")
        .file(&format!("rel{out}/through-relative"), b"x", 0o644)
        .bytes();
    let _ = extract(&s, tar);
    outside_untouched(&s);
    assert!(fs::symlink_metadata(s.root.join("abs")).unwrap().file_type().is_symlink());
}

#[test]
fn replacing_a_symlink_does_not_follow_it() {
    let s = scratch();
    let target = s.outside.join("victim");
    let tar = RawTar::new()
        .link(tar::EntryType::Symlink, "f", target.to_str().unwrap())
        .file("f", b"overwritten", 0o644)
        .bytes();
    extract(&s, tar).unwrap();
    outside_untouched(&s);
    assert_eq!(fs::read(s.root.join("f")).unwrap(), b"overwritten");
}

#[test]
fn hardlinks_must_stay_in_the_layer() {
    let s = scratch();
    fs::write(s.outside.join("secret"), b"host data").unwrap();
    let secret = s.outside.join("secret").display().to_string();
    let err = extract(&s, RawTar::new().link(tar::EntryType::Link, "h1", "../outside/secret").bytes()).unwrap_err();
    assert!(matches!(err, LayerError::Breakout(_)), "{err}");
    let err = extract(&s, RawTar::new().link(tar::EntryType::Link, "h2", &secret).bytes()).unwrap_err();
    assert!(matches!(err, LayerError::HardlinkTarget(..)), "{err}");
    let err = extract(&s, RawTar::new().link(tar::EntryType::Link, "h3", "not-yet").bytes()).unwrap_err();
    assert!(matches!(err, LayerError::HardlinkTarget(..)), "{err}");
    // A hardlink to a symlink links the symlink, not what it points at.
    let tar = RawTar::new().link(tar::EntryType::Symlink, "s", &secret).link(tar::EntryType::Link, "h4", "s").bytes();
    extract(&s, tar).unwrap();
    assert!(fs::symlink_metadata(s.root.join("h4")).unwrap().file_type().is_symlink());
    assert_eq!(fs::metadata(s.outside.join("secret")).unwrap().nlink(), 1, "host file gained no link");
    // A good hardlink works.
    extract(&s, RawTar::new().file("a", b"data", 0o644).link(tar::EntryType::Link, "b", "a").bytes()).unwrap();
    assert_eq!(fs::metadata(s.root.join("b")).unwrap().ino(), fs::metadata(s.root.join("a")).unwrap().ino());
}

#[test]
fn devices_are_not_created_but_setuid_and_xattrs_are_kept() {
    if !is_root() {
        return;
    }
    let s = scratch();
    let tar = RawTar::new()
        .device("dev/sda", 8, 0)
        .device("dev/null", 1, 3)
        .file("usr/bin/su", b"#!", 0o4755)
        .xattr_file(
            "cap",
            &[("user.note", b"kept"), ("trusted.overlay.redirect", b"/etc"), ("trusted.overlay.opaque", b"y")],
        )
        .bytes();
    let stats = extract(&s, tar).unwrap();
    assert_eq!(stats.skipped_devices, 2);
    assert!(!s.root.join("dev/sda").exists());
    let m = fs::metadata(s.root.join("usr/bin/su")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(s.root.join("cap"), "user.note", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"kept");
    assert!(rustix::fs::getxattr(s.root.join("cap"), "trusted.overlay.redirect", &mut buf[..]).is_err());
    assert!(rustix::fs::getxattr(s.root.join("cap"), "trusted.overlay.opaque", &mut buf[..]).is_err());
}

#[test]
fn whiteouts_become_overlay_markers_or_deletions() {
    if !is_root() {
        return;
    }
    let s = scratch();
    let tar = RawTar::new().dir("d").file("d/.wh..wh..opq", b"", 0).file(".wh.gone", b"", 0).bytes();
    extract(&s, tar).unwrap();
    let m = fs::symlink_metadata(s.root.join("gone")).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == 0);
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(s.root.join("d"), "trusted.overlay.opaque", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"y");

    let t = scratch();
    fs::create_dir_all(t.root.join("keep/old")).unwrap();
    fs::write(t.root.join("keep/old/f"), b"x").unwrap();
    fs::write(t.root.join("victim"), b"x").unwrap();
    let tar = RawTar::new()
        .file(".wh.victim", b"", 0)
        .file("keep/.wh..wh..opq", b"", 0)
        .file("keep/new", b"n", 0o644)
        .bytes();
    apply(Cursor::new(tar), &t.root, Whiteouts::Delete).unwrap();
    assert!(!t.root.join("victim").exists());
    assert!(!t.root.join("keep/old").exists());
    assert!(t.root.join("keep/new").exists());
    let err = extract(&s, RawTar::new().file(".wh...", b"", 0).bytes()).unwrap_err();
    assert!(matches!(err, LayerError::Breakout(_) | LayerError::Invalid(_)), "{err}");
}

#[test]
fn type_changes_replace_entries() {
    let s = scratch();
    let tar = RawTar::new().dir("x").file("x/inner", b"1", 0o644).file("x", b"now a file", 0o644).dir("y").bytes();
    extract(&s, tar).unwrap();
    assert_eq!(fs::read(s.root.join("x")).unwrap(), b"now a file");
    let tar = RawTar::new().file("y", b"file", 0o644).bytes();
    extract(&s, tar).unwrap();
    assert!(s.root.join("y").is_file());
}

#[test]
fn compressed_layers_are_detected() {
    let s = scratch();
    let plain = RawTar::new().file("gz", b"gzip", 0o644).bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    extract(&s, gz.finish().unwrap()).unwrap();
    assert_eq!(fs::read(s.root.join("gz")).unwrap(), b"gzip");
    let plain = RawTar::new().file("zst", b"zstd", 0o644).bytes();
    extract(&s, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
    assert_eq!(fs::read(s.root.join("zst")).unwrap(), b"zstd");
    assert!(extract(&s, b"not a tar at all, just some bytes".repeat(20)).is_err());
}

fn sample_tree(dir: &Path) {
    fs::create_dir_all(dir.join("etc/conf.d")).unwrap();
    fs::write(dir.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    fs::write(dir.join("etc/conf.d/a"), vec![7u8; 100_000]).unwrap();
    fs::hard_link(dir.join("etc/hosts"), dir.join("etc/hosts.link")).unwrap();
    std::os::unix::fs::symlink("/etc/hosts", dir.join("hosts")).unwrap();
    fs::write(dir.join("suid"), b"x").unwrap();
    fs::set_permissions(dir.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    let long = "n".repeat(150);
    fs::write(dir.join(&long), b"long name").unwrap();
    if is_root() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("removed"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(dir.join("etc/conf.d"), "trusted.overlay.opaque", b"y", rustix::fs::XattrFlags::empty())
            .unwrap();
        rustix::fs::setxattr(dir.join("suid"), "user.k", b"v", rustix::fs::XattrFlags::empty()).unwrap();
    }
}

#[test]
fn layer_tars_are_deterministic_and_round_trip() {
    let a = scratch();
    sample_tree(&a.root);
    let mut first = Vec::new();
    let (d1, n1) = write_layer(&a.root, &mut first, &LayerOptions::default()).unwrap();
    let mut second = Vec::new();
    let (d2, _) = write_layer(&a.root, &mut second, &LayerOptions::default()).unwrap();
    assert_eq!(first, second, "the same directory gives the same bytes");
    assert_eq!((d1.clone(), n1), (d2, first.len() as u64));
    assert_eq!(d1, image::Digest::of(&first));
    // Extract into a fresh snapshot and write it again: same diffID.
    let b = scratch();
    apply(Cursor::new(first.clone()), &b.root, Whiteouts::Overlay).unwrap();
    let mut third = Vec::new();
    let (d3, _) = write_layer(&b.root, &mut third, &LayerOptions::default()).unwrap();
    assert_eq!(d3, d1, "extract + re-tar reproduces the layer");
    // SOURCE_DATE_EPOCH clamps times: the digest no longer depends on when
    // the files were made.
    let c = scratch();
    sample_tree(&c.root);
    let opts = LayerOptions { source_date_epoch: Some(0) };
    let (e1, _) = write_layer(&a.root, std::io::sink(), &opts).unwrap();
    let (e2, _) = write_layer(&c.root, std::io::sink(), &opts).unwrap();
    if is_root() {
        assert_eq!(e1, e2);
    }
    let names: Vec<String> = tar::Archive::new(Cursor::new(first))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    if is_root() {
        assert!(names.contains(&".wh.removed".to_owned()), "{names:?}");
        assert!(names.contains(&"etc/conf.d/.wh..wh..opq".to_owned()), "{names:?}");
    }
    assert!(names.iter().any(|n| n.len() == 150));
}

/// Small files are written by worker threads; a layer full of repeated
/// names, aliases through symlinks, type changes, hardlinks and whiteouts
/// must end exactly as entry-by-entry extraction leaves it.
#[test]
fn pooled_small_files_end_as_entry_order_says() {
    let s = scratch();
    let mut t = RawTar::new().dir("real").link(tar::EntryType::Symlink, "alias", "/real");
    for round in 0..3u8 {
        for d in 0..8 {
            for f in 0..40 {
                t = t.file(&format!("d{d}/f{f}"), &[round; 100], 0o640);
            }
        }
    }
    t = t
        .file("alias/x", b"through the alias", 0o644)
        .file("real/x", b"by its own name", 0o644)
        .file("was-file", b"f", 0o644)
        .link(tar::EntryType::Symlink, "was-file", "elsewhere")
        .link(tar::EntryType::Symlink, "was-link", "elsewhere")
        .file("was-link", b"now a file", 0o644)
        .file("target", b"linked", 0o644)
        .link(tar::EntryType::Link, "hard", "target")
        .file("d0/gone", b"whited out", 0o644)
        .file("d0/.wh.gone", b"", 0o644)
        .file("implicit/parent/f", b"deep", 0o600);
    extract(&s, t.bytes()).expect("the layer extracts");
    for d in 0..8 {
        for f in 0..40 {
            let p = s.root.join(format!("d{d}/f{f}"));
            assert_eq!(fs::read(&p).expect("pooled file"), [2u8; 100], "{}", p.display());
            assert_eq!(fs::metadata(&p).expect("pooled file").permissions().mode() & 0o7777, 0o640);
        }
    }
    assert_eq!(fs::read(s.root.join("real/x")).expect("real/x"), b"by its own name");
    assert_eq!(fs::read_link(s.root.join("was-file")).expect("was-file"), Path::new("elsewhere"));
    assert_eq!(fs::read(s.root.join("was-link")).expect("was-link"), b"now a file");
    let (a, b) =
        (fs::metadata(s.root.join("target")).expect("target"), fs::metadata(s.root.join("hard")).expect("hard"));
    assert_eq!((a.ino(), a.len()), (b.ino(), 6), "the hardlink names the whole file");
    if is_root() {
        assert!(fs::symlink_metadata(s.root.join("d0/gone")).expect("d0/gone").file_type().is_char_device());
    }
    assert_eq!(fs::read(s.root.join("implicit/parent/f")).expect("implicit/parent/f"), b"deep");
    // A file where a later entry wants a directory stays an error.
    let s = scratch();
    let t = RawTar::new().file("p", b"file", 0o644).file("p/q", b"under a file", 0o644);
    assert!(extract(&s, t.bytes()).is_err());
    outside_untouched(&s);
}
