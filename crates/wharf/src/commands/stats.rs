//! `wharf stats`: `engine::stats` samples a second apart, shown as
//! docker's table or template.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use engine::stats::{sample, Sample};
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

/// One row's fields, in docker's names (`--format` placeholders).
fn row(rec: &ContainerRecord, before: &Sample, now: &Sample, no_trunc: bool) -> BTreeMap<String, serde_json::Value> {
    let running = rec.state.is_live();
    let cpu = engine::stats::cpu_percent(before, now);
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
    all.retain(|c| args.all || c.state.is_live());
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
