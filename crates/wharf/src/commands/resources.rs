//! docker's resource flags (`run`/`create`, and those `update` shares),
//! checked as docker's daemon checks them, into runtime::resources.

use std::path::Path;

use clap::Args;
use runtime::resources::{Resources, Throttle};

/// The resource limits of `run`/`create`, and of `update`.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short, long)]
    pub cpu_shares: Option<u64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

/// The limits only `run`/`create` set.
#[derive(Debug, Args)]
pub struct RunResourceArgs {
    /// Tune container memory swappiness (0 to 100)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long, value_name = "list")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long, value_name = "list")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long, value_name = "list")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long, value_name = "list")]
    pub device_write_iops: Vec<String>,
}

impl ResourceArgs {
    /// `--cpus` (0: none), within docker's range: 0.01 to the online CPUs.
    pub fn cpus(&self) -> Result<Option<f64>, String> {
        let Some(c) = self.cpus.filter(|&c| c != 0.0) else { return Ok(None) };
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !(0.01..=n as f64).contains(&c) {
            return Err(format!("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"));
        }
        Ok(Some(c))
    }

    /// `--memory-swap` in bytes (-1: unlimited).
    pub fn memory_swap(&self) -> Result<Option<i64>, String> {
        match self.memory_swap.as_deref() {
            Some("-1") => Ok(Some(-1)),
            Some(s) => parse_bytes(s).map(Some),
            None => Ok(None),
        }
    }

    /// The limits these flags ask for, with docker's checks; warnings (a
    /// limit the kernel cannot apply, dropped as docker drops it) go to
    /// `warn`.
    pub fn to_resources(&self, warn: &mut dyn FnMut(&str)) -> Result<Resources, String> {
        let mut r = Resources {
            memory: self.memory.as_deref().map(parse_bytes).transpose()?,
            memory_swap: self.memory_swap()?,
            memory_reservation: self.memory_reservation.as_deref().map(parse_bytes).transpose()?,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit.filter(|&p| p != 0).map(|p| if p < 0 { -1 } else { p }),
            ..Resources::default()
        };
        if let (Some(m), Some(res)) = (r.memory, r.memory_reservation) {
            if m > 0 && res > 0 && m < res {
                return Err("Minimum memory limit can not be less than memory reservation limit, see usage".into());
            }
        }
        if r.memory_reservation.is_some_and(|res| res > 0 && res < 6 << 20) {
            return Err("Minimum memory reservation allowed is 6MB".into());
        }
        self.cpu(&mut r)?;
        r.cpuset_cpus = check_cpuset(self.cpuset_cpus.as_deref(), "cpus", "CPUs")?;
        r.cpuset_mems = check_cpuset(self.cpuset_mems.as_deref(), "mems", "memory nodes")?;
        if let Some(w) = self.blkio_weight.filter(|w| *w != 0) {
            if !(10..=1000).contains(&w) {
                return Err("Range of blkio weight is from 10 to 1000".into());
            }
            if blkio_weight_supported() {
                r.blkio_weight = Some(w);
            } else {
                warn("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
            }
        }
        Ok(r)
    }

    /// `--cpus`, or `--cpu-period` and `--cpu-quota`, not both.
    fn cpu(&self, r: &mut Resources) -> Result<(), String> {
        if let Some(n) = self.cpus()? {
            if self.cpu_period.is_some_and(|p| p != 0) {
                return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
            }
            if self.cpu_quota.is_some_and(|q| q != 0) {
                return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
            }
            r.cpu_period = Some(100_000);
            r.cpu_quota = Some((n * 100_000.0) as i64);
            return Ok(());
        }
        if let Some(p) = self.cpu_period.filter(|p| *p != 0) {
            if !(1000..=1_000_000).contains(&p) {
                return Err(
                    "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into()
                );
            }
            r.cpu_period = Some(p);
        }
        if let Some(q) = self.cpu_quota.filter(|q| *q != 0) {
            if q > 0 && q < 1000 {
                return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
            }
            r.cpu_quota = Some(q);
        }
        Ok(())
    }
}

impl RunResourceArgs {
    /// Adds these to `r`, checked as docker checks them.
    pub fn add_to(&self, r: &mut Resources, warn: &mut dyn FnMut(&str)) -> Result<(), String> {
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        if let Some(s) = self.memory_swappiness.filter(|s| *s != -1) {
            if !(0..=100).contains(&s) {
                return Err(format!("Invalid value: {s}, valid memory swappiness range is 0-100"));
            }
            if v2 {
                warn("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.");
            } else {
                r.memory_swappiness = Some(s as u64);
            }
        }
        if self.oom_kill_disable {
            if v2 {
                warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
            } else {
                if r.memory.is_none_or(|m| m <= 0) {
                    warn("Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.");
                }
                r.oom_kill_disable = true;
            }
        }
        r.read_bps = throttles(&self.device_read_bps, true)?;
        r.write_bps = throttles(&self.device_write_bps, true)?;
        r.read_iops = throttles(&self.device_read_iops, false)?;
        r.write_iops = throttles(&self.device_write_iops, false)?;
        Ok(())
    }

    /// `--oom-score-adj`, within the kernel's range.
    pub fn oom_score_adj(&self) -> Result<Option<i32>, String> {
        match self.oom_score_adj {
            Some(a) if !(-1000..=1000).contains(&a) => {
                Err(format!("Invalid value {a}, range for oom score adj is [-1000, 1000]"))
            }
            a => Ok(a.filter(|a| *a != 0)),
        }
    }
}

/// `DEVICE:RATE` flags: bytes (with docker's k/m/g units) or operations
/// per second on a block device, found by its path.
fn throttles(flags: &[String], bytes: bool) -> Result<Vec<Throttle>, String> {
    let mut out = Vec::new();
    for f in flags {
        let (path, rate) = f.rsplit_once(':').ok_or_else(|| format!("bad format: {f}"))?;
        if !path.starts_with("/dev/") {
            return Err(format!("bad format for device path: {f}"));
        }
        let rate = if bytes { parse_bytes(rate).ok().and_then(|r| u64::try_from(r).ok()) } else { rate.parse().ok() };
        let Some(rate) = rate else {
            let unit = if bytes {
                "[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
            } else {
                ". Number must be a positive integer"
            };
            return Err(format!("invalid rate for device: {f}. The correct format is <device-path>:<number>{unit}"));
        };
        let m = rustix::fs::stat(path).map_err(|e| format!("error getting device {path}: {e}"))?;
        if m.st_mode & libc::S_IFMT != libc::S_IFBLK {
            return Err(format!("{path} is not a block device"));
        }
        let (major, minor) = (rustix::fs::major(m.st_rdev), rustix::fs::minor(m.st_rdev));
        out.push(Throttle { major: major.into(), minor: minor.into(), rate });
    }
    Ok(out)
}

/// Checks a cpuset list against what the host has (docker's messages).
fn check_cpuset(list: Option<&str>, kind: &str, what: &str) -> Result<Option<String>, String> {
    let Some(list) = list.filter(|l| !l.is_empty()) else { return Ok(None) };
    let asked = parse_list(list).ok_or_else(|| format!("Invalid value {list} for cpuset {kind}"))?;
    let available =
        std::fs::read_to_string(format!("/sys/devices/system/{}/online", if kind == "cpus" { "cpu" } else { "node" }))
            .unwrap_or_else(|_| "0".into());
    let have = parse_list(available.trim()).unwrap_or_default();
    if asked.iter().any(|n| !have.contains(n)) {
        return Err(format!("Requested {what} are not available - requested {list}, available: {}", available.trim()));
    }
    Ok(Some(list.to_owned()))
}

/// `0-2,4`: the kernel's list format.
fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Whether the blkio/io controller takes a weight here (CFQ's or BFQ's;
/// with another I/O scheduler there is none, and docker drops the flag).
fn blkio_weight_supported() -> bool {
    let v1 = [
        "/sys/fs/cgroup/blkio/blkio.weight",
        "/sys/fs/cgroup/blkio/wharf/blkio.weight",
        "/sys/fs/cgroup/blkio/wharf/blkio.bfq.weight",
    ];
    let v2 = ["/sys/fs/cgroup/wharf/io.weight", "/sys/fs/cgroup/wharf/io.bfq.weight"];
    v1.iter().chain(&v2).any(|p| Path::new(p).exists())
}

/// docker's `RAMInBytes`: a number with an optional b/k/m/g/t suffix
/// (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| r.ends_with(|c: char| "kmgt".contains(c))).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    if n < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_list("1"), Some(vec![1]));
        assert_eq!(parse_list("2-1"), None);
        assert_eq!(parse_list("a"), None);
        assert_eq!(check_cpuset(Some("x"), "cpus", "CPUs"), Err("Invalid value x for cpuset cpus".into()));
        assert!(check_cpuset(Some("0-4095"), "cpus", "CPUs")
            .is_err_and(|e| e.starts_with("Requested CPUs are not available")));
        assert_eq!(check_cpuset(Some("0"), "cpus", "CPUs"), Ok(Some("0".into())));
    }

    #[test]
    fn throttles_need_a_block_device_and_a_rate() {
        assert_eq!(throttles(&["nocolon".into()], true), Err("bad format: nocolon".into()));
        assert_eq!(throttles(&["/tmp/x:1mb".into()], true), Err("bad format for device path: /tmp/x:1mb".into()));
        assert!(throttles(&["/dev/null:lots".into()], true).is_err_and(|e| e.starts_with("invalid rate for device")));
        assert_eq!(throttles(&["/dev/null:10".into()], false), Err("/dev/null is not a block device".into()));
    }
}
