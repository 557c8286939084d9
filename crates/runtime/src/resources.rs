//! A container's cgroup limits, as docker's resource flags give them, and
//! their place in the runtime spec (`linux.resources`).

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};

/// What limits a container: each None or empty is the kernel's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Bytes (`--memory`).
    pub memory: Option<i64>,
    /// Memory plus swap, bytes; -1 unlimited (`--memory-swap`).
    pub memory_swap: Option<i64>,
    /// A soft limit, bytes (`--memory-reservation`).
    pub memory_reservation: Option<i64>,
    /// 0 to 100 (`--memory-swappiness`).
    pub memory_swappiness: Option<u64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// Microseconds (`--cpu-period`, or 100000 for `--cpus`).
    pub cpu_period: Option<u64>,
    /// Microseconds per period (`--cpu-quota`, or from `--cpus`).
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`, `--cpuset-mems`: lists such as `0-2,4`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// -1: unlimited.
    pub pids_limit: Option<i64>,
    /// 10 to 1000 (`--blkio-weight`).
    pub blkio_weight: Option<u16>,
    pub read_bps: Vec<Throttle>,
    pub write_bps: Vec<Throttle>,
    pub read_iops: Vec<Throttle>,
    pub write_iops: Vec<Throttle>,
}

/// A rate limit on one block device (bytes or operations per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

impl Resources {
    /// `linux.resources`: these limits and the device cgroup `rules`.
    pub fn to_oci(&self, rules: Vec<LinuxDeviceCgroup>) -> Result<LinuxResources, oci_spec::OciSpecError> {
        let mut r = LinuxResourcesBuilder::default().devices(rules);
        let has_memory = self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swappiness.is_some()
            || self.oom_kill_disable;
        if has_memory {
            let mut m = LinuxMemoryBuilder::default();
            if let Some(l) = self.memory {
                m = m.limit(l);
            }
            if let Some(s) = self.memory_swap {
                m = m.swap(s);
            }
            if let Some(s) = self.memory_reservation {
                m = m.reservation(s);
            }
            if let Some(s) = self.memory_swappiness {
                m = m.swappiness(s);
            }
            if self.oom_kill_disable {
                m = m.disable_oom_killer(true);
            }
            r = r.memory(m.build()?);
        }
        let has_cpu = self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_shares.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some();
        if has_cpu {
            let mut c = LinuxCpuBuilder::default();
            if let Some(p) = self.cpu_period {
                c = c.period(p);
            }
            if let Some(q) = self.cpu_quota {
                c = c.quota(q);
            }
            if let Some(s) = self.cpu_shares {
                c = c.shares(s);
            }
            if let Some(s) = &self.cpuset_cpus {
                c = c.cpus(s.clone());
            }
            if let Some(s) = &self.cpuset_mems {
                c = c.mems(s.clone());
            }
            r = r.cpu(c.build()?);
        }
        if let Some(p) = self.pids_limit {
            r = r.pids(LinuxPidsBuilder::default().limit(p).build()?);
        }
        if let Some(io) = self.block_io()? {
            r = r.block_io(io);
        }
        r.build()
    }

    fn block_io(&self) -> Result<Option<oci_spec::runtime::LinuxBlockIo>, oci_spec::OciSpecError> {
        let lists = [&self.read_bps, &self.write_bps, &self.read_iops, &self.write_iops];
        if self.blkio_weight.is_none() && lists.iter().all(|l| l.is_empty()) {
            return Ok(None);
        }
        let devices = |list: &[Throttle]| {
            list.iter()
                .map(|t| LinuxThrottleDeviceBuilder::default().major(t.major).minor(t.minor).rate(t.rate).build())
                .collect::<Result<Vec<_>, _>>()
        };
        let mut io = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(devices(&self.read_bps)?)
            .throttle_write_bps_device(devices(&self.write_bps)?)
            .throttle_read_iops_device(devices(&self.read_iops)?)
            .throttle_write_iops_device(devices(&self.write_iops)?);
        if let Some(w) = self.blkio_weight {
            io = io.weight(w);
        }
        Ok(Some(io.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_set_reaches_the_spec() -> Result<(), Box<dyn std::error::Error>> {
        let none = serde_json::to_value(Resources::default().to_oci(Vec::new())?)?;
        assert!(none.get("memory").is_none() && none.get("cpu").is_none() && none.get("blockIO").is_none());
        let r = Resources {
            memory_reservation: Some(32 << 20),
            oom_kill_disable: true,
            cpu_period: Some(50_000),
            cpu_quota: Some(25_000),
            cpuset_cpus: Some("0".into()),
            blkio_weight: Some(300),
            write_bps: vec![Throttle { major: 254, minor: 0, rate: 1 << 20 }],
            ..Resources::default()
        };
        let v = serde_json::to_value(r.to_oci(Vec::new())?)?;
        assert_eq!(v["memory"]["reservation"], 32 << 20);
        assert_eq!(v["memory"]["disableOOMKiller"], true);
        assert_eq!((v["cpu"]["period"].clone(), v["cpu"]["quota"].clone()), (50_000.into(), 25_000.into()));
        assert_eq!(v["cpu"]["cpus"], "0");
        assert_eq!(v["blockIO"]["weight"], 300);
        assert_eq!(v["blockIO"]["throttleWriteBpsDevice"][0]["rate"], 1 << 20);
        Ok(())
    }
}
