//! Health checks (HEALTHCHECK, `--health-*`), as docker's daemon runs
//! them, without a daemon: at each start of a container with a check, its
//! monitor resets the state to `starting` and starts a checker (an
//! internal job of the wharf binary), which runs the probe in the container
//! every interval and keeps the state in `containers/ID/health.json`;
//! `ps` and `inspect` read it. The checker is a process of its own because
//! an exec forks, and the monitor must stay single-threaded and never wait
//! for a probe; the monitor kills it when the container exits.
//!
//! docker's rules: a probe that exits 0 makes the container `healthy`;
//! `retries` failures in a row make it `unhealthy`, except that failures
//! within the start period do not count while it is still `starting`; a
//! probe that outlives its timeout is killed and fails (exit code -1);
//! the last 5 results are kept, each with up to 4096 bytes of output.

use std::io::{Read, Seek};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use store::Store;

use crate::container::{load_config, ContainerConfig};
use crate::layout::Layout;
use crate::monitor::oci_runtime;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
const MAX_OUTPUT: usize = 4096;
const MAX_LOG: usize = 5;
/// The shortest duration docker accepts for a check's times.
pub const MIN_DURATION_NS: u64 = 1_000_000;

/// docker's HealthConfig; durations in nanoseconds, 0 for the default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["CMD", args...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn or_default(ns: u64, default: Duration) -> Duration {
    if ns == 0 {
        default
    } else {
        Duration::from_nanos(ns)
    }
}

impl HealthConfig {
    /// Whether there is a probe to run (not absent, not `NONE`).
    pub fn active(&self) -> bool {
        matches!(self.test.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) && self.test.len() > 1
    }

    /// The probe's argv: CMD's arguments, or CMD-SHELL's through /bin/sh.
    pub fn argv(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            _ => self.test[1..].to_vec(),
        }
    }

    fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }

    /// The wait before the next probe: the start interval (if set) while
    /// starting within the start period, else the interval.
    fn next_wait(&self, starting: bool, since_start: Duration) -> Duration {
        if starting && self.start_interval > 0 && since_start < Duration::from_nanos(self.start_period) {
            return Duration::from_nanos(self.start_interval);
        }
        or_default(self.interval, DEFAULT_INTERVAL)
    }
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<ProbeResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    /// Applies one probe's result (docker's handleProbeResult).
    fn record(&mut self, result: ProbeResult, cfg: &HealthConfig, since_start: Duration) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else {
            let grace = self.status == "starting" && since_start < Duration::from_nanos(cfg.start_period);
            if !grace {
                self.failing_streak += 1;
                let retries = if cfg.retries == 0 { DEFAULT_RETRIES } else { cfg.retries };
                if self.failing_streak >= retries {
                    self.status = "unhealthy".into();
                }
            }
        }
        self.log.push(result);
        let extra = self.log.len().saturating_sub(MAX_LOG);
        self.log.drain(..extra);
    }
}

fn state_path(root: &Path, id: &str) -> PathBuf {
    Layout::new(root).container(id).health()
}

/// The container's health, if it has a check and has been started.
pub fn read(root: &Path, id: &str) -> Option<Health> {
    serde_json::from_slice(&std::fs::read(state_path(root, id)).ok()?).ok()
}

/// Replaces the state file whole (readers never see half of one).
fn write(root: &Path, id: &str, health: &Health) -> std::io::Result<()> {
    crate::files::replace(&state_path(root, id), &serde_json::to_vec(health)?)
}

/// At a start of a container with a check: state `starting`, and a
/// checker started. Returns a pidfd for the checker, to kill it with no
/// risk of hitting a reused pid (the monitor reaps every child).
pub fn start_checker(root: &Path, id: &str, cfg: &ContainerConfig) -> Option<OwnedFd> {
    if !cfg.health.as_ref().is_some_and(HealthConfig::active) {
        return None;
    }
    let starting = Health { status: "starting".into(), ..Health::default() };
    if let Err(e) = write(root, id, &starting) {
        crate::monitor::warn(root, id, &format!("health state: {e}"));
        return None;
    }
    let log = std::fs::OpenOptions::new().create(true).append(true).open(Layout::new(root).container(id).monitor_log());
    let child = crate::internal::Job::Health { id: id.to_owned() }
        .command(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.map_or(Stdio::null(), Stdio::from))
        .spawn()
        .map_err(|e| crate::monitor::warn(root, id, &format!("starting the health checker: {e}")))
        .ok()?;
    let pid = rustix::process::Pid::from_raw(child.id() as i32)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// When the container exits: its checker goes too.
pub fn stop_checker(pidfd: Option<OwnedFd>) {
    if let Some(fd) = pidfd {
        let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
    }
}

/// The health checker's body (an internal job): probes until the
/// container's init is gone.
pub fn checker_main(root: &Path, id: &str) -> crate::Result<()> {
    let rec = Store::open(root)?.container(id)?;
    let cfg = load_config(&rec);
    let Some(hc) = cfg.health.clone().filter(HealthConfig::active) else { return Ok(()) };
    let started = Instant::now();
    let mut health = read(root, id).unwrap_or_default();
    let alive = || runtime::supervise::alive(rec.pid);
    loop {
        sleep_reaping(hc.next_wait(health.status == "starting", started.elapsed()));
        if !alive() {
            break;
        }
        let since_start = started.elapsed();
        let result = probe(root, &rec, &cfg, &hc);
        if !alive() {
            break;
        }
        let was = health.status.clone();
        health.record(result, &hc, since_start);
        write(root, id, &health)?;
        if health.status != was {
            crate::events::container(root, &format!("health_status: {}", health.status), &rec, &[]);
        }
    }
    Ok(())
}

/// Sleeps for `d`, reaping every child that exits meanwhile. A probe cut
/// short (its exec failed half-way, or the container died under it) can
/// leave the runtime's processes behind, and one left unreaped inside the
/// container's PID namespace keeps the container's init from finishing its
/// exit: the kernel waits for every task of a dying namespace to be
/// reaped, the monitor waits for the init, and `rm -f` waited forever.
fn sleep_reaping(d: Duration) {
    use rustix::process::{wait, WaitOptions};
    let end = Instant::now() + d;
    loop {
        // `wait`, any child: `waitpid(None)` is rustix's pid 0, children of
        // this process group only, and the runtime's exec helpers make
        // their own (a zombie of theirs kept a container from dying).
        while let Ok(Some(_)) = wait(WaitOptions::NOHANG) {}
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Runs the probe once in the container, as its user with its
/// environment; its result.
fn probe(root: &Path, rec: &store::ContainerRecord, cfg: &ContainerConfig, hc: &HealthConfig) -> ProbeResult {
    let start = SystemTime::now();
    let (exit_code, output) = match run_probe(root, rec, cfg, hc) {
        Ok(Some(done)) => done,
        Ok(None) => (-1, format!("Health check exceeded timeout ({})", go_duration(hc.timeout()))),
        Err(e) => (-1, format!("{e:#}")),
    };
    let stamp = |t| humantime::format_rfc3339_nanos(t).to_string();
    ProbeResult { start: stamp(start), end: stamp(SystemTime::now()), exit_code, output }
}

/// The probe's exit code and output; None if it timed out (and was
/// killed).
fn run_probe(
    root: &Path,
    rec: &store::ContainerRecord,
    cfg: &ContainerConfig,
    hc: &HealthConfig,
) -> crate::Result<Option<(i32, String)>> {
    let paths = Layout::new(root).container(&rec.id);
    let merged = paths.merged();
    let mut user = runtime::resolve_user(&merged, &cfg.user)?;
    user.add_groups(&merged, &cfg.group_add)?;
    let opts = runtime::ExecOptions {
        user: Some(format!("{}:{}", user.uid, user.gid)),
        additional_gids: user.additional_gids,
        ..runtime::ExecOptions::default()
    };
    // Output into an unnamed file (O_TMPFILE): a pipe would need reading
    // meanwhile, and nothing is left behind if this process is killed.
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(paths.dir())?;
    let stdio = [runtime::oci::null_fd()?, out.try_clone()?.into(), out.try_clone()?.into()];
    let pid = oci_runtime(root, cfg)?.exec_spawn(&rec.id, &opts, &hc.argv(), stdio)?;
    let Some(code) = wait_within(pid, hc.timeout())? else { return Ok(None) };
    let mut bytes = Vec::new();
    out.rewind()?;
    out.take(MAX_OUTPUT as u64).read_to_end(&mut bytes)?;
    Ok(Some((code, String::from_utf8_lossy(&bytes).into_owned())))
}

/// Waits for child `pid` up to `limit`; kills it after that (None).
fn wait_within(pid: i32, limit: Duration) -> crate::Result<Option<i32>> {
    use rustix::process::{waitpid, Pid, WaitOptions};
    let p = Pid::from_raw(pid).ok_or_else(|| crate::Error::internal(format!("bad pid {pid}")))?;
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(Some((_, st))) => return Ok(Some(runtime::supervise::exit_code(st))),
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            let _ = runtime::supervise::send_signal(pid, libc::SIGKILL);
            let _ = waitpid(Some(p), WaitOptions::empty());
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Go's `time.Duration.String()` (`30s`, `1m30s`, `500ms`, `1.5s`).
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let trim = |whole: u128, frac: u128, digits: usize, unit: &str| {
        let f = format!("{frac:0digits$}");
        let f = f.trim_end_matches('0');
        if f.is_empty() {
            format!("{whole}{unit}")
        } else {
            format!("{whole}.{f}{unit}")
        }
    };
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => trim(n / 1_000, n % 1_000, 3, "µs"),
        n if n < 1_000_000_000 => trim(n / 1_000_000, n % 1_000_000, 6, "ms"),
        n => {
            let secs = trim((n / 1_000_000_000) % 60, n % 1_000_000_000, 9, "s");
            let (m, h) = ((n / 60_000_000_000) % 60, n / 3_600_000_000_000);
            match (h, m) {
                (0, 0) => secs,
                (0, m) => format!("{m}m{secs}"),
                (h, m) => format!("{h}h{m}m{secs}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthConfig {
        HealthConfig { test: test.iter().map(|s| s.to_string()).collect(), ..HealthConfig::default() }
    }

    #[test]
    fn durations_print_as_go_does() {
        let cases = [(0, "0s"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"), (30_000_000_000, "30s")];
        for (ns, want) in cases {
            assert_eq!(go_duration(Duration::from_nanos(ns)), want);
        }
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    }

    #[test]
    fn failures_count_after_the_start_period_and_success_resets() {
        let mut cfg = check(&["CMD", "x"]);
        cfg.retries = 2;
        cfg.start_period = 10_000_000_000;
        let fail = || ProbeResult { exit_code: 1, ..ProbeResult::default() };
        let mut h = Health { status: "starting".into(), ..Health::default() };
        h.record(fail(), &cfg, Duration::from_secs(1));
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0), "grace in the start period");
        h.record(fail(), &cfg, Duration::from_secs(11));
        h.record(fail(), &cfg, Duration::from_secs(12));
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        h.record(ProbeResult::default(), &cfg, Duration::from_secs(13));
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            h.record(fail(), &cfg, Duration::from_secs(20));
        }
        assert_eq!(h.log.len(), MAX_LOG);
    }
}
