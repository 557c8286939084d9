//! An ordinary user's wharf works inside a user namespace of the user's
//! own, as podman's does: root there is the user, IDs 1.. are the user's
//! subordinate ranges (/etc/subuid, /etc/subgid, mapped by Debian's
//! setuid `newuidmap`/`newgidmap`). There, layers keep their owners,
//! overlays mount, and containers get namespaces, without any privilege
//! the user does not have.
//!
//! Every wharf process of the user joins the *same* namespace (user and
//! mount): a pause process holds it, its PID in the runtime directory
//! (`pause.pid`), made by the first command that finds none. One
//! namespace, so the mounts a command makes (a container's rootfs) are
//! seen by the next (`exec`, `cp`, `diff`), and an `exec` can join a
//! container that another command started. If the pause process is
//! killed, the next command makes a new one.
//!
//! A user without subordinate ranges gets a single mapping (root = the
//! user, nothing else) and a warning; files of other owners become root's.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// The hidden first argument that makes wharf the pause process.
pub const PAUSE_ARG: &str = "__wharf-userns-pause";

/// Why the user's namespace could not be made or joined.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rootless: {0}: {1}")]
    Io(String, std::io::Error),
    #[error("rootless: cannot make a user namespace: {0} (is kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)")]
    Unshare(String),
    #[error("rootless: {tool} failed to map the subordinate IDs: {message}")]
    Map { tool: &'static str, message: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

/// One line of a UID or GID map: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// For an ordinary user, joins (or first makes) the user's namespace;
/// nothing for root on the host or a process already inside. Must be
/// called while the process has a single thread (setns of a user
/// namespace requires it). Returns a warning to print, if any.
pub fn join() -> Result<Option<String>, Error> {
    if rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let lock = paths::lock_in_run_dir("userns.lock")
        .map_err(io(paths::run_dir().join("userns.lock").display().to_string()))?;
    let run = paths::run_dir();
    let (pid, warning) = match live_pause(&run) {
        Some(pid) => (pid, None),
        None => start_pause(&run)?,
    };
    enter(pid)?;
    drop(lock);
    Ok(warning)
}

/// The pause process named in `pause.pid`, if it is alive and ours.
fn live_pause(run: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(run.join("pause.pid")).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_pause = cmdline.split(|b| *b == 0).any(|a| a == PAUSE_ARG.as_bytes());
    let mine = std::fs::metadata(format!("/proc/{pid}"))
        .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == rustix::process::geteuid().as_raw());
    (is_pause && mine).then_some(pid)
}

/// Starts the pause process: it unshares a user namespace, waits for the
/// maps, then unshares a mount namespace and sleeps.
fn start_pause(run: &Path) -> Result<(u32, Option<String>), Error> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("/proc/self/exe")
        .arg0("wharf")
        .arg(PAUSE_ARG)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("starting the user namespace's pause process"))?;
    let pid = child.id();
    let mut from = child.stdout.take().expect("piped");
    let mut to = child.stdin.take().expect("piped");
    expect_byte(&mut from, b'u')?;
    let warning = write_maps(pid)?;
    to.write_all(b"m").map_err(io("the pause process"))?;
    expect_byte(&mut from, b'r')?;
    let file = run.join("pause.pid");
    let tmp = run.join("pause.pid.tmp");
    std::fs::write(&tmp, format!("{pid}\n")).map_err(io(tmp.display().to_string()))?;
    std::fs::rename(&tmp, &file).map_err(io(file.display().to_string()))?;
    Ok((pid, warning))
}

/// Reads the pause process's next report: `want`, or `e` and its error.
fn expect_byte(from: &mut impl Read, want: u8) -> Result<(), Error> {
    let mut b = [0u8; 1];
    from.read_exact(&mut b).map_err(io("the pause process ended early"))?;
    if b[0] == want {
        return Ok(());
    }
    let mut rest = String::new();
    let _ = from.read_to_string(&mut rest);
    Err(Error::Unshare(rest))
}

/// Joins the pause process's user and mount namespaces, keeping the
/// working directory (setns of a mount namespace moves it to `/`).
fn enter(pid: u32) -> Result<(), Error> {
    let cwd = std::env::current_dir().ok();
    for (ns, flag) in [("user", libc::CLONE_NEWUSER), ("mnt", libc::CLONE_NEWNS)] {
        let path = format!("/proc/{pid}/ns/{ns}");
        let f = File::open(&path).map_err(io(path.clone()))?;
        // SAFETY: setns on a namespace file descriptor we own; the caller
        // guarantees a single thread, which a user namespace change needs.
        if unsafe { libc::setns(f.as_raw_fd(), flag) } != 0 {
            return Err(Error::Io(format!("joining {path}"), std::io::Error::last_os_error()));
        }
    }
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    Ok(())
}

/// The pause process's main: never returns.
pub fn pause_main() -> ! {
    let mut out = std::io::stdout();
    // SAFETY: unshare with namespace flags only; single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        let _ = write!(out, "e{}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let _ = out.write_all(b"u").and_then(|_| out.flush());
    let mut b = [0u8; 1];
    if std::io::stdin().read_exact(&mut b).is_err() {
        std::process::exit(1);
    }
    // SAFETY: as above; the maps are written, this process is root here.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        let _ = write!(out, "e{}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let _ = rustix::process::setsid();
    let _ = out.write_all(b"r").and_then(|_| out.flush());
    // SAFETY: ignoring terminal signals; SIG_IGN is a valid disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..=2 {
            // SAFETY: dup2 of a valid descriptor over the standard ones.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}

/// Writes the pause process's UID and GID maps: the user's subordinate
/// ranges through newuidmap/newgidmap, or a single mapping (with the
/// warning to print) when the user has none.
fn write_maps(pid: u32) -> Result<Option<String>, Error> {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let name = user_name(uid, &std::fs::read_to_string("/etc/passwd").unwrap_or_default());
    let subuids = subordinate_ranges(&std::fs::read_to_string("/etc/subuid").unwrap_or_default(), uid, name.as_deref());
    let subgids = subordinate_ranges(&std::fs::read_to_string("/etc/subgid").unwrap_or_default(), uid, name.as_deref());
    let found = |name: &str| Some(paths::host_program(name)).filter(|p| p.is_absolute());
    let tools = found("newuidmap").zip(found("newgidmap"));
    match tools {
        Some((newuidmap, newgidmap)) if !subuids.is_empty() && !subgids.is_empty() => {
            run_map_tool(&newuidmap, "newuidmap", pid, &maps(uid, &subuids))?;
            run_map_tool(&newgidmap, "newgidmap", pid, &maps(gid, &subgids))?;
            Ok(None)
        }
        _ => {
            let who = name.unwrap_or_else(|| uid.to_string());
            write_proc(pid, "uid_map", &format!("0 {uid} 1\n"))?;
            write_proc(pid, "setgroups", "deny")?;
            write_proc(pid, "gid_map", &format!("0 {gid} 1\n"))?;
            Ok(Some(single_mapping_warning(&who, tools.is_some())))
        }
    }
}

fn single_mapping_warning(who: &str, have_tools: bool) -> String {
    let why = if have_tools {
        format!("no subordinate UIDs/GIDs for {who} in /etc/subuid and /etc/subgid")
    } else {
        "newuidmap/newgidmap not found (Debian's uidmap package)".to_owned()
    };
    format!(
        "WARNING: {why}: using a single mapping, so containers have only root (you) and files of other owners become root's; \
         add ranges with `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}`, then `pkill -f {PAUSE_ARG}`"
    )
}

fn write_proc(pid: u32, file: &str, text: &str) -> Result<(), Error> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).map_err(io(path))
}

fn run_map_tool(tool: &Path, name: &'static str, pid: u32, maps: &[IdMap]) -> Result<(), Error> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.inside.to_string(), m.outside.to_string(), m.count.to_string()]);
    }
    let out = cmd.stdin(Stdio::null()).output().map_err(io(tool.display().to_string()))?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(Error::Map { tool: name, message });
    }
    Ok(())
}

/// The maps: 0 → the user's own ID, then the ranges one after another.
pub fn maps(own: u32, ranges: &[(u32, u32)]) -> Vec<IdMap> {
    let mut out = vec![IdMap { inside: 0, outside: own, count: 1 }];
    let mut next = 1u32;
    for &(start, count) in ranges {
        out.push(IdMap { inside: next, outside: start, count });
        next = next.saturating_add(count);
    }
    out
}

/// The ranges (start, count) an /etc/subuid-style file gives a user, by
/// name or by UID.
pub fn subordinate_ranges(file: &str, uid: u32, name: Option<&str>) -> Vec<(u32, u32)> {
    let uid = uid.to_string();
    file.lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            let ours = who == uid || Some(who) == name;
            let range = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
            (ours && range.1 > 0).then_some(range)
        })
        .collect()
}

/// The user's name in an /etc/passwd-style file.
fn user_name(uid: u32, passwd: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_owned())
    })
}

/// The pause process's PID, if the user has one running (tests and
/// `system reset`-like cleanups stop it).
pub fn pause_pid() -> Option<u32> {
    live_pause(&paths::run_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_name_or_uid_become_consecutive_maps() {
        let file = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\nalice:400000:0\n";
        let r = subordinate_ranges(file, 1000, Some("alice"));
        assert_eq!(r, [(100000, 65536)]);
        assert_eq!(subordinate_ranges(file, 1001, None), [(300000, 10)]);
        let m = maps(1000, &[(100000, 65536), (300000, 10)]);
        assert_eq!(
            m,
            [
                IdMap { inside: 0, outside: 1000, count: 1 },
                IdMap { inside: 1, outside: 100000, count: 65536 },
                IdMap { inside: 65537, outside: 300000, count: 10 },
            ]
        );
    }

    #[test]
    fn user_names_come_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(user_name(1000, passwd).as_deref(), Some("alice"));
        assert_eq!(user_name(1001, passwd), None);
    }
}
