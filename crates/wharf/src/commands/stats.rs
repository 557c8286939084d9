//! `wharf stats`: containers' resource use as docker shows it, read from
//! their cgroups (v1 or v2) and network namespaces, sampled a second apart
//! (CPU % is the share of the host's CPU time between two samples).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use store::ContainerState;

use clap::Args;
use serde_json::json;
use store::{ContainerRecord, Store};

use super::lifecycle::lookup;
use crate::format;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print stats using a Go template or 'json'
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

/// One reading of a container's counters.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    /// CPU time of the container and of the whole host, in ns.
    cpu: u64,
    system: u64,
    mem_usage: u64,
    mem_limit: u64,
    net_rx: u64,
    net_tx: u64,
    blk_read: u64,
    blk_write: u64,
    pids: u64,
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
pub(crate) fn host_memory() -> u64 {
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

fn sample(rec: &ContainerRecord) -> Sample {
    let mut s = Sample { system: system_cpu(), ..Sample::default() };
    if rec.state != ContainerState::Running && rec.state != ContainerState::Paused {
        return s;
    }
    let cfg = super::container::load_config(rec);
    // On the host's network the counters are the host's: docker shows none.
    if cfg.network != "host" {
        (s.net_rx, s.net_tx) = network(rec.pid.into());
    }
    let cg = super::container::cgroup_path(&cfg, &rec.id);
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

/// One row's fields, in docker's names (`--format` placeholders).
fn row(rec: &ContainerRecord, before: &Sample, now: &Sample, no_trunc: bool) -> BTreeMap<String, serde_json::Value> {
    let running = rec.state == ContainerState::Running || rec.state == ContainerState::Paused;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (dc, ds) = (now.cpu.saturating_sub(before.cpu), now.system.saturating_sub(before.system));
    let cpu = if ds > 0 { dc as f64 / ds as f64 * cpus * 100.0 } else { 0.0 };
    let mem = if now.mem_limit > 0 { now.mem_usage as f64 / now.mem_limit as f64 * 100.0 } else { 0.0 };
    let io = |a: u64, b: u64| {
        format!("{} / {}", format::human_size_with_precision(a, 3), format::human_size_with_precision(b, 3))
    };
    let id = if no_trunc { rec.id.clone() } else { rec.id[..12].to_owned() };
    let dash = |s: String| if running { s } else { "--".to_owned() };
    BTreeMap::from([
        ("Container".to_owned(), json!(id)),
        ("ID".to_owned(), json!(id)),
        ("Name".to_owned(), json!(rec.name)),
        ("CPUPerc".to_owned(), json!(dash(format!("{cpu:.2}%")))),
        (
            "MemUsage".to_owned(),
            json!(format!("{} / {}", format::bytes_size(now.mem_usage), format::bytes_size(now.mem_limit))),
        ),
        ("MemPerc".to_owned(), json!(dash(format!("{mem:.2}%")))),
        ("NetIO".to_owned(), json!(io(now.net_rx, now.net_tx))),
        ("BlockIO".to_owned(), json!(io(now.blk_read, now.blk_write))),
        ("PIDs".to_owned(), json!(now.pids.to_string())),
    ])
}

fn table(rows: &[BTreeMap<String, serde_json::Value>]) -> String {
    let header = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];
    let keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"];
    let body: Vec<Vec<String>> =
        rows.iter().map(|r| keys.iter().map(|k| r[*k].as_str().unwrap_or_default().to_owned()).collect()).collect();
    format::table(&header, &body)
}

/// The containers named, or the running ones (all with -a).
fn chosen(store: &mut Store, args: &StatsArgs) -> anyhow::Result<Vec<ContainerRecord>> {
    if !args.containers.is_empty() {
        return Ok(args.containers.iter().map(|k| lookup(store, k)).collect::<Result<_, _>>()?);
    }
    let mut all = store.containers()?;
    all.retain(|c| args.all || c.state == ContainerState::Running || c.state == ContainerState::Paused);
    Ok(all)
}

pub fn stats(root: &Path, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut recs = chosen(&mut store, &args)?;
    let mut before: BTreeMap<String, Sample> = recs.iter().map(|r| (r.id.clone(), sample(r))).collect();
    let clear = !args.no_stream && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if !args.no_stream {
            // As docker's stream: containers that start or go meanwhile
            // come and go from the table (named ones stay, with their
            // state as it is now).
            recs = chosen(&mut store, &args).unwrap_or(recs);
        }
        let mut rows = Vec::new();
        let mut now = BTreeMap::new();
        for r in &recs {
            let n = sample(r);
            rows.push(row(r, before.get(&r.id).unwrap_or(&n), &n, args.no_trunc));
            now.insert(r.id.clone(), n);
        }
        let text = match &args.format {
            Some(f) => format::render(f, &rows)?,
            None => table(&rows),
        };
        let mut out = std::io::stdout().lock();
        if clear {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        before = now;
    }
}
