//! Shared by the container, build and network tests: a temporary store
//! with a busybox image (`localhost/bb`, every applet linked) made from the
//! host's busybox-static, and helpers that drive the real binary.
#![allow(dead_code)]

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Env {
    pub dir: tempfile::TempDir,
}

pub fn have_runc() -> bool {
    let ok = ["/usr/sbin/runc", "/usr/bin/runc"].iter().any(|p| Path::new(p).exists());
    if !ok {
        assert!(std::env::var_os("WHARF_REQUIRE_PEERS").is_none(), "runc is required (scripts/test.sh installs it)");
    }
    ok
}

impl Env {
    /// A store with `localhost/bb`; None when runc is missing (and not
    /// required).
    pub fn new() -> Option<Env> {
        if !have_runc() {
            return None;
        }
        let env = Env { dir: tempfile::tempdir().expect("tempdir") };
        let rootfs = env.dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
        let list = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
        for a in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).expect("symlink");
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n").expect("group");
        let tar = env.dir.path().join("bb.tar");
        assert!(Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success());
        let o = env.wharf(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV PATH=/bin",
            tar.to_str().expect("utf8"),
            "localhost/bb",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Some(env)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    pub fn wharf(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().expect("run wharf")
    }

    /// Exit code, stdout, stderr.
    pub fn out(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.wharf(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Asserts that `run --rm ARGS localhost/bb true` is refused as docker
    /// refuses it: exit 125, with `msg` in the error.
    pub fn refused_run(&self, args: &[&str], msg: &str) {
        let (code, _, err) = self.out(&[&["run", "--rm"][..], args, &["localhost/bb", "true"]].concat());
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }

    /// Stdout of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.out(args);
        assert_eq!(code, 0, "wharf {args:?} failed: {err}{out}");
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave nothing running or mounted behind a failed test.
        if let Ok(o) =
            Command::new(env!("CARGO_BIN_EXE_wharf")).arg("--root").arg(self.root()).args(["ps", "-aq"]).output()
        {
            for id in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = Command::new(env!("CARGO_BIN_EXE_wharf"))
                    .arg("--root")
                    .arg(self.root())
                    .args(["rm", "-f", id])
                    .output();
            }
        }
    }
}

/// Mount points under `dir` listed in /proc/mounts.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let d = dir.display().to_string();
    text.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&d)).map(str::to_owned).collect()
}

/// An HTTP GET of `/` over loopback; the body, or None.
pub fn http_get(addr: &str) -> Option<String> {
    http_get_path(addr, "/")
}

/// An HTTP GET of `path` over loopback; the body, or None.
pub fn http_get_path(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse().ok()?, std::time::Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// As `eventually`, for up to `limit`: a guard against a hang, not a
/// measure of speed.
pub fn eventually_within<T>(limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

/// Polls `f` up to ~10 s (for servers that take a moment to listen); this
/// bounds a wait, it asserts nothing about time.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..200 {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}
