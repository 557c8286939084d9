//! The image commands against the real binary and a temporary `--root`:
//! import, images, inspect, history, tag, rmi, save/load round trips,
//! interop with podman and skopeo, `system check`, and crash safety.
//! Runs as root (layers carry root-owned files and xattrs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn wharf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wharf")).arg("--root").arg(self.root()).args(args).output().expect("run wharf")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.wharf(args);
        assert!(o.status.success(), "wharf {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn err(&self, args: &[&str]) -> String {
        let o = self.wharf(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "wharf {args:?} should fail with 1; stdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

/// A busybox rootfs tarball (Debian's busybox-static), plus `extra` files.
fn rootfs_tar(env: &Env, name: &str, extra: &[(&str, &[u8])]) -> PathBuf {
    let dir = env.path(&format!("{name}-rootfs"));
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .copied()
        .expect("busybox-static installed (scripts/test.sh installs it)");
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for a in ["sh", "ls", "cat", "echo", "true"] {
        let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(a));
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    for (p, data) in extra {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    let tar = env.path(&format!("{name}.tar"));
    let st = Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tar).arg(".").status().unwrap();
    assert!(st.success());
    tar
}

fn import(env: &Env, tar: &Path, name: &str) -> String {
    env.ok(&["import", tar.to_str().unwrap(), name]).trim().to_owned()
}

fn require_peers() -> bool {
    let have = |b: &str| {
        Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    let ok = have("podman") && have("skopeo");
    if !ok && std::env::var_os("WHARF_REQUIRE_PEERS").is_some() {
        panic!("podman and skopeo are required (scripts/test.sh installs them)");
    }
    ok
}

#[test]
fn import_list_inspect_history() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let id = env.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=1",
        "-c",
        "EXPOSE 80",
        tar.to_str().unwrap(),
        "localhost/busybox:1.0",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let ls = env.ok(&["images"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY") && lines[0].contains("IMAGE ID") && lines[0].contains("SIZE"), "{ls}");
    assert!(
        lines[1].starts_with("localhost/busybox") && lines[1].contains("1.0") && lines[1].contains(&id[7..19]),
        "{ls}"
    );
    assert_eq!(env.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "localhost/busybox:1.0"])).unwrap();
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["RepoTags"][0], "localhost/busybox:1.0");
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(v[0]["Config"]["Env"][0], "A=1");
    assert!(v[0]["Config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(v[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(env.ok(&["inspect", "--format", "{{.Config.Cmd}}", &id[7..15]]).trim(), "[sh]");
    let h = env.ok(&["history", "localhost/busybox:1.0"]);
    assert!(h.contains("Imported from") && h.lines().count() == 2, "{h}");
    let j = env.ok(&["images", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(row["Repository"], "localhost/busybox");
    assert!(env.err(&["image", "inspect", "nope"]).contains("No such image: nope"));
    assert!(env.err(&["import", "-c", "RUN true", tar.to_str().unwrap()]).contains("not a valid change command"));
}

#[test]
fn tag_and_rmi_follow_docker() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let id = import(&env, &tar, "one");
    env.ok(&["tag", "one", "two:v2"]);
    env.ok(&["tag", &id[7..19], "localhost/three"]);
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).lines().count(), 3);
    assert!(env.ok(&["images", "--filter", "reference=tw*"]).contains("two"));
    let labelled = env.ok(&["import", "-c", "LABEL tier=web", tar.to_str().unwrap(), "lab:1"]).trim().to_owned();
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "--filter", "label=tier=web"]).trim(), labelled);
    assert_eq!(env.ok(&["images", "-q", "--filter", "label=tier=db"]), "");
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "--filter", "since=one"]).trim(), labelled);
    assert!(env.ok(&["images", "-q", "--filter", "before=lab:1"]).contains(&id[7..19]));
    assert!(env.err(&["images", "--filter", "colour=red"]).contains("Invalid filter 'colour'"));
    env.ok(&["rmi", "lab:1"]);
    // By ID with several names: refused without -f.
    assert!(env.err(&["rmi", &id[7..19]]).contains("referenced in multiple repositories"));
    // By name: untags only.
    assert_eq!(env.ok(&["rmi", "two:v2"]).trim(), "Untagged: two:v2");
    assert_eq!(env.ok(&["rmi", "one"]).trim(), "Untagged: one:latest");
    assert!(env.err(&["rmi", "one"]).contains("No such image: one:latest"), "named as docker does");
    let out = env.ok(&["rmi", "localhost/three"]);
    assert!(out.contains("Untagged: localhost/three:latest") && out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(env.err(&["rmi", "one"]).contains("No such image"));
    // The layer went with the last image that used it.
    assert_eq!(std::fs::read_dir(env.root().join("snapshots")).unwrap().count(), 0);
    assert!(env.ok(&["system", "check"]).contains("consistent"));
    // -f deletes an image with several names at once.
    let id = import(&env, &tar, "a");
    env.ok(&["tag", "a", "b"]);
    let out = env.ok(&["rmi", "-f", &id[7..19]]);
    assert!(
        out.contains("Untagged: a:latest") && out.contains("Untagged: b:latest") && out.contains("Deleted:"),
        "{out}"
    );
}

#[test]
fn save_load_round_trip_is_byte_stable() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[("etc/motd", b"hello\n")]);
    let id = import(&env, &tar, "localhost/rt:1");
    let a = env.path("a.tar");
    let b = env.path("b.tar");
    env.ok(&["save", "-o", a.to_str().unwrap(), "localhost/rt:1"]);
    env.ok(&["save", "-o", b.to_str().unwrap(), "localhost/rt:1"]);
    let digest = |p: &Path| image::Digest::of(&std::fs::read(p).unwrap());
    assert_eq!(digest(&a), digest(&b), "saving twice gives the same bytes");
    let other = Env::new();
    let out = other.ok(&["load", "-i", a.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: localhost/rt:1");
    assert_eq!(other.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    // Saving the loaded image gives the same archive again.
    let c = other.path("c.tar");
    other.ok(&["save", "-o", c.to_str().unwrap(), "localhost/rt:1"]);
    assert_eq!(digest(&a), digest(&c), "the loaded image saves to the same archive");
    assert!(other.ok(&["system", "check"]).contains("consistent"));
}

#[test]
fn interop_with_podman_and_skopeo() {
    if !require_peers() {
        eprintln!("skipping: podman/skopeo not installed");
        return;
    }
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let id = import(&env, &tar, "localhost/interop:1");
    let saved = env.path("wharf.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), "localhost/interop:1"]);
    let proot = env.path("podman-root");
    let prun = env.path("podman-run");
    let podman = |args: &[&str]| {
        let o = Command::new("podman")
            .arg("--root")
            .arg(&proot)
            .arg("--runroot")
            .arg(&prun)
            .arg("--storage-driver=vfs")
            .args(args)
            .output()
            .expect("podman");
        assert!(o.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    podman(&["load", "-i", saved.to_str().unwrap()]);
    let pid = podman(&["images", "--no-trunc", "--format", "{{.ID}}", "localhost/interop:1"]);
    assert_eq!(pid.trim().trim_start_matches("sha256:"), &id[7..], "podman sees the same image ID");
    // podman save → wharf load.
    let psaved = env.path("podman.tar");
    podman(&["save", "-o", psaved.to_str().unwrap(), "localhost/interop:1"]);
    let other = Env::new();
    other.ok(&["load", "-i", psaved.to_str().unwrap()]);
    assert_eq!(other.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    // skopeo: wharf's archive → OCI archive → wharf load.
    let oci = env.path("oci.tar");
    let st = Command::new("skopeo")
        .args([
            "copy",
            &format!("docker-archive:{}", saved.display()),
            &format!("oci-archive:{}:localhost/from-skopeo:2", oci.display()),
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "skopeo: {}", String::from_utf8_lossy(&st.stderr));
    let third = Env::new();
    assert_eq!(third.ok(&["load", "-i", oci.to_str().unwrap()]).trim(), "Loaded image: localhost/from-skopeo:2");
    let v: serde_json::Value =
        serde_json::from_str(&third.ok(&["image", "inspect", "localhost/from-skopeo:2"])).unwrap();
    assert_eq!(
        v[0]["RootFS"]["Layers"][0],
        serde_json::from_str::<serde_json::Value>(&env.ok(&["image", "inspect", &id])).unwrap()[0]["RootFS"]["Layers"]
            [0]
    );
    // skopeo's own docker-archive → wharf load.
    let sk = env.path("skopeo-docker.tar");
    let st = Command::new("skopeo")
        .args([
            "copy",
            &format!("docker-archive:{}", saved.display()),
            &format!("docker-archive:{}:localhost/sk-docker:3", sk.display()),
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "skopeo: {}", String::from_utf8_lossy(&st.stderr));
    let fourth = Env::new();
    assert_eq!(fourth.ok(&["load", "-i", sk.to_str().unwrap()]).trim(), "Loaded image: localhost/sk-docker:3");
    assert_eq!(fourth.ok(&["images", "-q", "--no-trunc"]).trim(), id, "skopeo's docker-archive keeps the config");
    // And skopeo reads wharf's docker-archive as a docker-archive.
    let st = Command::new("skopeo").args(["inspect", &format!("docker-archive:{}", saved.display())]).output().unwrap();
    assert!(st.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&st.stderr));
}

#[test]
fn hostile_import_is_refused_and_touches_nothing() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let name = b"../../escaped-by-import";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let evil = env.path("evil.tar");
    std::fs::write(&evil, b.into_inner().unwrap()).unwrap();
    let e = env.err(&["import", evil.to_str().unwrap(), "evil"]);
    assert!(e.contains("outside the root"), "{e}");
    assert!(!env.dir.path().join("escaped-by-import").exists());
    assert!(!env.root().join("escaped-by-import").exists());
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(env.ok(&["system", "check"]).contains("consistent"), "a failed import leaves nothing behind");
}

#[test]
fn check_finds_and_repairs_damage() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let id = import(&env, &tar, "x");
    env.ok(&["save", "-o", env.path("x.tar").to_str().unwrap(), "x"]);
    let other = Env::new();
    other.ok(&["load", "-i", env.path("x.tar").to_str().unwrap()]);
    assert!(other.ok(&["system", "check"]).contains("consistent"));
    // Damage: a stray staging file, an unindexed snapshot, a corrupted blob.
    std::fs::write(other.root().join("tmp/blob-leftover"), b"partial").unwrap();
    std::fs::create_dir_all(other.root().join("snapshots/junk/fs")).unwrap();
    let layer_blob = std::fs::read_dir(other.root().join("content/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with(&id[7..]))
        .expect("the kept layer blob");
    std::fs::write(&layer_blob, b"tampered").unwrap();
    let o = other.wharf(&["system", "check"]);
    assert_eq!(o.status.code(), Some(1));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("orphaned temporary file"), "{report}");
    assert!(report.contains("not in the index"), "{report}");
    assert!(report.contains("does not match its digest"), "{report}");
    other.ok(&["system", "check", "--repair"]);
    assert!(other.ok(&["system", "check"]).contains("consistent"));
    // The image still works: save falls back to the snapshot's canonical tar.
    assert!(other.ok(&["images", "-q"]).contains(&id[7..19]));
}

#[test]
fn concurrent_imports_share_one_root() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[("big", &vec![1u8; 8 << 20])]);
    let spawn = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(env.root())
            .args(["import", tar.to_str().unwrap(), name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..4).map(|i| spawn(&format!("c{i}"))).collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        })
        .collect();
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}"]).lines().count(), 4);
    // Same content: one snapshot, shared.
    assert_eq!(std::fs::read_dir(env.root().join("snapshots")).unwrap().count(), 1);
    assert!(ids.iter().all(|i| i.starts_with("sha256:")));
    assert!(env.ok(&["system", "check"]).contains("consistent"));
}

/// Problems a crash may legitimately leave (cleaned by `check --repair`):
/// anything else means a later command could trip over it.
fn benign(line: &str) -> bool {
    ["orphaned temporary file", "not in the index", "not used by any image", "is not referenced", "problem(s) found"]
        .iter()
        .any(|b| line.contains(b))
}

#[test]
fn kill_9_during_import_leaves_a_usable_store() {
    let env = Env::new();
    let mut extra: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..400 {
        extra.push((format!("data/d{}/f{i}", i % 20), vec![(i % 251) as u8; 64 << 10]));
    }
    let refs: Vec<(&str, &[u8])> = extra.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    let tar = rootfs_tar(&env, "big", &refs);
    let cases: u64 = std::env::var("WHARF_CRASH_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut seed: u64 = 0x1234_5678;
    for round in 0..cases {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(5 + seed % 150);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(env.root())
            .args(["import", tar.to_str().unwrap(), &format!("crash:{round}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let o = env.wharf(&["system", "check"]);
        let report = String::from_utf8_lossy(&o.stdout).into_owned();
        for line in report.lines().filter(|l| !l.contains("consistent")) {
            assert!(benign(line), "round {round} (killed after {delay:?}): {line}\n{report}");
        }
        // The next import of the same tarball succeeds and is listed.
        import(&env, &tar, &format!("after:{round}"));
        assert!(env.ok(&["images"]).contains(&format!("{round}")));
    }
    env.ok(&["system", "check", "--repair"]);
    assert!(env.ok(&["system", "check"]).contains("consistent"));
}

#[test]
fn oci_formats_compress_once_and_round_trip() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let id = import(&env, &tar, "localhost/oci:1");
    let blobs = || std::fs::read_dir(env.root().join("content/blobs/sha256")).unwrap().count();
    let before = blobs();
    let out = env.path("o.tar");
    env.ok(&["save", "--format", "oci-archive", "-o", out.to_str().unwrap(), "localhost/oci:1"]);
    assert_eq!(blobs(), before + 1, "the gzip layer is kept in the store");
    let first = std::fs::read(&out).unwrap();
    env.ok(&["save", "--format", "oci-archive", "-o", out.to_str().unwrap(), "localhost/oci:1"]);
    assert_eq!(blobs(), before + 1, "and reused, not made again");
    assert_eq!(image::Digest::of(&first), image::Digest::of(&std::fs::read(&out).unwrap()));
    let dir = env.path("odir");
    env.ok(&["save", "--format", "oci-dir", "--compression", "zstd", "-o", dir.to_str().unwrap(), "localhost/oci:1"]);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(m)).unwrap()).unwrap();
    assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    let other = Env::new();
    other.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(other.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    assert!(env.ok(&["system", "check"]).contains("consistent"));
    if require_peers() {
        let st = Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", out.display())]).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let st = Command::new("skopeo").args(["inspect", &format!("oci:{}", dir.display())]).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
}

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("WHARF_REQUIRE_DOCKER").is_some() {
        panic!("dockerd is required (scripts/test.sh starts it)");
    }
    ok
}

#[test]
fn interop_with_docker() {
    if !docker_available() {
        eprintln!("skipping: no docker daemon");
        return;
    }
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[("etc/motd", b"docker interop\n")]);
    let name = format!("localhost/wharf-docker-interop:{}", std::process::id());
    let id = import(&env, &tar, &name);
    let saved = env.path("wharf.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), &name]);
    let docker = |args: &[&str]| {
        let o = Command::new("docker").args(args).output().expect("docker");
        assert!(o.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    docker(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Id}}", &name]).trim(), id, "docker sees the same image ID");
    let dsaved = env.path("docker.tar");
    docker(&["save", "-o", dsaved.to_str().unwrap(), &name]);
    docker(&["rmi", &name]);
    let other = Env::new();
    let out = other.ok(&["load", "-i", dsaved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: localhost/wharf-docker-interop"), "{out}");
    assert_eq!(other.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    assert!(other.ok(&["system", "check"]).contains("consistent"));
}

#[test]
fn short_ids_resolve_and_ambiguity_is_an_error() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    // Pigeonhole: among 17 images two share a first hex digit.
    let mut by_first: std::collections::HashMap<char, Vec<String>> = std::collections::HashMap::new();
    for i in 0..17 {
        let id = env.ok(&["import", "-c", &format!("LABEL n={i}"), tar.to_str().unwrap()]).trim().to_owned();
        let first = id.chars().nth(7).unwrap();
        by_first.entry(first).or_default().push(id);
        if by_first[&first].len() == 2 {
            break;
        }
    }
    let (first, ids) = by_first.iter().find(|(_, v)| v.len() == 2).expect("two IDs share a first digit");
    let err = env.err(&["image", "inspect", &first.to_string()]);
    assert!(err.contains("No such image") || err.contains("multiple IDs"), "{err}");
    let o = env.wharf(&["rmi", &first.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("multiple IDs found with provided prefix"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A longer, unique prefix resolves; so do sha256:-prefixed forms.
    let id = &ids[0];
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &id[7..19]])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", &id[..19]])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
}

#[test]
fn prune_removes_dangling_images_and_honours_until() {
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let kept = import(&env, &tar, "keep:1");
    let dangling = env.ok(&["import", "-c", "LABEL x=1", tar.to_str().unwrap()]).trim().to_owned();
    // Nothing is older than a day: until=24h keeps everything.
    env.ok(&["image", "prune", "-f", "--filter", "until=24h"]);
    assert!(env.ok(&["images", "-q", "--no-trunc"]).contains(&dangling));
    // A label the image lacks keeps it; an unknown filter is refused.
    env.ok(&["image", "prune", "-f", "--filter", "label=y"]);
    assert!(env.ok(&["images", "-q", "--no-trunc"]).contains(&dangling));
    assert!(env.err(&["image", "prune", "-f", "--filter", "bogus=1"]).to_lowercase().contains("invalid filter"));
    let out = env.ok(&["system", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")) && out.contains("Total reclaimed space"), "{out}");
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]).trim(), kept, "tagged images stay");
    assert!(env.ok(&["system", "check"]).contains("consistent"));
}

/// `inspect` of a container made with the same flags from the same image
/// shows docker's HostConfig and Config (issue 25): created in both, each
/// field compared as docker's templates print it.
#[test]
fn container_inspect_matches_dockers() {
    if !docker_available() {
        eprintln!("skipping: no docker daemon");
        return;
    }
    let env = Env::new();
    let tar = rootfs_tar(&env, "bb", &[]);
    let image = format!("localhost/wharf-inspect-diff:{}", std::process::id());
    import(&env, &tar, &image);
    let docker = |args: &[&str]| {
        let o = Command::new("docker").args(args).output().expect("docker");
        assert!(o.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    docker(&["import", tar.to_str().expect("a UTF-8 path"), &image]);
    let cases: [&[&str]; 3] = [
        &[],
        &[
            "-P",
            "--read-only",
            "--cap-add",
            "net_admin",
            "--cap-drop",
            "chown",
            "--dns",
            "10.0.0.9",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "h:10.1.2.3",
            "-p",
            "8089:80",
            "-p",
            "127.0.0.1::81/udp",
            "--tmpfs",
            "/t:size=1m",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--init",
            "--shm-size",
            "128m",
            "--group-add",
            "10",
            "--restart",
            "on-failure:3",
            "--log-opt",
            "max-size=1m",
            "-v",
            "/data",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "--domainname",
            "ex.com",
            "-l",
            "k=v",
            "-i",
            "-t",
            "--entrypoint",
            "sh",
        ],
        &["--privileged", "--network", "none", "--ipc", "shareable", "--rm", "-v", "/tmp:/host:ro"],
    ];
    let fields = [
        "HostConfig.Privileged",
        "HostConfig.ReadonlyRootfs",
        "HostConfig.PublishAllPorts",
        "HostConfig.CapAdd",
        "HostConfig.CapDrop",
        "HostConfig.Dns",
        "HostConfig.DnsSearch",
        "HostConfig.DnsOptions",
        "HostConfig.ExtraHosts",
        "HostConfig.PortBindings",
        "HostConfig.Tmpfs",
        "HostConfig.Sysctls",
        "HostConfig.Init",
        "HostConfig.ShmSize",
        "HostConfig.IpcMode",
        "HostConfig.NetworkMode",
        "HostConfig.Binds",
        "HostConfig.GroupAdd",
        "HostConfig.AutoRemove",
        "HostConfig.RestartPolicy",
        "HostConfig.LogConfig",
        "HostConfig.VolumesFrom",
        "HostConfig.Memory",
        "HostConfig.PidMode",
        "Config.Domainname",
        "Config.AttachStdin",
        "Config.AttachStdout",
        "Config.AttachStderr",
        "Config.StdinOnce",
        "Config.OpenStdin",
        "Config.Tty",
        "Config.Volumes",
        "Config.WorkingDir",
        "Config.Env",
        "Config.Cmd",
        "Config.Entrypoint",
        "Config.Labels",
        "Config.OnBuild",
        "Config.User",
    ];
    for (i, flags) in cases.iter().enumerate() {
        let name = format!("inspect-diff-{}-{i}", std::process::id());
        let args: Vec<&str> = [&["create", "--name", &name][..], flags, &[&image, "true"]].concat();
        env.ok(&args);
        docker(&args);
        for f in fields {
            let template = format!("{{{{json .{f}}}}}");
            // Compared as JSON: the order of an object's keys is Go's
            // struct order in docker's, sorted in wharf's templates.
            let parse = |s: String| serde_json::from_str::<serde_json::Value>(s.trim()).expect("JSON");
            let ours = parse(env.ok(&["inspect", "-f", &template, &name]));
            let theirs = parse(docker(&["inspect", "-f", &template, &name]));
            assert_eq!(ours, theirs, "{f} with {flags:?}");
        }
        docker(&["rm", "-f", &name]);
    }
    docker(&["rmi", &image]);
}
