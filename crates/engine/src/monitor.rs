//! A container's life below the front ends: its bundle (overlay rootfs +
//! OCI config.json), and the monitor that runs it, logs its output, reaps
//! it, records its exit and applies the restart policy and `--rm`.
//!
//! The monitor is an internal job of the wharf binary (`Job::Monitor`,
//! like podman's conmon) for detached containers, and the CLI process
//! itself for foreground ones. It stays single-threaded: container
//! creation forks. Its stderr is the container's monitor.log (the user's
//! terminal for a foreground run): warnings go there.

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use runtime::attach::AttachServer;
use runtime::logs::{LogWriter, Stream};
use runtime::supervise::{self, SignalPipes};
use runtime::{OciRuntime, Runtime};
use store::Store;

use crate::container::{load_config, ContainerConfig};
use crate::netglue::{network_down, network_up, recheck_network};
use crate::{Error, ErrorKind, Layout, Result};

/// The directory of a container: bundle (config.json), upper/work/merged,
/// its log.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).container(id).dir().to_owned()
}

pub fn log_path(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).container(id).log()
}

/// Marker that the user stopped the container (no restart).
fn stop_marker(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).container(id).stop_marker()
}

pub fn mark_stopped(root: &Path, id: &str) {
    let _ = std::fs::write(stop_marker(root, id), b"");
}

/// The container's overlay (lowers: the image's snapshots, top first).
pub fn overlay(store: &Store, id: &str, image_id: &str) -> Result<runtime::Overlay> {
    let paths = Layout::new(store.root()).container(id);
    let mut lowers = Vec::new();
    if let Ok(d) = image_id.parse::<image::Digest>() {
        lowers = store.image(&d)?.chain.iter().map(|c| store.snapshot_dir(c)).collect();
    }
    Ok(runtime::Overlay { lowers, upper: paths.upper(), work: paths.work(), target: paths.merged() })
}

/// Whether something is mounted on `dir` (its device differs from its
/// parent's).
pub fn is_mounted(dir: &Path) -> bool {
    match (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// The runtime a container runs with: embedded libcontainer, or the OCI
/// runtime binary given with `--runtime`.
pub fn oci_runtime(root: &Path, cfg: &ContainerConfig) -> Result<Runtime> {
    Ok(runtime_for(root, cfg.runtime.as_deref()))
}

pub fn runtime_for(root: &Path, bin: Option<&Path>) -> Runtime {
    let layout = Layout::new(root);
    match bin {
        Some(bin) => Runtime::Binary(OciRuntime { bin: bin.to_owned(), state_root: layout.binary_runtime_state() }),
        None => Runtime::Embedded(runtime::embedded::Embedded { state_root: layout.embedded_runtime_state() }),
    }
}

/// How a started container's stdio is wired.
pub enum Attach {
    /// Foreground: stdin passed through if `-i`; output to the log and,
    /// for the streams attached (`run -a`), the terminal.
    Terminal { stdin: bool, stdout: bool, stderr: bool },
    /// Detached: output to the log (and attach clients) only. The first
    /// line written to `ready` says whether the start worked. With
    /// `wait_attach` (a `run -it`, whose CLI is an attach client), the
    /// container starts once a client is attached, so that it sees all
    /// the output; `ready` says `listening` before that.
    Detached { ready: File, wait_attach: bool },
}

/// Runs the monitor for container `id` until the container is finished
/// for good (no restart); returns the last exit code.
pub fn monitor(root: &Path, id: &str, attach: Attach) -> Result<i32> {
    monitor_in(Store::open(root)?, id, attach)
}

/// [`monitor`] with the store already open (a foreground `run`).
pub fn monitor_in(mut store: Store, id: &str, attach: Attach) -> Result<i32> {
    let root = store.root().to_owned();
    let root = root.as_path();
    let rec = store.container(id)?;
    let cfg = load_config(&rec);
    let rt = oci_runtime(root, &cfg)?;
    supervise::become_subreaper()?;
    let forward: &[i32] =
        &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];
    let mut signals = SignalPipes::install(forward)?;
    let (tee, stdin_passthrough, mut ready, wait_attach, shown) = match attach {
        Attach::Terminal { stdin, stdout, stderr } => (true, stdin, None, false, [stdout, stderr]),
        Attach::Detached { ready, wait_attach } => (false, false, Some(ready), wait_attach, [false; 2]),
    };
    // One monitor a container: of two racing starts, one runs it.
    let Some(_lock) = await_monitor_lock(&store, id)? else {
        if let Some(r) = ready.as_mut() {
            let _ = writeln!(r, "ok already running");
            return Ok(0);
        }
        return Err(Error::conflict(format!("container {id} is already running")));
    };
    let _ = std::fs::remove_file(stop_marker(root, id));
    // Recorded before anything is set up, so that a monitor killed half-way
    // is detected (lifecycle::refresh) and its leftovers removed.
    store.set_container_monitor(id, std::process::id() as i32, rec.restarts)?;
    // Without it the container still runs; only `attach` is refused.
    let mut attach = paths::ensure_run_dir()
        .map(drop)
        .and_then(|_| AttachServer::listen(&attach_path(id)))
        .map_err(|e| warn(root, id, &format!("no attach socket: {e}")))
        .ok();
    if let (true, Some(a), Some(r)) = (wait_attach, attach.as_mut(), ready.as_mut()) {
        let _ = writeln!(r, "listening");
        // The CLI connects at once; if it died, the container runs anyway.
        a.accept_first(Duration::from_secs(10));
    }
    let mut attempt = 0i64;
    let code = loop {
        let started = start_once(&mut store, &rt, &rec.id, &rec.image_id, stdin_passthrough);
        let Started { pid, outputs, master, stdin } = match started {
            Ok(x) => x,
            Err(e) => {
                let code = start_exit_code(e.kind());
                if let Some(r) = ready.as_mut() {
                    let _ = writeln!(r, "error: {code} {e}");
                }
                release(&mut store, &rt, &rec.id, &rec.image_id)?;
                store.set_container_start_failed(id, code.into(), e.message())?;
                // As docker's daemon: a --rm container that failed to start
                // goes too.
                if cfg.auto_remove {
                    remove_files(&mut store, id)?;
                }
                return Err(e);
            }
        };
        crate::events::container_with(root, "start", &rec, &cfg, &[]);
        let checker = crate::health::start_checker(root, id, &cfg);
        if let Some(r) = ready.take() {
            let mut r = r;
            let _ = writeln!(r, "ok {pid}");
        }
        recheck_network(&store, id, &cfg);
        // `--log-driver none`: output reaches attached clients only.
        let mut log = match cfg.log.driver.as_str() {
            "none" => None,
            _ => Some(LogWriter::open_rotated(&log_path(root, id), cfg.log.rotation().unwrap_or_default())?),
        };
        let mut sink = |s: Stream, b: &[u8]| {
            if let Some(l) = log.as_mut() {
                let _ = l.write(s, b);
            }
            let _ = match s {
                Stream::Stdout if shown[0] => std::io::stdout().write_all(b).and_then(|_| std::io::stdout().flush()),
                Stream::Stderr if shown[1] => std::io::stderr().write_all(b),
                _ => Ok(()),
            };
        };
        // A foreground terminal: raw mode, its size, and stdin into the pty.
        let _raw = (tee && master.is_some()).then(runtime::console::RawMode::enter);
        let mut user_input = None;
        if let Some(m) = &master {
            if tee {
                runtime::console::copy_window_size(m);
                if stdin_passthrough {
                    user_input = Some(runtime::oci::dup_stdio(0).map_err(Error::from)?);
                }
            }
        }
        let terminal = master.as_ref().map(|m| m.try_clone()).transpose()?;
        let mut fwd = |sig: i32| {
            if sig == libc::SIGWINCH {
                if let Some(m) = &master {
                    runtime::console::copy_window_size(m);
                }
                return;
            }
            let _ = supervise::send_signal(pid, sig);
        };
        let io = supervise::Io { outputs, user_input, stdin, terminal };
        let code = supervise::supervise_io(pid, io, attach.as_mut(), &mut signals, &mut sink, &mut fwd)?;
        crate::health::stop_checker(checker);
        if let Some(l) = log.as_mut() {
            l.flush()?;
        }
        let oom = oom_killed(&cgroup_path(&cfg, id));
        finish(&mut store, &rt, &rec.id, &rec.image_id, code, oom)?;
        if oom {
            crate::events::container_with(root, "oom", &rec, &cfg, &[]);
        }
        crate::events::container_with(root, "die", &rec, &cfg, &[("exitCode", &code.to_string())]);
        attempt += 1;
        let by_user = stop_marker(root, id).exists();
        // Read again: `update --restart` may have changed it meanwhile.
        let policy = store.container(id).map(|r| load_config(&r).restart).unwrap_or_else(|_| cfg.restart.clone());
        if by_user || !policy.restarts(code, attempt) {
            break code;
        }
        if let Some(a) = attach.as_mut() {
            a.finish(code);
        }
        store.set_container_monitor(id, std::process::id() as i32, attempt)?;
        std::thread::sleep(Duration::from_millis(100 << attempt.min(8)));
        // A stop (or rm -f) during the back-off ends it.
        if stop_marker(root, id).exists() {
            break code;
        }
    };
    if cfg.auto_remove {
        // Only a detached container has waiters elsewhere; a foreground
        // `run --rm` returns its code itself (and stays off this path's cost).
        if !tee {
            record_exit(root, id, code);
        }
        remove_files(&mut store, id)?;
    }
    // Attached clients learn the code last: a `run -it --rm` returns
    // once the container is gone, as docker's.
    if let Some(a) = attach.as_mut() {
        a.finish(code);
    }
    Ok(code)
}

/// The container's monitor lock, once the monitor that held it is gone:
/// None if another monitor runs the container (it started it first). A
/// monitor that is finishing (the container just stopped: `stop` then
/// `start`) is waited for, up to 10 s.
fn await_monitor_lock(store: &Store, id: &str) -> Result<Option<store::Lock>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lock) = crate::lifecycle::monitor_lock(store.root(), id)? {
            return Ok(Some(lock));
        }
        if store.container(id)?.state.is_live() {
            return Ok(None);
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::conflict(format!(
                "container {id} is busy: another wharf process holds its monitor lock"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A warning about container `id` that no caller can act on (the monitor
/// and the health checker have no user to tell): a line appended to the
/// container's monitor.log, where `system check` and a person look. Best
/// effort: a log that cannot be written loses the line, not the work.
pub fn warn(root: &Path, id: &str, msg: &str) {
    let log = File::options().create(true).append(true).open(Layout::new(root).container(id).monitor_log());
    if let Ok(mut f) = log {
        let _ = writeln!(f, "warning: {msg}");
    }
}

/// Each of `errors` as a warning (a teardown's failures: the container is
/// stopped either way, but what is left behind is said).
pub fn warn_all(root: &Path, id: &str, errors: Vec<Error>) {
    for e in errors {
        warn(root, id, &e.to_string());
    }
}

/// The container's cgroup below each hierarchy's root (and in the spec's
/// cgroupsPath): `wharf/ID`, or `PARENT/ID` with `--cgroup-parent`.
pub fn cgroup_path(cfg: &ContainerConfig, id: &str) -> String {
    match cfg.cgroup_parent.trim_matches('/') {
        "" => format!("{}/{id}", runtime::delegation::default_parent()),
        parent => format!("{parent}/{id}"),
    }
}

/// Where the exit code of an auto-removed (`--rm`) container is left for
/// a `wait` that did not see it before the record went.
pub fn exit_file(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).exit_file(id)
}

/// Leaves `code` in exit_file, and drops those older than ten minutes
/// (a waiter reads its file within milliseconds).
fn record_exit(root: &Path, id: &str, code: i32) {
    let dir = Layout::new(root).exits_dir();
    let _ = std::fs::create_dir_all(&dir);
    let old = |e: &std::fs::DirEntry| {
        e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|a| a > Duration::from_secs(600)))
    };
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if old(&e) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::write(exit_file(root, id), code.to_string());
}

/// Mounts the rootfs if needed, creates and starts the container with its
/// output on pipes; records it running.
/// A started container: its init, its output, its pty master (`-t`), and
/// where its input goes (the master, or its stdin pipe for a detached
/// `-i`), if it takes input.
struct Started {
    pid: i32,
    outputs: Vec<(Stream, OwnedFd)>,
    master: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
}

/// Where a container's monitor listens for `attach` clients (short:
/// unix socket paths are limited to 108 bytes).
pub fn attach_path(id: &str) -> PathBuf {
    Layout::new("").container(id).attach_socket()
}

/// The console socket of a container: short, since unix socket paths are
/// limited to 108 bytes.
pub(crate) fn console_path(id: &str) -> PathBuf {
    Layout::new("").container(id).console_socket()
}

fn start_once(store: &mut Store, rt: &Runtime, id: &str, image_id: &str, stdin: bool) -> Result<Started> {
    let dir = container_dir(store.root(), id);
    let ov = overlay(store, id, image_id)?;
    if !is_mounted(&ov.target) {
        ov.mount().map_err(|e| Error::from(e).context("mounting the container's rootfs"))?;
    }
    if rt.has_state(id) {
        // Left by a previous run of this container (a crash).
        let _ = rt.delete(id);
    }
    crate::networks::settle(store, id)?;
    crate::links::prepare_start(store, id, &dir)?;
    let cfg = load_config(&store.container(id)?);
    // As docker: a command that is not there fails the start, not the
    // create, with the shell's 127 (or 126).
    if let Some(prog) = cfg.entrypoint.first().or(cfg.cmd.first()) {
        check_executable(&ov.target, prog, &cfg.env, &cfg.working_dir)?;
    }
    if cfg.ipc == "shareable" {
        mount_shm(store.root(), id, cfg.shm_size)?;
    }
    // Dropped on any early return below, it is waited for before the
    // caller tears the network down.
    let rules = match network_up(store, id, &cfg) {
        Ok(r) => r,
        Err(e) => {
            let left = network_down(store, id);
            warn_all(store.root(), id, left);
            return Err(e);
        }
    };
    let null = || runtime::oci::null_fd().map_err(Error::from);
    let started = if cfg.tty {
        let sock = console_path(id);
        std::fs::create_dir_all(sock.parent().unwrap_or(Path::new("/run")))?;
        let listener = runtime::console::listen(&sock)?;
        let created = rt.create(id, &dir, [null()?, null()?, null()?], Some(&sock));
        let _ = std::fs::remove_file(&sock);
        let pid = created.map_err(Error::from)?;
        let master = runtime::console::receive_master(&listener)
            .map_err(|e| Error::from(e).context("receiving the container's terminal"))?;
        let input = if cfg.open_stdin { Some(master.try_clone()?) } else { None };
        Started { pid, outputs: vec![(Stream::Stdout, master.try_clone()?)], master: Some(master), stdin: input }
    } else {
        let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        // The user's stdin itself for a foreground `-i`; a pipe that the
        // monitor keeps open (for attach clients) for a detached one.
        let (container_stdin, input) = if stdin {
            (runtime::oci::dup_stdio(0).map_err(Error::from)?, None)
        } else if cfg.open_stdin {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            (r, Some(w))
        } else {
            (null()?, None)
        };
        let pid = rt.create(id, &dir, [container_stdin, out_w, err_w], None).map_err(Error::from)?;
        Started { pid, outputs: vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)], master: None, stdin: input }
    };
    if let Some(Err(e)) = rules.map(network::Restore::wait) {
        let _ = rt.delete(id);
        return Err(e.into());
    }
    store.set_container_running(id, started.pid, std::process::id() as i32)?;
    if let Err(e) = rt.start(id) {
        let _ = rt.delete(id);
        return Err(e.into());
    }
    Ok(started)
}

/// Whether the kernel OOM-killed something in the container's cgroup
/// (cgroup v1 memory.oom_control or v2 memory.events).
fn oom_killed(cg: &str) -> bool {
    for f in [format!("/sys/fs/cgroup/memory/{cg}/memory.oom_control"), format!("/sys/fs/cgroup/{cg}/memory.events")] {
        if let Ok(text) = std::fs::read_to_string(f) {
            return text.lines().any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"));
        }
    }
    false
}

/// After the container's init exited: delete the runtime's state, unmount
/// the rootfs, record the exit.
fn finish(store: &mut Store, rt: &Runtime, id: &str, image_id: &str, code: i32, oom: bool) -> Result<()> {
    release(store, rt, id, image_id)?;
    store.set_container_exited(id, code, oom)?;
    Ok(())
}

/// What a stopped (or never started) container holds: its runtime state,
/// network and rootfs mount.
fn release(store: &mut Store, rt: &Runtime, id: &str, image_id: &str) -> Result<()> {
    let _ = rt.delete(id);
    let left = network_down(store, id);
    warn_all(store.root(), id, left);
    unmount_shm(store.root(), id);
    let ov = overlay(store, id, image_id)?;
    if is_mounted(&ov.target) {
        let _ = ov.unmount();
    }
    Ok(())
}

/// Detaches the container's rootfs mount (and shareable /dev/shm) if
/// still there.
pub fn unmount_rootfs(root: &Path, id: &str) -> std::io::Result<()> {
    unmount_shm(root, id);
    let target = Layout::new(root).container(id).merged();
    if is_mounted(&target) {
        match rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH) {
            // Unmounted (or removed) meanwhile by another remover.
            Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The host-side /dev/shm of an `--ipc shareable` container.
pub fn shm_dir(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).container(id).shm()
}

/// Mounts the shareable /dev/shm (docker's options) unless it is there.
fn mount_shm(root: &Path, id: &str, size: u64) -> Result<()> {
    use rustix::mount::{mount, MountFlags};
    let dir = shm_dir(root, id);
    std::fs::create_dir_all(&dir)?;
    if !is_mounted(&dir) {
        let data = std::ffi::CString::new(format!("mode=1777,size={}k", size / 1024))?;
        let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
        mount("shm", &dir, "tmpfs", flags, data.as_c_str()).map_err(|e| Error::from(e).context("mounting /dev/shm"))?;
    }
    Ok(())
}

fn unmount_shm(root: &Path, id: &str) {
    let dir = shm_dir(root, id);
    if is_mounted(&dir) {
        let _ = rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Removes a stopped container's directory and record.
pub fn remove_files(store: &mut Store, id: &str) -> Result<()> {
    remove_files_on(&crate::host::System, store, id)
}

/// [`remove_files`] on `host`.
pub fn remove_files_on(host: &dyn crate::host::Host, store: &mut Store, id: &str) -> Result<()> {
    let rec = store.container(id).ok();
    // Its directory (and monitor.log) goes below: what the teardown left is
    // the caller's to report, once the container is gone.
    let left: Vec<String> = host.network().teardown(id).iter().map(ToString::to_string).collect();
    // Left by a monitor that was killed.
    let _ = std::fs::remove_file(attach_path(id));
    let dir = container_dir(store.root(), id);
    unmount_rootfs(store.root(), id)
        .map_err(|e| Error::from(e).context(format!("unmounting {}", dir.join("merged").display())))?;
    remove_dir_shared(&dir)?;
    store.remove_container(id)?;
    if let Some(rec) = rec {
        crate::events::container(store.root(), "destroy", &rec, &[]);
    }
    match left.is_empty() {
        true => Ok(()),
        false => Err(Error::internal(format!("container {id} removed, but its network was left: {}", left.join("; ")))),
    }
}

/// Removes a container's directory that another process may be removing
/// at the same time (the monitor of a `--rm` container, and `rm -f`):
/// what the other removed first is no error.
fn remove_dir_shared(dir: &Path) -> Result<()> {
    for _ in 0..10 {
        match image::layer::remove_tree(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::internal(format!("removing {}: {e}", dir.display()))),
        }
    }
    match dir.exists() {
        false => Ok(()),
        true => Err(Error::internal(format!("removing {}: another process keeps changing it", dir.display()))),
    }
}

/// Starts a detached monitor for `id` (a re-exec of this binary in its own
/// session) and waits until it says the container runs.
pub fn spawn_monitor(root: &Path, id: &str) -> Result<()> {
    start_monitor(root, id, false).map(drop)
}

/// [`spawn_monitor`] for a CLI that attaches (`run -it`): the container
/// starts once the returned connection to its attach socket is made.
pub fn spawn_monitor_attached(root: &Path, id: &str) -> Result<std::os::unix::net::UnixStream> {
    start_monitor(root, id, true)?.ok_or_else(|| Error::internal("the container monitor did not listen"))
}

fn start_monitor(root: &Path, id: &str, attach: bool) -> Result<Option<std::os::unix::net::UnixStream>> {
    let (ready_r, ready_w) = std::io::pipe().map_err(|e| Error::from(e).context("pipe"))?;
    let monitor_log = File::options()
        .create(true)
        .append(true)
        .open(Layout::new(root).container(id).monitor_log())
        .map_err(|e| Error::from(e).context("opening the monitor's log"))?;
    let mut cmd = crate::internal::Job::Monitor { id: id.to_owned(), wait_attach: attach }.command(root);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(ready_w)
        .stderr(monitor_log)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::from(e).context("starting the container monitor"))?;
    let mut lines = std::io::BufReader::new(ready_r).lines();
    let mut first = lines.next().transpose()?.unwrap_or_default();
    let mut sock = None;
    if attach && first == "listening" {
        sock = Some(
            std::os::unix::net::UnixStream::connect(attach_path(id))
                .map_err(|e| Error::from(e).context("attaching"))?,
        );
        first = lines.next().transpose()?.unwrap_or_default();
    }
    if first.starts_with("ok") {
        // The monitor lives on. A thread waits for it, so that a
        // long-lived caller (the API server) reaps it when it exits; a CLI
        // exits first, and init reaps it then.
        std::thread::spawn(move || child.wait());
        return Ok(sock);
    }
    let _ = child.wait();
    // "error: CODE MESSAGE": the start's exit code (docker's 125, 126, 127).
    let failure = first.strip_prefix("error: ").and_then(|f| f.split_once(' '));
    Err(match failure.and_then(|(code, msg)| Some((code.parse::<u8>().ok()?, msg))) {
        Some((code, msg)) => Error::new(start_error_kind(code), msg),
        None => Error::internal("the container monitor failed to start"),
    })
}

/// `wharf container-monitor ID` (hidden): the detached monitor's body.
pub fn monitor_main(root: &Path, id: &str, wait_attach: bool) -> Result<i32> {
    // The CLI keeps SIGPIPE's default (for `wharf ps | head`); the monitor
    // writes into the container's stdin pipe, and must outlive a container
    // that closed it.
    supervise::survive_sigpipe()?;
    runtime::warmup::start();
    let _ = rustix::process::setsid();
    // Our stdout is the CLI's readiness pipe: keep it as `ready`, and point
    // fd 1 at /dev/null so nothing else writes into the pipe.
    let ready = File::from(rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3)?);
    let null = File::options().write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdout(&null)?;
    let code = monitor(root, id, Attach::Detached { ready, wait_attach })?;
    Ok(code)
}

/// Finds `prog` in the container's PATH, as the runtime's exec will; gives
/// docker's 127 (not found) and 126 (cannot invoke) before starting.
pub fn check_executable(rootfs: &Path, prog: &str, env: &[String], cwd: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(runtime::spec::DEFAULT_PATH);
    let candidates: Vec<String> = if prog.contains('/') {
        vec![if prog.starts_with('/') { prog.to_owned() } else { format!("{cwd}/{prog}") }]
    } else {
        path.split(':').map(|d| format!("{d}/{prog}")).collect()
    };
    for c in &candidates {
        // A metadata lookup through the host path tells "missing" from
        // "present"; symlinks (/bin/sh -> busybox) are resolved by the
        // kernel inside the container at exec time.
        let p = rootfs.join(c.trim_start_matches('/'));
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.file_type().is_symlink() || (m.is_file() && m.permissions().mode() & 0o111 != 0) {
                return Ok(());
            }
            if prog.contains('/') {
                return Err(Error::new(ErrorKind::CannotInvoke, format!("exec: \"{prog}\": permission denied")));
            }
        }
    }
    Err(Error::new(ErrorKind::CommandNotFound, format!("exec: \"{prog}\": executable file not found in $PATH")))
}

/// The exit code a failed start records (and `run` exits with), as
/// docker's: 127 for a missing command, 126 for one that cannot run, 125
/// for the engine's own failures.
pub fn start_exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::CommandNotFound => 127,
        ErrorKind::CannotInvoke => 126,
        _ => 125,
    }
}

/// The kind a start's exit code stands for (the monitor reports the code).
fn start_error_kind(code: u8) -> ErrorKind {
    match code {
        127 => ErrorKind::CommandNotFound,
        126 => ErrorKind::CannotInvoke,
        _ => ErrorKind::Internal,
    }
}
