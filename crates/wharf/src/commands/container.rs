//! A container's life below the CLI: its stored configuration, its bundle
//! (overlay rootfs + OCI config.json), and the monitor that runs it, logs
//! its output, reaps it, records its exit and applies the restart policy
//! and `--rm`.
//!
//! The monitor is a re-exec of wharf (`wharf container-monitor ID`, like
//! podman's conmon) for detached containers, and the CLI process itself for
//! foreground ones. It stays single-threaded: container creation forks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use runtime::attach::AttachServer;
use runtime::logs::{LogWriter, Stream};
use runtime::supervise::{self, SignalPipes};
use runtime::{OciRuntime, Runtime};
use serde::{Deserialize, Serialize};
use store::Store;

use crate::exit::{Failure, ENGINE_ERROR};

/// What a container was created with (stored as JSON in its record; the
/// docker-shaped parts of `inspect` come from here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// `--group-add`, as given.
    pub group_add: Vec<String>,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub restart: RestartPolicy,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    /// An OCI runtime binary; None: the default.
    pub runtime: Option<PathBuf>,
    pub network: String,
    pub ports: Vec<String>,
    pub binds: Vec<String>,
    pub tmpfs: Vec<String>,
    pub exposed: Vec<String>,
    /// `--network-alias`: more names on a user network.
    pub aliases: Vec<String>,
    /// `--add-host NAME:IP`.
    pub extra_hosts: Vec<String>,
    /// Volumes made for this container alone (`-v /path`), removed by
    /// `rm -v`.
    pub anon_volumes: Vec<String>,
    /// Every volume the container mounts, by name (anonymous ones too).
    pub volumes: Vec<String>,
    /// Networks joined with `network connect`, beyond `network`.
    pub connected: Vec<Endpoint>,
    /// The health check (the image's, with `--health-*` over it).
    pub health: Option<super::health::HealthConfig>,
    /// `--ipc`, as given (`shareable`: /dev/shm is a host-side tmpfs that
    /// `--ipc container:` containers bind too).
    pub ipc: String,
    /// Bytes of the shareable /dev/shm.
    pub shm_size: u64,
    /// `--cpus` in billionths (docker's NanoCpus): the spec's CPU quota
    /// came from it, not from `--cpu-quota`, which `update` and `inspect`
    /// keep apart as docker does.
    pub nano_cpus: i64,
    /// `--log-driver` and `--log-opt`.
    pub log: super::logging::LogConfig,
    /// `--ip`: the address asked for on a user network.
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--volumes-from`, as given.
    pub volumes_from: Vec<String>,
    /// `--cgroup-parent`: the container's cgroup is PARENT/ID, not wharf/ID.
    pub cgroup_parent: String,
    /// `--mac-address` of eth0 (checked at create).
    pub mac_address: Option<String>,
}

/// A network a container was connected to after creation, and the
/// interface it has there.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Endpoint {
    pub network: String,
    /// `eth1`, `eth2`, ...
    pub ifname: String,
    pub aliases: Vec<String>,
}

impl ContainerConfig {
    /// The bridge networks the container is on: the one it was created
    /// with (unless host/none/container:), then those it was connected to.
    pub fn networks(&self) -> Vec<String> {
        let own = !matches!(self.network.as_str(), "host" | "none") && !self.network.starts_with("container:");
        own.then(|| self.network.clone()).into_iter().chain(self.connected.iter().map(|e| e.network.clone())).collect()
    }

    /// Names the container answers to on `net`: its name is added by the
    /// caller; these are the aliases and the hostname.
    pub fn aliases_on(&self, net: &str) -> Vec<String> {
        let mut names = if net == self.network {
            self.aliases.clone()
        } else {
            self.connected.iter().filter(|e| e.network == net).flat_map(|e| e.aliases.clone()).collect()
        };
        names.push(self.hostname.clone());
        names
    }
}

/// docker's `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    pub max_retries: i64,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, max) = s.split_once(':').map_or((s, None), |(n, m)| (n, Some(m)));
        let max_retries = match max {
            None => 0,
            Some(m) => m
                .parse()
                .map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {m:?}"))?,
        };
        match name {
            "" | "no" if max.is_none() => Ok(RestartPolicy { name: "no".into(), max_retries }),
            "always" | "unless-stopped" if max.is_none() => Ok(RestartPolicy { name: name.into(), max_retries }),
            "on-failure" => Ok(RestartPolicy { name: name.into(), max_retries }),
            "no" | "always" | "unless-stopped" => Err(format!(
                "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
            )),
            _ => Err(format!("invalid restart policy format: unknown policy '{name}'")),
        }
    }

    /// Whether the monitor starts the container again after it exited
    /// with `code` for the `attempt`-th time (a stop by the user ends it).
    fn restarts(&self, code: i32, attempt: i64) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || attempt <= self.max_retries),
            _ => false,
        }
    }
}

pub fn engine(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(ENGINE_ERROR, msg).into()
}

/// The directory of a container: bundle (config.json), upper/work/merged,
/// its log.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

pub fn log_path(root: &Path, id: &str) -> PathBuf {
    container_dir(root, id).join(format!("{id}-json.log"))
}

/// docker's /etc/hosts for a container.
pub fn hosts_file(hostname: &str, ip: Option<&str>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// Sets up the container's network before its runtime creates it:
/// `none` gets a namespace with `lo`; `bridge` also a veth on wharf0 with
/// an address, and DNAT rules for its published ports. Those are still
/// being applied when it returns: wait for them before the container runs.
fn network_up(store: &mut Store, id: &str, cfg: &ContainerConfig) -> anyhow::Result<Option<network::Restore>> {
    if cfg.network == "host" {
        return Ok(None);
    }
    if cfg.network == "none" || cfg.network.starts_with("container:") {
        // A fresh namespace with only lo (made by the runtime), or another
        // container's.
        return Ok(None);
    }
    network::create_netns(id).map_err(|e| engine(e.to_string()))?;
    let br = super::network::bridge_of(store, &cfg.network)?;
    let ip = match cfg.ip {
        Some(ip) => network::lease_exact(&br, id, ip).map(|()| ip),
        None => network::lease(&br, id),
    };
    let ip = ip.map_err(|e| engine(e.to_string()))?;
    store.set_container_ip(id, &ip.to_string())?;
    let mut ports = Vec::new();
    for p in &cfg.ports {
        ports.extend(network::parse_ports(p).map_err(|e| engine(e.to_string()))?);
    }
    let rules = network::publish_start(id, ip, &ports).map_err(|e| engine(e.to_string()))?;
    let mac = cfg.mac_address.as_deref().and_then(network::parse_mac);
    network::attach_bridge(&br, id, ip, mac).map_err(|e| engine(e.to_string()))?;
    for e in &cfg.connected {
        super::network::attach_endpoint(store, id, e)?;
    }
    super::network::write_hosts(store, id)?;
    for net in cfg.networks() {
        if super::network::is_user_network(&net) {
            super::network::update_hosts(store, &net)?;
        }
    }
    Ok(rules)
}

/// Puts back the rules of the container's bridges if another tool flushed
/// them. It runs iptables (a few ms), so it is done once the container
/// runs, not before.
fn recheck_network(store: &Store, cfg: &ContainerConfig) {
    for net in cfg.networks() {
        let checked = super::network::bridge_of(store, &net)
            .and_then(|br| network::recheck_rules(&br).map_err(|e| engine(e.to_string())));
        if let Err(e) = checked {
            eprintln!("warning: network {net}: {e:#}");
        }
    }
}

/// Removes the container's network (rules, veth, namespace, address) and
/// its name from its network's other members.
pub fn network_down(store: &mut Store, id: &str) {
    network::teardown(id);
    let _ = store.set_container_ip(id, "");
    if let Ok(rec) = store.container(id) {
        for net in load_config(&rec).networks() {
            if super::network::is_user_network(&net) {
                let _ = super::network::update_hosts(store, &net);
            }
        }
    }
}

/// Marker that the user stopped the container (no restart).
fn stop_marker(root: &Path, id: &str) -> PathBuf {
    container_dir(root, id).join("stopped-by-user")
}

pub fn mark_stopped(root: &Path, id: &str) {
    let _ = std::fs::write(stop_marker(root, id), b"");
}

/// The container's overlay (lowers: the image's snapshots, top first).
pub fn overlay(store: &Store, id: &str, image_id: &str) -> anyhow::Result<runtime::Overlay> {
    let dir = container_dir(store.root(), id);
    let mut lowers = Vec::new();
    if let Ok(d) = image_id.parse::<image::Digest>() {
        lowers = store.image(&d)?.chain.iter().map(|c| store.snapshot_dir(c)).collect();
    }
    Ok(runtime::Overlay { lowers, upper: dir.join("upper"), work: dir.join("work"), target: dir.join("merged") })
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
pub fn oci_runtime(root: &Path, cfg: &ContainerConfig) -> anyhow::Result<Runtime> {
    Ok(runtime_for(root, cfg.runtime.as_deref()))
}

pub fn runtime_for(root: &Path, bin: Option<&Path>) -> Runtime {
    match bin {
        Some(bin) => Runtime::Binary(OciRuntime { bin: bin.to_owned(), state_root: root.join("runtime") }),
        None => Runtime::Embedded(runtime::embedded::Embedded { state_root: root.join("libcontainer") }),
    }
}

pub fn load_config(rec: &store::ContainerRecord) -> ContainerConfig {
    serde_json::from_str(&rec.config).unwrap_or_default()
}

/// How a started container's stdio is wired.
pub enum Attach {
    /// Foreground: stdin passed through if `-i`; output to the log and the
    /// terminal.
    Terminal { stdin: bool },
    /// Detached: output to the log (and attach clients) only. The first
    /// line written to `ready` says whether the start worked. With
    /// `wait_attach` (a `run -it`, whose CLI is an attach client), the
    /// container starts once a client is attached, so that it sees all
    /// the output; `ready` says `listening` before that.
    Detached { ready: File, wait_attach: bool },
}

/// Runs the monitor for container `id` until the container is finished
/// for good (no restart); returns the last exit code.
pub fn monitor(root: &Path, id: &str, attach: Attach) -> anyhow::Result<i32> {
    monitor_in(Store::open(root)?, id, attach)
}

/// [`monitor`] with the store already open (a foreground `run`).
pub fn monitor_in(mut store: Store, id: &str, attach: Attach) -> anyhow::Result<i32> {
    let root = store.root().to_owned();
    let root = root.as_path();
    let rec = store.container(id)?;
    let cfg = load_config(&rec);
    let rt = oci_runtime(root, &cfg)?;
    supervise::become_subreaper()?;
    let forward: &[i32] =
        &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];
    let mut signals = SignalPipes::install(forward)?;
    let (tee, stdin_passthrough, mut ready, wait_attach) = match attach {
        Attach::Terminal { stdin } => (true, stdin, None, false),
        Attach::Detached { ready, wait_attach } => (false, false, Some(ready), wait_attach),
    };
    let _ = std::fs::remove_file(stop_marker(root, id));
    // Recorded before anything is set up, so that a monitor killed half-way
    // is detected (lifecycle::refresh) and its leftovers removed.
    store.set_container_monitor(id, std::process::id() as i32, rec.restarts)?;
    // Without it the container still runs; only `attach` is refused.
    let mut attach = std::fs::create_dir_all("/run/wharf")
        .and_then(|_| AttachServer::listen(&attach_path(id)))
        .map_err(|e| eprintln!("warning: no attach socket: {e}"))
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
                let code = e.downcast_ref::<Failure>().map_or(ENGINE_ERROR, |f| f.code);
                if let Some(r) = ready.as_mut() {
                    let _ = writeln!(r, "error: {code} {e:#}");
                }
                release(&mut store, &rt, &rec.id, &rec.image_id)?;
                store.set_container_start_failed(id, code.into(), &format!("{e:#}"))?;
                // As docker's daemon: a --rm container that failed to start
                // goes too.
                if cfg.auto_remove {
                    remove_files(&mut store, id)?;
                }
                return Err(e);
            }
        };
        super::events::container_with(root, "start", &rec, &cfg, &[]);
        let checker = super::health::start_checker(root, id, &cfg);
        if let Some(r) = ready.take() {
            let mut r = r;
            let _ = writeln!(r, "ok {pid}");
        }
        recheck_network(&store, &cfg);
        // `--log-driver none`: output reaches attached clients only.
        let mut log = match cfg.log.driver.as_str() {
            "none" => None,
            _ => Some(LogWriter::open_rotated(&log_path(root, id), cfg.log.rotation().unwrap_or_default())?),
        };
        let mut sink = |s: Stream, b: &[u8]| {
            if let Some(l) = log.as_mut() {
                let _ = l.write(s, b);
            }
            if tee {
                let _ = match s {
                    Stream::Stdout => std::io::stdout().write_all(b).and_then(|_| std::io::stdout().flush()),
                    Stream::Stderr => std::io::stderr().write_all(b),
                };
            }
        };
        // A foreground terminal: raw mode, its size, and stdin into the pty.
        let _raw = (tee && master.is_some()).then(runtime::console::RawMode::enter);
        let mut user_input = None;
        if let Some(m) = &master {
            if tee {
                runtime::console::copy_window_size(m);
                if stdin_passthrough {
                    user_input = Some(runtime::oci::dup_stdio(0).map_err(|e| engine(e.to_string()))?);
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
        super::health::stop_checker(checker);
        if let Some(l) = log.as_mut() {
            l.flush()?;
        }
        let oom = oom_killed(&cgroup_path(&cfg, id));
        finish(&mut store, &rt, &rec.id, &rec.image_id, code, oom)?;
        if oom {
            super::events::container_with(root, "oom", &rec, &cfg, &[]);
        }
        super::events::container_with(root, "die", &rec, &cfg, &[("exitCode", &code.to_string())]);
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

/// The container's cgroup below each hierarchy's root (and in the spec's
/// cgroupsPath): `wharf/ID`, or `PARENT/ID` with `--cgroup-parent`.
pub fn cgroup_path(cfg: &ContainerConfig, id: &str) -> String {
    match cfg.cgroup_parent.trim_matches('/') {
        "" => format!("wharf/{id}"),
        parent => format!("{parent}/{id}"),
    }
}

/// Where the exit code of an auto-removed (`--rm`) container is left for
/// a `wait` that did not see it before the record went.
pub fn exit_file(root: &Path, id: &str) -> PathBuf {
    root.join("exits").join(id)
}

/// Leaves `code` in exit_file, and drops those older than ten minutes
/// (a waiter reads its file within milliseconds).
fn record_exit(root: &Path, id: &str, code: i32) {
    let dir = root.join("exits");
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
    PathBuf::from(format!("/run/wharf/attach-{}.sock", &id[..16.min(id.len())]))
}

/// The console socket of a container: short, since unix socket paths are
/// limited to 108 bytes.
fn console_path(id: &str) -> PathBuf {
    PathBuf::from(format!("/run/wharf/console-{}.sock", &id[..16.min(id.len())]))
}

fn start_once(store: &mut Store, rt: &Runtime, id: &str, image_id: &str, stdin: bool) -> anyhow::Result<Started> {
    let dir = container_dir(store.root(), id);
    let ov = overlay(store, id, image_id)?;
    if !is_mounted(&ov.target) {
        ov.mount().map_err(|e| engine(format!("mounting the container's rootfs: {e}")))?;
    }
    if rt.has_state(id) {
        // Left by a previous run of this container (a crash).
        let _ = rt.delete(id);
    }
    let cfg = load_config(&store.container(id)?);
    // As docker: a command that is not there fails the start, not the
    // create, with the shell's 127 (or 126).
    if let Some(prog) = cfg.entrypoint.first().or(cfg.cmd.first()) {
        super::run::check_executable(&ov.target, prog, &cfg.env, &cfg.working_dir)?;
    }
    if cfg.ipc == "shareable" {
        mount_shm(store.root(), id, cfg.shm_size)?;
    }
    // Dropped on any early return below, it is waited for before the
    // caller tears the network down.
    let rules = match network_up(store, id, &cfg) {
        Ok(r) => r,
        Err(e) => {
            network_down(store, id);
            return Err(e);
        }
    };
    let null = || runtime::oci::null_fd().map_err(|e| engine(e.to_string()));
    let started = if cfg.tty {
        let sock = console_path(id);
        std::fs::create_dir_all(sock.parent().unwrap_or(Path::new("/run")))?;
        let listener = runtime::console::listen(&sock)?;
        let created = rt.create(id, &dir, [null()?, null()?, null()?], Some(&sock));
        let _ = std::fs::remove_file(&sock);
        let pid = created.map_err(|e| engine(e.to_string()))?;
        let master = runtime::console::receive_master(&listener)
            .map_err(|e| engine(format!("receiving the container's terminal: {e}")))?;
        let input = if cfg.open_stdin { Some(master.try_clone()?) } else { None };
        Started { pid, outputs: vec![(Stream::Stdout, master.try_clone()?)], master: Some(master), stdin: input }
    } else {
        let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        // The user's stdin itself for a foreground `-i`; a pipe that the
        // monitor keeps open (for attach clients) for a detached one.
        let (container_stdin, input) = if stdin {
            (runtime::oci::dup_stdio(0).map_err(|e| engine(e.to_string()))?, None)
        } else if cfg.open_stdin {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            (r, Some(w))
        } else {
            (null()?, None)
        };
        let pid = rt.create(id, &dir, [container_stdin, out_w, err_w], None).map_err(|e| engine(e.to_string()))?;
        Started { pid, outputs: vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)], master: None, stdin: input }
    };
    if let Some(Err(e)) = rules.map(network::Restore::wait) {
        let _ = rt.delete(id);
        return Err(engine(e.to_string()));
    }
    store.set_container_running(id, started.pid, std::process::id() as i32)?;
    if let Err(e) = rt.start(id) {
        let _ = rt.delete(id);
        return Err(engine(e.to_string()));
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
fn finish(store: &mut Store, rt: &Runtime, id: &str, image_id: &str, code: i32, oom: bool) -> anyhow::Result<()> {
    release(store, rt, id, image_id)?;
    store.set_container_exited(id, code, oom)?;
    Ok(())
}

/// What a stopped (or never started) container holds: its runtime state,
/// network and rootfs mount.
fn release(store: &mut Store, rt: &Runtime, id: &str, image_id: &str) -> anyhow::Result<()> {
    let _ = rt.delete(id);
    network_down(store, id);
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
    let target = container_dir(root, id).join("merged");
    if is_mounted(&target) {
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH)?;
    }
    Ok(())
}

/// The host-side /dev/shm of an `--ipc shareable` container.
pub fn shm_dir(root: &Path, id: &str) -> PathBuf {
    container_dir(root, id).join("shm")
}

/// Mounts the shareable /dev/shm (docker's options) unless it is there.
fn mount_shm(root: &Path, id: &str, size: u64) -> anyhow::Result<()> {
    use rustix::mount::{mount, MountFlags};
    let dir = shm_dir(root, id);
    std::fs::create_dir_all(&dir)?;
    if !is_mounted(&dir) {
        let data = std::ffi::CString::new(format!("mode=1777,size={}k", size / 1024))?;
        let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
        mount("shm", &dir, "tmpfs", flags, data.as_c_str()).map_err(|e| engine(format!("mounting /dev/shm: {e}")))?;
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
pub fn remove_files(store: &mut Store, id: &str) -> anyhow::Result<()> {
    let rec = store.container(id).ok();
    network::teardown(id);
    // Left by a monitor that was killed.
    let _ = std::fs::remove_file(attach_path(id));
    let dir = container_dir(store.root(), id);
    unmount_rootfs(store.root(), id).with_context(|| format!("unmounting {}", dir.join("merged").display()))?;
    image::layer::remove_tree(&dir).with_context(|| format!("removing {}", dir.display()))?;
    store.remove_container(id)?;
    if let Some(rec) = rec {
        super::events::container(store.root(), "destroy", &rec, &[]);
    }
    Ok(())
}

/// Starts a detached monitor for `id` (a re-exec of this binary in its own
/// session) and waits until it says the container runs.
pub fn spawn_monitor(root: &Path, id: &str) -> anyhow::Result<()> {
    start_monitor(root, id, false).map(drop)
}

/// [`spawn_monitor`] for a CLI that attaches (`run -it`): the container
/// starts once the returned connection to its attach socket is made.
pub fn spawn_monitor_attached(root: &Path, id: &str) -> anyhow::Result<std::os::unix::net::UnixStream> {
    start_monitor(root, id, true)?.ok_or_else(|| engine("the container monitor did not listen"))
}

fn start_monitor(root: &Path, id: &str, attach: bool) -> anyhow::Result<Option<std::os::unix::net::UnixStream>> {
    let exe = std::env::current_exe().context("finding the wharf binary")?;
    let (ready_r, ready_w) = std::io::pipe().context("pipe")?;
    let monitor_log = File::options()
        .create(true)
        .append(true)
        .open(container_dir(root, id).join("monitor.log"))
        .context("opening the monitor's log")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root").arg(root).arg("container-monitor").arg(id);
    if attach {
        cmd.arg("--wait-attach");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(ready_w)
        .stderr(monitor_log)
        .process_group(0)
        .spawn()
        .context("starting the container monitor")?;
    let mut lines = std::io::BufReader::new(ready_r).lines();
    let mut first = lines.next().transpose()?.unwrap_or_default();
    let mut sock = None;
    if attach && first == "listening" {
        sock = Some(std::os::unix::net::UnixStream::connect(attach_path(id)).context("attaching")?);
        first = lines.next().transpose()?.unwrap_or_default();
    }
    if first.starts_with("ok") {
        // The monitor lives on; reaping it is init's job once this CLI exits.
        std::mem::drop(child);
        return Ok(sock);
    }
    let _ = child.wait();
    // "error: CODE MESSAGE": the start's exit code (docker's 125, 126, 127).
    let failure = first.strip_prefix("error: ").and_then(|f| f.split_once(' '));
    Err(match failure.and_then(|(code, msg)| Some((code.parse::<u8>().ok()?, msg))) {
        Some((code, msg)) => Failure::new(code, msg).into(),
        None => engine("the container monitor failed to start"),
    })
}

use std::os::unix::process::CommandExt;

/// `wharf container-monitor ID` (hidden): the detached monitor's body.
pub fn monitor_main(root: &Path, id: &str, wait_attach: bool) -> anyhow::Result<std::process::ExitCode> {
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
    Ok(std::process::ExitCode::from(code.clamp(0, 255) as u8))
}
