//! `stats`: containers' resource use as docker reports it, read from
//! their cgroups (v1 or v2) and network namespaces. A front end samples
//! twice and shows the difference (CPU % is the share of the host's CPU
//! time between two samples).

use std::collections::BTreeMap;
use std::path::Path;

use store::ContainerRecord;

/// One reading of a container's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    /// CPU time of the container and of the whole host, in ns.
    pub cpu: u64,
    pub system: u64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn number(path: &str) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat) as a map.
fn keyed(path: &str) -> BTreeMap<String, u64> {
    read(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The host's CPU time (all CPUs, in ns) from /proc/stat, as docker's.
fn system_cpu() -> u64 {
    let stat = read("/proc/stat").unwrap_or_default();
    let jiffies: u64 =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse::<u64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    jiffies * (1_000_000_000 / hz)
}

/// The host's memory (MemTotal), in bytes.
pub fn host_memory() -> u64 {
    let info = read("/proc/meminfo").unwrap_or_default();
    let kb = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
    kb.unwrap_or(0) * 1024
}

/// Bytes received and sent on the container's interfaces but lo.
fn network(pid: i64) -> (u64, u64) {
    let dev = read(&format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut rx_tx = (0, 0);
    for line in dev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if name.trim() != "lo" && f.len() > 8 {
            rx_tx = (rx_tx.0 + f[0], rx_tx.1 + f[8]);
        }
    }
    rx_tx
}

/// The container's counters now (only the host's CPU time for one that
/// does not run).
pub fn sample(rec: &ContainerRecord) -> Sample {
    let mut s = Sample { system: system_cpu(), ..Sample::default() };
    if !rec.state.is_live() {
        return s;
    }
    let cfg = crate::container::load_config(rec);
    // On the host's network the counters are the host's: docker shows none.
    if cfg.network != "host" {
        (s.net_rx, s.net_tx) = network(rec.pid.into());
    }
    let cg = crate::monitor::cgroup_path(&cfg, &rec.id);
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        cgroup_v2(&cg, &mut s);
    } else {
        cgroup_v1(&cg, &mut s);
    }
    s
}

fn cgroup_v2(cg: &str, s: &mut Sample) {
    let f = |file: &str| format!("/sys/fs/cgroup/{cg}/{file}");
    s.cpu = keyed(&f("cpu.stat")).get("usage_usec").copied().unwrap_or(0) * 1000;
    let inactive = keyed(&f("memory.stat")).get("inactive_file").copied().unwrap_or(0);
    s.mem_usage = number(&f("memory.current")).unwrap_or(0).saturating_sub(inactive);
    let host = host_memory();
    s.mem_limit = number(&f("memory.max")).unwrap_or(host).min(host);
    for field in read(&f("io.stat")).unwrap_or_default().split_whitespace() {
        match field.split_once('=') {
            Some(("rbytes", v)) => s.blk_read += v.parse::<u64>().unwrap_or(0),
            Some(("wbytes", v)) => s.blk_write += v.parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    s.pids = number(&f("pids.current")).unwrap_or(0);
}

fn cgroup_v1(cg: &str, s: &mut Sample) {
    let f = |ctl: &str, file: &str| format!("/sys/fs/cgroup/{ctl}/{cg}/{file}");
    s.cpu = number(&f("cpuacct", "cpuacct.usage")).unwrap_or(0);
    let inactive = keyed(&f("memory", "memory.stat")).get("total_inactive_file").copied().unwrap_or(0);
    s.mem_usage = number(&f("memory", "memory.usage_in_bytes")).unwrap_or(0).saturating_sub(inactive);
    let host = host_memory();
    s.mem_limit = number(&f("memory", "memory.limit_in_bytes")).unwrap_or(host).min(host);
    for line in read(&f("blkio", "blkio.throttle.io_service_bytes_recursive")).unwrap_or_default().lines() {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_, "Read", v] => s.blk_read += v.parse::<u64>().unwrap_or(0),
            [_, "Write", v] => s.blk_write += v.parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    s.pids = number(&f("pids", "pids.current")).unwrap_or(0);
}

/// CPU % between two samples, as docker computes it.
pub fn cpu_percent(before: &Sample, now: &Sample) -> f64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (dc, ds) = (now.cpu.saturating_sub(before.cpu), now.system.saturating_sub(before.system));
    if ds > 0 {
        dc as f64 / ds as f64 * cpus * 100.0
    } else {
        0.0
    }
}
