//! Small file operations the engine's modules share.

use std::io;
use std::path::Path;

/// Replaces `path` whole with `bytes`: written beside it under a name of
/// this process, then renamed over it, so a reader sees the old file or
/// the new one, never half of one, and two writers never share a
/// temporary file.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
