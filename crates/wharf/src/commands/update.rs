//! `wharf update`: a container's resource limits and restart policy,
//! changed in its runtime spec (for its next start) and, when it runs, in
//! its cgroup at once, as docker's.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use store::Store;

use super::container::{self, load_config, RestartPolicy};
use super::lifecycle::lookup;
use super::run::ResourceArgs;
use crate::exit::fail;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceArgs,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The limits asked for, in the runtime spec's terms (-1: unlimited).
#[derive(Debug, Default)]
struct Limits {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    cpu_quota: Option<i64>,
    cpu_shares: Option<u64>,
    pids: Option<i64>,
}

impl Limits {
    fn from_args(a: &ResourceArgs) -> anyhow::Result<Limits> {
        Ok(Limits {
            memory: a.memory.as_deref().map(super::run::parse_bytes).transpose().map_err(fail)?,
            memory_swap: a.memory_swap().map_err(fail)?,
            cpu_quota: a.cpus().map_err(fail)?.map(|c| (c * 100_000.0) as i64),
            cpu_shares: a.cpu_shares,
            pids: a.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        })
    }

    fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.memory_swap.is_none()
            && self.cpu_quota.is_none()
            && self.cpu_shares.is_none()
            && self.pids.is_none()
    }

    /// Writes the limits into the spec's `linux.resources`; docker's check
    /// that memory stays within memory+swap.
    fn apply_to_spec(&self, spec: &mut Value, id: &str) -> anyhow::Result<()> {
        let r = &mut spec["linux"]["resources"];
        let memory = self.memory.or_else(|| r["memory"]["limit"].as_i64());
        let swap = self.memory_swap.or_else(|| r["memory"]["swap"].as_i64());
        if memory.is_none() && swap.is_some_and(|s| s > 0) {
            return Err(fail(format!(
                "Cannot update container {id}: You should always set the Memory limit when using Memoryswap limit, see usage"
            )));
        }
        if let (Some(m), Some(s)) = (memory, swap) {
            if s >= 0 && m > s {
                return Err(fail(format!(
                    "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
                )));
            }
        }
        if let Some(m) = self.memory {
            r["memory"]["limit"] = json!(m);
        }
        if let Some(s) = self.memory_swap {
            r["memory"]["swap"] = json!(s);
        }
        if let Some(q) = self.cpu_quota {
            r["cpu"]["quota"] = json!(q);
            r["cpu"]["period"] = json!(100_000);
        }
        if let Some(s) = self.cpu_shares {
            r["cpu"]["shares"] = json!(s);
        }
        if let Some(p) = self.pids {
            r["pids"]["limit"] = json!(p);
        }
        Ok(())
    }
}

/// Writes `value` to a cgroup file.
fn write(path: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// "Cannot update container ID: setting WHAT: ERROR".
fn failed(id: &str, what: &str, e: std::io::Error) -> anyhow::Error {
    fail(format!("Cannot update container {id}: setting {what}: {e}"))
}

/// The limits into a running container's cgroup (v1 or v2); `spec` has
/// them all (the memory and memory+swap pair is written whole).
fn apply_to_cgroup(id: &str, l: &Limits, spec: &Value) -> anyhow::Result<()> {
    let memory = &spec["linux"]["resources"]["memory"];
    let pair = (l.memory.is_some() || l.memory_swap.is_some())
        .then(|| (memory["limit"].as_i64().unwrap_or(-1), memory["swap"].as_i64().unwrap_or(-1)));
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        cgroup_v2(id, l, pair)
    } else {
        cgroup_v1(id, l, pair)
    }
}

fn cgroup_v2(id: &str, l: &Limits, memory: Option<(i64, i64)>) -> anyhow::Result<()> {
    let f = |file: &str| format!("/sys/fs/cgroup/wharf/{id}/{file}");
    let max = |v: i64| if v < 0 { "max".to_owned() } else { v.to_string() };
    if let Some((m, s)) = memory {
        write(&f("memory.max"), &max(m)).map_err(|e| failed(id, "memory", e))?;
        // v2 limits swap alone: memory+swap less memory.
        let swap = if s < 0 || m < 0 { "max".to_owned() } else { (s - m).to_string() };
        write(&f("memory.swap.max"), &swap).map_err(|e| failed(id, "memory-swap", e))?;
    }
    if let Some(q) = l.cpu_quota {
        write(&f("cpu.max"), &format!("{} 100000", max(q))).map_err(|e| failed(id, "cpus", e))?;
    }
    if let Some(s) = l.cpu_shares {
        // The conversion runc and crun use.
        let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(&f("cpu.weight"), &weight.to_string()).map_err(|e| failed(id, "cpu-shares", e))?;
    }
    if let Some(p) = l.pids {
        write(&f("pids.max"), &max(p)).map_err(|e| failed(id, "pids-limit", e))?;
    }
    Ok(())
}

fn cgroup_v1(id: &str, l: &Limits, memory: Option<(i64, i64)>) -> anyhow::Result<()> {
    let f = |ctl: &str, file: &str| format!("/sys/fs/cgroup/{ctl}/wharf/{id}/{file}");
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
    if let Some(q) = l.cpu_quota {
        write(&f("cpu", "cpu.cfs_period_us"), "100000").map_err(|e| failed(id, "cpus", e))?;
        write(&f("cpu", "cpu.cfs_quota_us"), &q.to_string()).map_err(|e| failed(id, "cpus", e))?;
    }
    if let Some(s) = l.cpu_shares {
        write(&f("cpu", "cpu.shares"), &s.to_string()).map_err(|e| failed(id, "cpu-shares", e))?;
    }
    if let Some(p) = l.pids {
        let v = if p < 0 { "max".to_owned() } else { p.to_string() };
        write(&f("pids", "pids.max"), &v).map_err(|e| failed(id, "pids-limit", e))?;
    }
    Ok(())
}

pub fn update(root: &Path, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits::from_args(&args.resources)?;
    let restart = args.restart.as_deref().map(RestartPolicy::parse).transpose().map_err(fail)?;
    let mut store = Store::open(root)?;
    let mut failed = false;
    for key in &args.containers {
        match update_one(&mut store, key, &limits, restart.as_ref()) {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn update_one(store: &mut Store, key: &str, limits: &Limits, restart: Option<&RestartPolicy>) -> anyhow::Result<()> {
    let rec = lookup(store, key)?;
    let mut cfg = load_config(&rec);
    if let Some(p) = restart {
        if cfg.auto_remove && p.name != "no" {
            anyhow::bail!(
                "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
                rec.id
            );
        }
    }
    if !limits.is_empty() {
        let path = container::container_dir(store.root(), &rec.id).join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        limits.apply_to_spec(&mut spec, &rec.id)?;
        if rec.state == "running" || rec.state == "paused" {
            apply_to_cgroup(&rec.id, limits, &spec)?;
        }
        crate::files::replace(&path, &serde_json::to_vec_pretty(&spec)?)?;
    }
    if let Some(p) = restart {
        // The monitor reads the policy again at each exit.
        cfg.restart = p.clone();
        store.set_container_config(&rec.id, &serde_json::to_string(&cfg)?)?;
    }
    Ok(())
}
