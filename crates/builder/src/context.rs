//! The build context: a directory whose files COPY/ADD may read, minus
//! what `.dockerignore` excludes. Paths are resolved inside the context
//! only (a `../` or a symlink pointing outside never reads outside it), and
//! file contents are hashed for cache keys through the store's stat cache,
//! so an unchanged context is checked without reading it.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use dockerfile::dockerignore::Dockerignore;
use image::Digest;
use sha2::{Digest as _, Sha256};
use store::Store;

/// A build context directory.
pub struct Context {
    pub root: PathBuf,
    ignore: Option<Dockerignore>,
    /// Stat stamp → digest hits and misses of this build, written back at
    /// the end.
    fresh: Vec<(String, String, Digest)>,
    memo: HashMap<PathBuf, Digest>,
    /// The stat cache for this context, loaded on first use.
    stats: Option<HashMap<String, (String, Digest)>>,
}

/// Lexically cleans a path to be relative to a root: `..` above the root
/// stays at the root (Go's `filepath.Clean("/" + p)`).
pub fn clean_rel(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Resolves `rel` below `root` following symlinks as if `root` were `/`:
/// the result is always inside `root` (the CVE-2018-15664 class). The
/// last component is followed too when `follow_last`.
pub fn resolve_in(root: &Path, rel: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut todo: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .filter_map(|c| {
            if let Component::Normal(n) = c {
                Some(n.to_owned())
            } else if c == Component::ParentDir {
                Some("..".into())
            } else {
                None
            }
        })
        .collect();
    let mut cur = PathBuf::new();
    let mut hops = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&name);
        let full = root.join(&next);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !todo.is_empty()) => {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::other(format!("too many levels of symbolic links: {}", rel.display())));
                }
                let target = fs::read_link(&full)?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => todo.push(n.to_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => cur = next,
        }
    }
    Ok(root.join(cur))
}

/// `mkdir -p` of `path` inside `root` (a container's working directory):
/// symlinks resolve inside `root`, never onto the host. Fails if the path
/// exists and is not a directory.
pub fn make_dir_in(root: &Path, path: &str) -> io::Result<()> {
    let dir = resolve_in(root, &clean_rel(path), true)?;
    match fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{path} is not a directory"))),
        Ok(_) => Ok(()),
        Err(_) => fs::create_dir_all(&dir),
    }
}

impl Context {
    pub fn open(root: PathBuf, dockerfile_name: &str) -> anyhow::Result<Context> {
        let mut ignore = None;
        for name in dockerfile::dockerignore::ignore_file_names(dockerfile_name) {
            if let Ok(text) = fs::read_to_string(root.join(&name)) {
                let mut d = Dockerignore::parse(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                d.keep_build_files(dockerfile_name);
                ignore = Some(d);
                break;
            }
        }
        Ok(Context { root, ignore, fresh: Vec::new(), memo: HashMap::new(), stats: None })
    }

    /// Whether a context-relative path is excluded by `.dockerignore`.
    pub fn excluded(&self, rel: &Path) -> bool {
        let s = rel.to_string_lossy();
        self.ignore.as_ref().is_some_and(|d| d.excludes(&s))
    }

    /// Whether an excluded directory must still be walked: an exception
    /// of `.dockerignore` may match below it.
    pub fn may_reinclude_below(&self, rel: &Path) -> bool {
        self.ignore.as_ref().is_some_and(|d| d.may_reinclude_below(&rel.to_string_lossy()))
    }

    /// The sources a COPY names, expanded (globs) and resolved in the
    /// context: `(relative name as written, host path)`.
    pub fn sources(&self, src: &str) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
        sources_in(&self.root, src, &|p| self.excluded(p))
    }

    /// A digest of what COPY would take from `path` (a file or a tree):
    /// names, modes, symlink targets and file contents; not times.
    pub fn tree_digest(&mut self, store: &Store, path: &Path, rel: &Path) -> anyhow::Result<Digest> {
        let mut h = Sha256::new();
        self.hash_into(store, &mut h, path, rel, Path::new(""))?;
        Digest::from_hex(&hex::encode(h.finalize())).map_err(|e| anyhow::anyhow!("{}", e.0))
    }

    fn hash_into(&mut self, store: &Store, h: &mut Sha256, path: &Path, rel: &Path, name: &Path) -> anyhow::Result<()> {
        let m = fs::symlink_metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", rel.display()))?;
        h.update(name.as_os_str().as_encoded_bytes());
        h.update(format!("\0{:o}\0", m.mode()).as_bytes());
        if m.file_type().is_symlink() {
            h.update(fs::read_link(path)?.as_os_str().as_encoded_bytes());
        } else if m.is_file() {
            h.update(self.file_digest(store, path, &m)?.bytes());
        } else if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
            names.sort();
            for n in names {
                let r = rel.join(&n);
                // As the copy walks: an excluded directory an exception
                // may take something back from is walked too.
                if self.excluded(&r) && !(path.join(&n).is_dir() && self.may_reinclude_below(&r)) {
                    continue;
                }
                self.hash_into(store, h, &path.join(&n), &r, &name.join(&n))?;
            }
        }
        h.update(b"\n");
        Ok(())
    }

    fn file_digest(&mut self, store: &Store, path: &Path, m: &fs::Metadata) -> anyhow::Result<Digest> {
        if let Some(d) = self.memo.get(path) {
            return Ok(d.clone());
        }
        let key = path.to_string_lossy().into_owned();
        let stamp =
            format!("{}:{}.{}:{}.{}:{}", m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec(), m.ino());
        if self.stats.is_none() {
            self.stats = Some(store.stat_cache_under(&self.root.to_string_lossy())?);
        }
        let cached = self.stats.as_ref().and_then(|s| s.get(&key)).filter(|(s, _)| *s == stamp).map(|(_, d)| d.clone());
        let d = match cached {
            Some(d) => d,
            None => {
                let mut f = fs::File::open(path)?;
                let mut hw = image::digest::HashingWriter::new(io::sink());
                io::copy(&mut f, &mut hw)?;
                let (d, _, _) = hw.finish();
                self.fresh.push((key, stamp, d.clone()));
                d
            }
        };
        self.memo.insert(path.to_owned(), d.clone());
        Ok(d)
    }

    /// The content digest of a context file this build has hashed.
    pub fn known_digest(&self, path: &Path) -> Option<Digest> {
        self.memo.get(path).cloned()
    }

    /// Saves the digests computed in this build to the stat cache.
    pub fn save(&mut self, store: &mut Store) -> anyhow::Result<()> {
        if !self.fresh.is_empty() {
            store.put_stat_cache(&self.fresh)?;
            self.fresh.clear();
        }
        Ok(())
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands `src` (maybe a glob) below `root`.
pub fn sources_in(root: &Path, src: &str, excluded: &dyn Fn(&Path) -> bool) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let rel = clean_rel(src);
    if !has_glob(src) {
        let host = resolve_in(root, &rel, true)?;
        if fs::symlink_metadata(&host).is_err() || (!rel.as_os_str().is_empty() && excluded(&rel)) {
            anyhow::bail!(
                "failed to compute cache key: failed to calculate checksum of ref: \"/{}\": not found",
                rel.display()
            );
        }
        return Ok(vec![(rel, host)]);
    }
    // Match component by component, as Go's filepath.Match does.
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let mut found = vec![PathBuf::new()];
    for part in &parts {
        let mut next = Vec::new();
        for dir in &found {
            if !has_glob(part) {
                let p = dir.join(part);
                if fs::symlink_metadata(resolve_in(root, &p, false)?).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let pattern = glob::Pattern::new(part).map_err(|e| anyhow::anyhow!("bad pattern {src:?}: {e}"))?;
            let host = resolve_in(root, dir, true)?;
            let Ok(rd) = fs::read_dir(&host) else { continue };
            let mut names: Vec<String> =
                rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for n in names {
                if pattern.matches(&n) {
                    next.push(dir.join(n));
                }
            }
        }
        found = next;
    }
    let out: Vec<(PathBuf, PathBuf)> = found
        .into_iter()
        .filter(|p| !excluded(p))
        .map(|p| resolve_in(root, &p, true).map(|h| (p, h)))
        .collect::<io::Result<_>>()?;
    // A wildcard may match nothing (BuildKit's AllowEmptyWildcard).
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_never_leaves_the_root() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        let root = d.path().join("ctx");
        fs::create_dir_all(root.join("sub"))?;
        std::os::unix::fs::symlink("/etc", root.join("abs"))?;
        std::os::unix::fs::symlink("../../../../etc", root.join("sub/rel"))?;
        assert_eq!(resolve_in(&root, Path::new("abs/passwd"), true)?, root.join("etc/passwd"));
        assert_eq!(resolve_in(&root, Path::new("sub/rel/passwd"), true)?, root.join("etc/passwd"));
        assert_eq!(resolve_in(&root, &clean_rel("../../etc/passwd"), true)?, root.join("etc/passwd"));
        // A working directory through an absolute symlink is made inside.
        make_dir_in(&root, "/abs/wharf-made")?;
        assert!(root.join("etc/wharf-made").is_dir() && !Path::new("/etc/wharf-made").exists());
        fs::write(root.join("file"), "")?;
        assert_eq!(make_dir_in(&root, "/file").map_err(|e| e.kind()), Err(io::ErrorKind::NotADirectory));
        assert_eq!(resolve_in(&root, Path::new("abs"), false)?, root.join("abs"));
        Ok(())
    }

    #[test]
    fn globs_match_per_component() -> anyhow::Result<()> {
        let d = tempfile::tempdir()?;
        for f in ["a.txt", "b.txt", "c.md", "dir/d.txt"] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap_or(d.path()))?;
            fs::write(p, f)?;
        }
        let got: Vec<PathBuf> = sources_in(d.path(), "*.txt", &|_| false)?.into_iter().map(|(r, _)| r).collect();
        assert_eq!(got, vec![PathBuf::from("a.txt"), PathBuf::from("b.txt")]);
        let got: Vec<PathBuf> = sources_in(d.path(), "*/*.txt", &|_| false)?.into_iter().map(|(r, _)| r).collect();
        assert_eq!(got, vec![PathBuf::from("dir/d.txt")]);
        assert!(sources_in(d.path(), "nope*", &|_| false)?.is_empty(), "a wildcard may match nothing");
        assert!(sources_in(d.path(), "nope", &|_| false).is_err(), "a plain name must exist");
        let ex: Vec<PathBuf> =
            sources_in(d.path(), "*.txt", &|p| p == Path::new("a.txt"))?.into_iter().map(|(r, _)| r).collect();
        assert_eq!(ex, vec![PathBuf::from("b.txt")]);
        Ok(())
    }
}
