//! Detached containers and their lifecycle, driven through the real
//! binary as root: the monitor, logs, ps, stop/kill/wait/start/restart,
//! restart policies, state kept true when the monitor dies, and cleanup
//! that leaves no mount, cgroup or network namespace behind.

mod common;
use std::path::Path;

use std::process::Stdio;

use common::{eventually, eventually_within, mounts_under, Env};

fn state(env: &Env, name: &str) -> String {
    env.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name]).trim().to_owned()
}

#[test]
fn detached_run_logs_ps_stop_rm() {
    let Some(env) = Env::new() else { return };
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "localhost/bb",
        "sh",
        "-c",
        "echo out; echo err >&2; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    let ps = env.ok(&["ps"]);
    assert!(ps.lines().next().unwrap_or_default().starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains(&id[..12]) && ps.contains("ticker") && ps.contains("Up "), "{ps}");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    // docker's COMMAND: quoted, an argument with a space in single quotes.
    let command = env.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
    assert!(command.starts_with("\"sh -c '") && command.trim_end().ends_with("'\""), "{command}");
    let logs = eventually(|| {
        let (_, out, err) = env.out(&["logs", "ticker"]);
        (out == "out\n" && err == "err\n").then_some(())
    });
    assert!(logs.is_some(), "logs split stdout and stderr");
    let json_log = std::fs::read_to_string(env.root().join("containers").join(id).join(format!("{id}-json.log")))
        .expect("json-file log");
    assert!(json_log.contains(r#""log":"out\n","stream":"stdout","time":""#), "{json_log}");
    let (code, _, err) = env.out(&["rm", "ticker"]);
    assert_eq!(code, 1);
    assert!(err.contains("container is running"), "{err}");
    // sleep as pid 1 ignores SIGTERM: stop -t 1 ends with SIGKILL → 137.
    env.ok(&["stop", "-t", "1", "ticker"]);
    assert_eq!(state(&env, "ticker"), "exited 137");
    assert!(env.ok(&["ps", "-a"]).contains("Exited (137)"));
    assert_eq!(env.ok(&["ps", "-q"]).trim(), "");
    env.ok(&["rm", "ticker"]);
    assert!(mounts_under(&env.root()).is_empty(), "{:?}", mounts_under(&env.root()));
    assert!(!env.root().join("containers").join(id).exists());
}

#[test]
fn exit_codes_wait_start_and_restart_policy() {
    let Some(env) = Env::new() else { return };
    env.ok(&["run", "-d", "--name", "three", "localhost/bb", "sh", "-c", "exit 3"]);
    assert_eq!(env.ok(&["wait", "three"]).trim(), "3");
    assert_eq!(state(&env, "three"), "exited 3");
    env.ok(&["start", "three"]);
    assert_eq!(env.ok(&["wait", "three"]).trim(), "3");
    // on-failure:2 → runs three times in all.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "localhost/bb",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let runs = eventually(|| {
        let out = env.ok(&["logs", "flaky"]);
        let st = state(&env, "flaky");
        (out.lines().count() == 3 && st == "exited 1").then_some(())
    });
    assert!(runs.is_some(), "logs: {}", env.ok(&["logs", "flaky"]));
    assert_eq!(env.ok(&["inspect", "--format", "{{.RestartCount}}", "flaky"]).trim(), "2");
    let (code, _, err) = env.out(&["run", "--rm", "--restart", "always", "localhost/bb", "true"]);
    assert_eq!(code, 125, "{err}");
}

#[test]
fn kill_signals_and_rename_and_inspect() {
    let Some(env) = Env::new() else { return };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "-l",
        "team=a",
        "localhost/bb",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.05; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.ok(&["kill", "-s", "USR1", "trap"]);
    assert_eq!(env.ok(&["wait", "trap"]).trim(), "42");
    env.ok(&["rename", "trap", "renamed"]);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["container", "inspect", "renamed"])).expect("json");
    assert_eq!(v[0]["Name"], "/renamed");
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["ExitCode"], 42);
    assert_eq!(v[0]["Config"]["Labels"]["team"], "a");
    assert_eq!(v[0]["Path"], "sh");
    assert_eq!(env.ok(&["ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}"]).trim(), "renamed");
    assert_eq!(env.ok(&["ps", "-a", "--filter", "status=running", "-q"]).trim(), "");
    let (code, _, err) = env.out(&["kill", "renamed"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not running"), "{err}");
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:"), "{pruned}");
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn a_killed_monitor_is_detected_and_cleaned_up() {
    let Some(env) = Env::new() else { return };
    let id = env.ok(&["run", "-d", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", &id])).expect("json");
    let pid = v[0]["State"]["Pid"].as_i64().expect("pid");
    assert!(pid > 0);
    // The monitor is the container's parent.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let ppid: i32 =
        stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).expect("ppid");
    assert!(std::process::Command::new("kill")
        .args(["-9", &ppid.to_string(), &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let exited = eventually(|| (state(&env, &id) == "exited 255").then_some(()));
    assert!(exited.is_some(), "state: {}", state(&env, &id));
    assert!(mounts_under(&env.root()).is_empty(), "{:?}", mounts_under(&env.root()));
    assert!(!network_namespace_exists(&id));
    env.ok(&["rm", &id]);
}

fn network_namespace_exists(id: &str) -> bool {
    std::path::Path::new(&format!("/run/netns/wharf-{}", &id[..12])).exists()
}

#[test]
fn rm_force_leaves_no_mount_cgroup_process_or_netns() {
    let Some(env) = Env::new() else { return };
    let id = env.ok(&["run", "-d", "-p", "18090:80", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", &id])).expect("json");
    let pid = v[0]["State"]["Pid"].as_i64().expect("pid");
    assert!(network_namespace_exists(&id));
    env.ok(&["rm", "-f", &id]);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the container's process is gone");
    assert!(mounts_under(&env.root()).is_empty());
    assert!(!network_namespace_exists(&id));
    let cgroups = ["/sys/fs/cgroup/memory/wharf", "/sys/fs/cgroup/pids/wharf", "/sys/fs/cgroup/wharf"];
    assert!(cgroups.iter().all(|c| !std::path::Path::new(c).join(&id).exists()), "cgroup left behind");
    let rules = std::process::Command::new("iptables").args(["-t", "nat", "-S"]).output().expect("iptables");
    assert!(!String::from_utf8_lossy(&rules.stdout).contains(&id), "DNAT rules left behind");
}

#[test]
fn many_detached_containers_at_once() {
    let Some(env) = Env::new() else { return };
    let n = 100;
    // All started at once, as a script with `&` would.
    let children: Vec<_> = (0..n)
        .map(|i| {
            env.cmd(&["run", "-d", "--network", "none", "--name", &format!("c{i}"), "localhost/bb", "sleep", "1000"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), n);
    let ids: Vec<String> = env.ok(&["ps", "-q"]).lines().map(str::to_owned).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.ok(&args);
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    assert!(mounts_under(&env.root()).is_empty());
}

/// Containers made without `--name` are named as docker names them,
/// `adjective_surname`, each a different name.
#[test]
fn unnamed_containers_get_docker_style_names() {
    let Some(env) = Env::new() else { return };
    for _ in 0..20 {
        env.ok(&["create", "--network", "none", "localhost/bb", "true"]);
    }
    let names: Vec<String> = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().map(str::to_owned).collect();
    assert_eq!(names.len(), 20);
    for n in &names {
        let (adjective, rest) = n.split_once('_').unwrap_or_default();
        let surname = rest.trim_end_matches(|c: char| c.is_ascii_digit());
        let lower = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
        assert!(lower(adjective) && lower(surname), "{n}");
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}

/// As docker: a missing command fails the start, not the create; the
/// container stays Created with exit code 127 and the error in `inspect`
/// (`--rm` removes it).
#[test]
fn a_missing_command_fails_the_start_and_the_container_stays_created() {
    let Some(env) = Env::new() else { return };
    let bad = ["--network", "none", "localhost/bb", "nonexist"];
    env.ok(&[&["create", "--name", "made"][..], &bad].concat());
    let (code, _, err) = env.out(&["start", "made"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exec: \"nonexist\": executable file not found in $PATH"), "{err}");
    assert!(err.ends_with("Error: failed to start containers: made\n"), "{err}");
    for (how, name) in [("run", "fg"), ("run -d", "bg")] {
        let mut args: Vec<&str> = how.split(' ').collect();
        args.extend(["--name", name]);
        let (code, _, err) = env.out(&[&args[..], &bad].concat());
        assert_eq!(code, 127, "{how}: {err}");
    }
    for name in ["made", "fg", "bg"] {
        let state = env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", name]);
        assert_eq!(state.trim(), "created 127 exec: \"nonexist\": executable file not found in $PATH", "{name}");
    }
    let (code, _, _) = env.out(&[&["run", "--rm", "--name", "gone"][..], &bad].concat());
    assert_eq!(code, 127);
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]).lines().count(), 3);
    assert!(env.ok(&["ps", "-a", "--format", "{{.Status}}"]).lines().all(|s| s == "Created"));
}

#[test]
fn run_it_gives_a_usable_terminal() {
    let Some(env) = Env::new() else { return };
    // script(1) stands in for the user's terminal.
    let cmd = format!("{} --root {} run -it --rm localhost/bb sh", env!("CARGO_BIN_EXE_wharf"), env.root().display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"tty; echo term=$TERM; exit 3\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("term=xterm"), "{text}");
    assert_eq!(out.status.code(), Some(3), "{text}");
    // Without a terminal to read from, -it is refused before anything is
    // made, as docker's; -t alone, or -dit, are fine.
    let (code, _, err) = env.out(&["run", "-it", "localhost/bb", "true"]);
    assert_eq!((code, err.trim()), (1, "the input device is not a TTY"));
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    // Detached with -t: the terminal's output is logged.
    let id = env.ok(&["run", "-dt", "localhost/bb", "sh", "-c", "tty"]).trim().to_owned();
    assert_eq!(env.ok(&["wait", &id]).trim(), "0");
    assert_eq!(env.ok(&["logs", &id]).trim(), "/dev/pts/0");
    // exec -it into a running container.
    let id = env.ok(&["run", "-d", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    let (code, _, err) = env.out(&["exec", "-it", &id, "true"]);
    assert_eq!((code, err.trim()), (1, "the input device is not a TTY"));
    let cmd = format!("{} --root {} exec -it -u app {id} sh", env!("CARGO_BIN_EXE_wharf"), env.root().display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"tty; id -u; exit 4\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/") && text.contains("1000"), "{text}");
    assert_eq!(out.status.code(), Some(4), "{text}");
    // exec runs in the container's working directory unless -w says
    // otherwise, as docker's.
    let id = env.ok(&["run", "-d", "-w", "/tmp", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    assert_eq!(env.ok(&["exec", &id, "pwd"]).trim(), "/tmp");
    assert_eq!(env.ok(&["exec", "-w", "/", &id, "pwd"]).trim(), "/");
}

#[test]
fn init_ulimit_device_mount_volumes_and_shared_network() {
    let Some(env) = Env::new() else { return };
    if std::path::Path::new("/usr/bin/tini-static").exists() {
        let out = env.ok(&[
            "run",
            "--rm",
            "--init",
            "localhost/bb",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$",
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("/sbin/docker-init -- sh"), "{out}");
        assert_ne!(lines[1], "1", "the command is not pid 1 under --init");
    } else {
        assert!(std::env::var_os("WHARF_REQUIRE_PEERS").is_none(), "tini is required (scripts/test.sh installs it)");
    }
    assert_eq!(
        env.ok(&["run", "--rm", "--ulimit", "nofile=512:1024", "localhost/bb", "sh", "-c", "ulimit -n; ulimit -Hn"]),
        "512\n1024\n"
    );
    let (code, _, err) = env.out(&["run", "--rm", "--ulimit", "nofile=9:8", "localhost/bb", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(env
        .ok(&["run", "--rm", "--device", "/dev/fuse", "localhost/bb", "ls", "-l", "/dev/fuse"])
        .starts_with('c'));
    let (_, out, _) = env.out(&["run", "--rm", "localhost/bb", "ls", "/dev/fuse"]);
    assert!(out.is_empty(), "no device without --device");
    // A node the container makes opens only with a rule that allows it.
    let open_loop = "mknod /tmp/loop b 7 0 && head -c0 /tmp/loop && echo opened";
    let (code, _, err) = env.out(&["run", "--rm", "localhost/bb", "sh", "-c", open_loop]);
    assert!(code != 0 && err.contains("Operation not permitted"), "{err}");
    let out = env.ok(&["run", "--rm", "--device-cgroup-rule", "b 7:* rmw", "localhost/bb", "sh", "-c", open_loop]);
    assert_eq!(out, "opened\n");
    let (code, _, err) = env.out(&["run", "--rm", "--device-cgroup-rule", "b 7:*", "localhost/bb", "true"]);
    assert_eq!((code, err.trim()), (125, "wharf: Error response from daemon: invalid device cgroup format 'b 7:*'\n\nRun 'wharf run --help' for more information"));
    assert!(env
        .ok(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,target=/scratch",
            "localhost/bb",
            "grep",
            "/scratch",
            "/proc/mounts"
        ])
        .contains("tmpfs"));
    env.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=keep,target=/data",
        "localhost/bb",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "keep:/data:ro", "localhost/bb", "cat", "/data/f"]), "kept\n");
    // rm -v removes a container's anonymous volumes, not named ones.
    let id = env.ok(&["create", "-v", "/anon", "localhost/bb", "true"]).trim().to_owned();
    let count = || std::fs::read_dir(env.root().join("volumes")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(), 2);
    env.ok(&["rm", "-v", &id]);
    assert_eq!(count(), 1);
    // --network container:NAME shares the peer's interfaces.
    env.ok(&["run", "-d", "--name", "peer", "localhost/bb", "sleep", "1000"]);
    let ip = env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "peer"]).trim().to_owned();
    let shared = env.ok(&[
        "run",
        "--rm",
        "--network",
        "container:peer",
        "localhost/bb",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(shared.contains(&format!("inet {ip}/")), "{shared}");
}

#[test]
fn system_df_counts_containers_volumes_and_cache_and_system_prune_frees_them() {
    let Some(env) = Env::new() else { return };
    env.ok(&[
        "run",
        "--name",
        "keep",
        "-v",
        "named:/data",
        "localhost/bb",
        "sh",
        "-c",
        "echo 12345 > /data/f; echo abc > /w",
    ]);
    env.ok(&["run", "--name", "anon", "-v", "/scratch", "localhost/bb", "sh", "-c", "echo 1234567 > /scratch/f"]);
    let ctx = env.path().join("ctx-df");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), "FROM localhost/bb\nRUN echo cached > /c\n").expect("Dockerfile");
    env.ok(&["build", "-q", ctx.to_str().expect("utf8")]);
    let df = env.ok(&["system", "df"]);
    let row = |kind: &str| -> Vec<String> {
        let line = df.lines().find(|l| l.starts_with(kind)).unwrap_or_else(|| panic!("no {kind} row: {df}"));
        line[kind.len()..].split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("Containers")[..2], ["2", "0"], "{df}");
    assert_ne!(row("Containers")[2], "0B", "the containers wrote files: {df}");
    assert_eq!(row("Local Volumes")[..2], ["2", "2"], "{df}");
    assert_eq!(row("Build Cache")[0], "1", "{df}");

    env.ok(&["rm", "keep"]);
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Deleted Volumes:"), "{out}");
    let df = env.ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Containers") && l.split_whitespace().nth(1) == Some("0")), "{df}");
    // The named volume stays (only anonymous ones are pruned); the cache is gone.
    assert!(df.lines().any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("1")), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Build Cache") && l.split_whitespace().nth(2) == Some("0")), "{df}");
}

#[test]
fn an_image_of_another_platform_runs_with_dockers_warning() {
    let Some(env) = Env::new() else { return };
    let saved = env.path().join("bb.tar");
    let edited = env.path().join("bb-arm.tar");
    env.ok(&["save", "-o", saved.to_str().expect("utf8"), "localhost/bb"]);
    // The same image with a config that says arm64 (and a new ID).
    let script = r#"
import hashlib, io, json, sys, tarfile
src, dst, other = sys.argv[1], sys.argv[2], sys.argv[3]
with tarfile.open(src) as t:
    members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
files = {m.name: data for m, data in members}
manifest = json.loads(files["manifest.json"])
config = json.loads(files[manifest[0]["Config"]])
config["architecture"] = other
blob = json.dumps(config).encode()
path = "blobs/sha256/" + hashlib.sha256(blob).hexdigest()
manifest[0]["Config"] = path
manifest[0]["RepoTags"] = ["localhost/bb-other:latest"]
with tarfile.open(dst, "w") as out:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); out.addfile(info, io.BytesIO(data))
    for m, data in members:
        if m.name in ("manifest.json", "index.json"):
            continue
        out.addfile(m, io.BytesIO(data) if data is not None else None)
    add(path, blob)
    add("manifest.json", json.dumps(manifest).encode())
"#;
    let other = if std::env::consts::ARCH == "aarch64" { "amd64" } else { "arm64" };
    let o = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&saved)
        .arg(&edited)
        .arg(other)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.ok(&["load", "-i", edited.to_str().expect("utf8")]);
    let (code, out, err) = env.out(&["run", "--rm", "localhost/bb-other", "echo", "ran"]);
    assert_eq!((code, out.trim()), (0, "ran"), "{err}");
    assert!(err.contains(&format!("platform (linux/{other}) does not match the detected host platform")), "{err}");
    let (_, _, err) = env.out(&["run", "--rm", "localhost/bb", "true"]);
    assert!(!err.contains("WARNING"), "{err}");
}

#[test]
fn volume_create_ls_inspect_rm_and_prune_as_docker() {
    let Some(env) = Env::new() else { return };
    assert_eq!(env.ok(&["volume", "create", "data"]), "data\n");
    assert_eq!(env.ok(&["volume", "create", "data"]), "data\n", "creating an existing volume is no error");
    env.ok(&["volume", "create", "--label", "team=a", "labelled"]);
    let ls = env.ok(&["volume", "ls"]);
    assert_eq!(ls, "DRIVER    VOLUME NAME\nlocal     data\nlocal     labelled\n");
    let mountpoint = env.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    assert_eq!(mountpoint.trim(), env.root().join("volumes/data/_data").to_str().expect("utf-8 path"));
    assert_eq!(env.ok(&["volume", "ls", "-q", "--filter", "label=team=a"]), "labelled\n");
    let (code, out, err) = env.out(&["volume", "inspect", "nope"]);
    assert_eq!((code, out.as_str()), (1, "[]\n"));
    assert!(err.contains("no such volume"), "{err}");
    let (code, _, err) = env.out(&["volume", "create", "bad/name"]);
    assert_eq!(code, 1);
    assert!(err.contains("includes invalid characters for a local volume name"), "{err}");

    // A new volume gets the image's content at its mount path, unless nocopy.
    // (/etc/hosts, hostname and resolv.conf are wharf's, mounted on top.)
    assert!(env.ok(&["run", "--rm", "-v", "seeded:/etc", "localhost/bb", "ls", "/etc"]).contains("passwd\n"));
    assert!(!env.ok(&["run", "--rm", "-v", "bare:/etc:nocopy", "localhost/bb", "ls", "/etc"]).contains("passwd"));
    // ... and never the host's, through a symlink in the image.
    let host_dir = env.path().join("hostside");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    std::fs::write(host_dir.join("secret"), "host\n").expect("write");
    let ctx = env.path().join("ctx-link");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    // (the same path inside the image too, so that the mount has a place)
    let d = host_dir.display();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM localhost/bb\nRUN mkdir -p {d} && ln -s {d} /link\n"))
        .expect("write");
    env.ok(&["build", "-q", "-t", "localhost/linked", ctx.to_str().expect("utf-8 path")]);
    let listed = env.ok(&["run", "--rm", "-v", "leak:/link", "localhost/linked", "ls", "/link"]);
    assert!(!listed.contains("secret"), "a host file was copied into the volume: {listed}");

    // A volume in use stays, even with -f; `rm -v` and prune keep it too.
    env.ok(&["run", "-d", "--name", "user", "--mount", "type=volume,src=data,dst=/d", "localhost/bb", "sleep", "1000"]);
    let (code, _, err) = env.out(&["volume", "rm", "-f", "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("volume is in use"), "{err}");
    let id = env.ok(&["create", "-v", "/tmp:/y:ro,rslave", "localhost/bb", "true"]);
    let bind: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--format", "{{json .Mounts}}", id.trim()])).expect("json");
    assert_eq!((bind[0]["Type"].as_str(), bind[0]["Propagation"].as_str()), (Some("bind"), Some("rslave")));
    assert_eq!((bind[0]["Mode"].as_str(), bind[0]["RW"].as_bool()), (Some("ro"), Some(false)));
    env.ok(&["rm", id.trim()]);
    let mounts: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--format", "{{json .Mounts}}", "user"])).expect("json");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!((mounts[0]["Destination"].as_str(), mounts[0]["RW"].as_bool()), (Some("/d"), Some(true)));
    assert_eq!(mounts[0]["Source"].as_str(), Some(mountpoint.trim()));
    assert_eq!(env.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]), "data\n");
    let pruned = env.ok(&["volume", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Volumes:\n") && !pruned.contains("\ndata\n"), "{pruned}");
    assert!(pruned.contains("\nlabelled\n") && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "data\n");
    env.ok(&["rm", "-f", "user"]);
    assert_eq!(env.ok(&["volume", "rm", "data"]), "data\n");
    let (code, _, err) = env.out(&["volume", "rm", "data"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(env.out(&["volume", "rm", "-f", "data"]).0, 0, "-f: a missing volume is no error");
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn commit_makes_an_image_of_a_containers_changes() {
    let Some(env) = Env::new() else { return };
    let script = "echo hi > /f; rm /etc/group";
    env.ok(&["run", "--name", "changed", "-e", "X=1", "-w", "/tmp", "localhost/bb", "sh", "-c", script]);
    let id =
        env.ok(&["commit", "-m", "msg", "-a", "me", "-c", "CMD [\"cat\", \"/f\"]", "changed", "localhost/committed"]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(env.ok(&["run", "--rm", "localhost/committed"]), "hi\n", "--change sets CMD");
    let probe = "test -e /etc/group || echo removed; echo $X; pwd";
    let out = env.ok(&["run", "--rm", "localhost/committed", "sh", "-c", probe]);
    assert_eq!(out, "removed\n1\n/tmp\n", "the deletion, the env and the working directory are kept");
    let meta = env.ok(&["image", "inspect", "--format", "{{.Author}} {{.Comment}}", "localhost/committed"]);
    assert_eq!(meta.trim(), "me msg");
    // The new layer holds the changes only, not the runtime's mount points.
    let upper = env.ok(&["image", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "localhost/committed"]);
    let upper = std::path::PathBuf::from(upper.trim());
    let mut top: Vec<String> = std::fs::read_dir(&upper)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").file_name().into_string().expect("utf-8 name"))
        .collect();
    top.sort();
    assert_eq!(top, ["etc", "f"]);
    assert_eq!(std::fs::read_dir(upper.join("etc")).expect("read_dir").count(), 1, "only the whiteout of /etc/group");

    // A running container is paused for the copy, and runs on afterwards.
    env.ok(&["run", "-d", "--name", "live", "localhost/bb", "sh", "-c", "echo live > /state; exec sleep 1000"]);
    eventually(|| env.out(&["exec", "live", "cat", "/state"]).1.contains("live").then_some(())).expect("state written");
    env.ok(&["commit", "live", "localhost/live"]);
    assert_eq!(state(&env, "live"), "running 0");
    assert_eq!(env.ok(&["run", "--rm", "localhost/live", "cat", "/state"]), "live\n");

    // No change: no new layer. Errors exit 1, as docker's commit.
    env.ok(&["run", "--name", "same", "localhost/bb", "true"]);
    env.ok(&["commit", "same", "localhost/same"]);
    let layers = |img: &str| env.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", img]);
    assert_eq!(layers("localhost/same"), layers("localhost/bb"));
    assert_eq!(env.out(&["commit", "nosuch", "localhost/x"]).0, 1);
    let (code, _, err) = env.out(&["commit", "-c", "BOGUS x", "same"]);
    assert_eq!(code, 1);
    assert!(err.contains("BOGUS"), "{err}");
}

/// `commit` killed with -9 while the container is frozen for the copy:
/// the container is not left frozen (any later command on it thaws it;
/// `system check` reports and repairs it), and the copy dies with it.
#[test]
fn a_commit_killed_while_the_container_is_frozen_leaves_it_running() {
    let Some(env) = Env::new() else { return };
    let fill =
        "mkdir /d; i=0; while [ $i -lt 30000 ]; do echo $i > /d/$i; i=$((i+1)); done; echo filled; exec sleep 1000";
    env.ok(&["run", "-d", "--name", "busy", "localhost/bb", "sh", "-c", fill]);
    eventually_within(std::time::Duration::from_secs(120), || {
        env.out(&["logs", "busy"]).1.contains("filled").then_some(())
    })
    .expect("files written");
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "busy"]).trim().to_owned();
    let lock = env.root().join("containers").join(&id).join("frozen-by");
    // The copy takes long enough to be caught frozen; tried again if a
    // commit got through before the file was seen.
    let caught = (0..5).any(|_| {
        let mut commit =
            env.cmd(&["commit", "busy", "localhost/partial"]).stdout(Stdio::null()).spawn().expect("commit");
        let seen = eventually_within(std::time::Duration::from_secs(30), || {
            if lock.exists() {
                return Some(true);
            }
            commit.try_wait().ok().flatten().map(|_| false)
        });
        let _ = commit.kill();
        let _ = commit.wait();
        seen == Some(true)
    });
    assert!(caught, "a commit was killed while it held the container frozen");
    let copying = || {
        let o = std::process::Command::new("pgrep").args(["-f", &format!("cp -a {}", env.root().display())]).output();
        o.map(|o| o.status.success()).unwrap_or(false)
    };
    assert!(eventually(|| (!copying()).then_some(())).is_some(), "the commit's copy died with it");
    let (code, out, _) = env.out(&["system", "check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("container busy was left frozen"), "{out}");
    // Any command on the container finds it thawed.
    assert_eq!(env.ok(&["exec", "busy", "echo", "thawed"]), "thawed\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "busy"]).trim(), "running false");
    env.ok(&["system", "check", "--repair"]);
    assert!(env.ok(&["system", "check"]).contains("is consistent"));
    env.ok(&["commit", "busy", "localhost/whole"]);
    assert_eq!(env.ok(&["run", "--rm", "localhost/whole", "cat", "/d/29999"]), "29999\n");
    env.ok(&["stop", "-t", "1", "busy"]);
    env.ok(&["rm", "busy"]);
}

#[test]
fn diff_lists_changes_and_export_writes_the_whole_filesystem() {
    let Some(env) = Env::new() else { return };
    let script = "echo hi > /f; rm /etc/group; mkdir -p /new/sub; echo y >> /etc/passwd";
    env.ok(&["run", "--name", "changed", "localhost/bb", "sh", "-c", script]);
    // As docker's: A(dded), C(hanged), D(eleted); not the runtime's mount points.
    let diff = env.ok(&["diff", "changed"]);
    assert_eq!(diff, "C /etc\nD /etc/group\nC /etc/passwd\nA /f\nA /new\nA /new/sub\n");
    let tar = env.path().join("export.tar");
    env.ok(&["export", "-o", tar.to_str().expect("utf-8 path"), "changed"]);
    let listing = std::process::Command::new("tar").arg("-tf").arg(&tar).output().expect("tar");
    let names: Vec<String> =
        String::from_utf8_lossy(&listing.stdout).lines().map(|l| l.trim_end_matches('/').to_owned()).collect();
    for want in ["f", "bin/busybox", "etc/passwd", "new/sub"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from the export: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "etc/group"), "a deleted file is not exported");
    let passwd = std::process::Command::new("tar").arg("-xOf").arg(&tar).arg("etc/passwd").output().expect("tar");
    assert!(String::from_utf8_lossy(&passwd.stdout).ends_with("\ny\n"));
    assert!(mounts_under(&env.root()).is_empty(), "export unmounts what it mounted");
    assert_eq!(env.out(&["diff", "nosuch"]).0, 1);
}

#[test]
fn stats_reads_the_containers_cgroup() {
    let Some(env) = Env::new() else { return };
    env.ok(&["run", "-d", "--name", "busy", "--memory", "64m", "localhost/bb", "sh", "-c", "while :; do :; done"]);
    env.ok(&["run", "--name", "done", "localhost/bb", "true"]);
    let table = env.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "the running container only: {table}");
    assert!(lines[0].starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"), "{table}");
    let format = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}";
    let out = env.ok(&["stats", "--no-stream", "-a", "--format", format]);
    let mut rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    rows.sort();
    assert_eq!(rows.len(), 2, "{out}");
    let busy = &rows[0];
    assert_eq!(busy[0], "busy");
    assert!(busy[1].strip_suffix('%').is_some_and(|p| p.parse::<f64>().is_ok()), "{out}");
    assert!(busy[2].ends_with(" / 64MiB"), "the memory limit: {out}");
    assert_eq!(busy[4], "1", "one process: {out}");
    assert_eq!(rows[1], ["done", "--", "0B / 0B", "--", "0"], "a stopped container: {out}");
    // Streaming, a container started meanwhile joins the table.
    let mut stream = KillOnDrop(
        env.cmd(&["stats", "--format", "{{.Name}}"]).stdout(std::process::Stdio::piped()).spawn().expect("stats"),
    );
    let mut out = stream.0.stdout.take().expect("stdout");
    assert!(read_until(&mut out, "busy\n").contains("busy"));
    env.ok(&["run", "-d", "--name", "late", "localhost/bb", "sleep", "1000"]);
    let seen = read_until(&mut out, "late\n");
    drop(stream);
    assert!(seen.contains("late\n"), "{seen}");
}

/// `--rm` containers go when they stop; stop, rm -f and wait still answer
/// as docker's (they failed with "No such container" when the record went
/// first).
#[test]
fn stop_rm_and_wait_on_auto_removed_containers() {
    let Some(env) = Env::new() else { return };
    for _ in 0..3 {
        env.ok(&["run", "-d", "--rm", "--name", "gone", "localhost/bb", "sleep", "1000"]);
        assert_eq!(env.ok(&["stop", "-t", "1", "gone"]), "gone\n");
        env.ok(&["run", "-d", "--rm", "--name", "gone", "localhost/bb", "sleep", "1000"]);
        assert_eq!(env.ok(&["rm", "-f", "gone"]), "gone\n");
        env.ok(&["run", "-d", "--rm", "--name", "gone", "localhost/bb", "sh", "-c", "sleep 0.2; exit 7"]);
        assert_eq!(env.ok(&["wait", "gone"]), "7\n");
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

#[test]
fn update_changes_limits_live_and_the_restart_policy() {
    let Some(env) = Env::new() else { return };
    env.ok(&["run", "-d", "--name", "upd", "--memory", "32m", "localhost/bb", "sleep", "1000"]);
    let limits = || {
        let v1 = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us";
        let v2 = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max";
        let cmd = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { v2 } else { v1 };
        env.ok(&["exec", "upd", "sh", "-c", cmd])
    };
    assert_eq!(env.ok(&["update", "--memory", "48m", "--pids-limit", "20", "--cpus", "0.5", "upd"]), "upd\n");
    let now: Vec<String> = limits().lines().map(str::to_owned).collect();
    assert_eq!(now[0], "50331648");
    assert_eq!(now[1], "20");
    assert!(now[2] == "50000" || now[2] == "50000 100000", "{now:?}");
    let host = env.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
        "upd",
    ]);
    assert_eq!(host.trim(), "50331648 500000000 20");
    // Above memory+swap (64m, docker's default for --memory 32m): refused.
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        let (code, _, err) = env.out(&["update", "--memory", "100m", "upd"]);
        assert_eq!(code, 1);
        assert!(err.contains("Memory limit should be smaller than already set memoryswap limit"), "{err}");
    }
    // The new limits hold after a restart too (they are in the spec).
    env.ok(&["restart", "-t", "0", "upd"]);
    assert_eq!(limits().lines().next(), Some("50331648"));
    // The restart policy changes while the monitor runs.
    env.ok(&["update", "--restart", "always", "upd"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", "upd"]).trim(), "always");
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "upd"]).trim().to_owned();
    let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    let restarted = eventually(|| {
        let now = env.ok(&["inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "upd"]);
        (now.starts_with("running") && !now.trim().ends_with(&pid)).then_some(())
    });
    assert!(restarted.is_some(), "the container was not restarted after update --restart always");
    env.ok(&["run", "-d", "--rm", "--name", "auto", "localhost/bb", "sleep", "1000"]);
    let (code, _, err) = env.out(&["update", "--restart", "always", "auto"]);
    assert_eq!(code, 1);
    assert!(err.contains("AutoRemove is enabled"), "{err}");
    env.ok(&["rm", "-f", "upd", "auto"]);
}

/// docker's resource flags reach the container's cgroup (and its OOM
/// score), `inspect` shows them as docker's does, `update` changes them
/// live, and docker's checks refuse what docker refuses.
#[test]
fn resource_flags_reach_the_cgroup_as_docker_sets_them() {
    let Some(env) = Env::new() else { return };
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let files = if v2 {
        "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/memory.low /proc/self/oom_score_adj"
    } else {
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpuset/cpuset.cpus \
         /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /proc/self/oom_score_adj"
    };
    let flags = [
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "--oom-score-adj",
        "300",
    ];
    let out = env.ok(&[&["run", "--rm"][..], &flags, &["localhost/bb", "sh", "-c", files]].concat());
    let want = if v2 { "25000 50000\n0\n33554432\n300\n" } else { "25000\n50000\n0\n33554432\n300\n" };
    assert_eq!(out, want);
    if !v2 {
        let out = env.ok(&[
            "run",
            "--rm",
            "-m",
            "32m",
            "--oom-kill-disable",
            "--memory-swappiness",
            "10",
            "localhost/bb",
            "cat",
            "/sys/fs/cgroup/memory/memory.oom_control",
            "/sys/fs/cgroup/memory/memory.swappiness",
        ]);
        assert!(out.starts_with("oom_kill_disable 1\n") && out.ends_with("\n10\n"), "{out}");
    }
    env.ok(&[&["run", "-d", "--name", "lim"][..], &flags, &["localhost/bb", "sleep", "1000"]].concat());
    let fields =
        "{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}} \
                  {{.HostConfig.MemoryReservation}} {{.HostConfig.OomScoreAdj}}";
    assert_eq!(env.ok(&["inspect", "-f", fields, "lim"]).trim(), "50000 25000 0 0 33554432 300");
    // --cpus and --cpu-quota exclude each other, across updates too.
    let (code, _, err) = env.out(&["update", "--cpus", "1", "lim"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"),
        "{err}"
    );
    env.ok(&["update", "--cpu-quota", "40000", "--memory-reservation", "16m", "lim"]);
    let now = env.ok(&["exec", "lim", "sh", "-c", files]);
    assert!(now.starts_with(if v2 { "40000 50000\n" } else { "40000\n" }), "{now}");
    assert!(now.contains("\n16777216\n"), "{now}");
    env.ok(&["rm", "-f", "lim"]);
    for (args, msg) in [
        (
            &["--cpus", "1", "--cpu-quota", "50000"][..],
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            &["--cpu-period", "100"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (&["--cpuset-cpus", "0-4095"], "Requested CPUs are not available - requested 0-4095"),
        (
            &["-m", "8m", "--memory-reservation", "16m"],
            "Minimum memory limit can not be less than memory reservation limit",
        ),
        (&["--oom-score-adj", "-1001"], "Invalid value -1001, range for oom score adj is [-1000, 1000]"),
        (&["--device-read-bps", "/dev/null:1mb"], "/dev/null is not a block device"),
    ] {
        env.refused_run(args, msg);
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "", "nothing is left of refused runs");
    // --cgroup-parent: the cgroup is PARENT/ID; stats, top and update find it.
    let parent = format!("wharf-test-{}", std::process::id());
    let id = env.ok(&["run", "-d", "--cgroup-parent", &parent, "-m", "64m", "localhost/bb", "sleep", "1000"]);
    let id = id.trim();
    let dir = if v2 { format!("/sys/fs/cgroup/{parent}/{id}") } else { format!("/sys/fs/cgroup/memory/{parent}/{id}") };
    assert!(Path::new(&dir).is_dir(), "{dir}");
    assert!(env.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", id]).trim().ends_with("/ 64MiB"));
    assert!(env.ok(&["top", id]).contains("sleep 1000"));
    // ps's own options after the container, as docker's: only its processes.
    let top = env.ok(&["top", id, "-o", "pid,comm"]);
    let lines: Vec<Vec<&str>> = top.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["PID", "COMMAND"], "{top}");
    assert_eq!(lines[1..].iter().map(|l| l[1]).collect::<Vec<_>>(), ["sleep"], "{top}");
    env.ok(&["update", "-m", "96m", id]);
    let limit = if v2 { "memory.max" } else { "memory.limit_in_bytes" };
    assert_eq!(std::fs::read_to_string(format!("{dir}/{limit}")).expect("limit").trim(), "100663296");
    assert_eq!(env.ok(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", id]).trim(), parent);
    env.ok(&["rm", "-f", id]);
    assert!(!Path::new(&dir).exists(), "rm left {dir}");
    for d in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir(d.path().join(&parent));
    }
    let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{parent}"));
}

/// `--log-opt max-size/max-file` rotate the json-file log as docker's
/// driver does (logs reads the kept files in order), `--log-driver none`
/// keeps nothing, and unknown drivers or options are refused.
#[test]
fn log_options_rotate_the_log_and_none_keeps_nothing() {
    let Some(env) = Env::new() else { return };
    let script = "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done";
    let rot = ["--log-opt", "max-size=2k", "--log-opt", "max-file=3"];
    env.ok(&[&["run", "--name", "rot"][..], &rot, &["localhost/bb", "sh", "-c", script]].concat());
    let log = env.ok(&["inspect", "-f", "{{.LogPath}}", "rot"]).trim().to_owned();
    let kept: Vec<String> = (1..=3).map(|n| format!("{log}.{n}")).collect();
    assert!(Path::new(&kept[1]).exists() && !Path::new(&kept[2]).exists(), "3 files in all, the log included");
    for f in [&log, &kept[0], &kept[1]] {
        let size = std::fs::metadata(f).expect("log file").len();
        assert!(size < 2000 + 100, "{f} is {size} bytes, past max-size by more than a line");
    }
    // The newest lines, oldest first, across the files.
    let out = env.ok(&["logs", "rot"]);
    let lines: Vec<&str> = out.lines().collect();
    let first: usize = lines[0].trim_start_matches("line ").parse().expect("a line number");
    let want: Vec<String> = (first..500).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, want);
    assert!(first > 0, "nothing was rotated away");
    assert_eq!(env.ok(&["logs", "-f", "rot"]), out, "-f of an exited container: the same, then it returns");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", "rot"]).trim(),
        r#"{"Config":{"max-file":"3","max-size":"2k"},"Type":"json-file"}"#
    );
    // none: the output still reaches a foreground run, and no file is kept.
    assert_eq!(env.ok(&["run", "--name", "quiet", "--log-driver", "none", "localhost/bb", "echo", "hi"]), "hi\n");
    let (code, _, err) = env.out(&["logs", "quiet"]);
    assert_eq!(
        (code, err.trim()),
        (1, "Error response from daemon: configured logging driver does not support reading")
    );
    assert_eq!(env.ok(&["inspect", "-f", "[{{.LogPath}}]", "quiet"]).trim(), "[]");
    for (args, msg) in [
        (&["--log-driver", "syslogd"][..], "logger: no log driver named 'syslogd' is registered"),
        (&["--log-opt", "max-sise=1m"], "unknown log opt 'max-sise' for json-file log driver"),
        (&["--log-opt", "max-file=0"], "max-file cannot be less than 1"),
        (&["--log-opt", "compress=yes"], "strconv.ParseBool: parsing \"yes\": invalid syntax"),
        (&["--log-opt", "compress=true"], "compress cannot be true when max-file is less than 2"),
    ] {
        env.refused_run(args, msg);
    }
    // compress: the older files are gzipped, and `logs` reads them.
    let zipped = [&rot[..], &["--log-opt", "compress=true"]].concat();
    env.ok(&[&["run", "--name", "gz"][..], &zipped, &["localhost/bb", "sh", "-c", script]].concat());
    let log = env.ok(&["inspect", "-f", "{{.LogPath}}", "gz"]).trim().to_owned();
    assert!(Path::new(&format!("{log}.1.gz")).exists() && Path::new(&format!("{log}.2.gz")).exists());
    assert!(!Path::new(&format!("{log}.1")).exists() && !Path::new(&format!("{log}.3.gz")).exists());
    let out = env.ok(&["logs", "gz"]);
    let lines: Vec<&str> = out.lines().collect();
    let first: usize = lines[0].trim_start_matches("line ").parse().expect("a line number");
    assert_eq!(lines, (first..500).map(|i| format!("line {i}")).collect::<Vec<_>>());
    env.ok(&["rm", "rot", "quiet", "gz"]);
}

/// `--domainname`, `--cgroupns`, `--annotation` and `--platform` as
/// docker's run takes them.
#[test]
fn domainname_cgroupns_annotation_and_platform_flags() {
    let Some(env) = Env::new() else { return };
    let out = env.ok(&[
        "run",
        "--rm",
        "-h",
        "web",
        "--domainname",
        "example.org",
        "localhost/bb",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname",
    ]);
    assert_eq!(out, "web\nexample.org\n");
    // A cgroup namespace of its own by default: its cgroup is "/"; with
    // --cgroupns host the path on the host shows.
    let own = env.ok(&["run", "--rm", "localhost/bb", "cat", "/proc/self/cgroup"]);
    assert!(own.lines().all(|l| l.ends_with(":/")), "{own}");
    let host = env.ok(&["run", "--rm", "--cgroupns", "host", "localhost/bb", "cat", "/proc/self/cgroup"]);
    assert!(host.lines().any(|l| l.contains("/wharf/")), "{host}");
    let (code, _, err) = env.out(&["run", "--rm", "--cgroupns", "bogus", "localhost/bb", "true"]);
    assert_eq!(
        (code, err.trim()),
        (125, "wharf: --cgroupns: invalid CGROUP mode\n\nRun 'wharf run --help' for more information")
    );
    // Annotations reach the runtime's bundle.
    let id = env.ok(&["create", "--annotation", "org.example.k=v", "localhost/bb", "true"]).trim().to_owned();
    let spec = std::fs::read_to_string(env.root().join("containers").join(&id).join("config.json")).expect("bundle");
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("json");
    assert_eq!(spec["annotations"]["org.example.k"], "v");
    env.ok(&["rm", &id]);
    // --platform: a local image of another platform is not used.
    let (code, _, err) =
        env.out(&["run", "--rm", "--pull", "never", "--platform", "linux/s390x", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("does not match the specified platform: wanted linux/s390x, actual: linux/"), "{err}");
    let host_arch = if cfg!(target_arch = "x86_64") { "linux/amd64" } else { "linux/arm64" };
    assert_eq!(env.ok(&["run", "--rm", "-q", "--platform", host_arch, "localhost/bb", "echo", "ok"]), "ok\n");
}

/// `--volumes-from`: another container's binds and volumes (not its
/// tmpfs), in their modes or the one asked for; the volumes count as in
/// use; a mount of the container's own wins.
#[test]
fn volumes_from_mounts_another_containers_volumes() {
    let Some(env) = Env::new() else { return };
    let host = env.path().join("hostdir");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("f"), "host\n").expect("write");
    let bind = format!("{}:/h:ro", host.display());
    env.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        &bind,
        "-v",
        "shared:/n",
        "-v",
        "/anon",
        "--tmpfs",
        "/t",
        "localhost/bb",
        "true",
    ]);
    let probe = "cat /h/f; echo a > /n/a && echo n:rw; echo b > /anon/b && echo anon:rw; \
                 (echo c > /h/c) 2>/dev/null || echo h:ro; test -d /t || echo t:none";
    let out = env.ok(&["run", "--rm", "--volumes-from", "src", "localhost/bb", "sh", "-c", probe]);
    assert_eq!(out, "host\nn:rw\nanon:rw\nh:ro\nt:none\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "localhost/bb",
        "sh",
        "-c",
        "cat /n/a; (echo d > /n/d) 2>/dev/null || echo n:ro",
    ]);
    assert_eq!(out, "a\nn:ro\n");
    // Its own -v on the same path wins.
    let mine = env.path().join("mine");
    std::fs::create_dir_all(&mine).expect("mkdir");
    std::fs::write(mine.join("f"), "mine\n").expect("write");
    let own = format!("{}:/h", mine.display());
    assert_eq!(env.ok(&["run", "--rm", "--volumes-from", "src", "-v", &own, "localhost/bb", "cat", "/h/f"]), "mine\n");
    env.ok(&["create", "--name", "user", "--volumes-from", "src:ro", "localhost/bb", "true"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{json .HostConfig.VolumesFrom}}", "user"]).trim(), r#"["src:ro"]"#);
    env.ok(&["rm", "src"]);
    let (code, _, err) = env.out(&["volume", "rm", "shared"]);
    assert_eq!(code, 1, "still used by the container that took it over: {err}");
    let (code, _, err) = env.out(&["run", "--rm", "--volumes-from", "nosuch", "localhost/bb", "true"]);
    assert_eq!((code, err.trim()), (125, "wharf: Error response from daemon: No such container: nosuch\n\nRun 'wharf run --help' for more information"));
    env.ok(&["rm", "user"]);
    env.ok(&["volume", "rm", "shared"]);
}

/// A bind's propagation is what `-v` asks for: by default (rprivate) a
/// mount made on the host afterwards stays out, with rslave it comes in.
#[test]
fn bind_propagation_follows_the_volume_mode() {
    let Some(env) = Env::new() else { return };
    let shared = env.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    let sh = |cmd: &str| {
        assert!(std::process::Command::new("sh").args(["-c", cmd]).status().expect("sh").success(), "{cmd}")
    };
    let dir = shared.display();
    sh(&format!("mount -t tmpfs tmpfs {dir} && mount --make-shared {dir} && mkdir {dir}/sub"));
    env.ok(&["run", "-d", "--name", "private", "-v", &format!("{dir}:/x"), "localhost/bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "slave", "-v", &format!("{dir}:/x:rslave"), "localhost/bb", "sleep", "1000"]);
    sh(&format!("mount -t tmpfs tmpfs {dir}/sub"));
    let sees_sub = |name: &str| env.ok(&["exec", name, "cat", "/proc/self/mountinfo"]).contains(" /x/sub ");
    let (private, slave) = (sees_sub("private"), sees_sub("slave"));
    env.ok(&["rm", "-f", "private", "slave"]);
    sh(&format!("umount {dir}/sub && umount {dir}"));
    assert!(!private, "a default bind is rprivate, as docker's");
    assert!(slave, "an rslave bind receives the host's new mounts");
}

/// A command in script(1)'s terminal, its input and output piped to the
/// test.
struct Terminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
}

fn in_terminal(cmd: &str) -> Terminal {
    let mut child = std::process::Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    Terminal { child, stdin, stdout }
}

/// `wharf ARGS` in a terminal sized 40x100.
fn wharf_in_terminal(env: &Env, args: &str) -> Terminal {
    let wharf = format!("{} --root {}", env!("CARGO_BIN_EXE_wharf"), env.root().display());
    in_terminal(&format!("stty rows 40 cols 100; {wharf} {args}"))
}

/// A child process that a failing test must not leave running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `out` until `want` shows up (or the stream ends); all it read.
fn read_until(out: &mut impl std::io::Read, want: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(want) {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn attach_streams_output_takes_input_and_returns_the_exit_code() {
    let Some(env) = Env::new() else { return };
    let (code, _, err) = env.out(&["attach", "nosuch"]);
    assert_eq!((code, err.trim()), (1, "Error response from daemon: No such container: nosuch"));
    env.ok(&["create", "--name", "idle", "localhost/bb", "true"]);
    let (code, _, err) = env.out(&["attach", "idle"]);
    assert_eq!((code, err.trim()), (1, "You cannot attach to a stopped container, start it first"));
    // Without a terminal: what came before attaching is in the log only;
    // the attached client's input reaches the container's stdin, its
    // output and errors come back apart, and its code is attach's.
    let script = "echo before; read l; echo \"got $l\"; echo oops >&2; exit 3";
    env.ok(&["run", "-di", "--name", "piped", "localhost/bb", "sh", "-c", script]);
    assert!(eventually(|| env.ok(&["logs", "piped"]).contains("before").then_some(())).is_some());
    let mut child = env
        .cmd(&["attach", "piped"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("attach");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("write");
    }
    let out = child.wait_with_output().expect("attach");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got go\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(state(&env, "piped"), "exited 3");
    assert_eq!(env.ok(&["logs", "piped"]), "before\ngot go\n");
}

#[test]
fn attach_to_a_terminal_resizes_detaches_and_attaches_again() {
    let Some(env) = Env::new() else { return };
    use std::io::Write;
    env.ok(&["run", "-dit", "--name", "shell", "localhost/bb", "sh"]);
    let mut t = wharf_in_terminal(&env, "attach shell");
    // The client's terminal size is the container's.
    t.stdin.write_all(b"stty size; echo $((6*7))\n").expect("write");
    let seen = read_until(&mut t.stdout, "42\r\n");
    assert!(seen.contains("40 100"), "{seen}");
    // ctrl-p ctrl-q: the client leaves, the container runs on.
    t.stdin.write_all(b"\x10\x11").expect("write");
    let seen = read_until(&mut t.stdout, "read escape sequence");
    assert!(seen.contains("read escape sequence"), "{seen}");
    assert_eq!(t.child.wait().expect("attach").code(), Some(1));
    assert_eq!(state(&env, "shell"), "running 0");
    // Attached again, the shell is the same one; its exit is attach's.
    let mut t = wharf_in_terminal(&env, "attach --detach-keys ctrl-x shell");
    t.stdin.write_all(b"echo $((6*7)); exit 7\n").expect("write");
    read_until(&mut t.stdout, "42\r\n");
    drop(t.stdin);
    assert_eq!(t.child.wait().expect("attach").code(), Some(7));
    assert_eq!(state(&env, "shell"), "exited 7");
}

#[test]
fn input_a_container_does_not_read_never_stalls_its_monitor() {
    let Some(env) = Env::new() else { return };
    // The container never reads its stdin; a client sends 4 MiB into it.
    env.ok(&["run", "-di", "--name", "deaf", "localhost/bb", "sh", "-c", "while :; do echo tick; sleep 0.1; done"]);
    let input = env.path().join("input");
    std::fs::write(&input, vec![b'x'; 4 << 20]).expect("write");
    let mut child = env
        .cmd(&["attach", "deaf"])
        .stdin(std::fs::File::open(&input).expect("input"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("attach");
    let ticks = || env.ok(&["logs", "deaf"]).lines().count();
    let before = eventually(|| Some(ticks()).filter(|n| *n > 0)).expect("ticks");
    // The monitor goes on logging, and stops the container when asked.
    assert!(eventually(|| (ticks() > before + 5).then_some(())).is_some(), "the log stalled at {before}");
    env.ok(&["stop", "-t", "1", "deaf"]);
    let code = child.wait().expect("attach").code();
    assert_eq!(code, Some(137), "attach ends with the container's code");
}

#[test]
fn containers_start_with_no_signal_ignored() {
    let Some(env) = Env::new() else { return };
    // A shell ignores SIGINT and SIGQUIT for a background job, and a
    // detached monitor is started by posix_spawn (which leaves glibc's
    // signals 32 and 33 ignored); a container inherits none of that.
    let wharf = format!("{} --root {}", env!("CARGO_BIN_EXE_wharf"), env.root().display());
    let probe = "grep SigIgn /proc/self/status; true";
    let in_shell = |args: &str| {
        let o = std::process::Command::new("sh")
            .args(["-c", &format!("trap '' INT QUIT PIPE; exec {wharf} {args}")])
            .output()
            .expect("sh");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let none = "SigIgn:\t0000000000000000";
    assert_eq!(in_shell(&format!("run --rm localhost/bb sh -c '{probe}'")).trim(), none);
    let id = in_shell(&format!("run -d localhost/bb sh -c '{probe}'")).trim().to_owned();
    assert_eq!(env.ok(&["wait", &id]).trim(), "0");
    assert_eq!(env.ok(&["logs", &id]).trim(), none);
    let id = env.ok(&["run", "-d", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    assert_eq!(in_shell(&format!("exec {id} sh -c '{probe}'")).trim(), none);
    // A health probe is exec'd by a checker that posix_spawn started: the
    // same holds for it.
    let id = in_shell(&format!("run -d --health-cmd '{probe}' --health-interval 100ms localhost/bb sleep 1000"));
    let probed = || {
        let out = env.ok(&["inspect", "--format", "{{range .State.Health.Log}}{{.Output}}{{end}}", id.trim()]);
        out.lines().find(|l| l.starts_with("SigIgn")).map(str::to_owned)
    };
    assert_eq!(eventually(probed).as_deref(), Some(none));
    // And a closed pipe still ends its writer (128+SIGPIPE), in a detached
    // container too, although its monitor survives SIGPIPE.
    let id = in_shell("run -d localhost/bb sh -c 'set -o pipefail; yes | head -c 2 >/dev/null; echo $?'");
    assert_eq!(env.ok(&["wait", id.trim()]).trim(), "0");
    assert_eq!(env.ok(&["logs", id.trim()]).trim(), "141");
}

#[test]
fn health_checks_follow_the_probe_as_docker_reports_them() {
    let Some(env) = Env::new() else { return };
    let ctx = env.path().join("hc");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    let dockerfile = "FROM localhost/bb\nHEALTHCHECK --interval=100ms --retries=2 CMD test -e /tmp/ok && echo fine\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("write");
    env.ok(&["build", "-q", "-t", "localhost/hc", ctx.to_str().expect("utf8")]);
    env.ok(&["run", "-d", "--name", "hc", "localhost/hc", "sleep", "1000"]);
    let health = |name: &str| env.ok(&["inspect", "--format", "{{.State.Health.Status}}", name]).trim().to_owned();
    // The probe fails twice in a row: unhealthy; then it passes: healthy.
    assert!(eventually(|| (health("hc") == "unhealthy").then_some(())).is_some(), "{}", health("hc"));
    env.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert!(eventually(|| (health("hc") == "healthy").then_some(())).is_some(), "{}", health("hc"));
    let last = env.ok(&["inspect", "--format", "{{with (index .State.Health.Log 0)}}{{.ExitCode}}{{end}}", "hc"]);
    assert_eq!(last.trim(), "1", "the log keeps failures too");
    let log = env.ok(&["inspect", "--format", "{{json .State.Health.Log}}", "hc"]);
    let log: serde_json::Value = serde_json::from_str(&log).expect("json");
    let entries = log.as_array().expect("a list");
    assert!(entries.len() <= 5, "docker keeps 5: {log}");
    let passed = entries.iter().rev().find(|e| e["ExitCode"] == 0).expect("a passing probe");
    assert_eq!(passed["Output"], "fine\n");
    let ps = env.ok(&["ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("hc Up ") && ps.trim_end().ends_with("(healthy)"), "{ps}");
    // Flags override the image's check; --no-healthcheck removes it.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "200ms",
        "localhost/hc",
        "sleep",
        "1000",
    ]);
    let cfg = env.ok(&["inspect", "--format", "{{json .Config.Healthcheck}}", "slow"]);
    assert_eq!(cfg.trim(), r#"{"Interval":100000000,"Retries":2,"Test":["CMD-SHELL","sleep 5"],"Timeout":200000000}"#);
    let timed_out = || {
        let out =
            env.ok(&["inspect", "--format", "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}", "slow"]);
        out.starts_with("-1 Health check exceeded timeout (200ms)").then_some(())
    };
    assert!(eventually(timed_out).is_some());
    env.ok(&["run", "-d", "--name", "none", "--no-healthcheck", "localhost/hc", "sleep", "1000"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{json .State.Health}}", "none"]).trim(), "null");
    assert_eq!(env.ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]).trim(), "none");
    let (code, _, err) = env.out(&["run", "-d", "--no-healthcheck", "--health-retries", "1", "localhost/hc"]);
    assert_eq!(
        (code, err.trim()),
        (
            125,
            "wharf: --no-healthcheck conflicts with --health-* options\n\nRun 'wharf run --help' for more information"
        )
    );
    // The checker goes with its container.
    env.ok(&["rm", "-f", "hc", "slow"]);
    let checkers = || {
        let o = std::process::Command::new("pgrep")
            .args(["-f", &format!("{} internal .*\"job\":\"health\"", env.root().display())])
            .output();
        o.map(|o| o.stdout.is_empty()).unwrap_or(false).then_some(())
    };
    assert!(eventually(checkers).is_some(), "a health checker outlived its container");
}

#[test]
fn run_it_detaches_with_the_keys_and_start_ai_attaches_again() {
    let Some(env) = Env::new() else { return };
    use std::io::Write;
    // `run -it` is an attach client: ctrl-p ctrl-q leaves, exit 0, and
    // the container runs on.
    let mut t = wharf_in_terminal(&env, "run -it --name box localhost/bb sh");
    t.stdin.write_all(b"echo $((6*7))\n").expect("write");
    let seen = read_until(&mut t.stdout, "42\r\n");
    assert!(seen.contains("42\r\n"), "{seen}");
    t.stdin.write_all(b"\x10\x11").expect("write");
    assert_eq!(t.child.wait().expect("run").code(), Some(0));
    assert_eq!(state(&env, "box"), "running 0");
    // `start -ai` on it attaches to the same shell.
    let mut t = wharf_in_terminal(&env, "start -ai box");
    t.stdin.write_all(b"echo $((6*8)); exit 5\n").expect("write");
    read_until(&mut t.stdout, "48\r\n");
    drop(t.stdin);
    assert_eq!(t.child.wait().expect("start").code(), Some(5));
    assert_eq!(state(&env, "box"), "exited 5");
    // With --rm, the CLI returns once the container is gone.
    let mut t = wharf_in_terminal(&env, "run -it --rm --name gone localhost/bb sh -c 'exit 6'");
    drop(t.stdin);
    std::io::Read::read_to_end(&mut t.stdout, &mut Vec::new()).expect("read");
    assert_eq!(t.child.wait().expect("run").code(), Some(6));
    assert_eq!(env.ok(&["ps", "-aq", "--filter", "name=gone"]), "");
}

#[test]
fn events_stream_what_happens_and_replay_the_past() {
    let Some(env) = Env::new() else { return };
    let format = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}";
    // From now on, whenever the stream gets to read (--since: no race).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let since = format!("{now:.6}");
    let mut stream = KillOnDrop(
        env.cmd(&[
            "events",
            "--since",
            &since,
            "--filter",
            "type=container",
            "--filter",
            "type=image",
            "--format",
            format,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("events"),
    );
    let mut out = stream.0.stdout.take().expect("stdout");
    assert_eq!(env.out(&["run", "--rm", "--name", "ev", "localhost/bb", "sh", "-c", "exit 3"]).0, 3);
    env.ok(&["tag", "localhost/bb", "localhost/bb:ev"]);
    let seen = read_until(&mut out, "image tag localhost/bb:ev\n");
    drop(stream);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines,
        [
            "container create ev",
            "container start ev",
            "container die ev",
            "container destroy ev",
            "image tag localhost/bb:ev"
        ],
        "{seen}"
    );
    // --since/--until replay the log, filtered.
    let past = env.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(past, "3\n");
    let (code, _, err) = env.out(&["events", "--filter", "bogus=1", "--until", "0s"]);
    assert_eq!((code, err.trim()), (1, "Error response from daemon: Invalid filter 'bogus'"));
}

#[test]
fn concurrent_starts_run_one_monitor_and_stop_then_start_restarts() {
    let Some(env) = Env::new() else { return };
    let id = env.ok(&["create", "--name", "race", "localhost/bb", "sleep", "1000"]).trim().to_owned();
    let children: Vec<_> = (0..4)
        .map(|_| env.cmd(&["start", "race"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start"))
        .collect();
    for child in children {
        let o = child.wait_with_output().expect("start");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "race\n");
    }
    // The starts ran at once, each its own process: the monitor lock lets
    // one of them run the container.
    let monitors = || {
        let o = std::process::Command::new("pgrep")
            .args(["-f", &format!("{} internal .*\"monitor\",\"id\":\"{id}\"", env.root().display())])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert_eq!(eventually(|| (monitors() == 1).then_some(())), Some(()), "one monitor for the container");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "race"]).trim(), "running");
    // A start right after a stop waits for the finishing monitor, then runs.
    env.ok(&["stop", "-t", "0", "race"]);
    env.ok(&["start", "race"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "race"]).trim(), "running");
    env.ok(&["rm", "-f", "race"]);
    assert_eq!(eventually(|| (monitors() == 0).then_some(())), Some(()), "the monitor goes with rm -f");
}

/// A container whose monitor and process were killed (-9, as an OOM
/// killer or a careless admin would): `system check` says so, and
/// `--repair` releases its network namespace, port rules and mount.
#[test]
fn check_finds_and_repairs_a_container_whose_monitor_and_process_died() {
    let Some(env) = Env::new() else { return };
    env.ok(&["run", "-d", "--name", "lost", "-p", "80", "localhost/bb", "sleep", "1000"]);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "lost"]).trim().to_owned();
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", "lost"]).trim().to_owned();
    let monitor = std::process::Command::new("pgrep").args(["-f", &format!("internal.*{id}")]).output().expect("pgrep");
    let monitor = String::from_utf8_lossy(&monitor.stdout).lines().next().expect("a monitor").to_owned();
    for p in [&monitor, &pid] {
        assert!(std::process::Command::new("kill").args(["-9", p]).status().expect("kill").success());
    }
    eventually(|| (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())).expect("the process is gone");
    let (code, out, _) = env.out(&["system", "check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("container lost is recorded running but its processes are gone"), "{out}");
    env.ok(&["system", "check", "--repair"]);
    assert!(env.ok(&["system", "check"]).contains("is consistent"));
    assert!(!Path::new(&format!("/run/wharf/ports/{id}")).exists(), "its port rules are gone");
    assert!(!Path::new("/run/netns").join(format!("wharf-{}", &id[..12])).exists(), "its namespace is gone");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "lost"]).trim(), "exited 255");
    // A cgroup a stopped container should not have any more.
    let base = if Path::new("/sys/fs/cgroup/pids").is_dir() { "/sys/fs/cgroup/pids" } else { "/sys/fs/cgroup" };
    let cgroup = Path::new(base).join("wharf").join(&id);
    std::fs::create_dir_all(&cgroup).expect("mkdir a cgroup");
    // And a runtime state cut short.
    let state = env.root().join("libcontainer").join(&id);
    std::fs::create_dir_all(&state).expect("mkdir a state");
    let (code, out, _) = env.out(&["system", "check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stopped container lost still has its runtime state, cgroups"), "{out}");
    env.ok(&["system", "check", "--repair"]);
    assert!(!cgroup.exists() && !state.exists(), "the cgroup and the state are removed");
    env.ok(&["rm", "lost"]);
}
