//! The content store: immutable blobs named by their sha256 digest.
//!
//! A blob is written under `tmp/`, hashed as it is written, fsynced, checked
//! against the digest it should have, and only then renamed to
//! `blobs/sha256/HEX`. A crash leaves at most a file in `tmp/` (removed by
//! `wharf system check --repair`), never a wrong blob under a digest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};

/// Content store failures.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("blob digest mismatch: expected {expected}, got {actual} ({size} bytes)")]
    Mismatch { expected: Digest, actual: Digest, size: u64 },
    #[error("content store I/O at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io { path: path.to_owned(), source }
}

/// The blob directory and its staging directory (on the same filesystem,
/// so the final rename is atomic).
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) a store with blobs under `blobs` and
    /// staging files under `tmp`.
    pub fn open(blobs: impl Into<PathBuf>, tmp: impl Into<PathBuf>) -> Result<Self, ContentError> {
        let (blobs, tmp) = (blobs.into(), tmp.into());
        let sha = blobs.join("sha256");
        fs::create_dir_all(&sha).map_err(io_at(&sha))?;
        fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
        Ok(ContentStore { blobs, tmp })
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join("sha256").join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The blob's size, if present.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.path(digest)).ok().map(|m| m.len())
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        File::open(self.path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => ContentError::Io { path: self.path(digest), source: e },
        })
    }

    /// Reads a whole (small) blob.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut buf = Vec::new();
        self.open_blob(digest)?.read_to_end(&mut buf).map_err(io_at(&self.path(digest)))?;
        Ok(buf)
    }

    /// Stores `bytes`, returning their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, ContentError> {
        let d = Digest::of(bytes);
        if self.contains(&d) {
            return Ok(d);
        }
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(io_at(&self.tmp))?;
        w.commit(Some(&d))
    }

    /// A writer for a new blob; nothing is visible until `commit`.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let file = tempfile_in(&self.tmp, "blob-")?;
        Ok(BlobWriter { inner: Some(HashingWriter::new(file.1)), tmp_path: file.0, store: self.clone() })
    }

    /// Every blob digest present (names that are not digests are skipped).
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.blobs.join("sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let e = e.map_err(io_at(&dir))?;
            if let Some(d) = e.file_name().to_str().and_then(|n| Digest::from_hex(n).ok()) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a blob (absent is fine).
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ContentError::Io { path: self.path(digest), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Re-hashes a blob: `Ok(true)` if its bytes match its name.
    pub fn verify(&self, digest: &Digest) -> Result<bool, ContentError> {
        let mut f = self.open_blob(digest)?;
        let mut h = HashingWriter::new(io::sink());
        io::copy(&mut f, &mut h).map_err(io_at(&self.path(digest)))?;
        Ok(h.finish().0 == *digest)
    }
}

/// Creates a uniquely named file in `dir` (O_EXCL).
pub fn tempfile_in(dir: &Path, prefix: &str) -> Result<(PathBuf, File), ContentError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!("{prefix}{}-{n}-{nanos:x}", std::process::id()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ContentError::Io { path, source: e }),
        }
    }
}

/// A blob being written. Dropped without `commit`, its staging file is
/// removed.
pub struct BlobWriter {
    inner: Option<HashingWriter<File>>,
    tmp_path: PathBuf,
    store: ContentStore,
}

impl BlobWriter {
    /// Flushes and fsyncs the data, checks it against `expected` (if
    /// given) and moves it into place. Returns the blob's digest.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Digest, ContentError> {
        let Some(inner) = self.inner.take() else {
            return Err(ContentError::Io {
                path: self.tmp_path.clone(),
                source: io::Error::other("blob writer already used"),
            });
        };
        let (digest, size, file) = inner.finish();
        file.sync_all().map_err(io_at(&self.tmp_path))?;
        drop(file);
        if let Some(exp) = expected {
            if *exp != digest {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(ContentError::Mismatch { expected: exp.clone(), actual: digest, size });
            }
        }
        let dest = self.store.path(&digest);
        fs::rename(&self.tmp_path, &dest).map_err(io_at(&dest))?;
        Ok(digest)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map_or(0, HashingWriter::written)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob writer already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().map_or(Ok(()), |w| w.flush())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path().join("blobs"), t.path().join("tmp")).unwrap();
        (t, s)
    }

    #[test]
    fn put_read_verify_delete() {
        let (_t, s) = store();
        let d = s.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert!(s.verify(&d).unwrap());
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        s.delete(&d).unwrap();
        assert!(matches!(s.read(&d), Err(ContentError::NotFound(_))));
    }

    #[test]
    fn wrong_bytes_are_never_visible() {
        let (t, s) = store();
        let expected = Digest::of(b"right");
        let mut w = s.writer().unwrap();
        w.write_all(b"wrong").unwrap();
        assert!(matches!(w.commit(Some(&expected)), Err(ContentError::Mismatch { .. })));
        assert!(!s.contains(&expected));
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0, "staging file removed");
    }

    #[test]
    fn abandoned_writer_leaves_nothing() {
        let (t, s) = store();
        let mut w = s.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn corrupted_blob_fails_verification() {
        let (_t, s) = store();
        let d = s.put(b"data").unwrap();
        fs::write(s.path(&d), b"tampered").unwrap();
        assert!(!s.verify(&d).unwrap());
    }
}
