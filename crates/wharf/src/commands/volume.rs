//! `wharf volume`: flags → `engine::volumes` → docker's output. A volume is a directory,
//! `volumes/NAME/_data`, made by `volume create` or by the first container
//! that mounts it (`-v NAME:/path`, `--mount type=volume`); its labels and
//! creation time are in `volumes/NAME/meta.json`. Which containers use a
//! volume is read from their records, so there is nothing to keep in step.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use engine::volumes::{self, Volume};
use serde_json::json;
use store::Store;

use crate::format;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name (only "local")
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// The volume's name (random if not given)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (dangling=true|false, name=..., label=...)
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print volumes using a Go template or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes (a missing one is no error)
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

pub fn run(root: &Path, cmd: VolumeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VolumeCommand::Create(a) => create(root, a),
        VolumeCommand::Ls(a) => ls(root, a),
        VolumeCommand::Inspect(a) => inspect(root, a),
        VolumeCommand::Rm(a) => rm(root, a),
        VolumeCommand::Prune(a) => prune(root, a),
    }
}

/// `KEY=VALUE` flags as a map (`KEY` alone: an empty value).
fn pairs(flags: &[String]) -> BTreeMap<String, String> {
    flags.iter().map(|l| l.split_once('=').unwrap_or((l, ""))).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn create(root: &Path, a: CreateArgs) -> anyhow::Result<ExitCode> {
    let opts =
        volumes::CreateOptions { name: a.name, driver: a.driver, driver_opts: pairs(&a.opt), labels: pairs(&a.label) };
    println!("{}", volumes::create(root, &opts)?.name);
    Ok(ExitCode::SUCCESS)
}

fn ls(root: &Path, a: LsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let filters: Vec<(String, String)> =
        a.filter.iter().map(|f| f.split_once('=').unwrap_or((f, ""))).map(|(k, v)| (k.into(), v.into())).collect();
    let shown = volumes::list(&store, &filters)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for v in shown {
            writeln!(out, "{}", v.name)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match a.format.as_deref() {
        Some(f) => {
            let rows: Vec<BTreeMap<String, serde_json::Value>> = shown.iter().map(row).collect();
            write!(out, "{}", format::render(f, &rows)?)?;
        }
        None => {
            let body: Vec<Vec<String>> = shown.iter().map(|v| vec![v.driver.clone(), v.name.clone()]).collect();
            write!(out, "{}", format::table(&["DRIVER", "VOLUME NAME"], &body))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A volume as `volume ls --format` sees it (docker's formatter fields).
fn row(v: &Volume) -> BTreeMap<String, serde_json::Value> {
    let labels: Vec<String> = v.labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    BTreeMap::from([
        ("Name".to_owned(), json!(v.name)),
        ("Driver".to_owned(), json!(v.driver)),
        ("Scope".to_owned(), json!(v.scope)),
        ("Mountpoint".to_owned(), json!(v.mountpoint)),
        ("Labels".to_owned(), json!(labels.join(","))),
    ])
}

fn inspect(root: &Path, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut values = Vec::new();
    let mut failed = false;
    for name in &a.volumes {
        match volumes::inspect(root, name) {
            Ok(v) => values.push(serde_json::to_value(v)?),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    crate::format::print_values(&values, a.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn rm(root: &Path, a: RmArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let mut failed = false;
    for name in &a.volumes {
        match volumes::remove(&store, name, a.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn prune(root: &Path, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !a.force {
        eprint!("WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let filter = crate::format::prune_filter(&a.filters)?;
    let report = volumes::prune(&Store::open(root)?, &filter)?;
    let mut out = std::io::stdout().lock();
    if !report.volumes_deleted.is_empty() {
        writeln!(out, "Deleted Volumes:")?;
        for r in &report.volumes_deleted {
            writeln!(out, "{r}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", format::human_size(report.space_reclaimed))?;
    Ok(ExitCode::SUCCESS)
}
