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
    let (code, _, err) = run(&env, &["localhost/bb", "unshare", "-n", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "a blocked syscall fails with EPERM: {err}");
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
    env.ok(&["cp", host_secret.to_str().unwrap_or_default(), "box:/tmp/"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/hostonly"]), "host\n");
    env.ok(&["rm", "-f", "box"]);
    let (code, _, _) = env.out(&["exec", "box", "true"]);
    assert_ne!(code, 0);
}
