//! `wharf run` in the foreground over an OCI runtime binary (runc until
//! the embedded runtime lands): output, exit codes, docker's 127, flags,
//! isolation seen from inside, cleanup, `rm`. Runs as root.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Self> {
        let have_runc = ["/usr/sbin/runc", "/usr/bin/runc"].iter().any(|p| std::path::Path::new(p).exists());
        if !have_runc {
            assert!(
                std::env::var_os("WHARF_REQUIRE_PEERS").is_none(),
                "runc is required (scripts/test.sh installs it)"
            );
            return None;
        }
        let env = Env { dir: tempfile::tempdir().unwrap() };
        let rootfs = env.dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
        for a in ["sh", "echo", "id", "hostname", "grep", "cat", "pwd", "true", "touch", "sleep", "httpd", "ln"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nwheel:x:10:nobody\nstaff:x:50:root,nobody\nnogroup:x:65534:\n",
        )
        .expect("write");
        let tar = env.dir.path().join("bb.tar");
        assert!(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
        let o = env.wharf(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV GREETING=hi",
            tar.to_str().unwrap(),
            "localhost/bb",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Some(env)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn wharf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wharf")).arg("--root").arg(self.root()).args(args).output().unwrap()
    }

    fn out(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.wharf(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

#[test]
fn runs_in_the_foreground_with_docker_semantics() {
    let Some(env) = Env::new() else { return };
    assert_eq!(env.out(&["run", "--rm", "localhost/bb", "echo", "hello"]), (0, "hello\n".into(), String::new()));
    assert_eq!(env.out(&["run", "--rm", "localhost/bb", "sh", "-c", "exit 3"]).0, 3);
    let (code, _, err) = env.out(&["run", "--rm", "localhost/bb", "nosuchcmd"]);
    assert_eq!(code, 127);
    assert!(err.contains("executable file not found"), "{err}");
    let (code, out, _) = env.out(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "box",
        "localhost/bb",
        "sh",
        "-c",
        "echo $A $GREETING $(pwd) $(id -u) $$ $(hostname)",
    ]);
    assert_eq!((code, out.as_str()), (0, "1 hi /tmp 65534 1 box\n"));
    let (_, out, _) = env.out(&["run", "--rm", "localhost/bb", "grep", "CapEff", "/proc/self/status"]);
    assert!(out.contains("00000000a80425fb"), "docker's default capabilities: {out}");
    let (code, _, err) = env.out(&["run", "--rm", "nosuchimage"]);
    assert_eq!(code, 125, "{err}");
    // --rm leaves nothing behind: no mount, no directory, no record.
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "a mount was left behind");
    assert_eq!(std::fs::read_dir(env.root().join("containers")).unwrap().count(), 0);
}

/// Supplementary groups as docker sets them, in `run` and `exec`.
#[test]
fn supplementary_groups_and_group_add_as_docker() {
    let Some(env) = Env::new() else { return };
    let groups = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["localhost/bb", "grep", "Groups", "/proc/self/status"]);
        let (code, out, err) = env.out(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        out.trim_end().to_owned()
    };
    assert_eq!(groups(&[]), "Groups:\t0 50", "the primary group and the memberships");
    assert_eq!(groups(&["-u", "nobody"]), "Groups:\t10 50 65534");
    assert_eq!(groups(&["-u", "nobody:staff"]), "Groups:\t50", "a given group replaces the memberships");
    assert_eq!(groups(&["--group-add", "wheel", "--group-add", "77"]), "Groups:\t0 10 50 77");
    let (code, _, err) = env.out(&["run", "--rm", "--group-add", "nope", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("unable to find group nope"), "{err}");
    // exec runs as the container's user unless told otherwise, with that
    // user's groups.
    let (code, _, err) =
        env.out(&["run", "-d", "--name", "grp", "-u", "nobody", "--group-add", "7", "localhost/bb", "sleep", "60"]);
    assert_eq!(code, 0, "{err}");
    let status = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["grp", "grep", "-E", "^(Uid|Groups)", "/proc/self/status"]);
        env.out(&all).1
    };
    // (and the container's --group-add, with or without -u, as docker)
    assert_eq!(status(&[]), "Uid:\t65534\t65534\t65534\t65534\nGroups:\t7 10 50 65534 \n");
    assert_eq!(status(&["-u", "root"]), "Uid:\t0\t0\t0\t0\nGroups:\t0 7 50 \n");
    let (code, out, _) = env.out(&["inspect", "--format", "{{.HostConfig.GroupAdd}}", "grp"]);
    assert_eq!((code, out.trim()), (0, "[7]"));
    assert_eq!(env.out(&["rm", "-f", "grp"]).0, 0);
}

/// As docker: in its own network namespace any user may bind a port below
/// 1024 (and open ICMP echo sockets); on the host's network, not.
#[test]
fn any_user_binds_low_ports_in_the_containers_own_network() {
    let Some(env) = Env::new() else { return };
    let bind = "httpd -p 80 -h / && echo bound; cat /proc/sys/net/ipv4/ping_group_range";
    let (code, out, err) = env.out(&["run", "--rm", "-u", "nobody", "localhost/bb", "sh", "-c", bind]);
    assert_eq!((code, out.as_str()), (0, "bound\n0\t2147483647\n"), "{err}");
    // IPv6 is off (wharf's networks are IPv4 only), lo included, as docker.
    let v6 = "cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 /proc/sys/net/ipv6/conf/eth0/disable_ipv6";
    assert_eq!(env.out(&["run", "--rm", "localhost/bb", "sh", "-c", v6]).1, "1\n1\n");
    let (code, out, err) =
        env.out(&["run", "--rm", "-u", "nobody", "--network", "none", "localhost/bb", "sh", "-c", bind]);
    assert_eq!((code, out.as_str()), (0, "bound\n0\t2147483647\n"), "{err}");
    let args = ["run", "--rm", "--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", "-u", "nobody", "localhost/bb"];
    let (_, out, err) = env.out(&[&args[..], &["sh", "-c", bind]].concat());
    assert!(!out.contains("bound") && err.contains("Permission denied"), "--sysctl wins: {out} {err}");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").expect("read");
    let (_, out, _) = env.out(&[
        "run",
        "--rm",
        "--network",
        "host",
        "localhost/bb",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(out, host, "the host's network is left as it is");
}

/// An image's symlink cannot make `run -w` create a directory on the host.
#[test]
fn the_working_directory_is_made_inside_the_rootfs() {
    let Some(env) = Env::new() else { return };
    let host_dir = env.dir.path().join("hostside");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM localhost/bb\nRUN ln -s {} /hostlink\n", host_dir.display()))
        .expect("write");
    let (code, _, err) = env.out(&["build", "-q", "-t", "localhost/linked", ctx.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = env.out(&["run", "--rm", "-w", "/hostlink/made", "localhost/linked", "pwd"]);
    assert_eq!((code, out.trim()), (0, format!("{}/made", host_dir.display()).as_str()), "{err}");
    assert!(!host_dir.join("made").exists(), "a directory was made on the host");
    let (code, _, err) = env.out(&["run", "--rm", "-w", "/etc/passwd", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("Cannot mkdir: /etc/passwd is not a directory"), "{err}");
}

#[test]
fn flags_after_the_image_are_the_containers_and_binds_may_be_relative() {
    let Some(env) = Env::new() else { return };
    // As docker's CLI: `-c` after the image is sh's, not --cpu-shares.
    let (code, out, err) = env.out(&["run", "--rm", "--entrypoint", "sh", "localhost/bb", "-c", "echo in; exit 3"]);
    assert_eq!((code, out.trim()), (3, "in"), "{err}");
    // A relative working directory is refused, as docker's daemon does.
    let (code, _, err) = env.out(&["run", "--rm", "-w", "rel", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("the working directory 'rel' is invalid, it needs to be an absolute path"), "{err}");
    // `-v ./dir:/mnt` is a bind of ./dir, made absolute, as docker's CLI does.
    let dir = env.dir.path().join("relbind");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("f"), "hello\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(env.root())
        .args(["run", "--rm", "-v", "./relbind:/mnt", "localhost/bb", "cat", "/mnt/f"])
        .current_dir(env.dir.path())
        .output()
        .expect("wharf runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn kept_containers_block_rmi_until_removed() {
    let Some(env) = Env::new() else { return };
    assert_eq!(env.out(&["run", "--name", "keep", "localhost/bb", "true"]).0, 0);
    let (code, _, err) = env.out(&["run", "--name", "keep", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("is already in use"), "{err}");
    let (code, _, err) = env.out(&["create", "--name", "keep", "localhost/bb", "true"]);
    assert_eq!(code, 1, "docker's create exits 1 where run exits 125: {err}");
    let (code, _, err) = env.out(&["rmi", "localhost/bb"]);
    assert_eq!(code, 1);
    assert!(err.contains("being used by stopped container"), "{err}");
    assert_eq!(env.out(&["rm", "keep"]), (0, "keep\n".into(), String::new()));
    assert_eq!(env.out(&["rm", "keep"]).0, 1);
    assert_eq!(env.out(&["rmi", "localhost/bb"]).0, 0);
    assert!(env.out(&["system", "check"]).1.contains("consistent"));
}
