//! docker's resource flags (`run`/`create`, and those `update` shares),
//! into the API's `HostConfig` fields (the engine checks the limits).

use clap::Args;
use engine::api::{HostConfig, ThrottleDevice};

/// The resource limits of `run`/`create`, and of `update`.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Memory limit
    #[arg(short, long, value_parser = size_flag)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, value_parser = size_flag)]
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
    /// `--cpus` as docker's NanoCpus (decimal, so 0.3 is 300000000).
    pub fn nano_cpus(&self) -> Option<i64> {
        self.cpus.filter(|&c| c != 0.0).map(|c| (c * 1e9).round() as i64)
    }

    /// Sets the API's resource fields these flags give (docker's CLI
    /// parses sizes and numbers; the engine checks the limits).
    pub fn fill(&self, hc: &mut HostConfig) -> Result<(), String> {
        hc.memory = self.memory.as_deref().map(parse_bytes).transpose()?;
        hc.memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            Some(s) => Some(parse_bytes(s)?),
            None => None,
        };
        hc.memory_reservation = self.memory_reservation.as_deref().map(parse_bytes).transpose()?;
        hc.nano_cpus = self.nano_cpus();
        hc.cpu_shares = self.cpu_shares.map(|s| s as i64);
        hc.cpu_period = self.cpu_period.map(|p| p as i64);
        hc.cpu_quota = self.cpu_quota;
        hc.cpuset_cpus = self.cpuset_cpus.clone();
        hc.cpuset_mems = self.cpuset_mems.clone();
        hc.blkio_weight = self.blkio_weight;
        hc.pids_limit = self.pids_limit;
        Ok(())
    }
}

impl RunResourceArgs {
    /// Sets the API's fields for these flags.
    pub fn fill(&self, hc: &mut HostConfig) -> Result<(), String> {
        hc.memory_swappiness = self.memory_swappiness;
        hc.oom_kill_disable = self.oom_kill_disable.then_some(true);
        hc.oom_score_adj = self.oom_score_adj.map(i64::from);
        hc.blkio_device_read_bps = Some(throttles(&self.device_read_bps, true)?);
        hc.blkio_device_write_bps = Some(throttles(&self.device_write_bps, true)?);
        hc.blkio_device_read_iops = Some(throttles(&self.device_read_iops, false)?);
        hc.blkio_device_write_iops = Some(throttles(&self.device_write_iops, false)?);
        Ok(())
    }
}

/// `DEVICE:RATE` flags: bytes (with docker's k/m/g units) or operations
/// per second on a device path (the engine finds the device).
fn throttles(flags: &[String], bytes: bool) -> Result<Vec<ThrottleDevice>, String> {
    let mut out = Vec::new();
    for f in flags {
        let (path, rate) = f.rsplit_once(':').ok_or_else(|| format!("bad format: {f}"))?;
        if !path.starts_with("/dev/") {
            return Err(format!("bad format for device path: {f}"));
        }
        let rate =
            if bytes { parse_bytes(rate).ok().filter(|r| *r >= 0) } else { rate.parse::<u64>().ok().map(|r| r as i64) };
        let Some(rate) = rate else {
            let unit = if bytes {
                "[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
            } else {
                ". Number must be a positive integer"
            };
            return Err(format!("invalid rate for device: {f}. The correct format is <device-path>:<number>{unit}"));
        };
        out.push(ThrottleDevice { path: Some(path.to_owned()), rate: Some(rate) });
    }
    Ok(out)
}

/// A size flag's value, checked when the flags are parsed (docker's
/// MemBytes flags), kept as given.
pub fn size_flag(s: &str) -> Result<String, String> {
    parse_bytes(s).map(|_| s.to_owned())
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
    fn throttles_need_a_device_path_and_a_rate() {
        assert_eq!(throttles(&["nocolon".into()], true), Err("bad format: nocolon".into()));
        assert_eq!(throttles(&["/tmp/x:1mb".into()], true), Err("bad format for device path: /tmp/x:1mb".into()));
        assert!(throttles(&["/dev/null:lots".into()], true).is_err_and(|e| e.starts_with("invalid rate for device")));
        let t = throttles(&["/dev/sda:1mb".into()], true).expect("parses");
        assert_eq!((t[0].path.as_deref(), t[0].rate), (Some("/dev/sda"), Some(1 << 20)));
    }

    #[test]
    fn cpus_are_decimal() {
        let a = |c: f64| ResourceArgs {
            cpus: Some(c),
            memory: None,
            memory_swap: None,
            memory_reservation: None,
            cpu_shares: None,
            cpu_period: None,
            cpu_quota: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            blkio_weight: None,
            pids_limit: None,
        };
        assert_eq!(a(0.3).nano_cpus(), Some(300_000_000));
        assert_eq!(a(0.0).nano_cpus(), None);
    }
}
