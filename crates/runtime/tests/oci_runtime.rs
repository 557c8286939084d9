//! The spec wharf writes runs under a real OCI runtime (runc from Debian)
//! and gives the container docker's isolation: pid 1 is the command, the
//! hostname is the short ID, the capability mask is docker's default,
//! /sys is read-only and /proc/sys read-only. Runs as root.

use std::process::Command;

fn runc() -> Option<&'static str> {
    let found = ["/usr/sbin/runc", "/usr/bin/runc"].into_iter().find(|p| std::path::Path::new(p).exists());
    if found.is_none() && std::env::var_os("WHARF_REQUIRE_PEERS").is_some() {
        panic!("runc is required (scripts/test.sh installs it)");
    }
    found
}

#[test]
fn spec_runs_under_runc_with_docker_isolation() {
    let Some(runc) = runc() else {
        eprintln!("skipping: runc not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static installed");
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let script = "echo pid=$$; echo host=$(/bin/busybox hostname); /bin/busybox grep CapEff /proc/self/status; \
                  /bin/busybox touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro; \
                  (echo 1 > /proc/sys/kernel/panic) 2>/dev/null && echo procsys=rw || echo procsys=ro";
    let user = runtime::resolve_user(&rootfs, "").unwrap();
    let id = format!("wharftest{}", std::process::id());
    let opts = runtime::RunOptions::new(
        &id,
        rootfs.clone(),
        vec!["/bin/busybox".into(), "sh".into(), "-c".into(), script.into()],
        user,
    );
    let spec = runtime::container_spec(&opts).unwrap();
    std::fs::write(dir.path().join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let out = Command::new(runc).args(["run", &id]).current_dir(dir.path()).output().unwrap();
    let _ = Command::new(runc).args(["delete", "-f", &id]).output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "runc failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("pid=1"), "{stdout}");
    assert!(stdout.contains(&format!("host={}", &id[..12])), "{stdout}");
    assert!(stdout.contains("CapEff:\t00000000a80425fb"), "docker's default capability mask: {stdout}");
    assert!(stdout.contains("sys=ro"), "{stdout}");
    assert!(stdout.contains("procsys=ro"), "{stdout}");
}
