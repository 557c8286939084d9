//! Other platforms: an arm64 image (Debian's busybox-static for arm64)
//! run on this amd64 host under qemu-user-static, which wharf registers
//! with binfmt_misc itself; single- and two-platform builds (RUN under
//! emulation, TARGET* args); the two-platform index pushed to a local
//! registry and read back by skopeo, podman and a fresh wharf store.

mod common;
use std::path::Path;
use std::process::Command;

use common::registry::{have_registry, Registry};
use common::Env;

/// The arm64 busybox scripts/test.sh downloads; None (the test skipped)
/// when it is not there and not required.
fn arm64_busybox() -> Option<String> {
    let path = std::env::var("WHARF_ARM64_BUSYBOX").unwrap_or("/var/cache/wharf-tests/busybox-arm64".into());
    let ok = Path::new(&path).exists() && Path::new("/usr/bin/qemu-aarch64-static").exists();
    assert!(ok || std::env::var_os("WHARF_REQUIRE_PEERS").is_none(), "arm64 busybox and qemu-user-static are required");
    ok.then_some(path)
}

/// `localhost/bb-arm64` (imported for linux/arm64) and
/// `localhost/bb-amd64` (the host's busybox) in `env`.
fn with_both_bases(env: &Env, busybox: &str) {
    let rootfs = env.path().join("arm64-rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "uname", "cat", "echo", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    let tar = env.path().join("arm64.tar");
    assert!(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status().expect("tar").success());
    let tar = tar.to_str().expect("utf8");
    env.ok(&["import", "--platform", "linux/arm64", "-c", "ENV PATH=/bin", tar, "localhost/bb-arm64"]);
    env.ok(&["tag", "localhost/bb", "localhost/bb-amd64"]);
}

fn context(env: &Env, dockerfile: &str) -> String {
    let dir = env.path().join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
    dir.display().to_string()
}

const TWO_PLATFORMS: &str = "ARG TARGETARCH\n\
FROM localhost/bb-$TARGETARCH\n\
ARG TARGETPLATFORM\n\
RUN uname -m > /arch && echo $TARGETPLATFORM > /platform\n";

#[test]
fn an_arm64_image_runs_and_builds_under_emulation() {
    let (Some(env), Some(busybox)) = (Env::new(), arm64_busybox()) else { return };
    with_both_bases(&env, &busybox);
    let (code, out, err) = env.out(&["run", "--rm", "localhost/bb-arm64", "uname", "-m"]);
    assert_eq!((code, out.as_str()), (0, "aarch64\n"), "{err}");
    assert!(err.contains("does not match the detected host platform"), "{err}");
    // Asked for, the platform is no surprise: no warning.
    let (_, _, err) = env.out(&["run", "--rm", "--platform", "linux/arm64", "localhost/bb-arm64", "true"]);
    assert!(!err.contains("WARNING"), "{err}");

    let ctx = context(&env, TWO_PLATFORMS);
    let (code, _, err) = env.out(&["build", "-q", "--platform", "linux/arm64", "-t", "one", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "one"]), "linux/arm64\n");
    assert_eq!(
        env.ok(&["run", "--rm", "--platform", "linux/arm64", "one", "cat", "/arch", "/platform"]),
        "aarch64\nlinux/arm64\n"
    );

    // Cross-building: a stage FROM --platform=$BUILDPLATFORM runs natively
    // for the target's.
    let ctx = context(
        &env,
        "ARG TARGETARCH\n\
         FROM --platform=$BUILDPLATFORM localhost/bb-amd64 AS build\n\
         ARG TARGETARCH\n\
         RUN uname -m > /build-arch && echo $TARGETARCH > /target\n\
         FROM localhost/bb-$TARGETARCH\n\
         COPY --from=build /build-arch /target /\n",
    );
    env.ok(&["build", "-q", "--platform", "linux/arm64", "-t", "cross", &ctx]);
    assert_eq!(
        env.ok(&["run", "--rm", "--platform", "linux/arm64", "cross", "cat", "/build-arch", "/target"]),
        "x86_64\narm64\n"
    );

    // A base of another platform than the stage's is refused in words.
    let ctx = context(&env, "FROM localhost/bb-amd64\nRUN true\n");
    let (code, _, err) = env.out(&["build", "-q", "--platform", "linux/arm64", &ctx]);
    assert_eq!(code, 1);
    assert!(err.contains("is linux/amd64, the stage is for linux/arm64"), "{err}");
    let (code, _, err) = env.out(&["build", "-q", "--platform", "linux/sparc", &ctx]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown architecture"), "{err}");
}

#[test]
fn a_two_platform_build_pushes_an_index_every_tool_reads() {
    let (Some(env), Some(busybox)) = (Env::new(), arm64_busybox()) else { return };
    if !have_registry() {
        return;
    }
    with_both_bases(&env, &busybox);
    let reg = Registry::start(None);
    let name = format!("{}/app/multi:1", reg.addr());
    let ctx = context(&env, TWO_PLATFORMS);
    let (code, _, err) = env.out(&[
        "build",
        "--progress",
        "plain",
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        "-t",
        &name,
        &ctx,
    ]);
    assert_eq!(code, 0, "{err}");
    // The local tag is the host's platform's image.
    assert_eq!(env.ok(&["run", "--rm", &name, "cat", "/arch"]), "x86_64\n");

    let skopeo = |args: &[&str]| {
        let o = Command::new("skopeo").args(args).output().expect("skopeo");
        assert!(o.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("json")
    };
    let index = skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{name}")]);
    let arches: Vec<&str> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    let arm = skopeo(&["inspect", "--tls-verify=false", "--override-arch", "arm64", &format!("docker://{name}")]);
    assert_eq!(arm["Architecture"], "arm64");

    let podman = Command::new("podman")
        .args(["pull", "-q", "--tls-verify=false", "--arch", "arm64", &name])
        .output()
        .expect("podman");
    assert!(podman.status.success(), "{}", String::from_utf8_lossy(&podman.stderr));
    let id = String::from_utf8_lossy(&podman.stdout).trim().to_owned();
    let arch =
        Command::new("podman").args(["image", "inspect", "-f", "{{.Architecture}}", &id]).output().expect("podman");
    let _ = Command::new("podman").args(["rmi", "-f", &id]).output();
    assert_eq!(String::from_utf8_lossy(&arch.stdout).trim(), "arm64");

    // The name stands for both platforms locally too: save keeps them
    // (a nested index), load gives them back.
    let tar = env.path().join("multi.tar");
    env.ok(&["save", "-o", tar.to_str().expect("utf8"), &name]);
    let loaded = Env::new().expect("runc");
    loaded.ok(&["load", "-q", "-i", tar.to_str().expect("utf8")]);
    assert_eq!(loaded.ok(&["run", "--rm", "--platform", "linux/arm64", &name, "cat", "/arch"]), "aarch64\n");
    assert_eq!(loaded.ok(&["run", "--rm", &name, "cat", "/arch"]), "x86_64\n");
    let o = Command::new("skopeo")
        .args(["inspect", "--override-arch", "arm64", &format!("docker-archive:{}", tar.display())])
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Another store pulls either platform from the index.
    let fresh = Env::new().expect("runc");
    fresh.ok(&["pull", "-q", "--platform", "linux/arm64", &name]);
    assert_eq!(
        fresh.ok(&["run", "--rm", "--platform", "linux/arm64", &name, "cat", "/arch", "/platform"]),
        "aarch64\nlinux/arm64\n"
    );
    fresh.ok(&["pull", "-q", &name]);
    assert_eq!(fresh.ok(&["run", "--rm", &name, "cat", "/arch", "/platform"]), "x86_64\nlinux/amd64\n");
    // The pulled index is kept: pushed back under another tag of the
    // repository, it is whole.
    let inspected: serde_json::Value = serde_json::from_str(&fresh.ok(&["manifest", "inspect", &name])).expect("json");
    assert_eq!(inspected["manifests"].as_array().map(Vec::len), Some(2));
    let again = format!("{}/app/multi:2", reg.addr());
    fresh.ok(&["manifest", "push", "--insecure", &name, &again]);
    let index = skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{again}")]);
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(2));
}

#[test]
fn manifest_lists_are_made_from_local_images_built_from_and_pushed() {
    let (Some(env), Some(busybox)) = (Env::new(), arm64_busybox()) else { return };
    if !have_registry() {
        return;
    }
    with_both_bases(&env, &busybox);
    let list = "localhost/base:multi";
    assert_eq!(
        env.ok(&["manifest", "create", list, "localhost/bb-amd64", "localhost/bb-arm64"]),
        format!("Created manifest list {list}\n")
    );
    let (code, _, err) = env.out(&["manifest", "create", list, "localhost/bb-amd64"]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("refusing to amend an existing manifest list with no --amend flag: {list}\n"));
    env.ok(&["manifest", "annotate", "--variant", "v8", list, "localhost/bb-arm64"]);
    let index: serde_json::Value = serde_json::from_str(&env.ok(&["manifest", "inspect", list])).expect("json");
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["architecture"].as_str().unwrap_or(""),
                m["platform"]["variant"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(platforms, ["amd64/", "arm64/v8"]);

    // FROM a list, and run of a list: its entry for the platform.
    let ctx = context(&env, &format!("FROM {list}\nRUN uname -m > /arch\n"));
    env.ok(&["build", "-q", "--platform", "linux/arm64", "-t", "from-list", &ctx]);
    assert_eq!(env.ok(&["run", "--rm", "--platform", "linux/arm64", "from-list", "cat", "/arch"]), "aarch64\n");
    assert_eq!(env.ok(&["run", "--rm", "--platform", "linux/arm64", list, "uname", "-m"]), "aarch64\n");
    assert_eq!(env.ok(&["run", "--rm", list, "uname", "-m"]), "x86_64\n");

    // An image only a list names is no dangling image to prune.
    let arm = env.ok(&["image", "inspect", "-f", "{{.Id}}", "localhost/bb-arm64"]).trim().to_owned();
    env.ok(&["manifest", "create", "localhost/only:arm", &arm]);
    env.ok(&["rmi", "localhost/bb-arm64"]);
    env.ok(&["image", "prune", "-f"]);
    assert_eq!(env.ok(&["image", "inspect", "-f", "{{.Architecture}}", &arm]), "arm64\n");

    let reg = Registry::start(None);
    let dest = format!("{}/base/multi:1", reg.addr());
    let digest = env.ok(&["manifest", "push", "--insecure", list, &dest]);
    assert!(digest.starts_with("sha256:"), "{digest}");
    let o = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            "arm64",
            "--override-variant",
            "v8",
            &format!("docker://{dest}"),
        ])
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arm: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(arm["Architecture"], "arm64");
    let remote: serde_json::Value =
        serde_json::from_str(&env.ok(&["manifest", "inspect", "--insecure", &dest])).expect("json");
    assert_eq!(remote["manifests"].as_array().map(Vec::len), Some(2));
    env.ok(&["manifest", "rm", list]);
    let (code, _, err) = env.out(&["manifest", "rm", list]);
    assert_eq!((code, err.trim()), (1, format!("No such manifest: {list}").as_str()));
}
