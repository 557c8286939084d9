//! Paying the first cgroup migration's wait ahead of time.
//!
//! Moving a task between cgroups takes a global per-CPU rwsem for writing
//! (`cgroup_threadgroup_rwsem`). When no writer has held it lately, taking
//! it waits for an RCU grace period: measured here, 5-8 ms for the first
//! write to a `tasks` file, 0.2 ms for a second one within about 10 ms,
//! and the full wait again after 20 ms. That wait was a third of a
//! `run --rm --network none`. The kernel's `favordynmods` mount option
//! removes it, but that is the host's choice, not wharf's.
//!
//! So, while the caller sets the container up, a short-lived thread
//! "moves" itself into the cgroup it is already in (a no-op that takes the
//! same lock), and the container's own migration then finds the lock warm.
//! The thread is joined (`finish`) before the embedded runtime forks:
//! libcontainer must be driven from a single-threaded process
//! (youki#3011).

use std::sync::Mutex;
use std::thread::JoinHandle;

/// The warm-up thread of this process, if one runs.
static WARMUP: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// Starts the warm-up on a thread of its own, unless one already runs
/// (nothing happens if the thread cannot start). Call it as early as the
/// container is known to be started soon.
pub fn start() {
    let mut slot = WARMUP.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        *slot = std::thread::Builder::new().name("cgroup-warmup".into()).spawn(rejoin_own_cgroup).ok();
    }
}

/// Waits for the warm-up thread, if any: afterwards the process is
/// single-threaded again. The embedded runtime calls this before it forks.
pub fn finish() {
    let running = WARMUP.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(t) = running {
        let _ = t.join();
    }
}

/// Writes this thread into its own cgroup: the `tasks` file of the first
/// mounted v1 controller it is in, or on v2 this process into its own
/// `cgroup.procs`. Errors are ignored: this only saves time.
fn rejoin_own_cgroup() {
    let Ok(text) = std::fs::read_to_string("/proc/thread-self/cgroup") else { return };
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    // Lines are `ID:CONTROLLERS:PATH`; the path may itself hold colons.
    let v1 =
        text.lines().filter_map(|l| l.split_once(':').and_then(|(_, rest)| rest.split_once(':'))).find(|(c, _)| {
            !c.is_empty() && !c.starts_with("name=") && std::path::Path::new("/sys/fs/cgroup").join(c).is_dir()
        });
    let (file, who) = match v1 {
        Some((controllers, path)) => (format!("/sys/fs/cgroup/{controllers}{path}/tasks"), tid),
        None => {
            let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) else { return };
            (format!("/sys/fs/cgroup{path}/cgroup.procs"), std::process::id() as i32)
        }
    };
    let _ = std::fs::write(file, who.to_string());
}
