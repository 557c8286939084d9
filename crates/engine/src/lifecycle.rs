//! The container operations after create: start, stop, kill, restart,
//! wait, remove, rename, pause/unpause, top. Each takes the container's
//! record made true first ([`refresh`]: a monitor that died is noticed and
//! its leftovers released), decides by its state, and reports failures as
//! the engine's typed errors. Nothing here prints.

use std::path::Path;
use std::time::{Duration, Instant};

use store::{ContainerRecord, ContainerState, Lock, Store};

use crate::container::load_config;
use crate::host::Host;
use crate::{Error, Layout, Result};

/// Signal names as docker accepts them (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let table = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("WINCH", libc::SIGWINCH),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Signals container `rec`'s process, once it is sure the pid is still
/// the container's (its cgroup is named after the container): a record's
/// pid can outlive the process, and after a pid wraps around the signal
/// would hit whatever process has the number now (seen as an API server
/// of another test store stopping on a SIGTERM it never should have got).
fn send(rec: &ContainerRecord, sig: i32) -> std::io::Result<()> {
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", rec.pid)).unwrap_or_default();
    let in_its_cgroup =
        cgroups.lines().any(|l| l.rsplit(':').next().is_some_and(|path| path.ends_with(&format!("/{}", rec.id))));
    // An ordinary user's container has no cgroup of its own: its init is
    // known by its parent, the container's monitor (the subreaper).
    let ours = in_its_cgroup || (paths::rootless() && parent_of(rec.pid) == Some(rec.monitor_pid));
    if !ours {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    runtime::supervise::send_signal(rec.pid, sig)
}

/// The parent PID of process `pid` (`/proc/PID/stat`'s fourth field,
/// after the parenthesised command name, which may hold spaces).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Makes a record true: a container recorded running whose monitor is
/// gone and whose process has exited is marked exited (255: the exit code
/// died with the monitor, as docker reports a lost shim) and cleaned up.
pub fn refresh(store: &mut Store, rec: ContainerRecord) -> Result<ContainerRecord> {
    refresh_on(&crate::host::System, store, rec)
}

/// [`refresh`] on `host`.
pub fn refresh_on(host: &dyn Host, store: &mut Store, rec: ContainerRecord) -> Result<ContainerRecord> {
    if let Err(e) = crate::freeze::thaw_abandoned(host, store.root(), &rec) {
        crate::monitor::warn(store.root(), &rec.id, &format!("thawing what a dead command froze: {e}"));
    }
    let live = |r: &ContainerRecord| r.state.is_live();
    let monitor_gone = !rustix_alive(rec.monitor_pid);
    let orphaned = rec.state == ContainerState::Created && rec.monitor_pid > 0 && monitor_gone;
    let lost = live(&rec) && monitor_gone && !rustix_alive(rec.pid);
    if !orphaned && !lost {
        return Ok(rec);
    }
    // The monitor may have recorded the exit, and gone, after `rec` was
    // read: what it left is read again before calling it lost (under load
    // a `wait` turned a container's exit code 3 into 255 this way).
    let rec = store.container(&rec.id)?;
    // A monitor that died while starting the container (state still
    // `created`) may have left a mount, a namespace or rules: remove them.
    if rec.state == ContainerState::Created && rec.monitor_pid > 0 && !rustix_alive(rec.monitor_pid) {
        release_leftovers(host, store, &rec);
        store.set_container_monitor(&rec.id, 0, rec.restarts)?;
        return Ok(store.container(&rec.id)?);
    }
    if !live(&rec) || rustix_alive(rec.monitor_pid) || rustix_alive(rec.pid) {
        return Ok(rec);
    }
    release_leftovers(host, store, &rec);
    store.set_container_exited(&rec.id, 255, false)?;
    Ok(store.container(&rec.id)?)
}

/// What a dead monitor would have released: the runtime's state, the
/// rootfs mount, the network.
pub(crate) fn release_leftovers(host: &dyn Host, store: &mut Store, rec: &ContainerRecord) {
    let _ = host.runtime(store.root(), &load_config(rec)).delete(&rec.id);
    let _ = crate::monitor::unmount_rootfs(store.root(), &rec.id);
    let left = crate::netglue::network_down_on(host, store, &rec.id);
    crate::monitor::warn_all(store.root(), &rec.id, left);
}

fn rustix_alive(pid: i32) -> bool {
    runtime::supervise::alive(pid)
}

/// Finds a container by name or ID prefix, with its state made true.
pub fn lookup(store: &mut Store, key: &str) -> Result<ContainerRecord> {
    let (id, _, _) = store.find_container(key)?;
    let rec = store.container(&id)?;
    refresh(store, rec)
}

/// How waiting for a container to stop ended.
enum Waited {
    Exited(Box<ContainerRecord>),
    /// Exited, and removed (`--rm`) before this saw it.
    Removed,
    TimedOut,
}

/// Waits until the container is no longer running (as recorded by its
/// monitor), or `limit` passes. An auto-removed (`--rm`) container counts
/// as stopped only once its monitor has removed it, so that its name is
/// free when `stop` or `wait` returns (a `run --name` right after them
/// used to meet "already in use" now and then).
fn wait_exit(store: &mut Store, id: &str, limit: Option<Duration>) -> Result<Waited> {
    let start = Instant::now();
    loop {
        let Ok(rec) = store.container(id) else { return Ok(Waited::Removed) };
        let rec = refresh(store, rec)?;
        if !rec.state.is_live() {
            if load_config(&rec).auto_remove {
                await_monitor(store, &rec);
                if store.container(id).is_err() {
                    return Ok(Waited::Removed);
                }
            }
            return Ok(Waited::Exited(Box::new(rec)));
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Gives a monitor whose container has exited up to 10 s to finish its
/// work (unmounting, removing an auto-removed container). The monitor
/// lock tells whether one is still at it: the record's monitor pid is
/// cleared with the exit, before that work (waiting on it let a `stop` of
/// a `--rm` container return before its name was free).
fn await_monitor(store: &Store, rec: &ContainerRecord) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.container(&rec.id).is_ok() && Instant::now() < deadline {
        if !matches!(probe_monitor(store.root(), &rec.id), Ok(MonitorProbe::Busy)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops a running container: its stop signal, then SIGKILL after
/// `timeout` seconds (docker's default 10, or the container's
/// --stop-timeout; negative waits forever).
pub fn stop_one(store: &mut Store, rec: &ContainerRecord, timeout: Option<i64>) -> Result<()> {
    if !rec.state.is_live() {
        return Ok(());
    }
    let cfg = load_config(rec);
    crate::monitor::mark_stopped(store.root(), &rec.id);
    let sig = parse_signal(&cfg.stop_signal).unwrap_or(libc::SIGTERM);
    if rec.state == ContainerState::Paused {
        if let Ok(rt) = crate::monitor::oci_runtime(store.root(), &cfg) {
            let _ = rt.resume(&rec.id);
        }
    }
    let root = store.root().to_owned();
    crate::events::container(&root, "kill", rec, &[("signal", &sig.to_string())]);
    let _ = send(rec, sig);
    let secs = timeout.or(cfg.stop_timeout).unwrap_or(10);
    let limit = (secs >= 0).then(|| Duration::from_secs(secs as u64));
    if let Waited::TimedOut = wait_exit(store, &rec.id, limit)? {
        crate::events::container(&root, "kill", rec, &[("signal", &libc::SIGKILL.to_string())]);
        let _ = send(rec, libc::SIGKILL);
        wait_exit(store, &rec.id, None)?;
    }
    crate::events::container(&root, "stop", rec, &[]);
    Ok(())
}

/// Waits until container `id` stops; its exit code (None: it was removed
/// and its code is not known).
pub fn wait_code(store: &mut Store, id: &str) -> Result<Option<i32>> {
    Ok(match wait_exit(store, id, None)? {
        Waited::Exited(r) => Some(r.exit_code),
        // (TimedOut cannot happen without a limit.)
        Waited::Removed | Waited::TimedOut => removed_code(store, id),
    })
}

/// The exit code a removed container's monitor left behind, if any.
fn removed_code(store: &Store, id: &str) -> Option<i32> {
    let file = crate::monitor::exit_file(store.root(), id);
    std::fs::read_to_string(file).ok().and_then(|c| c.trim().parse().ok())
}

/// Removes a container; a running one only with `force` (killed first,
/// its monitor then cleans up its mount and runtime state).
pub fn remove(store: &mut Store, rec: &ContainerRecord, force: bool) -> Result<()> {
    remove_on(&crate::host::System, store, rec, force)
}

/// [`remove`] on `host`.
pub fn remove_on(host: &dyn Host, store: &mut Store, rec: &ContainerRecord, force: bool) -> Result<()> {
    if rec.state.is_live() {
        if !force {
            return Err(Error::conflict(format!(
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                rec.name
            )));
        }
        crate::monitor::mark_stopped(store.root(), &rec.id);
        let cfg = load_config(rec);
        if rec.state == ContainerState::Paused {
            let _ = host.runtime(store.root(), &cfg).resume(&rec.id);
        }
        let _ = send(rec, libc::SIGKILL);
        if let Waited::Removed = wait_exit(store, &rec.id, None)? {
            return Ok(());
        }
        // The monitor may still be finishing (auto-remove included).
        await_monitor(store, rec);
        if store.container(&rec.id).is_err() {
            return Ok(());
        }
    }
    // A monitor may still hold the container: finishing, starting it, or
    // waiting to restart it. Its files stay until it is gone.
    let Some(_lock) = hold_for_removal(store, rec, force)? else { return Ok(()) };
    let _ = host.runtime(store.root(), &load_config(rec)).delete(&rec.id);
    crate::monitor::remove_files_on(host, store, &rec.id)
}

/// The monitor lock of a stopped container, for removing it: a monitor
/// finishing is waited for; one that holds on (it is about to restart the
/// container) is stopped with `force`, else refused. None: the container
/// went meanwhile (its monitor removed it: `--rm`).
fn hold_for_removal(store: &mut Store, rec: &ContainerRecord, force: bool) -> Result<Option<Held>> {
    let deadline = Instant::now() + Duration::from_secs(if force { 30 } else { 2 });
    loop {
        if let MonitorProbe::Free(lock) = probe_monitor(store.root(), &rec.id)? {
            return Ok(Some(Held(lock)));
        }
        let Ok(now) = store.container(&rec.id) else { return Ok(None) };
        if force {
            crate::monitor::mark_stopped(store.root(), &rec.id);
            if now.state.is_live() {
                let _ = send(&now, libc::SIGKILL);
            }
        }
        if Instant::now() >= deadline {
            return Err(busy(rec));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The monitor lock, held while a container is removed (None: there was
/// no lock file).
struct Held(#[allow(dead_code)] Option<std::fs::File>);

/// docker's refusal to remove a container its monitor still holds.
fn busy(rec: &ContainerRecord) -> Error {
    Error::conflict(format!(
        "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
        rec.name
    ))
}

pub fn cgroup_pids(cg: &str) -> Vec<String> {
    for dir in
        [format!("/sys/fs/cgroup/pids/{cg}"), format!("/sys/fs/cgroup/memory/{cg}"), format!("/sys/fs/cgroup/{cg}")]
    {
        if let Ok(t) = std::fs::read_to_string(format!("{dir}/cgroup.procs")) {
            return t.lines().map(str::to_owned).collect();
        }
    }
    Vec::new()
}

/// The lock a container's monitor holds for its whole life: one monitor
/// a container, and no removal while one runs (it may be starting it, or
/// waiting to restart it). Taken by a monitor (the file made if need be).
pub fn monitor_lock(root: &Path, id: &str) -> Result<Option<Lock>> {
    Ok(Lock::try_acquire(&Layout::new(root).container(id).monitor_lock(), true)?)
}

/// Whether a monitor holds the container now. When none does, the lock,
/// held for the caller (None without a lock file: no monitor ever ran, or
/// the container's files are gone). It never makes the file: made again
/// in a directory a finishing monitor is removing, it failed that removal
/// ("Directory not empty") and left a `--rm` container behind.
pub enum MonitorProbe {
    Busy,
    Free(Option<std::fs::File>),
}

pub fn probe_monitor(root: &Path, id: &str) -> Result<MonitorProbe> {
    use rustix::fs::{flock, FlockOperation};
    let file = match std::fs::File::options().write(true).open(Layout::new(root).container(id).monitor_lock()) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MonitorProbe::Free(None)),
        Err(e) => return Err(e.into()),
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(MonitorProbe::Free(Some(file))),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(MonitorProbe::Busy),
        Err(e) => Err(e.into()),
    }
}

/// Stops a container: `signal` (or its stop signal), then SIGKILL after
/// `timeout` seconds (or its --stop-timeout, or 10; negative: forever).
pub fn stop(store: &mut Store, key: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
    let mut rec = lookup(store, key)?;
    if let Some(s) = signal {
        parse_signal(s).ok_or_else(|| Error::invalid(format!("Invalid signal: {s}")))?;
        let mut cfg = load_config(&rec);
        cfg.stop_signal = s.to_owned();
        rec.config = serde_json::to_string(&cfg)?;
    }
    stop_one(store, &rec, timeout)
}

/// Sends `sig` to a running container's init.
pub fn kill(store: &mut Store, key: &str, sig: i32) -> Result<()> {
    let rec = lookup(store, key)?;
    if rec.state != ContainerState::Running {
        return Err(Error::not_running(format!("cannot kill container: {key}: container {} is not running", rec.id)));
    }
    if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
        crate::monitor::mark_stopped(store.root(), &rec.id);
    }
    send(&rec, sig)?;
    crate::events::container(store.root(), "kill", &rec, &[("signal", &sig.to_string())]);
    Ok(())
}

/// Starts a container in the background (its own monitor); one that
/// runs already is left as it is, as docker's (304).
pub fn start(store: &mut Store, key: &str) -> Result<()> {
    let rec = lookup(store, key)?;
    if rec.state == ContainerState::Running {
        return Ok(());
    }
    crate::monitor::spawn_monitor(store.root(), &rec.id)
}

/// Stops a container if it runs, then starts it again.
pub fn restart(store: &mut Store, key: &str, timeout: Option<i64>) -> Result<()> {
    let rec = lookup(store, key)?;
    stop_one(store, &rec, timeout)?;
    // Its monitor finishes (unmounts, records) before the next starts.
    if let Ok(now) = store.container(&rec.id) {
        await_monitor(store, &now);
    }
    crate::monitor::spawn_monitor(store.root(), &rec.id)?;
    crate::events::container(store.root(), "restart", &rec, &[]);
    Ok(())
}

/// docker's wait conditions (`POST /containers/{id}/wait?condition=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until it does not run: at once for one never started.
    NotRunning,
    /// Until its next exit: one not started yet is waited for to start.
    NextExit,
    /// Until its next exit and its removal (`--rm`).
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::invalid(format!("invalid condition: \"{s}\""))),
        }
    }
}

/// Waits for container `rec` as `condition` asks; its exit code. `gone`
/// says the waiter went away (the API's client hung up): the wait then
/// ends at once with an error, instead of polling on for nobody.
pub fn wait_until(
    store: &mut Store,
    rec: &ContainerRecord,
    condition: WaitCondition,
    gone: &dyn Fn() -> bool,
) -> Result<i32> {
    let abandoned = || Error::internal("the waiter went away");
    if condition == WaitCondition::NotRunning && rec.state == ContainerState::Created {
        return Ok(rec.exit_code);
    }
    if condition != WaitCondition::NotRunning {
        while let Ok(r) = store.container(&rec.id) {
            if refresh(store, r)?.state != ContainerState::Created {
                break;
            }
            if gone() {
                return Err(abandoned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let code = loop {
        match wait_exit(store, &rec.id, Some(Duration::from_millis(500)))? {
            Waited::Exited(r) => break Some(r.exit_code),
            Waited::Removed => break removed_code(store, &rec.id),
            Waited::TimedOut if gone() => return Err(abandoned()),
            Waited::TimedOut => {}
        }
    }
    .unwrap_or(rec.exit_code);
    if condition == WaitCondition::Removed {
        while store.container(&rec.id).is_ok() {
            if gone() {
                return Err(abandoned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(code)
}

/// Waits until the container stops; its exit code.
pub fn wait(store: &mut Store, key: &str) -> Result<i32> {
    let rec = lookup(store, key)?;
    wait_code(store, &rec.id)?.ok_or_else(|| Error::not_found(format!("No such container: {key}")))
}

/// Removes a container (a running one only with `force`) and, with
/// `volumes`, the anonymous volumes made for it.
pub fn remove_container(store: &mut Store, key: &str, force: bool, volumes: bool) -> Result<()> {
    let rec = lookup(store, key)?;
    remove(store, &rec, force)?;
    if volumes {
        let layout = Layout::new(store.root());
        for v in load_config(&rec).anon_volumes {
            let _ = image::layer::remove_tree(&layout.volume_dir(&v));
        }
    }
    Ok(())
}

/// Gives a container a new name.
pub fn rename(store: &mut Store, key: &str, new_name: &str) -> Result<()> {
    let rec = lookup(store, key)?;
    if rec.name == new_name.trim_start_matches('/') {
        return Err(Error::invalid("Renaming a container with the same name as its current name"));
    }
    store.rename_container(&rec.id, new_name)?;
    let renamed = store.container(&rec.id)?;
    crate::events::container(store.root(), "rename", &renamed, &[("oldName", &format!("/{}", rec.name))]);
    Ok(())
}

/// Freezes (`resume` false) or thaws a container. The store's transition
/// decides first, so that of two racing one wins; the runtime's failure
/// puts the state back.
pub fn pause(store: &mut Store, key: &str, resume: bool) -> Result<()> {
    pause_on(&crate::host::System, store, key, resume)
}

/// [`pause`] on `host`.
pub fn pause_on(host: &dyn Host, store: &mut Store, key: &str, resume: bool) -> Result<()> {
    let rec = lookup(store, key)?;
    let rt = host.runtime(store.root(), &load_config(&rec));
    let (to, back, action) = match resume {
        false => (ContainerState::Paused, ContainerState::Running, "pause"),
        true => (ContainerState::Running, ContainerState::Paused, "unpause"),
    };
    if rec.state != back || !store.transition(&rec.id, to)? {
        let what = if resume { "paused" } else { "running" };
        return Err(Error::conflict(format!("container {} is not {what}", rec.id)));
    }
    let done = if resume { rt.resume(&rec.id) } else { rt.pause(&rec.id) };
    if let Err(e) = done {
        store.transition(&rec.id, back)?;
        return Err(e);
    }
    crate::events::container(store.root(), action, &rec, &[]);
    Ok(())
}

/// docker's `ContainerTopResponse`: ps(1)'s column titles and one row a
/// process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// The processes of a running container: ps(1) with `ps_args` (docker's
/// default `-ef`) over the pids in its cgroup, as docker's daemon does.
pub fn top(store: &mut Store, key: &str, ps_args: &[String]) -> Result<Top> {
    let rec = lookup(store, key)?;
    if rec.state != ContainerState::Running {
        return Err(Error::not_running(format!("container {} is not running", rec.id)));
    }
    let pids = cgroup_pids(&crate::monitor::cgroup_path(&load_config(&rec), &rec.id));
    let pids: Vec<String> = if pids.is_empty() { vec![rec.pid.to_string()] } else { pids };
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::invalid(format!("ps: {}", err.trim())));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

/// ps's output, keeping the rows whose PID is one of `pids` (moby's
/// `parsePSOutput`): the last column takes the rest of the line.
pub fn parse_ps(text: &str, pids: &[String]) -> Result<Top> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let pid_col =
        titles.iter().position(|t| t == "PID").ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
        fields.push(rest.to_owned());
        if fields.get(pid_col).is_some_and(|p| pids.contains(p)) {
            processes.push(fields);
        }
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::ErrorKind;

    /// A store with one image and container `id` (created).
    fn store_with(id: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("opens");
        let config = r#"{"config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let image = store.add_image(config.as_bytes(), &[]).expect("an image");
        store.add_container(id, &format!("{id}-name"), &image).expect("a container");
        (dir, store)
    }

    /// PID 1 never dies: a container recorded running on it stays so.
    const ALIVE: i32 = 1;
    /// No process has this PID.
    const DEAD: i32 = i32::MAX;

    #[test]
    fn pause_follows_the_state_and_a_runtime_failure_puts_it_back() {
        let (_d, mut s) = store_with("c1");
        let host = FakeHost::default();
        let e = pause_on(&host, &mut s, "c1", false).expect_err("a created container does not pause");
        assert_eq!((e.kind(), e.message()), (ErrorKind::Conflict, "container c1 is not running"));
        assert!(host.calls().is_empty(), "the runtime is not asked");
        s.set_container_running("c1", ALIVE, ALIVE).expect("runs");
        pause_on(&host, &mut s, "c1", false).expect("pauses");
        assert_eq!(s.container("c1").expect("there").state, ContainerState::Paused);
        assert!(pause_on(&host, &mut s, "c1", false).is_err(), "paused twice");
        host.fail("resume");
        pause_on(&host, &mut s, "c1", true).expect_err("the runtime failed");
        assert_eq!(s.container("c1").expect("there").state, ContainerState::Paused, "the state is put back");
        assert_eq!(host.calls(), ["pause c1", "resume c1"]);
    }

    #[test]
    fn a_removal_reports_what_the_network_left_once_the_container_is_gone() {
        let (_d, mut s) = store_with("c2");
        let host = FakeHost::default();
        host.fail("teardown");
        let rec = s.container("c2").expect("there");
        let e = remove_on(&host, &mut s, &rec, false).expect_err("the teardown failed");
        assert_eq!(e.message(), "container c2 removed, but its network was left: teardown failed");
        assert!(s.container("c2").is_err(), "the container is gone all the same");
        assert_eq!(host.calls(), ["delete c2", "teardown c2"]);
    }

    #[test]
    fn a_running_container_is_removed_only_with_force() {
        let (_d, mut s) = store_with("c3");
        s.set_container_running("c3", ALIVE, ALIVE).expect("runs");
        let host = FakeHost::default();
        let rec = s.container("c3").expect("there");
        let e = remove_on(&host, &mut s, &rec, false).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(e.message().contains("container is running: stop the container before removing"), "{e}");
        assert!(host.calls().is_empty() && s.container("c3").is_ok());
    }

    #[test]
    fn a_container_whose_monitor_died_is_marked_exited_and_released() {
        let (_d, mut s) = store_with("c4");
        s.set_container_running("c4", DEAD, DEAD).expect("runs");
        let host = FakeHost::default();
        let recorded = s.container("c4").expect("there");
        let rec = refresh_on(&host, &mut s, recorded).expect("refreshes");
        assert_eq!((rec.state, rec.exit_code), (ContainerState::Exited, 255), "docker's code for a lost shim");
        assert_eq!(host.calls(), ["delete c4", "teardown c4"], "its runtime state and network are released");
        let (_d, mut s) = store_with("c5");
        s.set_container_running("c5", ALIVE, ALIVE).expect("runs");
        let recorded = s.container("c5").expect("there");
        let rec = refresh_on(&host, &mut s, recorded).expect("refreshes");
        assert_eq!(rec.state, ContainerState::Running, "a live one is left alone");
    }

    #[test]
    fn signals_parse_as_docker_accepts_them() {
        assert_eq!(parse_signal("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Some(libc::SIGKILL));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("NOPE"), None);
    }

    #[test]
    fn ps_output_keeps_the_containers_processes_and_the_whole_command() {
        let text = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                    root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                    root        4242       1  0 10:01 ?        00:00:00 sleep 1000 --with args\n";
        let top = parse_ps(text, &["4242".to_owned()]).expect("parses");
        assert_eq!(top.titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "4242");
        assert_eq!(top.processes[0][7], "sleep 1000 --with args");
        assert!(parse_ps("USER COMMAND\n", &[]).is_err(), "no PID column");
    }
}
