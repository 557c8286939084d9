//! wharf as an ordinary user (the first part of rootless operation): its
//! own store, runtime and configuration directories from the XDG base
//! directories, `info` saying so, and two users sharing nothing. Runs the
//! real binary under other UIDs with `setpriv` (util-linux), as root.

use std::path::Path;
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
    let dir = shared_tempdir();
    let (a, b) = (home_of(dir.path(), 65534), home_of(dir.path(), 65533));
    ok(as_user(65534, &a, &[], &["volume", "create", "only-a"]));
    assert_eq!(ok(as_user(65534, &a, &[], &["volume", "ls", "-q"])), "only-a\n");
    assert_eq!(ok(as_user(65533, &b, &[], &["volume", "ls", "-q"])), "");
    // The other user's store is not theirs to read.
    let o = as_user(65533, &b, &[], &["--root", a.join(".local/share/wharf").to_str().expect("utf8"), "volume", "ls"]);
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn what_needs_a_user_namespace_is_refused_in_words() {
    if !runnable() {
        return;
    }
    let dir = shared_tempdir();
    let home = home_of(dir.path(), 65534);
    // A rootfs of root's files, readable by the user.
    let tar = dir.path().join("rootfs.tar");
    let ok_tar = Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg("/bin").arg("busybox").status().expect("tar");
    assert!(ok_tar.success());
    std::fs::set_permissions(&tar, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    for (args, what) in [
        (vec!["import", tar.to_str().expect("utf8"), "x"], "importing an image"),
        (vec!["load", "-i", tar.to_str().expect("utf8")], "loading images"),
    ] {
        let o = as_user(65534, &home, &[], &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&format!("{what} as an ordinary user needs a user namespace")), "{err}");
    }
    // Nothing half-made was left.
    assert_eq!(ok(as_user(65534, &home, &[], &["images", "-q"])), "");
}
