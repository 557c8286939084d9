//! A plain tar of a directory tree (export, build outputs).

use std::io::Write;
use std::path::Path;

/// A directory tree as a plain tar stream, as `docker export` and BuildKit's
/// tar exporter write it: symlinks as symlinks, special files kept, the
/// files' own owners and times (not a layer: no whiteouts, no clamping).
pub fn write_tree(dir: &Path, out: impl Write) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            tar.append_dir_all(&name, &path)?;
        } else {
            tar.append_path_with_name(&path, &name)?;
        }
    }
    tar.into_inner()?.flush()?;
    Ok(())
}
