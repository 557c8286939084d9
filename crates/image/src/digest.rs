//! Content digests (`sha256:<64 hex>`) and a hashing writer.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A sha256 content digest. Other algorithms are rejected: every blob
/// wharf stores or verifies is sha256 (as docker and podman do).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// A string that is not a valid sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {0:?}: want sha256:<64 lower-case hex digits>")]
pub struct BadDigest(pub String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits without the `sha256:` prefix.
    pub fn from_hex(h: &str) -> Result<Self, BadDigest> {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(BadDigest(h.to_owned()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map_err(|_| BadDigest(h.to_owned()))?;
        Ok(Digest(out))
    }

    /// The OCI chain ID of a layer stack, from its diff IDs in order.
    pub fn chain_id(diff_ids: &[Digest]) -> Option<Digest> {
        let mut it = diff_ids.iter();
        let mut chain = it.next()?.clone();
        for d in it {
            chain = Digest::of(format!("{chain} {d}").as_bytes());
        }
        Some(chain)
    }

    /// The chain ID of layer `diff` stacked on the chain `parent` (or at
    /// the bottom).
    pub fn chain_above(parent: Option<&Digest>, diff: &Digest) -> Digest {
        match parent {
            Some(p) => Digest::of(format!("{p} {diff}").as_bytes()),
            None => diff.clone(),
        }
    }
}

impl FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, BadDigest> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| BadDigest(s.to_owned()))?;
        Digest::from_hex(hex).map_err(|_| BadDigest(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Passes writes through to `inner` while hashing them (sha2 uses the CPU's
/// SHA extensions when present) and counting bytes.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest and size of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest(self.hasher.finalize().into()), self.written, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A [`HashingWriter`] that hashes on a thread of its own: the writer's
/// thread reads and frames (a layer's files, from the page cache) while
/// the other hashes, so that a large layer costs about its hashing time
/// rather than hashing plus reading. Bytes go over in 1 MiB buffers that
/// come back for reuse. Dropped unfinished, its sender goes and the
/// thread ends by itself.
pub struct ThreadedHashingWriter<W> {
    inner: W,
    pending: Vec<u8>,
    written: u64,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    hasher: Option<std::thread::JoinHandle<Sha256>>,
}

const HASH_CHUNK: usize = 1 << 20;

impl<W: Write> ThreadedHashingWriter<W> {
    pub fn new(inner: W) -> Self {
        let (full, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, empty) = std::sync::mpsc::channel::<Vec<u8>>();
        let hasher = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for mut buf in to_hash {
                h.update(&buf);
                buf.clear();
                let _ = give_back.send(buf);
            }
            h
        });
        ThreadedHashingWriter {
            inner,
            pending: Vec::with_capacity(HASH_CHUNK),
            written: 0,
            full: Some(full),
            empty,
            hasher: Some(hasher),
        }
    }

    fn send_pending(&mut self) -> io::Result<()> {
        let next = self.empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let buf = std::mem::replace(&mut self.pending, next);
        let sent = self.full.as_ref().map(|f| f.send(buf));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(io::Error::other("the hashing thread ended")),
        }
    }

    /// The digest and size of everything written, and the inner writer.
    pub fn finish(mut self) -> io::Result<(Digest, u64, W)> {
        if !self.pending.is_empty() {
            self.send_pending()?;
        }
        drop(self.full.take());
        let h = self.hasher.take().map(|t| t.join());
        let Some(Ok(h)) = h else { return Err(io::Error::other("the hashing thread panicked")) };
        Ok((Digest(h.finalize().into()), self.written, self.inner))
    }
}

impl<W: Write> Write for ThreadedHashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let take = rest.len().min(HASH_CHUNK - self.pending.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == HASH_CHUNK {
                self.send_pending()?;
            }
        }
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), read: 0 }
    }

    /// The digest and size of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.hasher.finalize().into()), self.read)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_threaded_writer_hashes_as_the_plain_one() {
        use std::io::Write as _;
        let data: Vec<u8> = (0..3 * super::HASH_CHUNK + 12345).map(|i| (i * 7 % 251) as u8).collect();
        let mut plain = super::HashingWriter::new(Vec::new());
        let mut threaded = super::ThreadedHashingWriter::new(Vec::new());
        for chunk in data.chunks(70_001) {
            plain.write_all(chunk).unwrap();
            threaded.write_all(chunk).unwrap();
        }
        let (a, n, out_a) = plain.finish();
        let (b, m, out_b) = threaded.finish().unwrap();
        assert_eq!((a, n), (b, m));
        assert_eq!(out_a, out_b);
    }

    use super::*;

    #[test]
    fn parse_and_print() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d.clone()));
        assert!("sha256:E3B0".parse::<Digest>().is_err());
        assert!("md5:abc".parse::<Digest>().is_err());
    }

    #[test]
    fn chain_above_stacks_one_layer() {
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        assert_eq!(Digest::chain_above(None, &a), a);
        let ab = Digest::chain_above(Some(&a), &b);
        assert_eq!(Some(ab.clone()), Digest::chain_id(&[a.clone(), b.clone()]));
        assert_eq!(Some(Digest::chain_above(Some(&ab), &c)), Digest::chain_id(&[a, b, c]));
    }

    #[test]
    fn chain_ids() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(Digest::chain_id(std::slice::from_ref(&a)), Some(a.clone()));
        assert_eq!(Digest::chain_id(&[a.clone(), b.clone()]), Some(Digest::of(format!("{a} {b}").as_bytes())));
        assert_eq!(Digest::chain_id(&[]), None);
    }
}
