//! A deterministic layer tar from a directory (an extracted snapshot or an
//! overlay upperdir), hashed as it is written: the hash is the diffID.
//!
//! The same directory always gives the same bytes: entries depth-first in
//! byte order of their names, numeric owners with empty user/group names,
//! whole-second mtimes (clamped to SOURCE_DATE_EPOCH when given), xattrs in
//! name order, hardlinks after their first path. Overlay whiteouts (0/0
//! character devices) become `.wh.NAME`; an opaque directory
//! (`trusted.overlay.opaque=y`) gets `.wh..wh..opq`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs as rfs;

use super::{LayerError, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::digest::{Digest, ThreadedHashingWriter};

/// How to write a layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerOptions {
    /// Clamp every mtime to this (seconds since the epoch), for
    /// reproducible layers.
    pub source_date_epoch: Option<i64>,
}

/// Writes the layer tar of `dir` to `out`; returns its digest (the diffID)
/// and size.
pub fn write_layer(dir: &Path, out: impl Write, opts: &LayerOptions) -> Result<(Digest, u64), LayerError> {
    let mut w = Walker { b: tar::Builder::new(ThreadedHashingWriter::new(out)), opts: *opts, links: HashMap::new() };
    w.b.follow_symlinks(false);
    w.dir(dir, "")?;
    let hw = w.b.into_inner().map_err(|e| LayerError::Io(dir.display().to_string(), e))?;
    let (digest, size, mut out) = hw.finish().map_err(|e| LayerError::Io(dir.display().to_string(), e))?;
    out.flush().map_err(|e| LayerError::Io(dir.display().to_string(), e))?;
    Ok((digest, size))
}

struct Walker<W: Write> {
    b: tar::Builder<ThreadedHashingWriter<W>>,
    opts: LayerOptions,
    /// (dev, inode) of files with several links → the first path written.
    links: HashMap<(u64, u64), String>,
}

fn io_err(at: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |e| LayerError::Io(at.display().to_string(), e)
}

impl<W: Write> Walker<W> {
    fn mtime(&self, m: &fs::Metadata) -> u64 {
        let t = m.mtime();
        let t = match self.opts.source_date_epoch {
            Some(e) if e < t => e,
            _ => t,
        };
        t.max(0) as u64
    }

    fn header(&self, m: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        h.set_mtime(self.mtime(m));
        h.set_size(0);
        h
    }

    /// Writes the children of `path` (whose name in the tar is `prefix`).
    fn dir(&mut self, path: &Path, prefix: &str) -> Result<(), LayerError> {
        let mut names: Vec<_> = fs::read_dir(path)
            .map_err(io_err(path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(path))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            if super::is_fuse_marker(name.as_bytes()) {
                continue;
            }
            let child = path.join(&name);
            let rel = format!("{prefix}{}", String::from_utf8_lossy(name.as_bytes()));
            self.entry(&child, &rel, name.as_bytes())?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &str, name: &[u8]) -> Result<(), LayerError> {
        let m = fs::symlink_metadata(path).map_err(io_err(path))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            return self.whiteout(&m, rel, name);
        }
        self.pax_xattrs(path)?;
        if ft.is_dir() {
            let mut h = self.header(&m, tar::EntryType::Directory);
            self.b.append_data(&mut h, format!("{rel}/"), io::empty()).map_err(io_err(path))?;
            if is_opaque(path) {
                let mut o = self.header(&m, tar::EntryType::Regular);
                o.set_mode(0o644);
                let opq = format!("{rel}/{}", String::from_utf8_lossy(WHITEOUT_OPAQUE));
                self.b.append_data(&mut o, opq, io::empty()).map_err(io_err(path))?;
            }
            return self.dir(path, &format!("{rel}/"));
        }
        if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = self.links.get(&(m.dev(), m.ino())).cloned() {
                    let mut h = self.header(&m, tar::EntryType::Link);
                    return self.b.append_link(&mut h, rel, first).map_err(io_err(path));
                }
                self.links.insert((m.dev(), m.ino()), rel.to_owned());
            }
            let mut h = self.header(&m, tar::EntryType::Regular);
            h.set_size(m.len());
            let f = File::open(path).map_err(io_err(path))?;
            return self
                .b
                .append_data(
                    &mut h,
                    rel,
                    io::Read::take(
                        io::BufReader::with_capacity((m.len() as usize).clamp(8 << 10, 1 << 20), f),
                        m.len(),
                    ),
                )
                .map_err(io_err(path));
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            let mut h = self.header(&m, tar::EntryType::Symlink);
            return self.b.append_link(&mut h, rel, target).map_err(io_err(path));
        }
        let kind = if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            return Ok(()); // sockets have no tar form
        };
        let mut h = self.header(&m, kind);
        let rdev = m.rdev();
        h.set_device_major(rfs::major(rdev)).map_err(io_err(path))?;
        h.set_device_minor(rfs::minor(rdev)).map_err(io_err(path))?;
        self.b.append_data(&mut h, rel, io::empty()).map_err(io_err(path))
    }

    fn whiteout(&mut self, m: &fs::Metadata, rel: &str, name: &[u8]) -> Result<(), LayerError> {
        let mut h = self.header(m, tar::EntryType::Regular);
        h.set_mode(0);
        let parent = &rel[..rel.len() - name.len()];
        let wh = format!("{parent}{}{}", String::from_utf8_lossy(WHITEOUT_PREFIX), String::from_utf8_lossy(name));
        self.b.append_data(&mut h, wh, io::empty()).map_err(|e| LayerError::Io(rel.to_owned(), e))
    }

    /// Emits the file's xattrs (sorted) as a PAX header for the next entry.
    fn pax_xattrs(&mut self, path: &Path) -> Result<(), LayerError> {
        let names = list_xattrs(path);
        let mut recs: Vec<(String, Vec<u8>)> = Vec::new();
        for n in names {
            if super::is_overlay_xattr(&n) || n == "security.selinux" {
                continue;
            }
            if let Some(v) = get_xattr(path, &n) {
                recs.push((format!("SCHILY.xattr.{n}"), v));
            }
        }
        if recs.is_empty() {
            return Ok(());
        }
        recs.sort();
        self.b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).map_err(io_err(path))
    }
}

fn list_xattrs(path: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    loop {
        match rfs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                return buf[..n]
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect();
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(_) => return Vec::new(),
        }
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    loop {
        match rfs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Some(buf);
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(_) => return None,
        }
    }
}

fn is_opaque(path: &Path) -> bool {
    get_xattr(path, super::opaque_xattr()).is_some_and(|v| v == b"y") || super::is_fuse_opaque(path)
}
