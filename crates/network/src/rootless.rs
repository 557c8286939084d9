//! An ordinary user's networks (rootless, as podman's "rootless netns").
//! The user cannot make bridges or NAT rules in the host's network
//! namespace, so the "host side" of every wharf network is a network
//! namespace of the user's own, at `RUN/netns/rootless` (bound in the
//! user's mount namespace, crates/userns): bridges, veths, iptables rules
//! and sysctls all live there, made by the same code as root's, run on a
//! thread that entered it ([`HostSide`]). `slirp4netns` connects it to
//! the host: outbound traffic through its user-mode NAT (tap0,
//! 10.0.2.100), and published ports as its host forwards (added through
//! its API socket), which listen in the host's namespace and arrive at
//! 10.0.2.100, where the DNAT rules send them on to the container.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::{netlink, NetError, PortMap};

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> NetError {
    NetError::Command { cmd: what.to_string(), msg: e.to_string() }
}

/// The user's network namespace (rootless), where bridges live.
pub fn netns() -> PathBuf {
    crate::netns_dir().join("rootless")
}

fn api_socket() -> PathBuf {
    paths::run_dir().join("slirp4netns.sock")
}

fn pid_file() -> PathBuf {
    paths::run_dir().join("slirp4netns.pid")
}

/// Runs `f` where wharf's bridges are: for root, right here; for an
/// ordinary user, on a thread of its own that entered the user's network
/// namespace. A thread that left the host's namespace can never go back
/// (that takes a capability on the host), so it is thrown away after.
pub fn host_side<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
    if !paths::rootless() {
        return Ok(f());
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let path = ensure()?;
                let there = File::open(&path).map_err(|e| err(format!("open {}", path.display()), e))?;
                move_into_link_name_space(there.as_fd(), Some(LinkNameSpaceType::Network))
                    .map_err(|e| err(format!("setns {}", path.display()), e))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(err("rootless network thread", "panicked")))
    })
}

/// Runs `f`, which may leave its thread in another network namespace, on
/// a thread of its own for an ordinary user (that thread could not come
/// back); for root, here, and back to this thread's namespace after.
pub fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
    if !paths::rootless() {
        let here = File::open("/proc/thread-self/ns/net").map_err(|e| err("open /proc/thread-self/ns/net", e))?;
        let out = f();
        move_into_link_name_space(here.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| err("setns back to the host namespace", e))?;
        return Ok(out);
    }
    std::thread::scope(|scope| scope.spawn(f).join().map_err(|_| err("rootless network thread", "panicked")))
}

/// Whether `path` is a bound network namespace (an nsfs file).
pub(crate) fn is_netns(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    File::open(path).ok().and_then(|f| rustix::fs::fstatfs(&f).ok()).is_some_and(|s| s.f_type == NSFS_MAGIC)
}

fn slirp_pid() -> Option<u32> {
    let pid = std::fs::read_to_string(pid_file()).ok().and_then(|p| p.trim().parse::<u32>().ok())?;
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"slirp4netns\0")).then_some(pid)
}

fn slirp_alive() -> bool {
    slirp_pid().is_some()
}

fn stop_slirp() {
    if let Some(pid) = slirp_pid().and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Makes the user's network namespace and its slirp4netns, once; under a
/// lock, as two commands may start the first containers at once.
fn ensure() -> Result<PathBuf, NetError> {
    let path = netns();
    if is_netns(&path) && slirp_alive() {
        return Ok(path);
    }
    let _lock = paths::lock_in_run_dir("rootless-netns.lock").map_err(|e| err("rootless-netns.lock", e))?;
    if !is_netns(&path) {
        // A new namespace (the user's namespaces were made again, after
        // their pause process was killed): the old slirp4netns serves the
        // old one, so it goes too.
        stop_slirp();
        let _ = std::fs::remove_file(&path);
        // On a thread of its own: it stays in the new namespace.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    netlink::add_netns_here(&path)?;
                    netlink::Netlink::host()?.set_up("lo")
                })
                .join()
                .unwrap_or_else(|_| Err(err("rootless network thread", "panicked")))
        })?;
    }
    if !slirp_alive() {
        start_slirp(&path)?;
    }
    Ok(path)
}

/// Starts slirp4netns for the namespace at `path`, detached, and waits
/// until its API socket answers.
fn start_slirp(path: &Path) -> Result<(), NetError> {
    use std::os::unix::process::CommandExt;
    let sock = api_socket();
    let _ = std::fs::remove_file(&sock);
    let log = File::create(paths::run_dir().join("slirp4netns.log")).map_err(|e| err("slirp4netns.log", e))?;
    let child = std::process::Command::new(paths::host_program("slirp4netns"))
        .arg0("slirp4netns")
        .args(["--configure", "--mtu=65520", "--disable-host-loopback", "--netns-type=path"])
        .arg(format!("--api-socket={}", sock.display()))
        .arg(path)
        .arg("tap0")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| err("slirp4netns.log", e))?)
        .stderr(log)
        .current_dir("/")
        .process_group(0)
        .spawn()
        .map_err(|e| err("slirp4netns (Debian's slirp4netns package) for rootless networking", e))?;
    std::fs::write(pid_file(), format!("{}\n", child.id())).map_err(|e| err(pid_file().display(), e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if sock.exists() && api(&serde_json::json!({"execute": "list_hostfwd"})).is_ok() {
            republish();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let log = std::fs::read_to_string(paths::run_dir().join("slirp4netns.log")).unwrap_or_default();
    Err(err("slirp4netns did not come up", log.trim()))
}

/// One request to slirp4netns's API socket; its `return` value.
fn api(request: &serde_json::Value) -> Result<serde_json::Value, NetError> {
    let mut s = std::os::unix::net::UnixStream::connect(api_socket()).map_err(|e| err("slirp4netns API", e))?;
    s.write_all(request.to_string().as_bytes()).map_err(|e| err("slirp4netns API", e))?;
    s.shutdown(std::net::Shutdown::Write).map_err(|e| err("slirp4netns API", e))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| err("slirp4netns API", e))?;
    let v: serde_json::Value = serde_json::from_str(&answer).map_err(|e| err("slirp4netns API", e))?;
    if let Some(desc) = v.pointer("/error/desc").and_then(|d| d.as_str()) {
        return Err(err("slirp4netns", desc));
    }
    Ok(v["return"].clone())
}

/// Publishes `ports` on the host through slirp4netns (each to the same
/// port of the namespace, where the DNAT rules take over); their forward
/// IDs go into `record`, for [`unpublish`]. A port below the host's
/// `ip_unprivileged_port_start` is refused in rootlesskit's words.
pub fn publish(ports: &[PortMap], record: &Path) -> Result<(), NetError> {
    let start = unprivileged_port_start();
    let mut ids = Vec::new();
    for p in ports {
        if p.host_port < start {
            let _ = unpublish(record);
            return Err(NetError::Rootless(format!(
                "cannot expose privileged port {0}, you can add 'net.ipv4.ip_unprivileged_port_start={0}' to /etc/sysctl.conf (currently {start}), or choose a larger port number (>= {start})",
                p.host_port
            )));
        }
        let host = p.host_ip.map_or_else(|| "0.0.0.0".to_owned(), |h| h.to_string());
        match add_forward(&p.proto, &host, p.host_port) {
            Ok(id) => ids.push(format!("{id} {} {host} {}", p.proto, p.host_port)),
            Err(_) => {
                let _ = std::fs::write(record, ids.join("\n"));
                let _ = unpublish(record);
                return Err(NetError::PortTaken(format!("{host}:{}", p.host_port)));
            }
        }
        std::fs::write(record, ids.join("\n")).map_err(|e| err(record.display(), e))?;
    }
    Ok(())
}

/// One host forward; its ID.
fn add_forward(proto: &str, host: &str, port: u16) -> Result<u64, NetError> {
    let req = serde_json::json!({"execute": "add_hostfwd", "arguments": {
        "proto": proto, "host_addr": host, "host_port": port, "guest_port": port}});
    Ok(api(&req)?["id"].as_u64().unwrap_or(0))
}

/// A slirp4netns started again (the last one was killed) is given the
/// forwards of the containers still publishing ports; each record takes
/// the new IDs.
fn republish() {
    let dir = paths::run_dir().join("ports");
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "slirp") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (proto, host, port) = (f.get(1)?, f.get(2)?, f.get(3)?.parse().ok()?);
                let id = add_forward(proto, host, port).ok()?;
                Some(format!("{id} {proto} {host} {port}"))
            })
            .collect();
        let _ = std::fs::write(&path, lines.join("\n"));
    }
}

/// Removes the host forwards named in `record`.
pub fn unpublish(record: &Path) -> Result<(), NetError> {
    let Ok(text) = std::fs::read_to_string(record) else { return Ok(()) };
    if slirp_alive() {
        for id in text.lines().filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok()) {
            let _ = api(&serde_json::json!({"execute": "remove_hostfwd", "arguments": {"id": id}}));
        }
    }
    let _ = std::fs::remove_file(record);
    Ok(())
}

/// The host's lowest port an ordinary user may bind (read in this
/// process's own network namespace, which is the host's).
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}
