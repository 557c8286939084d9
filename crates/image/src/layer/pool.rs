//! Writing small regular files of a layer on worker threads.
//!
//! Extraction is bound by the filesystem's inode creation (ext4 takes
//! per-group locks, and a small file costs an open, a write and three or
//! four metadata calls), which one thread does one file at a time. The tar
//! stream stays sequential on the extracting thread: it resolves every
//! parent directory (safely, see apply.rs) and hands the pool only the
//! parent's descriptor, the final name and the bytes. The extractor drains
//! the pool before anything that could see a file half-made or out of
//! order: a second entry for the same name, removing anything, hardlinks,
//! whiteouts, and the end.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;

use super::LayerError;

/// One regular file to create: `dir/name` with `data`, then its metadata.
pub(super) struct FileJob {
    pub dir: OwnedFd,
    /// The parent directory's (device, inode), for conflict checks.
    pub dir_id: (u64, u64),
    pub name: Vec<u8>,
    /// The entry's path components.
    pub comps: Vec<Vec<u8>>,
    pub data: Vec<u8>,
    pub owner: Option<(u32, u32)>,
    pub mode: u32,
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub mtime: i64,
}

impl FileJob {
    /// Creates the file with O_EXCL; EEXIST comes back as Ok(false), for
    /// the extracting thread to clear the way and retry in order.
    pub fn write(&self) -> Result<bool, LayerError> {
        let fd = match rfs::openat(
            &self.dir,
            self.name.as_slice(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => return Ok(false),
            Err(e) => return Err(LayerError::io(self.shown(), e)),
        };
        let mut file = File::from(fd);
        file.write_all(&self.data).map_err(|e| LayerError::Io(self.shown(), e))?;
        self.finish(&file)?;
        Ok(true)
    }

    /// Owner, mode, xattrs and mtime of the written file.
    fn finish(&self, file: &File) -> Result<(), LayerError> {
        let (u, g) = self.owner.map_or((None, None), |(u, g)| (Some(u), Some(g)));
        super::apply::set_owner_mode_xattrs_opt(file, u, g, self.mode, &self.xattrs)
            .and_then(|()| rfs::futimens(file, &super::apply::times(self.mtime)))
            .map_err(|e| LayerError::io(self.shown(), e))
    }

    fn shown(&self) -> String {
        super::apply::show(&self.comps)
    }
}

/// What the workers share with the extracting thread.
#[derive(Default)]
struct Shared {
    /// Jobs sent and not yet done.
    pending: Mutex<usize>,
    idle: Condvar,
    /// Jobs whose name was taken, in the order they were sent.
    taken: Mutex<Vec<(u64, FileJob)>>,
    error: Mutex<Option<LayerError>>,
    failed: AtomicBool,
}

/// The extracting thread's handle on the workers.
pub(super) struct Pool {
    tx: Option<SyncSender<(u64, FileJob)>>,
    shared: Arc<Shared>,
    /// (parent, name) of every job sent since the last drain.
    in_flight: HashSet<((u64, u64), Vec<u8>)>,
    sent: u64,
}

/// Files larger than this are written by the extracting thread: the pool
/// is for the many small ones, and holding a big one in memory buys
/// nothing.
pub(super) const POOLED_MAX: u64 = 256 << 10;

impl Pool {
    /// Starts `workers` threads in `scope`; they end when the pool is
    /// dropped.
    pub fn start<'s>(scope: &'s std::thread::Scope<'s, '_>, workers: usize) -> Pool {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, FileJob)>(64);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared::default());
        for _ in 0..workers {
            let (rx, shared) = (rx.clone(), shared.clone());
            scope.spawn(move || work(&rx, &shared));
        }
        Pool { tx: Some(tx), shared, in_flight: HashSet::new(), sent: 0 }
    }

    /// Whether a job for (dir_id, name) may still be running.
    pub fn in_flight(&self, dir_id: (u64, u64), name: &[u8]) -> bool {
        !self.in_flight.is_empty() && self.in_flight.contains(&(dir_id, name.to_vec()))
    }

    pub fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }

    pub fn send(&mut self, job: FileJob) -> Result<(), LayerError> {
        self.check()?;
        self.in_flight.insert((job.dir_id, job.name.clone()));
        *self.shared.pending.lock().expect("pool lock") += 1;
        self.sent += 1;
        let tx = self.tx.as_ref().expect("pool is running");
        tx.send((self.sent, job)).map_err(|_| LayerError::Invalid("extraction workers stopped".into()))
    }

    /// The first error a worker hit, if any.
    pub fn check(&self) -> Result<(), LayerError> {
        if self.shared.failed.load(Ordering::Acquire) {
            if let Some(e) = self.shared.error.lock().expect("pool lock").take() {
                return Err(e);
            }
            return Err(LayerError::Invalid("extraction failed".into()));
        }
        Ok(())
    }

    /// Waits until every job sent is done; returns the jobs whose name was
    /// taken, in the order they were sent, for the caller to redo.
    pub fn drain(&mut self) -> Result<Vec<FileJob>, LayerError> {
        let mut pending = self.shared.pending.lock().expect("pool lock");
        while *pending > 0 {
            pending = self.shared.idle.wait(pending).expect("pool lock");
        }
        drop(pending);
        self.in_flight.clear();
        self.check()?;
        let mut taken = std::mem::take(&mut *self.shared.taken.lock().expect("pool lock"));
        taken.sort_by_key(|(n, _)| *n);
        Ok(taken.into_iter().map(|(_, j)| j).collect())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends the workers (the scope joins them).
        self.tx.take();
    }
}

fn work(rx: &Mutex<Receiver<(u64, FileJob)>>, shared: &Shared) {
    loop {
        let next = rx.lock().expect("pool lock").recv();
        let Ok((n, job)) = next else { return };
        if !shared.failed.load(Ordering::Acquire) {
            match job.write() {
                Ok(true) => {}
                Ok(false) => shared.taken.lock().expect("pool lock").push((n, job)),
                Err(e) => {
                    shared.error.lock().expect("pool lock").get_or_insert(e);
                    shared.failed.store(true, Ordering::Release);
                }
            }
        }
        let mut pending = shared.pending.lock().expect("pool lock");
        *pending -= 1;
        if *pending == 0 {
            shared.idle.notify_all();
        }
    }
}
