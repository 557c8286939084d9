//! Chaos: every mutating command killed with SIGKILL at a random moment,
//! then `system check --repair`, a clean `system check`, the command again
//! (it must succeed), every image still runs, and at the end nothing of
//! the test's containers is left on the host (mounts, processes, network
//! namespaces, port rules, cgroups, /run/wharf files).
//!
//! One round of every command runs in CI. `WHARF_CHAOS_ROUNDS=N` runs N;
//! `WHARF_CHAOS_SEED=S` replays a run (the seed is printed either way).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::registry::{have_registry, Registry};
use common::{mounts_under, Env};

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("WHARF_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
        t.as_nanos() as u64 | 1
    })
}

fn rounds() -> usize {
    std::env::var("WHARF_CHAOS_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// A command to kill: how to run it, and what must hold before the retry
/// (`prepare`), run before each attempt.
struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Run (ignoring failures) before each attempt: puts the store in the
    /// state the command expects.
    prepare: Vec<Vec<String>>,
    /// Kill within this many milliseconds of the start.
    window_ms: u64,
}

fn case(name: &'static str, args: &[&str], prepare: &[&[&str]], window_ms: u64) -> Case {
    let own = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Case { name, args: own(args), prepare: prepare.iter().map(|p| own(p)).collect(), window_ms }
}

struct Chaos {
    env: Env,
    seed: u64,
    rng: Rng,
    /// Every container ID the test saw, for the host checks at the end.
    seen: std::collections::BTreeSet<String>,
}

impl Chaos {
    fn quiet(&self, args: &[String]) -> (i32, String, String) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.env.out(&a)
    }

    fn note_containers(&mut self) {
        let (_, out, _) = self.env.out(&["ps", "-aq", "--no-trunc"]);
        self.seen.extend(out.lines().map(str::to_owned));
    }

    /// Starts the command, kills it with SIGKILL after a random delay in
    /// its window (unless it finished first); returns whether it was killed.
    fn kill_during(&mut self, c: &Case) -> bool {
        let delay = self.rng.below(c.window_ms);
        let a: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let mut child =
            self.env.cmd(&a).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        let killed = matches!(child.try_wait(), Ok(None));
        if killed {
            child.kill().expect("SIGKILL");
        }
        let _ = child.wait();
        killed
    }

    /// After a kill: repair, then the store must check clean.
    fn repaired(&mut self, what: &str) {
        self.note_containers();
        let (code, out, err) = self.env.out(&["system", "check", "--repair"]);
        assert_eq!(code, 0, "seed {}: {what}: check --repair: {out}{err}", self.seed);
        let (code, out, err) = self.env.out(&["system", "check"]);
        assert_eq!(code, 0, "seed {}: {what}: a second check: {out}{err}", self.seed);
    }

    fn round(&mut self, c: &Case, round: usize) {
        for p in &c.prepare {
            let _ = self.quiet(p);
        }
        let killed = self.kill_during(c);
        let what = format!("round {round}, {} ({})", c.name, if killed { "killed" } else { "finished first" });
        self.repaired(&what);
        for p in &c.prepare {
            let _ = self.quiet(p);
        }
        let (code, out, err) = self.quiet(&c.args);
        assert_eq!(code, 0, "seed {}: {what}: the command again: {out}{err}", self.seed);
        self.note_containers();
        let (code, out, err) = self.env.out(&["run", "--rm", "localhost/bb", "true"]);
        assert_eq!(code, 0, "seed {}: {what}: the base image runs: {out}{err}", self.seed);
    }
}

fn context(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("data"), "x".repeat(100_000)).expect("write");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM localhost/bb\nCOPY data /data\nRUN i=0; while [ $i -lt 200 ]; do cp /data /d$i; i=$((i+1)); done\n",
    )
    .expect("write");
    dir.display().to_string()
}

fn cases(env: &Env, reg: Option<&Registry>) -> Vec<Case> {
    let ctx = context(&env.path().join("chaos-ctx"));
    let saved = env.path().join("chaos-saved.tar");
    let rootfs = env.path().join("bb.tar").display().to_string();
    let saved = saved.display().to_string();
    let run = ["run", "-d", "--name", "chaos-run", "-p", "80", "localhost/bb", "sleep", "1000"];
    let running: &[&str] = &["start", "chaos-run"];
    let created: &[&str] = &["run", "-d", "--name", "chaos-run", "-p", "80", "localhost/bb", "sleep", "1000"];
    let mut all = vec![
        case("build", &["build", "-q", "--no-cache", "-t", "chaos-built", &ctx], &[], 1500),
        case("run -d", &run, &[&["rm", "-f", "chaos-run"]], 400),
        case("stop", &["stop", "-t", "1", "chaos-run"], &[created, running], 400),
        case("start", &["start", "chaos-run"], &[created, &["stop", "-t", "0", "chaos-run"]], 400),
        case("commit", &["commit", "chaos-run", "chaos-committed"], &[created, running], 400),
        case("rm -f", &["rm", "-f", "chaos-run"], &[created], 300),
        case("save", &["save", "-o", &saved, "chaos-built"], &[], 300),
        case("load", &["load", "-q", "-i", &saved], &[&["rmi", "-f", "chaos-built"], &["image", "prune", "-f"]], 300),
        case("import", &["import", &rootfs, "chaos-imported"], &[], 300),
        case("rmi", &["rmi", "chaos-imported"], &[&["import", &rootfs, "chaos-imported"]], 200),
        case("network create", &["network", "create", "chaos-net"], &[&["network", "rm", "chaos-net"]], 200),
        case("network rm", &["network", "rm", "chaos-net"], &[&["network", "create", "chaos-net"]], 200),
        case("volume rm", &["volume", "rm", "chaos-vol"], &[&["volume", "create", "chaos-vol"]], 100),
        case(
            "system prune",
            &["system", "prune", "-f"],
            &[&["run", "--name", "chaos-done", "localhost/bb", "true"]],
            300,
        ),
    ];
    if let Some(reg) = reg {
        let remote = format!("{}/chaos/built:v1", reg.addr());
        let tag: &[&str] = &["tag", "chaos-built", &remote];
        all.push(case("push", &["push", "-q", &remote], &[tag], 500));
        // The registry has it from the push: the store loses it whole.
        let gone: &[&[&str]] = &[&["rmi", "-f", &remote], &["rmi", "-f", "chaos-built"], &["image", "prune", "-f"]];
        all.push(case("pull", &["pull", "-q", &remote], gone, 500));
        all.push(case("tag", &["tag", &remote, "chaos-built"], &[], 50));
    }
    all
}

/// Sets the flag when dropped, also when a panic unwinds.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the test's containers could leave on the host, by container ID.
fn host_leftovers(ids: &std::collections::BTreeSet<String>, root: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let netns = std::fs::read_dir("/run/netns").map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>());
    let rules = Command::new("iptables").args(["-t", "nat", "-S"]).output().map(|o| o.stdout).unwrap_or_default();
    let rules = String::from_utf8_lossy(&rules);
    for id in ids {
        if netns.iter().flatten().any(|n| n.to_string_lossy().contains(&id[..12])) {
            left.push(format!("network namespace of {id}"));
        }
        if rules.contains(&format!("wharf:{id}")) {
            left.push(format!("port rules of {id}"));
        }
        if Path::new("/run/wharf/ports").join(id).exists() {
            left.push(format!("/run/wharf/ports/{id}"));
        }
        for cg in ["/sys/fs/cgroup/memory/wharf", "/sys/fs/cgroup/pids/wharf", "/sys/fs/cgroup/wharf"] {
            if Path::new(cg).join(id).exists() {
                left.push(format!("cgroup {cg}/{id}"));
            }
        }
    }
    for m in mounts_under(root) {
        left.push(format!("mount {m}"));
    }
    let procs = Command::new("pgrep").args(["-af", &root.display().to_string()]).output().map(|o| o.stdout);
    for p in String::from_utf8_lossy(&procs.unwrap_or_default()).lines() {
        left.push(format!("process {p}"));
    }
    left
}

#[test]
fn commands_killed_at_random_moments_leave_a_store_that_repairs_and_works() {
    let Some(env) = Env::new() else { return };
    let reg = have_registry().then(|| Registry::start(None));
    let seed = seed();
    eprintln!("chaos seed {seed} (WHARF_CHAOS_SEED={seed} replays it), {} round(s)", rounds());
    let all = cases(&env, reg.as_ref());
    let mut chaos = Chaos { env, seed, rng: Rng(seed), seen: Default::default() };
    // What the cases start from: the image the others use.
    let (code, _, err) = chaos.quiet(&all[0].args);
    assert_eq!(code, 0, "{err}");
    for round in 0..rounds() {
        for c in &all {
            chaos.round(c, round);
        }
    }
    for img in ["chaos-built", "chaos-committed", "localhost/bb"] {
        let (code, _, err) = chaos.env.out(&["run", "--rm", img, "true"]);
        assert_eq!(code, 0, "seed {seed}: {img} runs: {err}");
    }
    chaos.note_containers();
    let ids: Vec<String> = chaos.seen.iter().cloned().collect();
    let mut rm = vec!["rm".to_owned(), "-f".to_owned()];
    let (_, out, _) = chaos.env.out(&["ps", "-aq"]);
    rm.extend(out.lines().map(str::to_owned));
    if rm.len() > 2 {
        let (code, _, err) = chaos.quiet(&rm);
        assert_eq!(code, 0, "{err}");
    }
    let _ = chaos.env.out(&["network", "rm", "chaos-net"]);
    let root: PathBuf = chaos.env.root();
    let left = common::eventually(|| {
        let left = host_leftovers(&chaos.seen, &root);
        left.is_empty().then_some(())
    });
    assert!(
        left.is_some(),
        "seed {seed}: left on the host: {:?} (containers {ids:?})",
        host_leftovers(&chaos.seen, &root)
    );
}

/// Many `run -d` with published ports at once, then as many `rm -f` at
/// once, with `ps` and `inspect` in a loop meanwhile: every command
/// succeeds, every container answers on its port, and nothing is left.
/// `WHARF_CONCURRENCY=N` sets how many (default 100).
#[test]
fn a_hundred_runs_and_removals_at_once_all_succeed_and_leave_nothing() {
    let Some(env) = Env::new() else { return };
    let n: usize = std::env::var("WHARF_CONCURRENCY").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let root = env.root();
    let ids: Vec<String> = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut failures = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (code, out, err) = env.out(&["ps", "-a", "--format", "{{.Names}}"]);
                if code != 0 {
                    failures.push(format!("ps: {err}"));
                }
                if let Some(name) = out.lines().next() {
                    let (code, _, err) = env.out(&["inspect", "-f", "{{.State.Status}}", name]);
                    if code != 0 && !err.contains("No such") {
                        failures.push(format!("inspect {name}: {err}"));
                    }
                }
            }
            failures
        });
        // A failed assert below ends the watcher too (else the scope
        // would wait for it for ever).
        let _stop = StopOnDrop(&stop);
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let name = format!("many{i}");
                let args = [
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "-p",
                    "127.0.0.1::8080",
                    "localhost/bb",
                    "httpd",
                    "-f",
                    "-p",
                    "8080",
                ];
                env.cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run")
            })
            .collect();
        // Every run is waited for before any is judged.
        let outputs: Vec<_> = runs.into_iter().map(|r| r.wait_with_output().expect("wait")).collect();
        let failed: Vec<String> = outputs
            .iter()
            .filter(|o| !o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect();
        assert!(failed.is_empty(), "{} of {n} run -d failed: {failed:?}", failed.len());
        let ids: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).collect();
        for i in 0..n {
            let port = env.ok(&["port", &format!("many{i}"), "8080"]);
            let addr = port.lines().next().expect("a binding").trim().to_owned();
            let answered = common::eventually(|| std::net::TcpStream::connect(&addr).ok().map(|_| ()));
            assert!(answered.is_some(), "many{i} answers on {addr}");
        }
        let removals: Vec<_> = (0..n)
            .map(|i| {
                env.cmd(&["rm", "-f", &format!("many{i}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("rm")
            })
            .collect();
        for r in removals {
            let o = r.wait_with_output().expect("wait");
            assert!(o.status.success(), "rm -f: {}", String::from_utf8_lossy(&o.stderr));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let failures = watcher.join().expect("watcher");
        assert!(failures.is_empty(), "ps/inspect meanwhile: {failures:?}");
        ids
    });
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    let seen = ids.into_iter().collect();
    let left = common::eventually(|| host_leftovers(&seen, &root).is_empty().then_some(()));
    assert!(left.is_some(), "left on the host: {:?}", host_leftovers(&seen, &root));
    let (code, out, _) = env.out(&["system", "check"]);
    assert_eq!(code, 0, "{out}");
}
