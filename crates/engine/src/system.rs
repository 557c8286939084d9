//! The system operations: disk usage, prunes (each kind, and all of them
//! as `system prune`), and the store check that finishes or undoes what a
//! killed wharf process left.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{json, Value};
use store::{ContainerState, Store};

use crate::container::load_config;
use crate::{Layout, Result};

/// One line of docker's `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// docker's `system df`: images, containers, local volumes, build cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub build_cache: Usage,
}

/// Everything `system df -v` lists (the API's `/system/df`): images with
/// the containers using each, containers with their writable layer's
/// size, volumes with their size and users, and the build cache.
#[derive(Debug, Clone, Default)]
pub struct UsageReport {
    pub layers_size: u64,
    pub images: Vec<crate::api::ImageSummary>,
    pub containers: Vec<crate::api::ContainerSummary>,
    pub volumes: Vec<crate::volumes::Volume>,
    pub build_cache: Vec<store::CacheEntry>,
}

pub fn usage_report(store: &mut Store) -> Result<UsageReport> {
    let layers_size = disk_usage(store)?.images.size;
    let mut images = crate::image_list::list(store, &Default::default())?;
    for i in &mut images {
        let id = i.id.parse().map_err(|_| crate::Error::internal(format!("an image ID: {}", i.id)))?;
        i.containers = store.containers_using(&id)?.len() as i64;
        // Not computed (docker's list leaves it at -1, which its CLI
        // skips when it sums what is in use).
        i.shared_size = 0;
    }
    let all = crate::containers::ListOptions { all: true, ..Default::default() };
    let layout = Layout::new(store.root());
    let mut containers = crate::containers::summaries(store, &all)?;
    for c in &mut containers {
        c.size_rw = Some(c.id.as_deref().map_or(0, |id| crate::files::tree_size(&layout.container(id).upper())) as i64);
        c.size_root_fs = Some(0);
    }
    let users = crate::volumes::users(store)?;
    let mut volumes = Vec::new();
    for name in crate::volumes::names(store.root()) {
        let mut v = crate::volumes::inspect(store.root(), &name)?;
        v.usage_data = Some(crate::volumes::VolumeUsage {
            size: crate::files::tree_size(&layout.volume_data(&name)) as i64,
            ref_count: users.get(&name).map_or(0, Vec::len) as i64,
        });
        volumes.push(v);
    }
    Ok(UsageReport { layers_size, images, containers, volumes, build_cache: store.build_cache()? })
}

pub fn disk_usage(store: &Store) -> Result<DiskUsage> {
    let images = store.images()?;
    let mut in_use = Vec::new();
    for i in &images {
        in_use.push(!store.containers_using(&i.id)?.is_empty());
    }
    let (_, layer_bytes, blob_bytes) = store.disk_usage()?;
    let size = layer_bytes + blob_bytes;
    let unused: u64 =
        images.iter().zip(&in_use).filter(|(_, used)| !**used).map(|(i, _)| i.size).sum::<u64>().min(size);
    let cache = store.build_cache()?;
    let cache_size = cache.iter().map(|e| e.size).sum();
    let cache_active: Vec<_> = cache.iter().filter(|e| e.in_use).collect();
    let cache_reclaimable = cache_size - cache_active.iter().map(|e| e.size).sum::<u64>();
    Ok(DiskUsage {
        images: Usage { total: images.len(), active: in_use.iter().filter(|u| **u).count(), size, reclaimable: unused },
        containers: containers_usage(store)?,
        volumes: volumes_usage(store)?,
        build_cache: Usage {
            total: cache.len(),
            active: cache_active.len(),
            size: cache_size,
            reclaimable: cache_reclaimable,
        },
    })
}

/// Containers: their writable layers; those not running can be removed.
fn containers_usage(store: &Store) -> Result<Usage> {
    let layout = Layout::new(store.root());
    let mut u = Usage::default();
    for c in store.containers()? {
        let n = crate::files::tree_size(&layout.container(&c.id).upper());
        u.total += 1;
        u.size += n;
        if matches!(c.state, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting) {
            u.active += 1;
        } else {
            u.reclaimable += n;
        }
    }
    Ok(u)
}

fn volumes_usage(store: &Store) -> Result<Usage> {
    let users = crate::volumes::users(store)?;
    let layout = Layout::new(store.root());
    let mut u = Usage::default();
    for n in crate::volumes::names(store.root()) {
        let size = crate::files::tree_size(&layout.volume_data(&n));
        u.total += 1;
        u.size += size;
        if users.contains_key(&n) {
            u.active += 1;
        } else {
            u.reclaimable += size;
        }
    }
    Ok(u)
}

/// Removes the containers that do not run and that `filter` lets go;
/// their IDs.
pub fn prune_containers(store: &mut Store, filter: &crate::time::PruneFilter) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for rec in store.containers()? {
        let rec = crate::lifecycle::refresh(store, rec)?;
        if rec.state.is_live() {
            continue;
        }
        if !filter.lets_go(&load_config(&rec).labels, &rec.created) {
            continue;
        }
        crate::lifecycle::remove(store, &rec, false)?;
        deleted.push(rec.id);
    }
    Ok(deleted)
}

/// docker's `BuildCachePruneResponse`: how many entries went, and the
/// bytes freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CachePruneReport {
    pub caches_deleted: usize,
    pub space_reclaimed: u64,
}

/// Forgets build cache entries (older than `until`) and frees the layers
/// only they kept.
pub fn prune_build_cache(store: &mut Store, until: Option<SystemTime>) -> Result<CachePruneReport> {
    let before = until.map(|t| humantime::format_rfc3339_nanos(t).to_string());
    let n = store.prune_build_cache(before.as_deref())?;
    let (lock, _) = exclusive_lock(store)?;
    let report = store.gc(&lock)?;
    Ok(CachePruneReport { caches_deleted: n, space_reclaimed: report.bytes })
}

/// An anonymous volume's name: 64 hex digits, as `-v /path` makes them.
fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `system prune` is asked to remove besides stopped containers,
/// unused networks, dangling images and build cache.
#[derive(Debug, Clone, Default)]
pub struct SystemPruneOptions {
    /// Every unused image, not only dangling ones.
    pub all_images: bool,
    /// Unused anonymous volumes too.
    pub volumes: bool,
    pub filter: crate::time::PruneFilter,
}

/// What `system prune` removed, kind by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemPruneReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub images: crate::images::PruneReport,
    pub build_cache: CachePruneReport,
}

/// docker's `system prune`: stopped containers, unused networks, dangling
/// (or all unused) images, build cache, and unused anonymous volumes when
/// asked.
pub fn prune(store: &mut Store, opts: &SystemPruneOptions) -> Result<SystemPruneReport> {
    let mut report = SystemPruneReport { containers: prune_containers(store, &opts.filter)?, ..Default::default() };
    report.networks = crate::networks::prune(store)?;
    if opts.volumes {
        let (_lock, _) = exclusive_lock(store)?;
        let users = crate::volumes::users(store)?;
        let layout = Layout::new(store.root());
        for n in crate::volumes::names(store.root()) {
            if !users.contains_key(&n) && is_anonymous(&n) {
                image::layer::remove_tree(&layout.volume_dir(&n))
                    .map_err(|e| crate::Error::internal(format!("remove volume {n}: {e}")))?;
                report.volumes.push(n);
            }
        }
    }
    {
        let (lock, _) = exclusive_lock(store)?;
        report.images = crate::images::prune(store, &lock, opts.all_images, &opts.filter)?;
    }
    report.build_cache = prune_build_cache(store, opts.filter.until)?;
    Ok(report)
}

/// What a killed build leaves besides staging files: step containers and
/// overlay mounts under tmp/. Only called under the exclusive lock, so no
/// build is running.
fn build_leftovers(root: &Path, repair: bool) -> Vec<String> {
    let mut found = Vec::new();
    let layout = Layout::new(root);
    let state = layout.embedded_runtime_state();
    if let Ok(rd) = std::fs::read_dir(&state) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("wharf-build-") {
                let mut problem = format!("build step container {name} left running");
                if repair {
                    if let Err(e) = remove_step_container(root, &e.path(), &name) {
                        problem.push_str(&format!(" (could not remove it: {e})"));
                    }
                }
                found.push(problem);
            }
        }
    }
    let tmp = layout.tmp().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&tmp)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        found.push(format!("mount {p} left by a build"));
        if repair {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
    }
    found
}

/// Removes a step container a killed build left: the runtime's forced
/// delete (which kills what still runs in it), tried again while its last
/// processes die (the cgroup cannot go before they have); a container
/// killed while it was being made, which the runtime cannot load, loses
/// its state directory; then its empty cgroups go.
fn remove_step_container(root: &Path, state: &Path, name: &str) -> Result<(), String> {
    let rt = crate::monitor::runtime_for(root, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut result = rt.delete(name);
    while result.is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        result = rt.delete(name);
    }
    if let Err(e) = result {
        // Killed while the runtime was writing its state: no state, or a
        // state file cut short. What runs in its cgroups is killed.
        let unreadable = std::fs::read(state.join("state.json"))
            .map_or(true, |b| serde_json::from_slice::<serde_json::Value>(&b).is_err());
        if !unreadable {
            return Err(e.to_string());
        }
        for dir in step_cgroups(name) {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = runtime::supervise::send_signal(pid, libc::SIGKILL);
            }
        }
        std::fs::remove_dir_all(state).map_err(|e| e.to_string())?;
    }
    // The cgroups go once their last processes are gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while step_cgroups(name).iter().any(|d| std::fs::remove_dir(d).is_err() && d.exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// The cgroup directories of step container `name` (v2, hybrid, v1).
fn step_cgroups(name: &str) -> Vec<std::path::PathBuf> {
    cgroup_dirs(&format!("wharf/{name}"))
}

/// The directories of cgroup `rel` (below each hierarchy's root) that
/// exist: v2, the hybrid's unified tree, each v1 controller.
fn cgroup_dirs(rel: &str) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> =
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].iter().map(|c| Path::new(c).join(rel)).collect();
    if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(controllers.flatten().map(|c| c.path().join(rel)));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// libcontainer forks a step container's init, which holds wharf's open
/// files (the store lock among them) until it execs the step's command. A
/// build killed in that moment leaves the init waiting forever for a start
/// that will not come, in its own session (so killing the build's process
/// group misses it) and holding the lock. Such a process is in a child PID
/// namespace, orphaned to PID 1, with this store's lock open: it can never
/// proceed, and killing it is the only way to free the lock.
fn reap_orphaned_step_inits(root: &Path) -> Vec<String> {
    let Ok(lock) = std::fs::canonicalize(Layout::new(root).lock_file()) else { return Vec::new() };
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let status = std::fs::read_to_string(p.path().join("status")).unwrap_or_default();
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).unwrap_or_default().trim().to_owned();
        let in_child_ns = field("NSpid:").split_whitespace().count() > 1;
        if field("PPid:") != "1" || !in_child_ns {
            continue;
        }
        let holds_lock = std::fs::read_dir(p.path().join("fd"))
            .map(|fds| fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock)))
            .unwrap_or(false);
        if holds_lock && runtime::supervise::send_signal(pid, libc::SIGKILL).is_ok() {
            found.push(format!("killed orphaned build step process {pid} (it held the store lock)"));
        }
    }
    found
}

/// The store's exclusive lock, after freeing it from orphaned step inits
/// (see above); returns what was reaped.
pub fn exclusive_lock(store: &Store) -> Result<(store::Lock, Vec<String>)> {
    let reaped = reap_orphaned_step_inits(store.root());
    Ok((store.lock(true)?, reaped))
}

/// Containers a command froze and died before thawing (see
/// [`crate::freeze`]); with `repair`, thawed.
fn frozen_leftovers(store: &Store, repair: bool) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for rec in store.containers()? {
        let left = match repair {
            true => crate::freeze::thaw_abandoned(&crate::host::System, store.root(), &rec),
            false => crate::freeze::abandoned(store.root(), &rec.id).map(|l| l.is_some()),
        };
        match left {
            Ok(true) => found.push(format!("container {} was left frozen by a command that died", rec.name)),
            Ok(false) => {}
            Err(e) => found
                .push(format!("container {} was left frozen by a command that died (could not remove: {e})", rec.name)),
        }
    }
    Ok(found)
}

/// What a container's dead monitor or command left on the host: a
/// container recorded running whose processes are gone, or a stopped one
/// that still has its network namespace, port rules or rootfs mount.
/// With `repair`, released as its monitor would have.
fn container_leftovers(store: &mut Store, repair: bool) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let layout = Layout::new(store.root());
    for rec in store.containers()? {
        if matches!(crate::lifecycle::probe_monitor(store.root(), &rec.id)?, crate::lifecycle::MonitorProbe::Busy) {
            continue; // its monitor is at work on it
        }
        let lost = rec.state.is_live() && !runtime::supervise::alive(rec.pid);
        let mut left = Vec::new();
        if !rec.state.is_live() || lost {
            if network::netns_path(&rec.id).exists() {
                left.push("network namespace");
            }
            if network::ports_path(&rec.id).exists() {
                left.push("port rules");
            }
            if network::has_veth(&rec.id) {
                left.push("veth");
            }
            if crate::monitor::runtime_for(store.root(), load_config(&rec).runtime.as_deref()).has_state(&rec.id) {
                left.push("runtime state");
            }
            if crate::monitor::is_mounted(&layout.container(&rec.id).merged()) {
                left.push("rootfs mount");
            }
        }
        // A dead monitor's sockets in the runtime directory.
        let sockets: Vec<std::path::PathBuf> =
            [crate::monitor::attach_path(&rec.id), crate::monitor::console_path(&rec.id)]
                .into_iter()
                .filter(|p| (!rec.state.is_live() || lost) && p.exists())
                .collect();
        if !sockets.is_empty() {
            left.push("sockets in the runtime directory");
        }
        let cgroups = match rec.state.is_live() {
            true => Vec::new(),
            false => cgroup_dirs(&crate::monitor::cgroup_path(&crate::container::load_config(&rec), &rec.id)),
        };
        if !cgroups.is_empty() {
            left.push("cgroups");
        }
        if !lost && left.is_empty() {
            continue;
        }
        let what = match lost {
            true => format!("container {} is recorded {} but its processes are gone", rec.name, rec.state),
            false => format!("stopped container {} still has its {}", rec.name, left.join(", ")),
        };
        found.push(what);
        if repair {
            if lost {
                crate::lifecycle::refresh(store, rec)?;
            } else {
                crate::lifecycle::release_leftovers(&crate::host::System, store, &rec);
                // A state the runtime cannot read (cut short by a kill) is
                // not deleted by it: its directory goes.
                for state in [layout.embedded_runtime_state(), layout.binary_runtime_state()] {
                    let _ = std::fs::remove_dir_all(state.join(&rec.id));
                }
            }
            // Empty once the runtime forgot the container: removed
            // deepest first (a v1 controller may nest them).
            for dir in cgroups.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
            for sock in &sockets {
                let _ = std::fs::remove_file(sock);
            }
        }
    }
    Ok(found)
}

/// `system check`: every problem found (with `repair`, fixed).
pub fn check(store: &mut Store, repair: bool) -> Result<Vec<String>> {
    let (lock, mut problems) = exclusive_lock(store)?;
    problems.extend(build_leftovers(store.root(), repair));
    problems.extend(frozen_leftovers(store, repair)?);
    problems.extend(container_leftovers(store, repair)?);
    if repair {
        problems.iter_mut().filter(|p| !p.contains("(could not remove")).for_each(|p| p.push_str(" (repaired)"));
    }
    problems.extend(store.check(&lock, repair)?);
    Ok(problems)
}

/// wharf's version: the engine's, the CLI's and the Engine API server's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// `linux/amd64` and the like, as Go names them.
pub fn os_arch() -> String {
    format!("linux/{}", builder::config::host_arch())
}

fn os_name() -> String {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()
}

/// docker's `info` object (`SystemInfo`), with the fields a daemonless
/// engine has.
pub fn info(store: &Store) -> Result<Value> {
    let root = store.root();
    let containers = store.containers()?;
    let count = |s: &str| containers.iter().filter(|c| c.state.as_str() == s).count();
    let (running, paused) = (count("running"), count("paused"));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    Ok(json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": store.images()?.len(),
        // As rootless docker names it when fuse-overlayfs serves.
        "Driver": match runtime::rootfs::overlay_program() {
            runtime::rootfs::Program::Kernel => "overlay",
            runtime::rootfs::Program::FuseOverlayfs => "fuse-overlayfs",
        },
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": crate::stats::host_memory(),
        "DockerRootDir": root.display().to_string(),
        "Name": hostname.trim(),
        "ServerVersion": VERSION,
        "DefaultRuntime": "libcontainer",
        "SecurityOptions": security_options(),
    }))
}

/// docker's `version` object for the server side (`SystemVersion`):
/// `git_commit` is the binary's.
pub fn version(git_commit: &str) -> Value {
    let details = json!({"Version": VERSION, "GitCommit": git_commit, "OS/Arch": os_arch(), "Runtime": "libcontainer 0.7.0 (embedded)"});
    json!({"Version": VERSION, "Os": "linux", "Arch": builder::config::host_arch(), "Components": [
        {"Name": "Engine", "Version": VERSION, "Details": details},
    ]})
}

/// docker's `SecurityOptions`: a rootless engine says so, as rootless
/// docker's does.
fn security_options() -> Vec<&'static str> {
    let mut o = vec!["name=seccomp,profile=default", "name=cgroupns"];
    if paths::rootless() {
        o.push("name=rootless");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build killed while the runtime wrote a step container's state
    /// leaves a state file cut short: the repair removes it all the same.
    #[test]
    fn a_step_container_with_a_cut_state_file_is_removed() {
        let root = tempfile::tempdir().expect("tempdir");
        let name = "wharf-build-0123456789abcdef";
        let state = Layout::new(root.path()).embedded_runtime_state().join(name);
        std::fs::create_dir_all(&state).expect("mkdir");
        std::fs::write(state.join("state.json"), b"{\"id\":\"wharf-bu").expect("write");
        let found = build_leftovers(root.path(), true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].contains("could not remove"), "{found:?}");
        assert!(!state.exists(), "the state directory is gone");
    }

    #[test]
    fn anonymous_volumes_are_64_hex_digits() {
        assert!(is_anonymous(&"ab".repeat(32)));
        assert!(!is_anonymous("data") && !is_anonymous(&"g".repeat(64)));
    }
}
