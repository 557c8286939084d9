//! Compressed layer blobs, made when something needs them (an OCI archive,
//! a push) in one pass — uncompressed tar → compressor (multi-threaded) →
//! sha256 → content store — and kept, so the next save or push reuses them.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use gzp::deflate::Gzip;
use gzp::par::compress::{ParCompress, ParCompressBuilder};
use gzp::ZWriter;
use image::content::BlobWriter;
use image::digest::HashingWriter;
use image::Digest;

use crate::{Store, StoreError};

/// A layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
}

impl Codec {
    /// The OCI media type of a layer compressed with this codec.
    pub fn media_type(self) -> &'static str {
        match self {
            Codec::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Codec::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// gzip level for layers wharf compresses. Level 1 of zlib-rs (flate2's
/// fastest backend, the one the workspace selects) makes blobs a few
/// percent larger than level 6 at several times the speed: a push or save
/// is bound by compression, and the bytes go to a registry once.
const GZIP_LEVEL: u32 = 3;

/// The media type of an uncompressed layer tar.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A `Write` that several owners can reach: gzp's compressor moves its
/// output into a worker thread, and the blob must be committed afterwards.
#[derive(Clone)]
struct Shared(Arc<Mutex<BlobWriter>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("blob writer poisoned"))?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().map_err(|_| io::Error::other("blob writer poisoned"))?.flush()
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Store {
    /// The compressed blob of a layer: the one kept from an earlier save,
    /// pull or push, or a new one made now. Returns (digest, size).
    pub fn compressed_layer(
        &mut self,
        chain: &Digest,
        diff: &Digest,
        codec: Codec,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some((d, s)) = self.layer_blob(diff, codec.media_type())? {
            if self.content().contains(&d) {
                return Ok((d, s));
            }
        }
        let out = Shared(Arc::new(Mutex::new(self.content().writer()?)));
        let io_err = |e: io::Error| StoreError::Io(format!("compressing layer {diff}"), e);
        let (actual, _) = match codec {
            Codec::Gzip => {
                let mut z: ParCompress<Gzip, Shared> = ParCompressBuilder::new()
                    .compression_level(gzp::Compression::new(GZIP_LEVEL))
                    .num_threads(threads())
                    .map_err(|e| io_err(io::Error::other(e)))?
                    .from_writer(out.clone());
                let r = {
                    let mut h = HashingWriter::new(&mut z);
                    self.uncompressed_layer(chain, diff, &mut h)?;
                    let (d, n, _) = h.finish();
                    (d, n)
                };
                z.finish().map_err(|e| io_err(io::Error::other(e)))?;
                r
            }
            Codec::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(out.clone(), 3).map_err(io_err)?;
                z.multithread(threads() as u32).map_err(io_err)?;
                let r = {
                    let mut h = HashingWriter::new(&mut z);
                    self.uncompressed_layer(chain, diff, &mut h)?;
                    let (d, n, _) = h.finish();
                    (d, n)
                };
                z.finish().map_err(io_err)?;
                r
            }
        };
        if actual != *diff {
            return Err(StoreError::Corrupt(format!("layer {diff} reads back as {actual}")));
        }
        let writer = Arc::try_unwrap(out.0).map_err(|_| StoreError::Corrupt("compressor kept its output".into()))?;
        let writer = writer.into_inner().map_err(|_| StoreError::Corrupt("blob writer poisoned".into()))?;
        let size = writer.written();
        let blob = writer.commit(None)?;
        self.add_layer_blob(diff, codec.media_type(), &blob, size)?;
        Ok((blob, size))
    }

    /// Writes a layer's uncompressed tar — the bytes its diffID names: the
    /// original tar if one was kept, a kept compressed blob decompressed, or
    /// the snapshot's canonical tar (for layers wharf made itself).
    pub fn uncompressed_layer(&self, chain: &Digest, diff: &Digest, out: &mut dyn Write) -> Result<u64, StoreError> {
        let io_err = |e: io::Error| StoreError::Io(format!("reading layer {diff}"), e);
        for media in [LAYER_TAR, Codec::Gzip.media_type(), Codec::Zstd.media_type()] {
            if let Some((blob, _)) = self.layer_blob(diff, media)? {
                if let Ok(f) = self.content().open_blob(&blob) {
                    let (_, mut plain): (_, Box<dyn Read>) = image::layer::decompress(f).map_err(io_err)?;
                    return io::copy(&mut plain, out).map_err(io_err);
                }
            }
        }
        let (_, n) = self.write_layer_tar(chain, out)?;
        Ok(n)
    }
}
