//! `update`: a container's resource limits and restart policy, changed
//! in its runtime spec (for its next start) and, when it runs, in its
//! cgroup at once, as docker's.

use std::path::Path;

use runtime::resources::Resources;
use serde_json::Value;
use store::Store;

use crate::container::{load_config, ContainerConfig, RestartPolicy};
use crate::{Error, Result};

/// The limits asked for, in the runtime spec's terms (-1: unlimited).
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub r: Resources,
    /// The CPU quota came from `--cpus` (docker's NanoCpus).
    pub nano_cpus: Option<i64>,
}

impl Limits {
    /// The limits an update body asks for (the API's `Resources`, read
    /// into a HostConfig): docker's checks, with their warnings. A pids
    /// limit of 0 means unlimited here, where create reads it as unset.
    pub fn from_host_config(hc: &crate::api::HostConfig, warnings: &mut Vec<String>) -> Result<Limits> {
        let mut r = crate::resources::limits(hc, warnings)?;
        if hc.pids_limit == Some(0) {
            r.pids_limit = Some(-1);
        }
        Ok(Limits { r, nano_cpus: hc.nano_cpus.filter(|n| *n != 0) })
    }

    fn is_empty(&self) -> bool {
        self.r == Resources::default()
    }

    /// docker's rule: `--cpus` and `--cpu-period`/`--cpu-quota` exclude
    /// each other across updates too.
    fn check_cpu(&self, cfg: &ContainerConfig, spec: &Value) -> Result<()> {
        let set = |k: &str| cfg.nano_cpus == 0 && spec["linux"]["resources"]["cpu"][k].as_i64().is_some_and(|v| v > 0);
        let conflict = if self.nano_cpus.is_some() && set("period") {
            "Nano CPUs cannot be updated as CPU Period has already been set"
        } else if self.nano_cpus.is_some() && set("quota") {
            "Nano CPUs cannot be updated as CPU Quota has already been set"
        } else if self.nano_cpus.is_none() && self.r.cpu_period.is_some() && cfg.nano_cpus > 0 {
            "CPU Period cannot be updated as NanoCPUs has already been set"
        } else if self.nano_cpus.is_none() && self.r.cpu_quota.is_some() && cfg.nano_cpus > 0 {
            "CPU Quota cannot be updated as NanoCPUs has already been set"
        } else {
            return Ok(());
        };
        Err(Error::invalid(format!("Conflicting options: {conflict}")))
    }

    /// Writes the limits into the spec's `linux.resources`; docker's check
    /// that memory stays within memory+swap.
    fn apply_to_spec(&self, spec: &mut Value, id: &str) -> Result<()> {
        let res = &mut spec["linux"]["resources"];
        let l = &self.r;
        let memory = l.memory.or_else(|| res["memory"]["limit"].as_i64());
        let swap = l.memory_swap.or_else(|| res["memory"]["swap"].as_i64());
        if memory.is_none() && swap.is_some_and(|s| s > 0) {
            return Err(Error::invalid(format!(
                "Cannot update container {id}: You should always set the Memory limit when using Memoryswap limit, see usage"
            )));
        }
        if let (Some(m), Some(s)) = (memory, swap) {
            if s >= 0 && m > s {
                return Err(Error::invalid(format!(
                    "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
                )));
            }
        }
        let reservation = l.memory_reservation.or_else(|| res["memory"]["reservation"].as_i64());
        if let (Some(m), Some(r)) = (memory, reservation) {
            if m > 0 && r > m {
                return Err(Error::invalid(format!(
                    "Cannot update container {id}: Minimum memory limit can not be less than memory reservation limit, see usage"
                )));
            }
        }
        let mut set = |section: &str, key: &str, v: Option<Value>| {
            if let Some(v) = v {
                res[section][key] = v;
            }
        };
        set("memory", "limit", l.memory.map(Value::from));
        set("memory", "swap", l.memory_swap.map(Value::from));
        set("memory", "reservation", l.memory_reservation.map(Value::from));
        set("cpu", "period", l.cpu_period.map(Value::from));
        set("cpu", "quota", l.cpu_quota.map(Value::from));
        set("cpu", "shares", l.cpu_shares.map(Value::from));
        set("cpu", "cpus", l.cpuset_cpus.clone().map(Value::from));
        set("cpu", "mems", l.cpuset_mems.clone().map(Value::from));
        set("pids", "limit", l.pids_limit.map(Value::from));
        set("blockIO", "weight", l.blkio_weight.map(Value::from));
        Ok(())
    }
}

/// Writes `value` to a cgroup file.
fn write(path: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// "Cannot update container ID: setting WHAT: ERROR".
fn failed(id: &str, what: &str, e: std::io::Error) -> Error {
    Error::internal(format!("Cannot update container {id}: setting {what}: {e}"))
}

/// The limits into a running container's cgroup (v1 or v2); `spec` has
/// them all (the memory and memory+swap pair is written whole, and so
/// are the CPU period and quota).
fn apply_to_cgroup(id: &str, cg: &str, l: &Resources, spec: &Value) -> Result<()> {
    let res = &spec["linux"]["resources"];
    let pair = (l.memory.is_some() || l.memory_swap.is_some())
        .then(|| (res["memory"]["limit"].as_i64().unwrap_or(-1), res["memory"]["swap"].as_i64().unwrap_or(-1)));
    let cfs = (l.cpu_period.is_some() || l.cpu_quota.is_some())
        .then(|| (res["cpu"]["period"].as_u64().unwrap_or(100_000), res["cpu"]["quota"].as_i64().unwrap_or(-1)));
    let change = Change { id, cg, r: l, memory: pair, cfs };
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        cgroup_v2(&change)
    } else {
        cgroup_v1(&change)
    }
}

/// What to write into one container's cgroup files.
struct Change<'a> {
    /// For error messages.
    id: &'a str,
    /// The cgroup below each hierarchy's root.
    cg: &'a str,
    r: &'a Resources,
    /// Memory and memory+swap, written together (-1: unlimited).
    memory: Option<(i64, i64)>,
    /// CFS period and quota, written together.
    cfs: Option<(u64, i64)>,
}

fn cgroup_v2(c: &Change) -> Result<()> {
    let Change { id, cg, r: l, memory, cfs } = *c;
    let f = |file: &str| format!("/sys/fs/cgroup/{cg}/{file}");
    let max = |v: i64| if v < 0 { "max".to_owned() } else { v.to_string() };
    if let Some((m, s)) = memory {
        write(&f("memory.max"), &max(m)).map_err(|e| failed(id, "memory", e))?;
        // v2 limits swap alone: memory+swap less memory.
        let swap = if s < 0 || m < 0 { "max".to_owned() } else { (s - m).to_string() };
        write(&f("memory.swap.max"), &swap).map_err(|e| failed(id, "memory-swap", e))?;
    }
    if let Some(r) = l.memory_reservation {
        write(&f("memory.low"), &max(r)).map_err(|e| failed(id, "memory-reservation", e))?;
    }
    if let Some((period, quota)) = cfs {
        write(&f("cpu.max"), &format!("{} {period}", max(quota))).map_err(|e| failed(id, "cpu quota", e))?;
    }
    if let Some(s) = l.cpu_shares {
        // The conversion runc and crun use.
        let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(&f("cpu.weight"), &weight.to_string()).map_err(|e| failed(id, "cpu-shares", e))?;
    }
    cpuset(id, l, &f("cpuset.cpus"), &f("cpuset.mems"))?;
    if let Some(p) = l.pids_limit {
        write(&f("pids.max"), &max(p)).map_err(|e| failed(id, "pids-limit", e))?;
    }
    if let Some(w) = l.blkio_weight {
        // io.weight is 1-10000 (the v1 weight scaled, as runc does);
        // BFQ's own file takes the v1 range.
        let scaled = 1 + (u64::from(w) - 10) * 9999 / 990;
        write(&f("io.weight"), &format!("default {scaled}"))
            .or_else(|_| write(&f("io.bfq.weight"), &w.to_string()))
            .map_err(|e| failed(id, "blkio-weight", e))?;
    }
    Ok(())
}

fn cgroup_v1(c: &Change) -> Result<()> {
    let Change { id, cg, r: l, memory, cfs } = *c;
    let f = |ctl: &str, file: &str| format!("/sys/fs/cgroup/{ctl}/{cg}/{file}");
    if let Some((m, s)) = memory {
        let (m, s) = (m.to_string(), s.to_string());
        let (mem, memsw) = (f("memory", "memory.limit_in_bytes"), f("memory", "memory.memsw.limit_in_bytes"));
        let has_swap = Path::new(&memsw).exists();
        // memory <= memory+swap at every moment: growing, memory+swap goes
        // first (the kernel refuses the memory limit above it).
        match write(&mem, &m) {
            Ok(()) if has_swap => write(&memsw, &s).map_err(|e| failed(id, "memory-swap", e))?,
            Ok(()) => {}
            Err(_) if has_swap => {
                write(&memsw, &s).map_err(|e| failed(id, "memory-swap", e))?;
                write(&mem, &m).map_err(|e| failed(id, "memory", e))?;
            }
            Err(e) => return Err(failed(id, "memory", e)),
        }
    }
    if let Some(r) = l.memory_reservation {
        write(&f("memory", "memory.soft_limit_in_bytes"), &r.to_string())
            .map_err(|e| failed(id, "memory-reservation", e))?;
    }
    if let Some((period, quota)) = cfs {
        write(&f("cpu", "cpu.cfs_period_us"), &period.to_string()).map_err(|e| failed(id, "cpu period", e))?;
        write(&f("cpu", "cpu.cfs_quota_us"), &quota.to_string()).map_err(|e| failed(id, "cpu quota", e))?;
    }
    if let Some(s) = l.cpu_shares {
        write(&f("cpu", "cpu.shares"), &s.to_string()).map_err(|e| failed(id, "cpu-shares", e))?;
    }
    cpuset(id, l, &f("cpuset", "cpuset.cpus"), &f("cpuset", "cpuset.mems"))?;
    if let Some(p) = l.pids_limit {
        let v = if p < 0 { "max".to_owned() } else { p.to_string() };
        write(&f("pids", "pids.max"), &v).map_err(|e| failed(id, "pids-limit", e))?;
    }
    if let Some(w) = l.blkio_weight {
        write(&f("blkio", "blkio.weight"), &w.to_string())
            .or_else(|_| write(&f("blkio", "blkio.bfq.weight"), &w.to_string()))
            .map_err(|e| failed(id, "blkio-weight", e))?;
    }
    Ok(())
}

/// `--cpuset-cpus` and `--cpuset-mems` into their files (the same names
/// on v1 and v2).
fn cpuset(id: &str, l: &Resources, cpus: &str, mems: &str) -> Result<()> {
    if let Some(c) = &l.cpuset_cpus {
        write(cpus, c).map_err(|e| failed(id, "cpuset-cpus", e))?;
    }
    if let Some(m) = &l.cpuset_mems {
        write(mems, m).map_err(|e| failed(id, "cpuset-mems", e))?;
    }
    Ok(())
}

/// Changes a container's limits (in its spec for its next start and, when
/// it runs, in its cgroup at once) and restart policy, as docker's.
pub fn update(store: &mut Store, key: &str, limits: &Limits, restart: Option<&RestartPolicy>) -> Result<()> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let mut cfg = load_config(&rec);
    if let Some(p) = restart {
        if cfg.auto_remove && p.name != "no" {
            return Err(Error::invalid(format!(
                "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
                rec.id
            )));
        }
    }
    if !limits.is_empty() && !runtime::delegation::own_cgroups() {
        return Err(Error::invalid(format!(
            "Cannot update container {}: {}",
            rec.id,
            crate::create::options::rootless_limits()
        )));
    }
    if !limits.is_empty() {
        let path = crate::Layout::new(store.root()).container(&rec.id).spec();
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        limits.check_cpu(&cfg, &spec).map_err(|e| e.context(format!("Cannot update container {}", rec.id)))?;
        limits.apply_to_spec(&mut spec, &rec.id)?;
        if rec.state.is_live() {
            apply_to_cgroup(&rec.id, &crate::monitor::cgroup_path(&cfg, &rec.id), &limits.r, &spec)?;
        }
        crate::files::replace(&path, &serde_json::to_vec_pretty(&spec)?)?;
    }
    if let Some(n) = limits.nano_cpus {
        cfg.nano_cpus = n;
    }
    if let Some(p) = restart {
        // The monitor reads the policy again at each exit.
        cfg.restart = p.clone();
    }
    if restart.is_some() || limits.nano_cpus.is_some() {
        store.set_container_config(&rec.id, &serde_json::to_string(&cfg)?)?;
    }
    Ok(())
}
