//! wharf as an ordinary user (rootless): its own store, runtime and
//! configuration directories from the XDG base directories, `info` saying
//! so; the user's own user namespace (subordinate IDs through newuidmap,
//! or a single mapping and a warning without them); the whole story as
//! that user (import and pull, build, run, -p, exec, logs, cp, user
//! networks, volumes, rmi, system check); what it must not allow; two
//! users sharing nothing. Runs the real binary under other UIDs with
//! `setpriv` (util-linux), as root. The users with subordinate ranges
//! (`wharf-rl1`, `wharf-rl2`) are made by scripts/test.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs wharf as `uid` with a clean environment: HOME and what `env` adds.
fn as_user(uid: u32, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let id = uid.to_string();
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &id, "--regid", &id, "--clear-groups", env!("CARGO_BIN_EXE_wharf")])
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("setpriv")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A home directory owned by `uid`.
fn home_of(dir: &Path, uid: u32) -> std::path::PathBuf {
    let home = dir.join(format!("home-{uid}"));
    std::fs::create_dir_all(&home).expect("mkdir");
    rustix::fs::chown(&home, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(uid)))
        .expect("chown");
    home
}

/// A temporary directory the other users can enter.
fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    dir
}

fn runnable() -> bool {
    // The binary must be reachable by other users, and setpriv there.
    rustix::process::geteuid().is_root() && Path::new("/usr/bin/setpriv").exists()
}

#[test]
fn an_ordinary_user_gets_their_own_locations_and_info_says_rootless() {
    if !runnable() {
        return;
    }
    let _stops = StopsUserProcesses(vec!["/tmp/wharf-65534".into(), "/tmp/xdg-run-65534/wharf".into()]);
    let dir = shared_tempdir();
    let home = home_of(dir.path(), 65534);
    let info = ok(as_user(65534, &home, &[], &["info"]));
    assert!(info.contains("\n  rootless\n"), "{info}");
    assert!(info.contains(&format!("Docker Root Dir: {}/.local/share/wharf\n", home.display())), "{info}");
    assert!(info.contains("Runtime Dir: /tmp/wharf-65534\n"), "{info}");
    let json = ok(as_user(65534, &home, &[], &["info", "--format", "{{json .SecurityOptions}}"]));
    assert!(json.contains("name=rootless"), "{json}");

    // The XDG variables move them.
    let data = dir.path().join("data-65534");
    std::fs::create_dir_all(&data).expect("mkdir");
    rustix::fs::chown(&data, Some(rustix::fs::Uid::from_raw(65534)), None).expect("chown");
    let env = [("XDG_DATA_HOME", data.to_str().expect("utf8")), ("XDG_RUNTIME_DIR", "/tmp/xdg-run-65534")];
    let info = ok(as_user(65534, &home, &env, &["info"]));
    assert!(info.contains(&format!("Docker Root Dir: {}/wharf\n", data.display())), "{info}");
    assert!(info.contains("Runtime Dir: /tmp/xdg-run-65534/wharf\n"), "{info}");

    // Root's own view is unchanged.
    let root_info = Command::new(env!("CARGO_BIN_EXE_wharf")).args(["--root", "/tmp/unused-root", "info"]).output();
    let root_info = String::from_utf8_lossy(&root_info.expect("wharf").stdout).into_owned();
    assert!(!root_info.contains("rootless") && !root_info.contains("Runtime Dir"), "{root_info}");
}

#[test]
fn two_users_share_nothing() {
    if !runnable() {
        return;
    }
    let _stops = StopsUserProcesses(vec!["/tmp/wharf-65534".into(), "/tmp/wharf-65533".into()]);
    let dir = shared_tempdir();
    let (a, b) = (home_of(dir.path(), 65534), home_of(dir.path(), 65533));
    ok(as_user(65534, &a, &[], &["volume", "create", "only-a"]));
    assert_eq!(ok(as_user(65534, &a, &[], &["volume", "ls", "-q"])), "only-a\n");
    assert_eq!(ok(as_user(65533, &b, &[], &["volume", "ls", "-q"])), "");
    // The other user's store is not theirs to read.
    let o = as_user(65533, &b, &[], &["--root", a.join(".local/share/wharf").to_str().expect("utf8"), "volume", "ls"]);
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// A test user with subordinate ranges: (uid, name), or None (a failure
/// when the test script should have made it).
fn ranged_user(name: &str) -> Option<u32> {
    let o = Command::new("id").args(["-u", name]).output().ok()?;
    let uid = String::from_utf8_lossy(&o.stdout).trim().parse().ok();
    let ranged =
        std::fs::read_to_string("/etc/subuid").is_ok_and(|f| f.lines().any(|l| l.starts_with(&format!("{name}:"))));
    if uid.is_none() || !ranged {
        assert!(
            std::env::var_os("WHARF_REQUIRE_PEERS").is_none(),
            "user {name} with /etc/subuid ranges is required (scripts/test.sh makes it)"
        );
        return None;
    }
    uid
}

/// One ordinary user's wharf: HOME and XDG_RUNTIME_DIR of its own under a
/// shared temporary directory. Dropped, its containers are removed and
/// its pause process and slirp4netns stopped.
struct User {
    uid: u32,
    home: PathBuf,
    run: PathBuf,
}

impl User {
    fn new(dir: &Path, uid: u32) -> User {
        let home = home_of(dir, uid);
        let run = dir.join(format!("run-{uid}"));
        std::fs::create_dir_all(&run).expect("mkdir");
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        rustix::fs::chown(&run, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(uid)))
            .expect("chown");
        User { uid, home, run }
    }

    fn wharf(&self, args: &[&str]) -> Output {
        self.wharf_with(&[], args)
    }

    fn wharf_with(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut all = vec![("XDG_RUNTIME_DIR", self.run.to_str().expect("utf8"))];
        all.extend_from_slice(env);
        as_user(self.uid, &self.home, &all, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.wharf(args))
    }

    fn store(&self) -> PathBuf {
        self.home.join(".local/share/wharf")
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let ids = self.wharf(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.wharf(&["rm", "-f", id]);
        }
        StopsUserProcesses(vec![self.run.join("wharf")]);
    }
}

/// Dropped, stops the pause process and slirp4netns of each runtime
/// directory (what a user's wharf leaves running by design).
struct StopsUserProcesses(Vec<PathBuf>);

impl Drop for StopsUserProcesses {
    fn drop(&mut self) {
        for run in &self.0 {
            for file in ["slirp4netns.pid", "pause.pid"] {
                let pid = std::fs::read_to_string(run.join(file)).ok().and_then(|p| p.trim().parse().ok());
                if let Some(pid) = pid.and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
}

/// A busybox rootfs tar (root's files, a home of UID 1000, a setuid-root
/// copy of busybox), readable by every user.
fn rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "home/app"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
    let list = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
    for a in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).expect("symlink");
    }
    // A setuid-root probe: its effective UID, then the file it is given.
    // (busybox drops setuid privileges for its applets, so it cannot be
    // the probe.)
    let src = dir.join("probe.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(int c, char **v) {\n\
         printf(\"%d\\n\", (int)geteuid()); fflush(stdout);\n\
         FILE *f = fopen(v[1], \"r\"); if (!f) { perror(v[1]); return 1; }\n\
         char b[64]; size_t n = fread(b, 1, sizeof b, f); fwrite(b, 1, n, stdout); return 0; }\n",
    )
    .expect("probe.c");
    let probe = rootfs.join("bin/suid-probe");
    let cc = Command::new("cc").arg("-static").arg("-o").arg(&probe).arg(&src).status().expect("cc");
    assert!(cc.success(), "cc -static probe.c");
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).expect("chmod");
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
        .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
    rustix::fs::chown(
        rootfs.join("home/app"),
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(1000)),
    )
    .expect("chown");
    let tar = dir.join("bb.tar");
    let made = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status().expect("tar");
    assert!(made.success());
    std::fs::set_permissions(&tar, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    tar
}

/// The owner (host UID) of a file in the user's store, as root sees it.
fn host_owner(p: &Path) -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::symlink_metadata(p).expect("stat"))
}

/// The first subordinate UID of `name`.
fn subuid_start(name: &str) -> u32 {
    let f = std::fs::read_to_string("/etc/subuid").expect("/etc/subuid");
    let line = f.lines().find(|l| l.starts_with(&format!("{name}:"))).expect("range");
    line.split(':').nth(1).expect("start").parse().expect("number")
}

#[test]
fn without_subordinate_ranges_a_single_mapping_and_a_warning() {
    if !runnable() {
        return;
    }
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let user = User::new(dir.path(), 65534);
    let o = user.wharf(&["import", tar.to_str().expect("utf8"), "bb"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("WARNING: no subordinate UIDs/GIDs for ") && err.contains("single mapping"), "{err}");
    // Said once, when the namespace is made.
    let o = user.wharf(&["images", "-q"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("WARNING"), "{}", String::from_utf8_lossy(&o.stderr));
    // Files of other owners became root's (the user's).
    let out = user.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "stat -c %u /home/app; cat /proc/self/uid_map",
    ]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "65534", "1"], "{out}");
}

#[test]
fn the_whole_story_as_an_ordinary_user() {
    if !runnable() {
        return;
    }
    let Some(uid) = ranged_user("wharf-rl1") else { return };
    let Some(root_env) = common::Env::new() else { return };
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let user = User::new(dir.path(), uid);

    // Import: owners kept as the container sees them, mapped into the
    // user's range on the host.
    user.ok(&["import", "-c", "ENV PATH=/bin", tar.to_str().expect("utf8"), "bb"]);
    let id = user.ok(&["run", "--rm", "bb", "sh", "-c", "stat -c '%u:%g' /home/app; id -u; cat /proc/self/uid_map"]);
    let lines: Vec<&str> = id.lines().collect();
    assert_eq!(lines[..2], ["1000:1000", "0"], "{id}");
    let start = subuid_start("wharf-rl1");
    let map: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(map[0], ["0", &uid.to_string(), "1"], "{id}");
    assert_eq!(map[1][..2], ["1", &start.to_string()], "{id}");
    let snapshot_home = std::fs::read_dir(user.store().join("snapshots"))
        .expect("snapshots")
        .map(|e| e.expect("entry").path().join("fs/home/app"))
        .find(|p| p.exists())
        .expect("the layer's /home/app");
    assert_eq!(host_owner(&snapshot_home), start + 999);

    // Pull from a registry on 127.0.0.1 (pushed by root's wharf).
    if common::registry::have_registry() {
        let reg = common::registry::Registry::start(None);
        let name = format!("{}/bb:pulled", reg.addr());
        root_env.ok(&["tag", "localhost/bb", &name]);
        root_env.ok(&["push", &name]);
        user.ok(&["pull", &name]);
        assert_eq!(user.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
        user.ok(&["rmi", &name]);
    }

    // Build: stages, RUN as root and as USER, COPY --chown.
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("hello.txt"), "hello\n").expect("write");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb AS tools\nRUN echo built > /built && chown 1000:1000 /built\n\
         FROM bb\nCOPY --from=tools /built /built\nCOPY --chown=1000:1000 hello.txt /home/app/\n\
         RUN mkdir /data && chown app /data\nUSER app\nRUN id > /home/app/id.txt && touch /data/mine\n\
         CMD [\"cat\", \"/home/app/id.txt\"]\n",
    )
    .expect("Dockerfile");
    std::fs::set_permissions(&ctx, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    user.ok(&["build", "-q", "-t", "built", ctx.to_str().expect("utf8")]);
    // As root's wharf builds it: the user's IDs, not the runtime's groups.
    assert_eq!(user.ok(&["run", "--rm", "built"]), "uid=1000(app) gid=1000(app)\n");
    let owners =
        user.ok(&["run", "--rm", "built", "stat", "-c", "%u:%g %n", "/built", "/home/app/hello.txt", "/data/mine"]);
    assert_eq!(owners, "1000:1000 /built\n1000:1000 /home/app/hello.txt\n1000:1000 /data/mine\n");

    // run -d with -p: answers on 127.0.0.1; logs, exec, cp.
    let port = common::registry::free_port();
    std::fs::write(dir.path().join("index.html"), "rootless web\n").expect("write");
    user.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "bb",
        "sh",
        "-c",
        "echo serving; echo rootless web > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
    ]);
    let body = common::eventually(|| common::http_get(&format!("127.0.0.1:{port}")));
    assert_eq!(body.as_deref(), Some("rootless web\n"));
    assert_eq!(user.ok(&["logs", "web"]), "serving\n");
    assert_eq!(user.ok(&["exec", "web", "cat", "/tmp/index.html"]), "rootless web\n");
    let local = dir.path().join("copied-in.txt");
    std::fs::write(&local, "from the host\n").expect("write");
    std::fs::set_permissions(&local, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    user.ok(&["cp", local.to_str().expect("utf8"), "web:/tmp/in.txt"]);
    assert_eq!(user.ok(&["exec", "web", "cat", "/tmp/in.txt"]), "from the host\n");
    let out = user.wharf(&["cp", "web:/tmp/in.txt", "-"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("from the host"));

    // A port below the host's ip_unprivileged_port_start: refused in
    // words (rootlesskit's), the container left created, as docker's.
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .map_or(1024, |s| s.trim().parse().unwrap_or(1024));
    if start > 80 {
        let o = user.wharf(&["run", "-d", "--name", "low", "-p", "80:80", "bb", "httpd", "-f", "-p", "80"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert!(
            err.contains("cannot expose privileged port 80, you can add 'net.ipv4.ip_unprivileged_port_start=80'"),
            "{err}"
        );
        assert_eq!(user.ok(&["ps", "-a", "--filter", "name=low", "--format", "{{.Status}}"]), "Created\n");
        user.ok(&["rm", "low"]);
    }

    // A user network: names answer.
    user.ok(&["network", "create", "rlnet"]);
    user.ok(&["network", "connect", "rlnet", "web"]);
    let got = user.ok(&[
        "run",
        "--rm",
        "--network",
        "rlnet",
        "bb",
        "sh",
        "-c",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80",
    ]);
    assert!(got.ends_with("rootless web\n"), "{got}");

    // Volumes keep what a container wrote, with its owner.
    user.ok(&["volume", "create", "rlvol"]);
    user.ok(&["run", "--rm", "-v", "rlvol:/data", "bb", "sh", "-c", "echo kept > /data/f && chown 1000 /data/f"]);
    assert_eq!(
        user.ok(&["run", "--rm", "-v", "rlvol:/data", "bb", "stat", "-c", "%u %n", "/data/f"]),
        "1000 /data/f\n"
    );

    // Limits: podman's warning, and the container runs.
    let o = user.wharf(&["run", "--rm", "-m", "64m", "bb", "true"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Resource limits are not supported"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The runtime binaries run rootless too (their own rootless modes).
    for rt in ["runc", "crun"] {
        if Command::new(rt).arg("--version").output().is_ok_and(|o| o.status.success()) {
            let out = user.ok(&["run", "--rm", "--runtime", rt, "bb", "sh", "-c", "id -u; ip route | head -1"]);
            assert!(out.starts_with("0\ndefault via "), "{rt}: {out}");
        }
    }

    // Stop, remove, and nothing is left.
    user.ok(&["stop", "-t", "1", "web"]);
    user.ok(&["rm", "web"]);
    user.ok(&["network", "rm", "rlnet"]);
    user.ok(&["rmi", "built"]);
    assert!(common::http_get(&format!("127.0.0.1:{port}")).is_none());
    let check = user.ok(&["system", "check"]);
    assert!(check.contains("is consistent"), "{check}");
    assert!(user.ok(&["info"]).contains("\n  rootless\n"));
}

#[test]
fn an_ordinary_user_gains_nothing_the_host_would_not_give() {
    if !runnable() {
        return;
    }
    let Some(uid) = ranged_user("wharf-rl1") else { return };
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let user = User::new(dir.path(), uid);
    user.ok(&["import", "-c", "ENV PATH=/bin", tar.to_str().expect("utf8"), "bb"]);

    // Container root cannot write a root-owned host file bound into it.
    let secret = dir.path().join("root-owned");
    std::fs::write(&secret, "root's\n").expect("write");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let bind = format!("{}:/mnt/f", secret.display());
    let o = user.wharf(&["run", "--rm", "-v", &bind, "bb", "sh", "-c", "echo owned > /mnt/f"]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(&secret).expect("read"), "root's\n");
    // It is nobody there: the host's root is not in the map.
    assert_eq!(user.ok(&["run", "--rm", "-v", &bind, "bb", "stat", "-c", "%u", "/mnt/f"]), "65534\n");

    // A setuid-root binary in the image gives the container's root (the
    // user), not the host's: it cannot read a root-only host file.
    let shadow = dir.path().join("root-only");
    std::fs::write(&shadow, "secret\n").expect("write");
    std::fs::set_permissions(&shadow, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let bind = format!("{}:/mnt/s", shadow.display());
    let o = user.wharf(&["run", "--rm", "--user", "1000", "-v", &bind, "bb", "suid-probe", "/mnt/s"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("0\n") && !out.contains("secret"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("Permission denied"), "{}", String::from_utf8_lossy(&o.stderr));

    // --privileged still gives nothing beyond the user's namespace.
    let o = user.wharf(&["run", "--rm", "--privileged", "bb", "sh", "-c", "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda"]);
    assert!(!o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn two_ranged_users_side_by_side_see_only_their_own() {
    if !runnable() {
        return;
    }
    let (Some(a), Some(b)) = (ranged_user("wharf-rl1"), ranged_user("wharf-rl2")) else { return };
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let (ua, ub) = (User::new(dir.path(), a), User::new(dir.path(), b));
    for u in [&ua, &ub] {
        u.ok(&["import", "-c", "ENV PATH=/bin", tar.to_str().expect("utf8"), "bb"]);
    }
    ua.ok(&["run", "-d", "--name", "only-a", "bb", "sleep", "60"]);
    ub.ok(&["run", "-d", "--name", "only-b", "bb", "sleep", "60"]);
    assert_eq!(ua.ok(&["ps", "--format", "{{.Names}}"]), "only-a\n");
    assert_eq!(ub.ok(&["ps", "--format", "{{.Names}}"]), "only-b\n");
    // b can neither signal nor read a's container, nor a's store.
    let o = ub.wharf(&["--root", ua.store().to_str().expect("utf8"), "ps"]);
    assert!(!o.status.success());
    let a_pid = ua.ok(&["inspect", "-f", "{{.State.Pid}}", "only-a"]);
    // (b's container sees every process with --pid host, and may signal
    // none of a's.)
    let o = ub.wharf(&["run", "--rm", "--pid", "host", "bb", "kill", "-0", a_pid.trim()]);
    assert!(!o.status.success(), "b signalled a's container");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = ub.wharf(&["run", "--rm", "--pid", "host", "bb", "kill", "-0", "1"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Their namespaces map different ranges.
    assert_ne!(subuid_start("wharf-rl1"), subuid_start("wharf-rl2"));
}

#[test]
fn fuse_overlayfs_serves_when_asked() {
    if !runnable() || runtime::rootfs::fuse_overlayfs().is_none() {
        return;
    }
    let Some(uid) = ranged_user("wharf-rl2") else { return };
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let user = User::new(dir.path(), uid);
    let fuse = [("WHARF_OVERLAY", "fuse-overlayfs")];
    let ok = |args: &[&str]| ok(user.wharf_with(&fuse, args));
    ok(&["import", "-c", "ENV PATH=/bin", tar.to_str().expect("utf8"), "bb"]);
    assert!(ok(&["info"]).contains("Storage Driver: fuse-overlayfs\n"));
    ok(&["run", "-d", "--name", "fo", "bb", "sleep", "60"]);
    let root = ok(&["exec", "fo", "sh", "-c", "grep ' / ' /proc/self/mounts | cut -d' ' -f3"]);
    assert_eq!(root, "fuse.fuse-overlayfs\n");
    // /home made again: opaque, its image files gone.
    let script = "rm /bin/uname && mkdir /d1 && touch /d1/x && rm -r /home && mkdir /home && echo x > /home/only";
    ok(&["exec", "fo", "/bin/sh", "-c", script]);
    let diff = ok(&["diff", "fo"]);
    for line in ["C /bin", "D /bin/uname", "A /d1", "A /d1/x", "C /home", "A /home/only"] {
        assert!(diff.lines().any(|l| l == line), "{line} in:\n{diff}");
    }
    assert!(!diff.contains(".wh."), "{diff}");
    ok(&["commit", "fo", "fo-img"]);
    ok(&["rm", "-f", "fo"]);
    let look = ["run", "--rm", "--network", "none", "fo-img", "sh", "-c", "ls /d1; ls -A /home; ls /bin/uname"];
    let seen = user.wharf_with(&fuse, &look);
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "x\nonly\n");
    assert!(String::from_utf8_lossy(&seen.stderr).contains("/bin/uname: No such file"));
    // The same image with the kernel's overlay.
    let seen = user.wharf(&look);
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "x\nonly\n");

    // A container whose monitor and process were killed: system check
    // finds it, --repair ends it and its fuse mount.
    ok(&["run", "-d", "--name", "killed", "bb", "sleep", "60"]);
    let pid: i32 = ok(&["inspect", "-f", "{{.State.Pid}}", "killed"]).trim().parse().expect("pid");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let monitor: i32 =
        stat.rsplit_once(')').expect("stat").1.split_whitespace().nth(1).expect("ppid").parse().expect("ppid");
    for p in [monitor, pid] {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(p).expect("pid"),
            rustix::process::Signal::KILL,
        );
    }
    let o = user.wharf_with(&fuse, &["system", "check"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("recorded running but its processes are gone"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    ok(&["system", "check", "--repair"]);
    assert!(ok(&["system", "check"]).contains("is consistent"));
    let pause = std::fs::read_to_string(user.run.join("wharf/pause.pid")).expect("pause.pid");
    let mounts = std::fs::read_to_string(format!("/proc/{}/mounts", pause.trim())).expect("mounts");
    assert!(
        common::eventually(|| {
            let mounts = std::fs::read_to_string(format!("/proc/{}/mounts", pause.trim())).ok()?;
            (!mounts.contains("fuse-overlayfs")).then_some(())
        })
        .is_some(),
        "{mounts}"
    );
}

#[test]
fn the_engine_api_serves_an_ordinary_user() {
    if !runnable() || Command::new("docker").arg("--version").output().is_err() {
        return;
    }
    let Some(uid) = ranged_user("wharf-rl2") else { return };
    let dir = shared_tempdir();
    let tar = rootfs_tar(dir.path());
    let user = User::new(dir.path(), uid);
    user.ok(&["import", "-c", "ENV PATH=/bin", tar.to_str().expect("utf8"), "bb"]);
    let sock = user.run.join("wharf/wharf.sock");
    let mut service = Command::new("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string(), "--clear-groups", env!("CARGO_BIN_EXE_wharf")])
        .args(["system", "service", "--time", "0"])
        .env_clear()
        .env("HOME", &user.home)
        .env("XDG_RUNTIME_DIR", &user.run)
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .expect("system service");
    assert!(common::eventually(|| sock.exists().then_some(())).is_some(), "no socket at {}", sock.display());
    let host = format!("unix://{}", sock.display());
    let docker = |args: &[&str]| Command::new("docker").arg("-H").arg(&host).args(args).output().expect("docker");
    let o = docker(&["run", "--rm", "bb", "sh", "-c", "echo via the API; cat /proc/self/uid_map | head -1"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let _ = service.kill();
    let _ = service.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["via", "the", "API", "0", &uid.to_string(), "1"], "{out}");
}
