//! Layers: extracting a layer tar safely, and producing a deterministic
//! layer tar (and its diffID) from a directory.

mod apply;
mod create;
mod gunzip;
mod pool;
mod tree;

pub use apply::{apply, decompress, decompress_buffered, remove_tree, ApplyStats, Compression, Whiteouts};
pub use create::{write_layer, LayerOptions};
pub use gunzip::GzipReader;
pub use tree::write_tree;

/// OCI whiteout prefix: `.wh.NAME` deletes NAME from lower layers.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// OCI opaque-directory marker.
pub const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// overlayfs marks an opaque directory with this xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

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
