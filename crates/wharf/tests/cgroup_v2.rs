//! wharf on a pure cgroup v2 host. This machine is cgroup v1 hybrid, so
//! the test boots Debian's kernel in qemu (`scripts/cgroup2-vm.sh`) with
//! this host's root shared read-only and cgroup2 alone on /sys/fs/cgroup,
//! runs the real wharf binary there, and checks what it printed.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the VM runs: each check prints `name=value` lines.
fn vm_script(wharf: &str) -> String {
    format!(
        r#"W="{wharf} --root /run/r"
echo "fstype=$(stat -fc %T /sys/fs/cgroup)"
$W import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' /mnt/bb.tar localhost/bb >/dev/null && echo import=ok
echo "cgroupns=$($W run --rm --network none localhost/bb cat /proc/self/cgroup)"
$W run --rm --network none --memory 32m --memory-swap 64m --pids-limit 10 --cpus 0.5 --cpu-shares 512 localhost/bb \
  sh -c 'cd /sys/fs/cgroup; for f in memory.max memory.swap.max pids.max cpu.max cpu.weight; do echo "$f=$(cat $f)"; done
  echo max 2>/dev/null >memory.max; echo "cgroup_write=$?"'
echo "forks=$($W run --rm --network none --pids-limit 10 localhost/bb sh -c \
  '(i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null; read n </sys/fs/cgroup/pids.current;
   while read k v; do [ $k = max ] && echo "$n $v"; done </sys/fs/cgroup/pids.events')"
$W run --name oom --network none --memory 32m localhost/bb tail /dev/zero; echo "oom_exit=$?"
echo "oom_killed=$($W inspect -f '{{{{.State.OOMKilled}}}}' oom)"
$W run --rm --network none localhost/bb sh -c 'echo x >/dev/null && mknod /tmp/loop b 7 0 && head -c1 /tmp/loop' 2>/run/dev.err
echo "device_exit=$?"; echo "device_err=$(cat /run/dev.err)"
id=$($W run -d --network none --memory 48m localhost/bb sleep 300)
echo "cgroup_dir=$(test -d /sys/fs/cgroup/wharf/$id && echo yes)"
$W exec -d $id sleep 200
echo "procs=$(wc -l </sys/fs/cgroup/wharf/$id/cgroup.procs)"
echo "stats=$($W stats --no-stream --format '{{{{.MemUsage}}}}|{{{{.PIDs}}}}' $id | sed 's/.* \/ //')"
echo "exec_cgroup=$($W exec $id cat /proc/self/cgroup)"
$W pause $id >/dev/null; echo "paused=$($W inspect -f '{{{{.State.Status}}}}' $id) $(cat /sys/fs/cgroup/wharf/$id/cgroup.freeze)"
$W unpause $id >/dev/null; echo "unpaused=$($W inspect -f '{{{{.State.Status}}}}' $id) $(cat /sys/fs/cgroup/wharf/$id/cgroup.freeze)"
echo "top=$($W top $id | grep -c 'sleep')"
$W update --cpu-period 50000 --cpu-quota 20000 --cpuset-cpus 0 --memory-reservation 20m $id >/dev/null
c=/sys/fs/cgroup/wharf/$id; echo "update_v2=$(cat $c/cpu.max)|$(cat $c/cpuset.cpus)|$(cat $c/memory.low)"
echo "run_v2=$($W run --rm --network none --cpu-period 40000 --cpu-quota 10000 --cpuset-cpus 0 --memory-reservation 16m \
  localhost/bb sh -c 'cd /sys/fs/cgroup; echo "$(cat cpu.max)|$(cat cpuset.cpus)|$(cat memory.low)"')"
$W rm -f $id >/dev/null; echo "after_rm=$(test -e /sys/fs/cgroup/wharf/$id && echo left || echo gone)"
echo "runc=$($W run --rm --network none --runtime /usr/sbin/runc --memory 48m localhost/bb cat /sys/fs/cgroup/memory.max)"
{rootless}"#,
        rootless = rootless_script(wharf),
    )
}

/// The rootless part, when the test user with subordinate ranges exists
/// (scripts/test.sh makes it): root delegates a cgroup to the user (as
/// systemd's Delegate=yes does for user@UID.service), the user's wharf
/// makes its containers' cgroups there and limits, pause and rm work.
fn rootless_script(wharf: &str) -> String {
    let uid = Command::new("id").args(["-u", "wharf-rl1"]).output().ok().filter(|o| o.status.success());
    let Some(uid) = uid.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()) else {
        return String::new();
    };
    format!(
        r#"chmod 755 /mnt
D=/sys/fs/cgroup/rl; mkdir $D $D/shell && chown {uid} $D $D/cgroup.procs $D/cgroup.subtree_control $D/shell $D/shell/cgroup.procs
echo "+cpu +memory +pids" >$D/cgroup.subtree_control
mkdir -p -m 700 /run/rlhome /run/rlrun && chown {uid} /run/rlhome /run/rlrun
echo $$ >$D/shell/cgroup.procs
R="setpriv --reuid {uid} --regid {uid} --clear-groups env -i HOME=/run/rlhome XDG_RUNTIME_DIR=/run/rlrun PATH=/usr/bin:/bin {wharf}"
$R import -c 'ENV PATH=/bin' /mnt/bb.tar localhost/bb >/dev/null && echo rl_import=ok
echo "rl_uidmap=$($R run --rm --network none localhost/bb head -1 /proc/self/uid_map | tr -s ' ')"
echo "rl_limits=$($R run --rm --network none --memory 32m --pids-limit 10 localhost/bb sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' | tr '\n' ' ')"
id=$($R run -d --network none --memory 48m localhost/bb sleep 300)
echo "rl_cgroup=$(cat $D/wharf/$id/memory.max)"
$R pause $id >/dev/null; echo "rl_paused=$($R inspect -f '{{{{.State.Status}}}}' $id) $(cat $D/wharf/$id/cgroup.freeze)"
$R unpause $id >/dev/null
$R rm -f $id >/dev/null; echo "rl_after_rm=$(test -e $D/wharf/$id && echo left || echo gone)"
kill -9 $(cat /run/rlrun/wharf/pause.pid) 2>/dev/null
"#
    )
}

/// Runs `scripts/cgroup2-vm.sh` on `work`; its console output. The VM is
/// killed if it has not powered off within 20 minutes (a bound on a hang,
/// not a timing assert: software emulation is slow on a busy machine).
fn run_vm(work: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cgroup2-vm.sh");
    let out = work.join("console.log");
    let mut child = Command::new(script)
        .arg(work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("console log"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the VM");
    let deadline = Instant::now() + Duration::from_secs(1200);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = Command::new("pkill").args(["-f", &work.display().to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("the VM did not power off: {}", std::fs::read_to_string(&out).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::read_to_string(&out).expect("console log")
}

fn have_vm() -> bool {
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output().is_ok_and(|o| o.status.success());
    let kernel = std::fs::read_dir("/var/cache/wharf-vm/k/boot")
        .is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz")));
    if !(qemu && kernel) {
        assert!(
            std::env::var_os("WHARF_REQUIRE_PEERS").is_none(),
            "qemu and the kernel are required (scripts/test.sh installs them)"
        );
    }
    qemu && kernel
}

#[test]
fn containers_run_limited_and_isolated_on_a_pure_cgroup_v2_host() {
    let Some(env) = common::Env::new() else { return };
    if !have_vm() {
        return;
    }
    std::fs::write(env.path().join("script.sh"), vm_script(env!("CARGO_BIN_EXE_wharf"))).expect("script");
    let console = run_vm(env.path());
    let got: HashMap<&str, &str> = console.lines().filter_map(|l| l.trim_end_matches('\r').split_once('=')).collect();
    let field = |k: &str| got.get(k).copied().unwrap_or_else(|| panic!("no {k}= in the VM's output:\n{console}"));

    assert_eq!(field("wharf-vm-exit"), "0", "{console}");
    assert_eq!(field("fstype"), "cgroup2fs", "the VM is not pure cgroup v2");
    assert_eq!(field("import"), "ok", "{console}");
    assert_eq!(field("cgroupns"), "0::/", "the container has its own cgroup namespace");
    // --memory 32m, --memory-swap 64m (v2 counts swap apart: 32m of it),
    // --pids-limit, --cpus 0.5, and --cpu-shares 512 as runc 1.3 converts
    // shares to a weight (the curve that maps docker's default 1024 to
    // v2's default 100).
    assert_eq!(field("memory.max"), "33554432");
    assert_eq!(field("memory.swap.max"), "33554432");
    assert_eq!(field("pids.max"), "10");
    assert_eq!(field("cpu.max"), "50000 100000");
    assert_ne!(field("cgroup_write"), "0", "the container raised its own memory.max: {console}");
    let l = 512f64.log2();
    let weight = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0).ceil();
    assert_eq!(field("cpu.weight"), weight.to_string());
    // A subshell forks until refused (ash then exits); the rest are
    // builtins, which need no fork.
    let (tasks, refused) = field("forks").split_once(' ').unwrap_or_else(|| panic!("forks: {console}"));
    assert!(tasks.parse::<u32>().expect("pids.current") <= 10, "the pids limit did not hold: {tasks} tasks");
    assert!(refused.parse::<u32>().expect("pids.events max") > 0, "no fork was refused: {console}");
    assert_eq!(field("oom_exit"), "137", "{console}");
    assert_eq!(field("oom_killed"), "true");
    // The device rules (an eBPF program on v2): /dev/null opens, a block
    // device the container made itself does not.
    assert_ne!(field("device_exit"), "0", "{console}");
    assert!(field("device_err").contains("Operation not permitted"), "{console}");
    assert_eq!(field("cgroup_dir"), "yes");
    assert_eq!(field("procs"), "2", "exec -d joined the container's cgroup");
    assert_eq!(field("stats"), "48MiB|2", "stats reads memory.max and pids.current: {console}");
    assert_eq!(field("exec_cgroup"), "0::/");
    assert_eq!(field("paused"), "paused 1");
    assert_eq!(field("unpaused"), "running 0");
    assert_eq!(field("top"), "2", "top lists both sleeps");
    // --cpu-period/--cpu-quota, --cpuset-cpus, --memory-reservation (as
    // memory.low), at run and through update.
    assert_eq!(field("run_v2"), "10000 40000|0|16777216", "{console}");
    assert_eq!(field("update_v2"), "20000 50000|0|20971520", "{console}");
    assert_eq!(field("after_rm"), "gone", "rm -f left the cgroup behind");
    assert_eq!(field("runc"), "50331648", "--runtime runc on the same bundle");
    // Rootless with a delegated cgroup: the user's own namespace, limits.
    if got.contains_key("rl_import") {
        let uid = Command::new("id").args(["-u", "wharf-rl1"]).output().expect("id").stdout;
        let uid = String::from_utf8_lossy(&uid).trim().to_owned();
        assert_eq!(field("rl_uidmap").split_whitespace().collect::<Vec<_>>(), ["0", &uid, "1"], "{console}");
        assert_eq!(field("rl_limits").trim(), "33554432 10", "{console}");
        assert_eq!(field("rl_cgroup"), "50331648", "the container's cgroup under the delegated one: {console}");
        assert_eq!(field("rl_paused"), "paused 1", "{console}");
        assert_eq!(field("rl_after_rm"), "gone", "{console}");
    }
}
