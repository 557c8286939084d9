//! A COPY from the build context whose sources changed in part starts
//! from the files its previous run made, instead of copying every byte
//! again: snapshots are immutable, so the unchanged files of the last
//! layer of the same step (its *lineage*: the same step with any source
//! content) are hardlinked into the new upper directory before the
//! overlay is mounted ("planted"), the copy keeps those whose recorded
//! content and attributes are what it would write (`copy::Reuse`), and
//! what it did not keep is removed from the upper directory after
//! unmounting. The layer is the one a full copy makes: the same paths,
//! contents, owners, modes and times.
//!
//! Each layer a context copy makes records its files' content digests in
//! `copied.json` beside its `fs`. Planting gives up (the copy then copies
//! everything) on what it cannot reproduce exactly: whiteouts, opaque
//! directories, extended attributes, files with several links, or a file
//! that covers a directory of the layers below.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::Digest;

/// The digests file beside a snapshot's `fs`.
const MANIFEST: &str = "copied.json";

/// What was planted in an upper directory.
#[derive(Default)]
pub struct Planted {
    /// Files (below the rootfs) → content digest.
    pub files: HashMap<PathBuf, Digest>,
    /// Every planted path, parents before children.
    pub paths: Vec<PathBuf>,
}

impl Planted {
    /// The planted paths the copy did not write or keep (nor write below):
    /// children before parents, for removal from the upper directory.
    pub fn leftovers(&self, written: &HashMap<PathBuf, Option<Digest>>) -> Vec<PathBuf> {
        let mut kept = std::collections::HashSet::new();
        for p in written.keys() {
            kept.extend(p.ancestors().map(Path::to_owned));
        }
        self.paths.iter().rev().filter(|p| !kept.contains(*p)).cloned().collect()
    }
}

/// Writes the manifest of a copy's layer into its staging directory
/// (`dir`, the parent of `fs`).
pub fn write_manifest(dir: &Path, written: &HashMap<PathBuf, Option<Digest>>) -> io::Result<()> {
    let files: HashMap<&str, String> =
        written.iter().filter_map(|(p, d)| Some((p.to_str()?, d.as_ref()?.to_string()))).collect();
    fs::write(dir.join(MANIFEST), serde_json::to_vec(&files)?)
}

/// Plants the files of snapshot `prev` (its directory, holding `fs` and
/// the manifest) into `upper`, an empty directory. `lowers` are the
/// layers the step mounts below it. Ok(None) when the snapshot cannot be
/// planted exactly (nothing is then left in `upper`).
pub fn plant(prev: &Path, upper: &Path, lowers: &[PathBuf]) -> io::Result<Option<Planted>> {
    let Ok(text) = fs::read(prev.join(MANIFEST)) else { return Ok(None) };
    let recorded: HashMap<String, String> = serde_json::from_slice(&text)?;
    let digests: HashMap<PathBuf, Digest> =
        recorded.into_iter().filter_map(|(p, d)| Some((PathBuf::from(p), d.parse().ok()?))).collect();
    let mut plan = Plan { from: prev.join("fs"), digests, dirs: Vec::new(), files: Vec::new(), inodes: HashMap::new() };
    let all: Vec<&PathBuf> = lowers.iter().collect();
    if !plan.walk(Path::new(""), &all)? {
        return Ok(None);
    }
    let made = plan.make(upper);
    if made.is_err() {
        for e in fs::read_dir(upper)? {
            image::layer::remove_tree(&e?.path())?;
        }
    }
    made.map(Some)
}

/// What planting will make: directories with their mode and owner, and
/// the files to link.
struct Plan {
    from: PathBuf,
    digests: HashMap<PathBuf, Digest>,
    dirs: Vec<(PathBuf, u32, u32, u32)>,
    /// Files and their inodes.
    files: Vec<(PathBuf, u64)>,
    /// Inodes met, to leave out paths that share one.
    inodes: HashMap<u64, usize>,
}

impl Plan {
    /// Walks the snapshot below `rel` (`lowers_here`: the lowers that
    /// have `rel` as a directory); false when it holds something planting
    /// cannot reproduce. One `getdents` per directory, one `stat` per
    /// subdirectory: a planted file is a link, it needs no look.
    fn walk(&mut self, rel: &Path, lowers_here: &[&PathBuf]) -> io::Result<bool> {
        for e in fs::read_dir(self.from.join(rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            let ft = e.file_type()?;
            if ft.is_dir() {
                let path = e.path();
                if has_own_xattrs(&path) {
                    return Ok(false);
                }
                let m = fs::symlink_metadata(&path)?;
                self.dirs.push((r.clone(), m.mode() & 0o7777, m.uid(), m.gid()));
                let below: Vec<&PathBuf> = lowers_here.iter().copied().filter(|l| is_dir(&l.join(&r))).collect();
                if !self.walk(&r, &below)? {
                    return Ok(false);
                }
            } else if ft.is_file() {
                // A file the manifest does not know (the copy had no digest
                // of its source) or one covering a directory below is left
                // to the copy.
                let covers_dir = || lowers_here.iter().any(|l| is_dir(&l.join(&r)));
                if self.digests.contains_key(&r) && !covers_dir() {
                    *self.inodes.entry(e.ino()).or_default() += 1;
                    self.files.push((r, e.ino()));
                }
            } else if ft.is_symlink() {
                // Made again by the copy.
            } else {
                // Whiteouts and devices: the copy starts afresh.
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn make(self, upper: &Path) -> io::Result<Planted> {
        let mut planted = Planted::default();
        for (rel, mode, uid, gid) in &self.dirs {
            let at = upper.join(rel);
            fs::create_dir(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(*mode))?;
            std::os::unix::fs::lchown(&at, Some(*uid), Some(*gid))?;
            planted.paths.push(rel.clone());
        }
        for (rel, ino) in self.files {
            // Two paths of one inode in the layer: neither is planted.
            if self.inodes.get(&ino).is_some_and(|n| *n > 1) {
                continue;
            }
            fs::hard_link(self.from.join(&rel), upper.join(&rel))?;
            planted.paths.push(rel.clone());
            if let Some(d) = self.digests.get(&rel) {
                planted.files.insert(rel, d.clone());
            }
        }
        Ok(planted)
    }
}

fn is_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// Whether a file has extended attributes of its own (not overlayfs's).
fn has_own_xattrs(path: &Path) -> bool {
    let mut buf = vec![0u8; 1024];
    match rustix::fs::llistxattr(path, &mut buf[..]) {
        Ok(0) => false,
        Ok(n) => buf[..n]
            .split(|b| *b == 0)
            .any(|name| !name.is_empty() && !image::layer::is_overlay_xattr(&String::from_utf8_lossy(name))),
        // Too many to list here: treat as having some.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(s: &str) -> Digest {
        format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()))).parse().unwrap()
    }

    #[test]
    fn planting_links_recorded_files_and_leftovers_are_what_the_copy_did_not_touch() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let prev = t.path().join("prev");
        fs::create_dir_all(prev.join("fs/data/sub"))?;
        fs::write(prev.join("fs/data/a"), "a")?;
        fs::write(prev.join("fs/data/sub/b"), "b")?;
        fs::write(prev.join("fs/data/unknown"), "u")?;
        let mut written = HashMap::new();
        written.insert(PathBuf::from("data/a"), Some(digest("a")));
        written.insert(PathBuf::from("data/sub/b"), Some(digest("b")));
        write_manifest(&prev, &written)?;
        let upper = t.path().join("upper");
        fs::create_dir(&upper)?;
        let planted = plant(&prev, &upper, &[])?.expect("plantable");
        assert_eq!(planted.files.len(), 2);
        let (a, b) = (fs::metadata(upper.join("data/a"))?, fs::metadata(prev.join("fs/data/a"))?);
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "linked, not copied");
        assert!(!upper.join("data/unknown").exists(), "a file the manifest does not know is the copy's");
        // The copy wrote data/a only: data/sub and its file go.
        let written: HashMap<_, _> = [(PathBuf::from("data/a"), None)].into();
        assert_eq!(planted.leftovers(&written), vec![PathBuf::from("data/sub/b"), PathBuf::from("data/sub")]);
        Ok(())
    }

    #[test]
    fn a_layer_with_a_whiteout_or_a_file_over_a_lower_directory_is_not_planted_as_such() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let prev = t.path().join("prev");
        fs::create_dir_all(prev.join("fs"))?;
        fs::write(prev.join("fs/f"), "f")?;
        let written: HashMap<_, _> = [(PathBuf::from("f"), Some(digest("f")))].into();
        write_manifest(&prev, &written)?;
        let lower = t.path().join("lower");
        fs::create_dir_all(lower.join("f"))?;
        let upper = t.path().join("upper");
        fs::create_dir(&upper)?;
        let planted = plant(&prev, &upper, &[lower])?.expect("plantable");
        assert!(planted.files.is_empty() && !upper.join("f").exists(), "the copy decides over a lower directory");
        if rustix::process::geteuid().is_root() {
            let wh = prev.join("fs/gone");
            rustix::fs::mknodat(rustix::fs::CWD, &wh, rustix::fs::FileType::CharacterDevice, 0.into(), 0)?;
            let upper2 = t.path().join("upper2");
            fs::create_dir(&upper2)?;
            assert!(plant(&prev, &upper2, &[])?.is_none(), "a whiteout is not planted");
            assert_eq!(fs::read_dir(&upper2)?.count(), 0);
        }
        Ok(())
    }
}
