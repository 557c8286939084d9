//! Extracting a layer tar into a directory, safely.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)` against the target
//! directory, so a symlink in the layer (absolute or `../..`) is followed as
//! if the target were `/`, never out of it. The final component is always
//! created with `O_EXCL|O_NOFOLLOW` (or its `*at` equivalent) after removing
//! what was there. Entries naming `..` are rejected; hardlinks must point at
//! something this layer already extracted; device nodes are not created
//! (the runtime provides `/dev`); overlay-internal xattrs are dropped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use super::pool::{FileJob, Pool, POOLED_MAX};
use super::{idmap, LayerError, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// What to do with OCI whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Extracting one layer into its own snapshot directory (an overlay
    /// lowerdir): `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq`
    /// the `trusted.overlay.opaque` xattr.
    Overlay,
    /// Extracting onto a directory that already holds the lower layers:
    /// whiteouts delete.
    Delete,
}

/// Counts from one extraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Device nodes in the layer that were not created.
    pub skipped_devices: u64,
}

/// The compression of a layer stream, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Wraps `r` in the decompressor its magic bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    decompress_buffered(BufReader::with_capacity(1 << 20, r))
}

/// As `decompress`, for a reader with a buffer of its own: the
/// decompressor reads from that buffer, with no copy in between.
pub fn decompress_buffered<'a, R: BufRead + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let head = r.fill_buf()?;
    let kind = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let boxed: Box<dyn Read + 'a> = match kind {
        Compression::Gzip => Box::new(super::GzipReader::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    };
    Ok((kind, boxed))
}

/// Extracts the layer tar (plain, gzip or zstd) read from `r` into `root`.
/// Into an empty `root`, small regular files are written by a few worker
/// threads (see pool.rs), which are joined before this returns.
pub fn apply(r: impl Read, root: &Path, whiteouts: Whiteouts) -> Result<ApplyStats, LayerError> {
    let (_, plain) = decompress(r).map_err(LayerError::Read)?;
    let root_fd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::io(root.display().to_string(), e))?;
    // Only an empty root is pooled: there, a name exists only if this
    // layer made it, which the extractor keeps track of (`made`).
    let empty = rfs::openat(&root_fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::io(root.display().to_string(), e))
        .and_then(|d| list_dir(&d).map_err(|e| LayerError::io(root.display().to_string(), e)))?
        .is_empty();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|scope| {
        let mut ex = Extractor {
            creds: (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw()),
            parent_setgid: false,
            parent_id: (0, 0),
            root: root_fd,
            whiteouts,
            stats: ApplyStats::default(),
            dir_times: Vec::new(),
            parent: None,
            pool: empty.then(|| Pool::start(scope, workers)),
            made: std::collections::HashSet::new(),
        };
        let mut archive = tar::Archive::new(plain);
        for (read, entry) in archive.entries().map_err(LayerError::Read)?.enumerate() {
            let mut entry = entry.map_err(|e| LayerError::Read(super::tar_read_error(e, read)))?;
            ex.entry(&mut entry)?;
        }
        ex.finish()?;
        Ok(ex.stats)
    })
}

struct Extractor {
    /// The effective uid and gid new files get.
    creds: (u32, u32),
    /// The cached parent directory is setgid (new files take its group).
    parent_setgid: bool,
    /// The cached parent directory's (device, inode).
    parent_id: (u64, u64),
    root: OwnedFd,
    whiteouts: Whiteouts,
    stats: ApplyStats,
    /// Directory mtimes, applied at the end (creating children changes them).
    dir_times: Vec<(Vec<Vec<u8>>, i64)>,
    /// The last parent directory resolved, reused by its siblings.
    parent: Option<(Vec<Vec<u8>>, OwnedFd)>,
    /// Writes small files on other threads; None unless the root was empty.
    pool: Option<Pool>,
    /// (parent directory, name) of everything this extraction made, while
    /// pooling: a name not in it cannot exist yet.
    made: std::collections::HashSet<((u64, u64), Vec<u8>)>,
}

/// Splits an entry name into components: `.` and empty ones dropped, a
/// leading `/` ignored, `..` refused.
fn components(name: &[u8]) -> Result<Vec<Vec<u8>>, LayerError> {
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(LayerError::Breakout(String::from_utf8_lossy(name).into_owned())),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn join(c: &[Vec<u8>]) -> Vec<u8> {
    c.join(&b'/')
}

pub(super) fn show(c: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&join(c)).into_owned()
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), LayerError> {
        let name = entry.path_bytes().into_owned();
        let comps = components(&name)?;
        let Some((base, parent)) = comps.split_last() else {
            return Ok(()); // the root itself
        };
        self.stats.entries += 1;
        if base.as_slice() == WHITEOUT_OPAQUE {
            self.drain()?;
            return self.opaque(parent);
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            self.drain()?;
            let header = entry.header();
            let mtime = numeric(header.mtime(), &header.as_old().mtime)? as i64;
            return self.whiteout(parent, hidden, mtime);
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_character_special() || kind.is_block_special() {
            self.stats.skipped_devices += 1;
            return Ok(());
        }
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            return Ok(());
        }
        let dir = self.parent_dir(parent)?;
        let dir_id = self.parent_id;
        // A second entry for a name a worker may still be writing, or a
        // hardlink (its target must be whole): wait for the pool.
        if kind.is_hard_link() || self.pool.as_ref().is_some_and(|p| p.in_flight(dir_id, base)) {
            self.drain()?;
        }
        let is_dir = kind.is_dir();
        let is_file = kind.is_file() || kind.is_contiguous();
        let fresh = self.pool.is_some() && self.made.insert((dir_id, base.clone()));
        // A regular file is created with O_EXCL first and only cleared out
        // of the way if something is there: one path lookup, not two.
        if !is_file {
            self.clear(&dir, base, is_dir, &comps)?;
        }
        let old = header.as_old();
        let uid = numeric(header.uid(), &old.uid)? as u32;
        let gid = numeric(header.gid(), &old.gid)? as u32;
        let mode = header.mode().map_err(LayerError::Read)? & 0o7777;
        let mtime = numeric(header.mtime(), &old.mtime)? as i64;
        let xattrs = xattrs(entry)?;
        let at = || show(&comps);
        if is_dir {
            match rfs::mkdirat(&dir, base.as_slice(), Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(LayerError::io(at(), e)),
            }
            let fd = rfs::openat(
                &dir,
                base.as_slice(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| LayerError::io(at(), e))?;
            set_owner_mode_xattrs(&fd, uid, gid, mode, &xattrs).map_err(|e| LayerError::io(at(), e))?;
            self.dir_times.push((comps.clone(), mtime));
        } else if is_file && fresh && header.size().is_ok_and(|n| n <= POOLED_MAX) {
            let mut data = Vec::with_capacity(header.size().unwrap_or(0) as usize);
            self.stats.bytes += entry.read_to_end(&mut data).map_err(LayerError::Read)? as u64;
            let owned = (uid, gid) == self.creds && !self.parent_setgid;
            let job = FileJob {
                dir,
                dir_id,
                name: base.clone(),
                comps: comps.clone(),
                data,
                owner: (!owned).then_some((uid, gid)),
                mode,
                xattrs,
                mtime,
            };
            self.pool.as_mut().expect("pooling").send(job)?;
        } else if is_file {
            let create = |dir: &OwnedFd| {
                rfs::openat(
                    dir,
                    base.as_slice(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            };
            let fd = match create(&dir) {
                Err(Errno::EXIST) => {
                    self.clear(&dir, base, false, &comps)?;
                    create(&dir)
                }
                other => other,
            }
            .map_err(|e| LayerError::io(at(), e))?;
            let mut file = File::from(fd);
            let size = header.size().unwrap_or(0);
            self.stats.bytes += copy_aligned(entry, &mut file, size).map_err(|e| e.at(at()))?;
            // A new file already belongs to us (unless its directory is
            // setgid): skip the chown then.
            let owned = (uid, gid) == self.creds && !self.parent_setgid;
            let (u, g) = if owned { (None, None) } else { (Some(uid), Some(gid)) };
            set_owner_mode_xattrs_opt(&file, u, g, mode, &xattrs).map_err(|e| LayerError::io(at(), e))?;
            rfs::futimens(&file, &times(mtime)).map_err(|e| LayerError::io(at(), e))?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| LayerError::Invalid(format!("symlink {} has no target", at())))?;
            rfs::symlinkat(target.as_ref(), &dir, base.as_slice()).map_err(|e| LayerError::io(at(), e))?;
            rfs::chownat(&dir, base.as_slice(), Some(uid_of(uid)), Some(gid_of(gid)), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::io(at(), e))?;
            rfs::utimensat(&dir, base.as_slice(), &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::io(at(), e))?;
        } else if kind.is_hard_link() {
            self.hardlink(entry, &dir, base, &comps)?;
        } else if kind.is_fifo() {
            rfs::mknodat(&dir, base.as_slice(), FileType::Fifo, Mode::from_raw_mode(mode), 0)
                .map_err(|e| LayerError::io(at(), e))?;
            rfs::chownat(&dir, base.as_slice(), Some(uid_of(uid)), Some(gid_of(gid)), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::io(at(), e))?;
            rfs::chmodat(&dir, base.as_slice(), Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(|e| LayerError::io(at(), e))?;
        } else {
            return Err(LayerError::Invalid(format!("unsupported tar entry type {:?} for {}", kind, at())));
        }
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &tar::Entry<R>,
        dir: &OwnedFd,
        base: &[u8],
        comps: &[Vec<u8>],
    ) -> Result<(), LayerError> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| LayerError::Invalid(format!("hardlink {} has no target", show(comps))))?;
        let tcomps = components(&target)?;
        let Some((tbase, tparent)) = tcomps.split_last() else {
            return Err(LayerError::Invalid(format!("hardlink {} points at the root", show(comps))));
        };
        let tdir = self.resolve(tparent).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => LayerError::HardlinkTarget(show(comps), show(&tcomps)),
            e => LayerError::io(show(&tcomps), e),
        })?;
        rfs::linkat(&tdir, tbase.as_slice(), dir, base, AtFlags::empty()).map_err(|e| match e {
            Errno::NOENT => LayerError::HardlinkTarget(show(comps), show(&tcomps)),
            e => LayerError::io(show(comps), e),
        })
    }

    /// Opens a directory inside the root, following symlinks as if the root
    /// were `/`.
    fn resolve(&self, comps: &[Vec<u8>]) -> Result<OwnedFd, Errno> {
        let path = if comps.is_empty() { b".".to_vec() } else { join(comps) };
        rfs::openat2(
            &self.root,
            path.as_slice(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// The parent directory of an entry, created (0755, root-owned) if the
    /// layer did not list it, as docker does.
    fn parent_dir(&mut self, parent: &[Vec<u8>]) -> Result<OwnedFd, LayerError> {
        if let Some((p, fd)) = &self.parent {
            if p.as_slice() == parent {
                return fd.try_clone().map_err(|e| LayerError::Io(show(parent), e));
            }
        }
        let mut resolved = self.resolve(parent);
        // A file a worker has yet to write may be what is in the way.
        if resolved.is_err() && self.pool.as_ref().is_some_and(Pool::busy) {
            self.drain()?;
            resolved = self.resolve(parent);
        }
        let fd = match resolved {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.create_parents(parent)?,
            Err(e) => return Err(LayerError::io(show(parent), e)),
        };
        let copy = fd.try_clone().map_err(|e| LayerError::Io(show(parent), e))?;
        let st = rfs::fstat(&fd).map_err(|e| LayerError::io(show(parent), e))?;
        self.parent_setgid = st.st_mode & 0o2000 != 0;
        self.parent_id = (st.st_dev, st.st_ino);
        self.parent = Some((parent.to_vec(), copy));
        Ok(fd)
    }

    fn create_parents(&mut self, parent: &[Vec<u8>]) -> Result<OwnedFd, LayerError> {
        let mut fd = self.resolve(&[]).map_err(|e| LayerError::io(".", e))?;
        for i in 0..parent.len() {
            match self.resolve(&parent[..=i]) {
                Ok(next) => fd = next,
                Err(Errno::NOENT) => {
                    match rfs::mkdirat(&fd, parent[i].as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) if self.pool.is_some() => {
                            let st = rfs::fstat(&fd).map_err(|e| LayerError::io(show(&parent[..i]), e))?;
                            self.made.insert(((st.st_dev, st.st_ino), parent[i].clone()));
                        }
                        Ok(()) => {}
                        // A dangling symlink is in the way: refuse rather
                        // than guess where it should lead.
                        Err(Errno::EXIST) => {
                            return Err(LayerError::Invalid(format!("{} is not a directory", show(&parent[..=i]))))
                        }
                        Err(e) => return Err(LayerError::io(show(&parent[..=i]), e)),
                    }
                    fd = self.resolve(&parent[..=i]).map_err(|e| LayerError::io(show(&parent[..=i]), e))?;
                }
                Err(e) => return Err(LayerError::io(show(&parent[..=i]), e)),
            }
        }
        Ok(fd)
    }

    /// Removes what is at `dir/base` unless both it and the new entry are
    /// directories (a directory entry then only updates metadata).
    fn clear(&mut self, dir: &OwnedFd, base: &[u8], new_is_dir: bool, comps: &[Vec<u8>]) -> Result<(), LayerError> {
        let st = match rfs::statat(dir, base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(LayerError::io(show(comps), e)),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if is_dir && new_is_dir {
            return Ok(());
        }
        // Workers may be writing below what is about to go.
        if self.pool.as_ref().is_some_and(Pool::busy) {
            self.drain()?;
            return self.clear(dir, base, new_is_dir, comps);
        }
        // Anything cached below this path may now be stale.
        if self.parent.as_ref().is_some_and(|(p, _)| p.starts_with(comps)) {
            self.parent = None;
        }
        remove_at(dir, base, is_dir).map_err(|e| LayerError::io(show(comps), e))
    }

    fn opaque(&mut self, parent: &[Vec<u8>]) -> Result<(), LayerError> {
        let dir = self.parent_dir(parent)?;
        let dir = rfs::openat(&dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| LayerError::io(show(parent), e))?;
        match self.whiteouts {
            Whiteouts::Overlay => rfs::fsetxattr(&dir, idmap::opaque_xattr(), b"y", XattrFlags::empty())
                .map_err(|e| LayerError::io(show(parent), e)),
            Whiteouts::Delete => {
                for name in list_dir(&dir).map_err(|e| LayerError::io(show(parent), e))? {
                    let st = rfs::statat(&dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| LayerError::io(show(parent), e))?;
                    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                    remove_at(&dir, &name, is_dir).map_err(|e| LayerError::io(show(parent), e))?;
                }
                self.parent = None;
                Ok(())
            }
        }
    }

    /// A whiteout: as overlayfs marks one (a 0/0 character device, with
    /// the entry's mtime, so that writing the layer again gives the same
    /// bytes), or the deletion of what it hides.
    fn whiteout(&mut self, parent: &[Vec<u8>], hidden: &[u8], mtime: i64) -> Result<(), LayerError> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(LayerError::Invalid(format!("invalid whiteout in {}", show(parent))));
        }
        let dir = self.parent_dir(parent)?;
        let mut comps = parent.to_vec();
        comps.push(hidden.to_vec());
        self.clear(&dir, hidden, false, &comps)?;
        if self.whiteouts == Whiteouts::Overlay {
            rfs::mknodat(&dir, hidden, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))
                .map_err(|e| LayerError::io(show(&comps), e))?;
            rfs::utimensat(&dir, hidden, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::io(show(&comps), e))?;
        }
        Ok(())
    }

    /// Waits for the pool, then writes (in order) the files whose name a
    /// worker found taken, clearing the way as the single-threaded path
    /// does.
    fn drain(&mut self) -> Result<(), LayerError> {
        let Some(pool) = self.pool.as_mut() else { return Ok(()) };
        for job in pool.drain()? {
            self.clear(&job.dir, &job.name, false, &job.comps)?;
            if !job.write()? {
                return Err(LayerError::io(show(&job.comps), Errno::EXIST));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), LayerError> {
        self.drain()?;
        // Deepest first, so setting a child's time never disturbs a parent's.
        self.dir_times.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (comps, mtime) in &self.dir_times {
            let (base, parent) = comps.split_last().expect("directory entries have a name");
            let Ok(dir) = self.resolve(parent) else {
                continue;
            };
            rfs::utimensat(&dir, base.as_slice(), &times(*mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::io(show(comps), e))?;
        }
        Ok(())
    }
}

/// Copies `r` to the start of a new file in whole 1 MiB writes (the last
/// one excepted). io::copy writes what each read returns, and a tar's
/// reads end wherever its 512-byte records do: every write that ends
/// inside a filesystem block makes ext4 zero the rest of that block first
/// (a tenth of an import's time went to that memset).
fn copy_aligned(r: &mut impl Read, w: &mut File, size: u64) -> Result<u64, CopyError> {
    // Sized to the file: a small file must not cost a 1 MiB allocation.
    let mut buf = vec![0u8; size.clamp(1, 1 << 20) as usize];
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CopyError::Read(e)),
            }
        }
        io::Write::write_all(w, &buf[..filled]).map_err(CopyError::Write)?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

/// Which side of a copy failed: the layer stream or the file.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

impl CopyError {
    fn at(self, path: String) -> LayerError {
        match self {
            CopyError::Read(e) => LayerError::Read(e),
            CopyError::Write(e) => LayerError::Io(path, e),
        }
    }
}

/// A numeric header field; an empty one (all NUL or spaces) reads as 0,
/// as Go's archive/tar (which docker uses) reads it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> Result<u64, LayerError> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(LayerError::Read(e)),
    }
}

fn uid_of(u: u32) -> Uid {
    Uid::from_raw(idmap::owner_uid(u))
}

fn gid_of(g: u32) -> Gid {
    Gid::from_raw(idmap::owner_gid(g))
}

pub(super) fn times(mtime: i64) -> Timestamps {
    let t = Timespec { tv_sec: mtime, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

/// chown before chmod: chown clears setuid/setgid bits.
fn set_owner_mode_xattrs(
    fd: impl AsFd,
    uid: u32,
    gid: u32,
    mode: u32,
    xattrs: &[(String, Vec<u8>)],
) -> Result<(), Errno> {
    set_owner_mode_xattrs_opt(fd, Some(uid), Some(gid), mode, xattrs)
}

/// As `set_owner_mode_xattrs`, skipping the chown when there is no owner
/// to set.
pub(super) fn set_owner_mode_xattrs_opt(
    fd: impl AsFd,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: u32,
    xattrs: &[(String, Vec<u8>)],
) -> Result<(), Errno> {
    if uid.is_some() || gid.is_some() {
        rfs::fchown(fd.as_fd(), uid.map(uid_of), gid.map(gid_of))?;
    }
    rfs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode))?;
    for (k, v) in xattrs {
        rfs::fsetxattr(fd.as_fd(), k.as_str(), v, XattrFlags::empty())?;
    }
    Ok(())
}

/// PAX `SCHILY.xattr.*` records worth keeping: not overlay's own metadata
/// (a layer must not forge whiteouts or redirects) and not SELinux labels.
fn xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let mut out = Vec::new();
    let Some(exts) = entry.pax_extensions().map_err(LayerError::Read)? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext.map_err(LayerError::Read)?;
        let Ok(key) = ext.key() else { continue };
        let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
            continue;
        };
        if super::is_overlay_xattr(name) || name == "security.selinux" {
            continue;
        }
        out.push((name.to_owned(), ext.value_bytes().to_vec()));
    }
    Ok(out)
}

/// Names in a directory (not `.`/`..`).
fn list_dir(dir: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    let fd = rfs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut names = Vec::new();
    let mut d = rfs::Dir::read_from(&fd)?;
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}

/// Removes `dir/name`, recursively if it is a directory, never following a
/// symlink.
pub(crate) fn remove_at(dir: &OwnedFd, name: &[u8], is_dir: bool) -> Result<(), Errno> {
    if !is_dir {
        return rfs::unlinkat(dir, name, AtFlags::empty());
    }
    let sub =
        rfs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    for child in list_dir(&sub)? {
        let st = rfs::statat(&sub, child.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        remove_at(&sub, &child, FileType::from_raw_mode(st.st_mode) == FileType::Directory)?;
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// Removes a directory tree at `path` without following symlinks.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().ok_or_else(|| io::Error::other("no file name"))?;
    let pfd = rfs::open(parent, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(errno_io)?;
    let st = match rfs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(errno_io(e)),
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    remove_at(&pfd, std::os::unix::ffi::OsStrExt::as_bytes(name), is_dir).map_err(errno_io)
}
