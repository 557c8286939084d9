//! A container frozen by a command while it copies the container's files
//! (`commit --pause`). The command holds a lock file beside the container
//! for as long as it is frozen; one killed meanwhile leaves the lock file
//! unheld, and the next command that looks at the container (every
//! lookup refreshes it) or `system check --repair` thaws it. Without
//! this a killed commit left the container frozen for good: `ps` said Up,
//! `unpause` said it was not paused, and `stop` hung.

use std::path::{Path, PathBuf};

use store::Lock;

use crate::container::load_config;
use crate::host::{ContainerRuntime, Host};
use crate::{Layout, Result};

/// The container frozen, until [`Frozen::thaw`].
pub struct Frozen<'r> {
    runtime: &'r dyn ContainerRuntime,
    id: String,
    lock_path: PathBuf,
    _lock: Lock,
}

/// Freezes container `id`, recording first that this process did.
pub fn freeze<'r>(root: &Path, runtime: &'r dyn ContainerRuntime, id: &str) -> Result<Frozen<'r>> {
    let lock_path = Layout::new(root).container(id).freeze_lock();
    // Blocking: another command may be thawing what a dead one left.
    let lock = Lock::acquire(&lock_path, true)?;
    if let Err(e) = runtime.pause(id) {
        let _ = std::fs::remove_file(&lock_path);
        return Err(e);
    }
    Ok(Frozen { runtime, id: id.to_owned(), lock_path, _lock: lock })
}

impl Frozen<'_> {
    /// Thaws the container. On failure the lock file stays, unheld once
    /// this process ends, so that the next command tries again.
    pub fn thaw(self) -> Result<()> {
        self.runtime.resume(&self.id)?;
        let _ = std::fs::remove_file(&self.lock_path);
        Ok(())
    }
}

/// Whether container `id` was left frozen by a command that died (its
/// lock file there and held by nobody).
pub fn abandoned(root: &Path, id: &str) -> Result<Option<Lock>> {
    let path = Layout::new(root).container(id).freeze_lock();
    if !path.exists() {
        return Ok(None);
    }
    Ok(Lock::try_acquire(&path, true)?)
}

/// Thaws container `rec` if a dead command left it frozen; returns
/// whether it did.
pub fn thaw_abandoned(host: &dyn Host, root: &Path, rec: &store::ContainerRecord) -> Result<bool> {
    let Some(_held) = abandoned(root, &rec.id)? else { return Ok(false) };
    if rec.state.is_live() {
        host.runtime(root, &load_config(rec)).thaw(&rec.id)?;
    }
    std::fs::remove_file(Layout::new(root).container(&rec.id).freeze_lock())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    fn running(id: &str) -> store::ContainerRecord {
        store::ContainerRecord {
            id: id.to_owned(),
            name: id.to_owned(),
            image_id: String::new(),
            created: String::new(),
            state: store::ContainerState::Running,
            config: "{}".into(),
            pid: 0,
            monitor_pid: 0,
            exit_code: 0,
            oom_killed: false,
            started: String::new(),
            finished: String::new(),
            restarts: 0,
            ip: String::new(),
            error: String::new(),
        }
    }

    fn container_dir(root: &Path, id: &str) -> crate::layout::ContainerPaths {
        let dir = Layout::new(root).container(id);
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        dir
    }

    #[test]
    fn a_freeze_held_by_a_live_command_is_left_to_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let host = FakeHost::default();
        let dir = container_dir(root.path(), "c1");
        let runtime = host.runtime(root.path(), &Default::default());
        let frozen = freeze(root.path(), runtime.as_ref(), "c1").expect("frozen");
        assert!(!thaw_abandoned(&host, root.path(), &running("c1")).expect("checked"), "its holder lives");
        frozen.thaw().expect("thawed");
        assert_eq!(host.calls(), ["pause c1", "resume c1"]);
        assert!(!dir.freeze_lock().exists());
    }

    /// What a command killed while it held the freeze leaves: the lock
    /// file, held by nobody.
    #[test]
    fn a_freeze_whose_command_died_is_thawed_once() {
        let root = tempfile::tempdir().expect("tempdir");
        let host = FakeHost::default();
        let dir = container_dir(root.path(), "c2");
        std::fs::write(dir.freeze_lock(), "").expect("write");
        assert!(thaw_abandoned(&host, root.path(), &running("c2")).expect("thawed"));
        assert_eq!(host.calls(), ["thaw c2"]);
        assert!(!dir.freeze_lock().exists());
        assert!(!thaw_abandoned(&host, root.path(), &running("c2")).expect("checked"), "once");
    }

    #[test]
    fn a_failed_freeze_leaves_no_lock_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let host = FakeHost::default();
        host.fail("pause");
        let dir = container_dir(root.path(), "c3");
        let runtime = host.runtime(root.path(), &Default::default());
        assert!(freeze(root.path(), runtime.as_ref(), "c3").is_err());
        assert!(!dir.freeze_lock().exists());
    }
}
