//! Layers: extracting a layer tar safely, and producing a deterministic
//! layer tar (and its diffID) from a directory.

mod apply;
mod create;
mod gunzip;
mod idmap;
mod pool;
mod tree;

pub use apply::{apply, decompress, decompress_buffered, remove_tree, ApplyStats, Compression, Whiteouts};
pub use create::{write_layer, LayerOptions};
pub use gunzip::GzipReader;
pub use idmap::{is_overlay_xattr, opaque_xattr};
pub use tree::write_tree;

/// OCI whiteout prefix: `.wh.NAME` deletes NAME from lower layers.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// OCI opaque-directory marker.
pub const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// fuse-overlayfs (unprivileged) marks an opaque directory of its upper
/// directory with these two entries rather than an xattr: an empty file
/// `.wh..wh..opq` and a 0/0 device `.wh..opq`. Neither is content.
pub fn is_fuse_marker(name: &[u8]) -> bool {
    name == WHITEOUT_OPAQUE || name == b".wh..opq"
}

/// Whether `dir` (in a fuse-overlayfs upper directory) is opaque.
pub fn is_fuse_opaque(dir: &std::path::Path) -> bool {
    std::fs::symlink_metadata(dir.join(".wh..wh..opq")).is_ok_and(|m| m.is_file())
}

/// Rewrites fuse-overlayfs's opaque-directory markers under `dir` (an
/// upper directory becoming a snapshot) the kernel's way: the markers go
/// and the directory gets the opaque xattr, so the snapshot reads the
/// same under either overlay.
pub fn normalize_fuse_markers(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if is_fuse_opaque(dir) {
        std::fs::remove_file(dir.join(".wh..wh..opq"))?;
        let dev = dir.join(".wh..opq");
        if std::fs::symlink_metadata(&dev).is_ok_and(|m| m.file_type().is_char_device()) {
            std::fs::remove_file(&dev)?;
        }
        rustix::fs::setxattr(dir, opaque_xattr(), b"y", rustix::fs::XattrFlags::empty())?;
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            normalize_fuse_markers(&e.path())?;
        }
    }
    Ok(())
}

/// A layer that cannot be applied or produced.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer entry {0:?} points outside the root (\"..\" is not allowed)")]
    Breakout(String),
    #[error("hardlink {0} points at {1}, which is not in this layer")]
    HardlinkTarget(String, String),
    #[error("invalid layer: {0}")]
    Invalid(String),
    #[error("reading layer: {0}")]
    Read(std::io::Error),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

impl LayerError {
    fn io(at: impl Into<String>, e: rustix::io::Errno) -> Self {
        LayerError::Io(at.into(), std::io::Error::from_raw_os_error(e.raw_os_error()))
    }
}

/// A tar reader's error in words. The `tar` crate reports a bad header
/// with the header's raw bytes in its message ("numeric field did not
/// have utf-8 text: <bytes> when getting cksum for <bytes>") and a short
/// one as "failed to read entire block"; neither says what the user gave.
/// `entries_read`: how many entries came before (none: the input is not
/// a tar archive at all).
pub fn tar_read_error(e: std::io::Error, entries_read: usize) -> std::io::Error {
    let msg = e.to_string();
    let header = ["checksum", "numeric field", "cksum", "invalid", "header"].iter().any(|w| msg.contains(w));
    let short = e.kind() == std::io::ErrorKind::UnexpectedEof
        || msg.contains("failed to read entire block")
        || msg.contains("unexpected EOF");
    let words = match (header || short, entries_read) {
        (true, 0) => "not a tar archive".to_owned(),
        (true, n) if short => format!("unexpected end of archive (after {n} entries)"),
        (true, n) => format!("invalid tar header (after {n} entries)"),
        (false, _) => printable(&msg),
    };
    std::io::Error::new(std::io::ErrorKind::InvalidData, words)
}

/// `s` with control and replacement characters escaped, so that no raw
/// bytes of a hostile input reach a terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() || c == '\u{fffd}' { c.escape_default().collect() } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tar_error_tests {
    use super::*;

    fn first_error(bytes: &[u8]) -> std::io::Error {
        let mut ar = tar::Archive::new(bytes);
        let mut n = 0;
        let entries = ar.entries().expect("entries");
        for e in entries {
            match e {
                Ok(_) => n += 1,
                Err(e) => return tar_read_error(e, n),
            }
        }
        panic!("no error in {n} entries")
    }

    #[test]
    fn garbage_is_not_a_tar_archive_in_words() {
        let garbage: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert_eq!(first_error(&garbage).to_string(), "not a tar archive");
        assert_eq!(first_error(b"hello world, not a tar\n").to_string(), "not a tar archive");
    }

    #[test]
    fn a_cut_archive_is_an_unexpected_end() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1000);
        h.set_cksum();
        b.append_data(&mut h, "a", &[0u8; 1000][..]).expect("append");
        b.append_data(&mut h, "b", &[0u8; 1000][..]).expect("append");
        let whole = b.into_inner().expect("tar");
        let err = first_error(&whole[..512 * 4 + 100]);
        assert!(err.to_string().starts_with("unexpected end of archive"), "{err}");
    }
}
