//! A container's resource limits as the Engine API asks for them (the
//! resource fields of `HostConfig`, in `create` and `update`), checked as
//! docker's daemon checks them, into the runtime's `Resources`.

use std::path::Path;

use runtime::resources::{Resources, Throttle};

use crate::api::{HostConfig, ThrottleDevice};
use crate::{Error, Result};

/// The limits `hc` asks for, with docker's checks. A limit this kernel
/// cannot apply is dropped with a warning in `warnings`, as docker's
/// daemon drops it. Zero means "not set" for every field, as in create.
pub fn limits(hc: &HostConfig, warnings: &mut Vec<String>) -> Result<Resources> {
    let positive = |v: Option<i64>| v.filter(|v| *v != 0);
    let mut r = Resources {
        memory: positive(hc.memory),
        memory_swap: positive(hc.memory_swap),
        memory_reservation: positive(hc.memory_reservation),
        cpu_shares: positive(hc.cpu_shares).map(|s| s as u64),
        pids_limit: positive(hc.pids_limit).map(|p| if p < 0 { -1 } else { p }),
        ..Resources::default()
    };
    // docker's linuxMinMemory: below it the kernel's own use kills the
    // container's first process; refused before anything is created.
    if r.memory.is_some_and(|m| m > 0 && m < 6 << 20) {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if let (Some(m), Some(res)) = (r.memory, r.memory_reservation) {
        if m > 0 && res > 0 && m < res {
            return Err(Error::invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
    }
    if r.memory_reservation.is_some_and(|res| res > 0 && res < 6 << 20) {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    cpu(hc, &mut r)?;
    r.cpuset_cpus = check_cpuset(hc.cpuset_cpus.as_deref(), "cpus", "CPUs")?;
    r.cpuset_mems = check_cpuset(hc.cpuset_mems.as_deref(), "mems", "memory nodes")?;
    if let Some(w) = hc.blkio_weight.filter(|w| *w != 0) {
        if !(10..=1000).contains(&w) {
            return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
        }
        if blkio_weight_supported() {
            r.blkio_weight = Some(w);
        } else {
            warnings.push(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into(),
            );
        }
    }
    memory_extras(hc, &mut r, warnings)?;
    r.read_bps = throttles(hc.blkio_device_read_bps.as_deref())?;
    r.write_bps = throttles(hc.blkio_device_write_bps.as_deref())?;
    r.read_iops = throttles(hc.blkio_device_read_iops.as_deref())?;
    r.write_iops = throttles(hc.blkio_device_write_iops.as_deref())?;
    Ok(r)
}

/// `NanoCpus` (docker's `--cpus`) within 0.01 and the online CPUs.
pub fn check_nano_cpus(nano: i64) -> Result<()> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if !(10_000_000..=n * 1_000_000_000).contains(&nano) {
        return Err(Error::invalid(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
        )));
    }
    Ok(())
}

/// `NanoCpus`, or `CpuPeriod` and `CpuQuota`, not both.
fn cpu(hc: &HostConfig, r: &mut Resources) -> Result<()> {
    let period = hc.cpu_period.filter(|p| *p != 0);
    let quota = hc.cpu_quota.filter(|q| *q != 0);
    if let Some(nano) = hc.nano_cpus.filter(|n| *n != 0) {
        check_nano_cpus(nano)?;
        if period.is_some() {
            return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
        }
        if quota.is_some() {
            return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
        }
        r.cpu_period = Some(100_000);
        r.cpu_quota = Some(nano / 10_000);
        return Ok(());
    }
    if let Some(p) = period {
        if !(1000..=1_000_000).contains(&p) {
            return Err(Error::invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ));
        }
        r.cpu_period = Some(p as u64);
    }
    if let Some(q) = quota {
        if q > 0 && q < 1000 {
            return Err(Error::invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
        }
        r.cpu_quota = Some(q);
    }
    Ok(())
}

/// Swappiness and the OOM killer: cgroup v1 only (v2 has neither knob).
fn memory_extras(hc: &HostConfig, r: &mut Resources, warnings: &mut Vec<String>) -> Result<()> {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return Err(Error::invalid(format!("Invalid value: {s}, valid memory swappiness range is 0-100")));
        }
        if v2 {
            warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
        } else {
            r.memory_swappiness = Some(s as u64);
        }
    }
    if hc.oom_kill_disable == Some(true) {
        if v2 {
            warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        } else {
            if r.memory.is_none_or(|m| m <= 0) {
                warnings.push(
                    "Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous."
                        .into(),
                );
            }
            r.oom_kill_disable = true;
        }
    }
    Ok(())
}

/// `OomScoreAdj`, within the kernel's range (0: not set).
pub fn oom_score_adj(hc: &HostConfig) -> Result<Option<i32>> {
    match hc.oom_score_adj.unwrap_or(0) {
        0 => Ok(None),
        a if (-1000..=1000).contains(&a) => Ok(Some(a as i32)),
        a => Err(Error::invalid(format!("Invalid value {a}, range for oom score adj is [-1000, 1000]"))),
    }
}

/// Rate limits on block devices, found by their paths.
fn throttles(devices: Option<&[ThrottleDevice]>) -> Result<Vec<Throttle>> {
    let mut out = Vec::new();
    for d in devices.unwrap_or_default() {
        let path = d.path.as_deref().unwrap_or_default();
        let m = rustix::fs::stat(path).map_err(|e| Error::invalid(format!("error getting device {path}: {e}")))?;
        if m.st_mode & libc::S_IFMT != libc::S_IFBLK {
            return Err(Error::invalid(format!("{path} is not a block device")));
        }
        let (major, minor) = (rustix::fs::major(m.st_rdev), rustix::fs::minor(m.st_rdev));
        let rate =
            u64::try_from(d.rate.unwrap_or(0)).map_err(|_| Error::invalid(format!("invalid rate for {path}")))?;
        out.push(Throttle { major: major.into(), minor: minor.into(), rate });
    }
    Ok(out)
}

/// Checks a cpuset list against what the host has (docker's messages).
fn check_cpuset(list: Option<&str>, kind: &str, what: &str) -> Result<Option<String>> {
    let Some(list) = list.filter(|l| !l.is_empty()) else { return Ok(None) };
    let asked = parse_list(list).ok_or_else(|| Error::invalid(format!("Invalid value {list} for cpuset {kind}")))?;
    let available =
        std::fs::read_to_string(format!("/sys/devices/system/{}/online", if kind == "cpus" { "cpu" } else { "node" }))
            .unwrap_or_else(|_| "0".into());
    let have = parse_list(available.trim()).unwrap_or_default();
    if asked.iter().any(|n| !have.contains(n)) {
        return Err(Error::invalid(format!(
            "Requested {what} are not available - requested {list}, available: {}",
            available.trim()
        )));
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

/// Whether the kernel accounts swap per cgroup (memory+swap limits can be
/// set): v1's memory.memsw files, or v2's memory.swap.max in any cgroup
/// below the root (the root has none).
pub fn swap_accounting() -> bool {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    }
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("memory.swap.max").exists())
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
        assert_eq!(check_cpuset(Some("x"), "cpus", "CPUs"), Err(Error::invalid("Invalid value x for cpuset cpus")));
        assert!(check_cpuset(Some("0-4095"), "cpus", "CPUs")
            .is_err_and(|e| e.message().starts_with("Requested CPUs are not available")));
        assert_eq!(check_cpuset(Some("0"), "cpus", "CPUs"), Ok(Some("0".into())));
    }

    #[test]
    fn throttles_need_a_block_device() {
        let on = |path: &str| vec![ThrottleDevice { path: Some(path.into()), rate: Some(10) }];
        assert_eq!(throttles(Some(&on("/dev/null"))), Err(Error::invalid("/dev/null is not a block device")));
        assert!(throttles(Some(&on("/nonexistent"))).is_err_and(|e| e.message().starts_with("error getting device")));
    }

    #[test]
    fn cpu_limits_follow_docker_rules() {
        let hc = HostConfig { nano_cpus: Some(500_000_000), ..HostConfig::default() };
        let r = limits(&hc, &mut Vec::new()).expect("valid limits");
        assert_eq!((r.cpu_period, r.cpu_quota), (Some(100_000), Some(50_000)));
        let both = HostConfig { nano_cpus: Some(500_000_000), cpu_period: Some(5000), ..HostConfig::default() };
        assert!(limits(&both, &mut Vec::new()).is_err_and(|e| e.message().contains("Nano CPUs and CPU Period")));
        let tiny = HostConfig { nano_cpus: Some(1), ..HostConfig::default() };
        assert!(limits(&tiny, &mut Vec::new()).is_err_and(|e| e.message().starts_with("Range of CPUs")));
        let reservation =
            HostConfig { memory: Some(8 << 20), memory_reservation: Some(16 << 20), ..HostConfig::default() };
        assert!(limits(&reservation, &mut Vec::new()).is_err());
        let unlimited_pids = HostConfig { pids_limit: Some(-5), ..HostConfig::default() };
        assert_eq!(limits(&unlimited_pids, &mut Vec::new()).expect("valid limits").pids_limit, Some(-1));
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn memory_below_six_megabytes_is_refused_as_docker_refuses_it() {
        let hc = |m: i64| HostConfig { memory: Some(m), ..HostConfig::default() };
        let err = limits(&hc(4 << 20), &mut Vec::new()).expect_err("4 MB is too little");
        assert_eq!(err.to_string(), "Minimum memory limit allowed is 6MB");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert_eq!(limits(&hc(6 << 20), &mut Vec::new()).expect("6 MB").memory, Some(6 << 20));
    }
}
