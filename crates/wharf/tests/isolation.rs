//! Isolation as seen from inside a container (runc under the monitor, as
//! root): pid 1, hostname, docker's capability mask, masked /proc paths,
//! seccomp, no leaked fds or cwd, the runtime binary not writable through
//! /proc/self/exe, memory and pids limits; exec joins the container; cp
//! stays inside the rootfs.

mod common;
use common::Env;

fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    env.out(&a)
}

#[test]
fn namespaces_capabilities_masks_and_fds() {
    let Some(env) = Env::new() else { return };
    let (code, out, err) = run(
        &env,
        &[
            "-h",
            "inside",
            "localhost/bb",
            "sh",
            "-c",
            "echo pid=$$; hostname; grep CapEff /proc/self/status; cat /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug 2>/dev/null | wc -c; echo fds; readlink /proc/$$/cwd; grep Seccomp: /proc/self/status; grep NoNewPrivs /proc/self/status",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "inside");
    assert_eq!(lines[2], "CapEff:\t00000000a80425fb", "docker's default capability set");
    assert_eq!(lines[3].trim(), "0", "/proc/kcore, keys, timer_list, sched_debug are masked");
    // (pid 1's own fds, listed by a child: only stdio is open)
    let (_, fds, _) = run(&env, &["localhost/bb", "sh", "-c", "ls /proc/1/fd; true"]);
    assert_eq!(fds, "0\n1\n2\n", "only stdio is open in the container's init");
    assert_eq!(lines[5], "/", "no host cwd leaks in");
    assert_eq!(lines[6], "Seccomp:\t2", "a seccomp filter is on");
    assert_eq!(lines[7], "NoNewPrivs:\t0", "no_new_privs only on request, as docker (setuid programs work)");
    let (_, out, err) =
        run(&env, &["--security-opt", "no-new-privileges", "localhost/bb", "grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(out, "NoNewPrivs:\t1\n", "{err}");
    let (code, _, err) = run(&env, &["localhost/bb", "unshare", "-n", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "a blocked syscall fails with EPERM: {err}");
    // crun loads the same compiled filter (wharf's run.oci.seccomp_bpf_data).
    if let Some(crun) = ["/usr/bin/crun", "/usr/sbin/crun"].into_iter().find(|p| std::path::Path::new(p).exists()) {
        let (code, out, err) = run(
            &env,
            &["--runtime", crun, "localhost/bb", "sh", "-c", "grep Seccomp: /proc/self/status; unshare -n true"],
        );
        assert_eq!(out, "Seccomp:\t2\n", "{err}");
        assert!(code != 0 && err.contains("Operation not permitted"), "under crun: {err}");
    }
    let (code, out, _) =
        run(&env, &["--security-opt", "seccomp=unconfined", "localhost/bb", "grep", "Seccomp:", "/proc/self/status"]);
    assert_eq!((code, out.as_str()), (0, "Seccomp:\t0\n"));
    let (_, out, _) = run(&env, &["--cap-drop", "ALL", "localhost/bb", "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(out.trim(), "CapEff:\t0000000000000000");
    let (code, _, err) = run(&env, &["--read-only", "localhost/bb", "touch", "/x"]);
    assert_ne!(code, 0, "read-only rootfs: {err}");
    let (code, _, _) = run(&env, &["localhost/bb", "sh", "-c", "echo x > /proc/sys/kernel/hostname"]);
    assert_ne!(code, 0, "/proc/sys is read-only");
}

#[test]
fn the_runtime_binary_cannot_be_overwritten_from_inside() {
    let Some(env) = Env::new() else { return };
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/usr/sbin/runc");
    let before = std::fs::read(runc).expect("read runc");
    let wharf_before = std::fs::read(env!("CARGO_BIN_EXE_wharf")).expect("read wharf");
    // Writing through /proc/self/exe (and pid 1's exe) must fail.
    let (_, out, _) = run(
        &env,
        &[
            "localhost/bb",
            "sh",
            "-c",
            "echo pwn > /proc/self/exe && echo WROTE; echo pwn > /proc/1/exe && echo WROTE1; true",
        ],
    );
    assert!(!out.contains("WROTE"), "{out}");
    assert_eq!(std::fs::read(runc).expect("read runc"), before);
    assert_eq!(std::fs::read(env!("CARGO_BIN_EXE_wharf")).expect("read wharf"), wharf_before);
}

#[test]
fn memory_limit_oom_kills_and_pids_limit_stops_a_fork_bomb() {
    let Some(env) = Env::new() else { return };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "oom",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "localhost/bb",
        "sh",
        "-c",
        "exec tail /dev/zero",
    ]);
    assert_eq!(env.ok(&["wait", "oom"]).trim(), "137");
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.OOMKilled}}", "oom"]).trim(), "true");
    let (code, out, err) = run(
        &env,
        &[
            "--pids-limit",
            "10",
            "localhost/bb",
            "sh",
            "-c",
            "i=0; while [ $i -lt 30 ]; do sleep 2 & i=$((i+1)); done; echo spawned",
        ],
    );
    let all = format!("{out}{err}");
    assert!(all.contains("fork") || all.contains("Resource temporarily unavailable"), "pids limit: {code} {all}");
    // --memory alone allows as much swap as memory, as docker; -1: no limit.
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        let memsw = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes";
        let (_, out, err) = run(&env, &["--memory", "32m", "localhost/bb", "cat", memsw]);
        assert_eq!(out.trim(), "67108864", "{err}");
        let (_, out, err) = run(&env, &["--memory", "32m", "--memory-swap", "-1", "localhost/bb", "cat", memsw]);
        assert!(out.trim().parse::<u64>().is_ok_and(|n| n > 1 << 40), "unlimited: {out} {err}");
    }
    // The container cannot lift its own limits: its cgroup files are on a
    // read-only mount, as docker's (cgroup v1 paths, then v2).
    let lift = "for f in memory/memory.limit_in_bytes pids/pids.max memory.max pids.max; do \
                [ -e /sys/fs/cgroup/$f ] && echo found && echo max > /sys/fs/cgroup/$f && echo wrote $f; done; true";
    let (_, out, err) = run(&env, &["--memory", "32m", "--pids-limit", "10", "localhost/bb", "sh", "-c", lift]);
    assert!(out.contains("found") && !out.contains("wrote"), "{out} {err}");
    assert!(err.contains("Read-only file system"), "{err}");
    let (_, out, err) = run(&env, &["--privileged", "localhost/bb", "sh", "-c", lift]);
    assert!(out.contains("wrote"), "--privileged keeps them writable: {out} {err}");
}

#[test]
fn exec_joins_the_container_and_cp_stays_inside() {
    let Some(env) = Env::new() else { return };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "FROMRUN=1",
        "localhost/bb",
        "sh",
        "-c",
        "ln -s / /escape; echo data > /tmp/f; exec sleep 1000",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out =
        env.ok(&["exec", "-e", "X=2", "box", "sh", "-c", "echo $FROMRUN$X; hostname; ls /proc | grep -c '^[0-9]'"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "12", "exec sees the container's env plus -e");
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "box"]);
    assert_eq!(lines[1], &id.trim()[..12], "same UTS namespace");
    assert!(lines[2].parse::<u32>().is_ok_and(|n| n <= 4), "same pid namespace: {out}");
    assert_eq!(env.ok(&["exec", "-u", "nobody", "box", "id", "-u"]).trim(), "65534");
    // --env-file, then -e over it, as docker's exec.
    let file = env.path().join("exec.env");
    std::fs::write(&file, "# comment\nA=file\nB=file\n").expect("write");
    let out =
        env.ok(&["exec", "--env-file", file.to_str().expect("utf8"), "-e", "B=flag", "box", "sh", "-c", "echo $A $B"]);
    assert_eq!(out.trim(), "file flag");
    // An exec'd process is under the container's seccomp filter: a new
    // user namespace needs no capability, only the filter refuses it.
    let (code, out, err) =
        env.out(&["exec", "box", "sh", "-c", "grep -E 'Seccomp:|NoNewPrivs' /proc/self/status; unshare -U true"]);
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t2\n", "as the container's own process: {err}");
    assert!(code != 0 && err.contains("Operation not permitted"), "exec: {err}");
    let (code, _, _) = env.out(&["exec", "box", "sh", "-c", "exit 5"]);
    assert_eq!(code, 5);
    let (code, _, _) = env.out(&["exec", "box", "nope"]);
    assert_eq!(code, 127);
    // cp out through a symlink to / stays in the rootfs.
    let dest = env.path().join("out");
    env.ok(&["cp", "box:/escape/tmp/f", dest.to_str().unwrap_or_default()]);
    assert_eq!(std::fs::read_to_string(&dest).expect("copied"), "data\n");
    let host_secret = env.path().join("hostonly");
    std::fs::write(&host_secret, "host\n").expect("write");
    let probe = format!("box:/escape{}", host_secret.display());
    let (code, _, _) = env.out(&["cp", &probe, env.path().join("leak").to_str().unwrap_or_default()]);
    assert_ne!(code, 0, "a host path is not reachable through a container symlink");
    // cp in, then read from inside.
    std::os::unix::fs::chown(&host_secret, Some(1000), Some(1001)).expect("chown");
    env.ok(&["cp", host_secret.to_str().unwrap_or_default(), "box:/tmp/"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/hostonly"]), "host\n");
    // Owners: root's, as docker's cp, unless -a keeps the source's.
    assert_eq!(env.ok(&["exec", "box", "stat", "-c", "%u:%g", "/tmp/hostonly"]), "0:0\n");
    env.ok(&["cp", "-a", host_secret.to_str().unwrap_or_default(), "box:/tmp/kept"]);
    assert_eq!(env.ok(&["exec", "box", "stat", "-c", "%u:%g", "/tmp/kept"]), "1000:1001\n");
    env.ok(&["exec", "box", "chown", "42:43", "/tmp/f"]);
    let owned = |args: &[&str]| {
        let out = env.path().join("owned");
        let _ = std::fs::remove_file(&out);
        env.ok(&[args, &["box:/tmp/f", out.to_str().unwrap_or_default()]].concat());
        let m = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&out).expect("copied"));
        (m, std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&out).expect("copied")))
    };
    assert_eq!(owned(&["cp"]), (0, 0));
    assert_eq!(owned(&["cp", "-a"]), (42, 43));
    env.ok(&["rm", "-f", "box"]);
    let (code, _, _) = env.out(&["exec", "box", "true"]);
    assert_ne!(code, 0);
}

/// CVE-2018-15664: a container swapping a directory for a symlink to a
/// host path while `cp` runs. The copy pauses the container, so each copy
/// sees one state: the directory (all of it), the symlink (copied as a
/// symlink), or nothing; never a file of the host's.
#[test]
fn cp_is_not_raced_by_a_container_swapping_symlinks() {
    let Some(env) = Env::new() else { return };
    let host_dir = env.path().join("hostside");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    for i in 1..=100 {
        std::fs::write(host_dir.join(format!("f{i}")), "HOST\n").expect("write");
    }
    let swap = format!(
        "mkdir -p /w/d && for i in $(seq 1 100); do echo CTR > /w/d/f$i; done && touch /ready && \
         while true; do mv /w/d /w/real; ln -s {} /w/d; rm /w/d; mv /w/real /w/d; done",
        host_dir.display()
    );
    env.ok(&["run", "-d", "--name", "racer", "localhost/bb", "sh", "-c", &swap]);
    for _ in 0..200 {
        if env.out(&["exec", "racer", "test", "-e", "/ready"]).0 == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let (mut dirs, mut links) = (0, 0);
    for n in 0..60 {
        let out = env.path().join(format!("copied{n}"));
        if env.out(&["cp", "racer:/w/d", out.to_str().unwrap_or_default()]).0 != 0 {
            continue; // frozen between a rename and the next: not found
        }
        let meta = std::fs::symlink_metadata(&out).expect("lstat");
        if meta.is_symlink() {
            assert_eq!(std::fs::read_link(&out).expect("readlink"), host_dir, "the link itself, not its target");
            links += 1;
            continue;
        }
        let files: Vec<String> = std::fs::read_dir(&out)
            .expect("read_dir")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
            .collect();
        assert_eq!(files.len(), 100, "the whole directory, copied while the container stood still");
        assert!(files.iter().all(|f| f == "CTR\n"), "only the container's files");
        dirs += 1;
    }
    assert!(dirs + links > 0, "some copies found the path");
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "racer"]).trim(), "running");
    env.ok(&["rm", "-f", "racer"]);
}

#[test]
fn limits_privileges_sysctls_and_runtime_binaries() {
    let Some(env) = Env::new() else { return };
    // cgroup v1 here: the container sees its own cgroup (cgroup namespace).
    let cpu = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight";
    let out = env.ok(&["run", "--rm", "--cpus", "0.5", "--cpu-shares", "512", "localhost/bb", "sh", "-c", cpu]);
    assert!(out.starts_with("50000") || out.starts_with("50000 100000"), "{out}");
    // --privileged: every capability wharf itself has (its bounding set).
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let bnd = own.lines().find_map(|l| l.strip_prefix("CapBnd:")).expect("CapBnd").trim().to_owned();
    let (code, out, err) = run(&env, &["--privileged", "localhost/bb", "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("CapEff:\t{bnd}"), "all capabilities");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "localhost/bb",
            "cat",
            "/proc/sys/net/ipv4/ip_forward"
        ])
        .trim(),
        "1"
    );
    let shm = env.ok(&["run", "--rm", "--shm-size", "8m", "localhost/bb", "sh", "-c", "df -k /dev/shm | tail -1"]);
    assert!(shm.split_whitespace().nth(1) == Some("8192"), "{shm}");
    // The same bundle under an OCI runtime binary.
    let runc =
        ["/usr/sbin/runc", "/usr/bin/runc"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap_or("runc");
    let (code, out, err) =
        run(&env, &["--runtime", runc, "localhost/bb", "sh", "-c", "grep CapEff /proc/self/status; exit 6"]);
    assert_eq!((code, out.trim()), (6, "CapEff:\t00000000a80425fb"), "{err}");
    // -i passes stdin through.
    let mut child = env
        .cmd(&["run", "--rm", "-i", "localhost/bb", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run -i");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(b"piped\n").expect("write");
    }
    assert_eq!(String::from_utf8_lossy(&child.wait_with_output().expect("wait").stdout), "PIPED\n");
}

#[test]
fn signals_pause_and_stop_signal() {
    let Some(env) = Env::new() else { return };
    // SIGTERM to a foreground wharf reaches the container.
    let child = env
        .cmd(&[
            "run",
            "--rm",
            "localhost/bb",
            "sh",
            "-c",
            "trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let pid = child.id();
    let mut child = child;
    {
        use std::io::BufRead;
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        out.read_line(&mut line).expect("ready");
        assert_eq!(line, "ready\n");
    }
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill").success());
    assert_eq!(child.wait().expect("wait").code(), Some(9));
    // pause/unpause freeze and thaw; --stop-signal is what stop sends.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ps1",
        "--stop-signal",
        "USR1",
        "localhost/bb",
        "sh",
        "-c",
        "trap 'exit 12' USR1; while :; do sleep 0.05; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    env.ok(&["pause", "ps1"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "ps1"]).trim(), "paused");
    assert!(env.ok(&["ps"]).contains("(Paused)"));
    env.ok(&["unpause", "ps1"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "ps1"]).trim(), "running");
    env.ok(&["stop", "ps1"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.ExitCode}}", "ps1"]).trim(), "12");
    // start -a attaches and returns the exit code.
    env.ok(&["run", "-d", "--name", "once", "localhost/bb", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(env.ok(&["wait", "once"]).trim(), "3");
    let (code, out, _) = env.out(&["start", "-a", "once"]);
    assert_eq!((code, out.as_str()), (3, "hi\n"));
    let top = env.ok(&["run", "-d", "--name", "tp", "localhost/bb", "sleep", "1000"]);
    assert!(!top.is_empty());
    assert!(env.ok(&["top", "tp"]).contains("sleep 1000"));
    assert_eq!(env.ok(&["ps", "-n", "1", "--format", "{{.Names}}"]).trim(), "tp");
    assert_eq!(env.ok(&["ps", "-l", "-q"]).lines().count(), 1);
}

/// The inode of namespace `ns` of process `pid` (`pid:[4026531836]`).
fn ns_of(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).map(|p| p.display().to_string()).unwrap_or_default()
}

#[test]
fn pid_ipc_and_uts_modes_share_what_they_name() {
    let Some(env) = Env::new() else { return };
    let inside = |args: &[&str], probe: &str| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["localhost/bb", "sh", "-c", probe]);
        let (code, out, err) = run(&env, &a);
        assert_eq!(code, 0, "{a:?}: {err}");
        out.trim().to_owned()
    };
    let ns = "for n in pid ipc uts; do readlink /proc/self/ns/$n; done | tr '\\n' ' '";
    let host = format!("{} {} {}", ns_of("self", "pid"), ns_of("self", "ipc"), ns_of("self", "uts"));
    let own = inside(&[], ns);
    assert_eq!(own.split(' ').count(), 3, "{own}");
    for (a, b) in own.split(' ').zip(host.split(' ')) {
        assert_ne!(a, b, "a new namespace by default: {own} vs {host}");
    }
    assert_eq!(inside(&["--pid", "host", "--ipc", "host", "--uts", "host"], ns), host);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(inside(&["--uts", "host"], "hostname; echo $HOSTNAME"), format!("{0}\n{0}", hostname.trim()));
    // Another container's: its processes, and its shared memory when it
    // was made shareable.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "localhost/bb",
        "sh",
        "-c",
        "echo hi >/dev/shm/x; exec sleep 1000",
    ]);
    assert!(
        common::eventually(|| env.ok(&["exec", "donor", "cat", "/dev/shm/x"]).contains("hi").then_some(())).is_some()
    );
    let donor_pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "donor"]).trim().to_owned();
    let joined = inside(&["--pid", "container:donor", "--ipc", "container:donor"], ns);
    assert_eq!(joined.split(' ').take(2).collect::<Vec<_>>(), [ns_of(&donor_pid, "pid"), ns_of(&donor_pid, "ipc")]);
    // Several times: joining used to fail now and then (libcontainer
    // looked its own pid up in the host's /proc; third_party/README.md).
    for _ in 0..10 {
        assert_eq!(inside(&["--pid", "container:donor"], "tr '\\0' ' ' </proc/1/cmdline"), "sleep 1000");
    }
    assert_eq!(inside(&["--ipc", "container:donor"], "cat /dev/shm/x"), "hi");
    assert_eq!(inside(&["--ipc", "none"], "grep -c ' /dev/shm ' /proc/mounts || true"), "0");
    // docker's refusals.
    env.ok(&["run", "-d", "--name", "private", "localhost/bb", "sleep", "1000"]);
    for (args, msg) in [
        (vec!["--ipc", "container:private"], "non-shareable IPC"),
        (vec!["--uts", "host", "-h", "x"], "Conflicting options: hostname and the UTS mode"),
        (vec!["--pid", "bogus"], "invalid PID mode: bogus"),
        (vec!["--ipc", "bogus"], "invalid IPC mode: bogus"),
    ] {
        env.refused_run(&args, msg);
    }
    env.ok(&["rm", "-f", "donor", "private"]);
    assert!(common::mounts_under(&env.root()).is_empty(), "the shareable /dev/shm goes with its container");
}

#[test]
fn cidfile_expose_label_file_and_dns_flags() {
    let Some(env) = Env::new() else { return };
    let cid = env.path().join("cid");
    let cid_arg = cid.to_str().expect("utf8");
    let id = env.ok(&["run", "-d", "--cidfile", cid_arg, "localhost/bb", "true"]);
    assert_eq!(std::fs::read_to_string(&cid).expect("cidfile"), id.trim());
    let (code, _, err) = env.out(&["run", "-d", "--cidfile", cid_arg, "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("Container ID file found"), "{err}");
    let labels = env.path().join("labels");
    std::fs::write(&labels, "a=1\n# comment\n\nb=2\n").expect("write");
    env.ok(&[
        "create",
        "--name",
        "flags",
        "--label-file",
        labels.to_str().expect("utf8"),
        "-l",
        "b=3",
        "--expose",
        "7000-7001/udp",
        "--expose",
        "80",
        "localhost/bb",
    ]);
    let labels = env.ok(&["inspect", "--format", "{{json .Config.Labels}}", "flags"]);
    assert_eq!(labels.trim(), r#"{"a":"1","b":"3"}"#);
    let exposed = env.ok(&["inspect", "--format", "{{json .Config.ExposedPorts}}", "flags"]);
    assert_eq!(exposed.trim(), r#"{"7000/udp":{},"7001/udp":{},"80/tcp":{}}"#);
    let (code, out, err) = run(
        &env,
        &[
            "--dns",
            "192.0.2.1",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:2",
            "localhost/bb",
            "cat",
            "/etc/resolv.conf",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "search example.test\nnameserver 192.0.2.1\noptions ndots:2\n");
    let (_, out, _) = run(&env, &["localhost/bb", "grep", "-c", "nameserver 127.", "/etc/resolv.conf"]);
    assert_eq!(out.trim(), "0", "a loopback resolver of the host is not reachable from a container");
}
