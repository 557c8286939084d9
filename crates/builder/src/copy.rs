//! COPY/ADD into a mounted rootfs: docker's destination rules (a trailing
//! slash, several sources or an existing directory make DEST a directory;
//! a directory source copies its contents), owners from `--chown` (default
//! root for the context, the source's own for `--from`, as BuildKit),
//! modes kept unless `--chmod`, modification times kept. The
//! destination is resolved inside the rootfs, so a symlink in the image
//! never leads the copy out of it.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use image::Digest;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

use super::context::{clean_rel, resolve_in};

/// Owner and mode overrides.
#[derive(Debug, Clone, Copy)]
pub struct Attrs {
    /// `(uid, gid)` for every copied entry; None keeps each source's own
    /// (`COPY --from`, `cp -a`).
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
}

impl Attrs {
    /// Everything owned by root: a copy from the build context or the
    /// host (`docker cp` without `-a`).
    pub fn root() -> Self {
        Attrs { owner: Some((0, 0)), mode: None }
    }

    /// Owners kept from the source.
    pub fn keep_owners() -> Self {
        Attrs { owner: None, mode: None }
    }

    /// Who owns a directory the copy creates: the `--chown` owner, else
    /// root (BuildKit makes missing parents as root even for `--from`).
    fn dir_owner(&self) -> (u32, u32) {
        self.owner.unwrap_or((0, 0))
    }
}

/// Where DEST lands in `rootfs` (resolved inside it); `cwd` is the
/// WORKDIR for a relative DEST.
pub fn dest_path(rootfs: &Path, cwd: &str, dest: &str) -> io::Result<PathBuf> {
    let full = if dest.starts_with('/') { dest.to_owned() } else { format!("{}/{dest}", cwd.trim_end_matches('/')) };
    resolve_in(rootfs, &clean_rel(&full), true)
}

/// Skips entries by their path relative to the source tree's root (the
/// context's `.dockerignore`).
/// What of a source tree is left out (`.dockerignore`, `--exclude`).
pub trait Filter {
    fn excluded(&self, rel: &Path) -> bool;
    /// Whether an excluded directory is walked all the same (an exception
    /// may take something below it back).
    fn may_reinclude_below(&self, _dir: &Path) -> bool {
        false
    }
}

impl<F: Fn(&Path) -> bool> Filter for F {
    fn excluded(&self, rel: &Path) -> bool {
        self(rel)
    }
}

pub type Excluded<'a> = &'a dyn Filter;

/// One copy under way: its attributes and filter, the files it met
/// that had other links, by (device, inode): the first copy of each,
/// which the later links link to (BuildKit keeps hardlinks within a COPY),
/// and what it may keep of a previous copy's files.
struct Copying<'a, 'm, 'r> {
    attrs: Attrs,
    excluded: Excluded<'a>,
    links: HashMap<(u64, u64), PathBuf>,
    reuse: Option<&'m mut Reuse<'r>>,
}

/// What a copy may keep of the files a previous copy of the same step
/// left in its upper directory (planted there by `seed`), and what it
/// wrote: a planted file whose recorded content is the source's and
/// whose owner, mode, size and time are those the copy would give it is
/// kept as it is, not copied again.
pub struct Reuse<'a> {
    /// The rootfs the copy writes into: destinations are named below it.
    pub root: &'a Path,
    /// Planted files (below the root) → their content digest.
    pub planted: &'a HashMap<PathBuf, Digest>,
    /// A source file's content digest, when the caller knows it.
    pub digest_of: &'a dyn Fn(&Path) -> Option<Digest>,
    /// Every destination the copy wrote or kept, with the content digest
    /// of regular files whose source digest was known.
    pub written: HashMap<PathBuf, Option<Digest>>,
}

impl Reuse<'_> {
    fn below_root(&self, dst: &Path) -> Option<PathBuf> {
        dst.strip_prefix(self.root).ok().map(Path::to_owned)
    }

    /// Whether `dst` (seen as `existing`) is a planted copy of `src` that
    /// the copy would make again byte for byte.
    fn keeps(&self, rel: &Path, digest: &Digest, existing: &fs::Metadata, src: &fs::Metadata, attrs: Attrs) -> bool {
        let (uid, gid) = attrs.owner.unwrap_or((src.uid(), src.gid()));
        let mode = attrs.mode.unwrap_or(src.mode() & 0o7777);
        self.planted.get(rel) == Some(digest)
            && existing.is_file()
            && (existing.uid(), existing.gid(), existing.mode() & 0o7777) == (uid, gid, mode)
            && (existing.mtime(), existing.mtime_nsec(), existing.len()) == (src.mtime(), src.mtime_nsec(), src.len())
    }
}

/// Copies the sources (`(path relative to the source root, host path)`)
/// to `dest` as docker does.
pub fn copy_sources(
    sources: &[(PathBuf, PathBuf)],
    dest: &Path,
    dest_is_dir_hint: bool,
    attrs: Attrs,
    excluded: Excluded,
) -> io::Result<()> {
    copy_sources_reusing(sources, dest, dest_is_dir_hint, attrs, excluded, None)
}

/// [`copy_sources`], keeping what it can of planted files.
pub fn copy_sources_reusing(
    sources: &[(PathBuf, PathBuf)],
    dest: &Path,
    dest_is_dir_hint: bool,
    attrs: Attrs,
    excluded: Excluded,
    mut reuse: Option<&mut Reuse>,
) -> io::Result<()> {
    let dir_dest = dest_is_dir_hint || sources.len() > 1 || dest.is_dir();
    if let Some(r) = reuse.as_deref_mut() {
        if let Some(rel) = r.below_root(dest) {
            r.written.insert(rel, None);
        }
    }
    let mut copying = Copying { attrs, excluded, links: Default::default(), reuse };
    for (rel, src) in sources {
        let m = fs::metadata(src)?;
        if m.is_dir() {
            make_dirs(dest, attrs)?;
            copying.tree(src, dest, rel)?;
        } else {
            let target = if dir_dest {
                make_dirs(dest, attrs)?;
                dest.join(src.file_name().unwrap_or_default())
            } else {
                if let Some(p) = dest.parent() {
                    make_dirs(p, attrs)?;
                }
                dest.to_owned()
            };
            copying.entry(src, &target, rel)?;
        }
    }
    Ok(())
}

/// `mkdir -p` with the copy's owner for directories it creates.
fn make_dirs(dir: &Path, attrs: Attrs) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        make_dirs(p, attrs)?;
    }
    fs::create_dir(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    let (uid, gid) = attrs.dir_owner();
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
}

impl Copying<'_, '_, '_> {
    fn tree(&mut self, src: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(src)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let r = rel.join(e.file_name());
            if self.excluded.excluded(&r) && !(e.file_type()?.is_dir() && self.excluded.may_reinclude_below(&r)) {
                continue;
            }
            self.entry(&e.path(), &dst.join(e.file_name()), &r)?;
        }
        Ok(())
    }

    /// Copies one file, symlink or directory (recursively), replacing what is
    /// at `dst` unless both are directories (then they merge).
    fn entry(&mut self, src: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
        let attrs = self.attrs;
        let m = fs::symlink_metadata(src)?;
        let existing = fs::symlink_metadata(dst).ok();
        let ft = m.file_type();
        if let Some(r) = self.reuse.as_deref_mut() {
            if let Some(below) = r.below_root(dst) {
                // A file with other links is copied: its links are made
                // within this copy.
                let digest = (ft.is_file() && m.nlink() == 1).then(|| (r.digest_of)(src)).flatten();
                let kept = match (&digest, &existing) {
                    (Some(d), Some(e)) => r.keeps(&below, d, e, &m, attrs),
                    _ => false,
                };
                r.written.insert(below, digest);
                if kept {
                    return Ok(());
                }
            }
        }
        if let Some(e) = &existing {
            if !(e.is_dir() && ft.is_dir()) {
                if e.is_dir() {
                    fs::remove_dir_all(dst)?;
                } else {
                    fs::remove_file(dst)?;
                }
            }
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        } else if ft.is_dir() {
            if existing.as_ref().is_none_or(|e| !e.is_dir()) {
                fs::create_dir(dst)?;
            }
            self.tree(src, dst, rel)?;
        } else if ft.is_file() && m.nlink() > 1 {
            if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                return fs::hard_link(first, dst);
            }
            fs::copy(src, dst)?;
            self.links.insert((m.dev(), m.ino()), dst.to_owned());
        } else if ft.is_file() {
            fs::copy(src, dst)?;
        } else {
            // Sockets, fifos and devices in a context are not copied (BuildKit
            // skips them too).
            return Ok(());
        }
        let (uid, gid) = attrs.owner.unwrap_or((m.uid(), m.gid()));
        std::os::unix::fs::lchown(dst, Some(uid), Some(gid))?;
        if !ft.is_symlink() {
            let mode = attrs.mode.unwrap_or(m.mode() & 0o7777);
            fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
        }
        let t = |s: i64, ns: i64| Timespec { tv_sec: s, tv_nsec: ns as _ };
        let times =
            Timestamps { last_access: t(m.atime(), m.atime_nsec()), last_modification: t(m.mtime(), m.mtime_nsec()) };
        rustix::fs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

/// Parses `--chmod` (octal only, as BuildKit's Dockerfile frontend).
pub fn parse_chmod(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| format!("invalid chmod parameter: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_destination_rules() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        let src = d.path().join("src");
        fs::create_dir_all(src.join("dir/sub"))?;
        fs::write(src.join("a.txt"), "a")?;
        fs::write(src.join("dir/sub/b.txt"), "b")?;
        let root = d.path().join("root");
        fs::create_dir_all(&root)?;
        let attrs = Attrs::root();
        // file to a name: the file is renamed
        let none = |_: &Path| false;
        let one = |p: &str| [(PathBuf::from(p), src.join(p))];
        copy_sources(&one("a.txt"), &dest_path(&root, "/", "/x")?, false, attrs, &none)?;
        assert_eq!(fs::read_to_string(root.join("x"))?, "a");
        // file to a dir/ (trailing slash): kept name, dir created
        copy_sources(&one("a.txt"), &dest_path(&root, "/", "/app/")?, true, attrs, &none)?;
        assert_eq!(fs::read_to_string(root.join("app/a.txt"))?, "a");
        // a directory source copies its contents
        copy_sources(&one("dir"), &dest_path(&root, "/app", "out")?, false, attrs, &none)?;
        // excluded entries are skipped
        copy_sources(&one("dir"), &dest_path(&root, "/", "/ex")?, false, attrs, &|p: &Path| p.ends_with("b.txt"))?;
        assert!(root.join("ex/sub").is_dir() && !root.join("ex/sub/b.txt").exists());
        assert_eq!(fs::read_to_string(root.join("app/out/sub/b.txt"))?, "b");
        Ok(())
    }

    #[test]
    fn a_symlinked_destination_stays_inside_the_rootfs() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        let root = d.path().join("root");
        fs::create_dir_all(&root)?;
        std::os::unix::fs::symlink("/", root.join("escape"))?;
        let p = dest_path(&root, "/", "/escape/tmp/x")?;
        assert!(p.starts_with(&root), "{}", p.display());
        Ok(())
    }

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("755"), Ok(0o755));
        assert!(parse_chmod("u+x").is_err());
    }
}
