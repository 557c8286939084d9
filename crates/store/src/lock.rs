//! The store lock: `flock` on `<root>/lock`. Writers that add take it
//! shared; anything that deletes (rmi, prune, GC, check --repair) takes it
//! exclusive, so nothing is collected while another process is adding it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// Held until dropped (closing the file releases the lock).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    exclusive: bool,
}

impl Lock {
    pub fn acquire(path: &Path, exclusive: bool) -> io::Result<Lock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        let op = if exclusive { FlockOperation::LockExclusive } else { FlockOperation::LockShared };
        flock(&file, op).map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
        Ok(Lock { _file: file, exclusive })
    }

    /// The lock if it can be had at once; None when someone holds it.
    pub fn try_acquire(path: &Path, exclusive: bool) -> io::Result<Option<Lock>> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        let op =
            if exclusive { FlockOperation::NonBlockingLockExclusive } else { FlockOperation::NonBlockingLockShared };
        match flock(&file, op) {
            Ok(()) => Ok(Some(Lock { _file: file, exclusive })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(io::Error::from_raw_os_error(e.raw_os_error())),
        }
    }

    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}
