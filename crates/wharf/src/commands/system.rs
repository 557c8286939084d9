//! `wharf system df|prune|check`: flags → `engine::system` → docker's
//! output.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use engine::system::{self, Usage};
use store::Store;

use crate::format::{human_size, table};

/// docker's report of a container prune.
pub fn print_pruned_containers(deleted: &[String]) {
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
}

/// docker's report of a build cache prune.
pub fn print_pruned_cache(report: &engine::system::CachePruneReport) {
    println!("Deleted build cache objects: {}", report.caches_deleted);
    println!("Total:\t{}", human_size(report.space_reclaimed));
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template ('table', 'json' or a Go
    /// template: Type, TotalCount, Active, Size, Reclaimable)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    #[command(flatten)]
    pub images: crate::commands::image::PruneArgs,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Fix what can be fixed: remove orphaned temporary files, unreferenced
    /// snapshots and blobs, and blobs whose digest is wrong
    #[arg(long)]
    pub repair: bool,
}

fn usage_row(kind: &str, u: &Usage) -> Vec<String> {
    let pct = (u.reclaimable * 100).checked_div(u.size).unwrap_or(0);
    let reclaim = if u.size == 0 { "0B".to_owned() } else { format!("{} ({pct}%)", human_size(u.reclaimable)) };
    vec![kind.to_owned(), u.total.to_string(), u.active.to_string(), human_size(u.size), reclaim]
}

pub fn df(root: &Path, args: DfArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    if args.verbose {
        super::df_verbose::print(&system::usage_report(&mut store)?, args.format.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let du = system::disk_usage(&store)?;
    // docker prints the images' reclaimable space with its percentage
    // even when there is none.
    let pct = (du.images.reclaimable * 100).checked_div(du.images.size).unwrap_or(0);
    let mut images = usage_row("Images", &du.images);
    images[4] = format!("{} ({pct}%)", human_size(du.images.reclaimable));
    let rows = vec![
        images,
        usage_row("Containers", &du.containers),
        usage_row("Local Volumes", &du.volumes),
        usage_row("Build Cache", &du.build_cache),
    ];
    if let Some(f) = args.format.as_deref().filter(|f| *f != "table") {
        let maps: Vec<std::collections::BTreeMap<String, serde_json::Value>> = rows
            .iter()
            .map(|r| {
                ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                    .iter()
                    .zip(r)
                    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                    .collect()
            })
            .collect();
        print!("{}", crate::format::render(f, &maps)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows));
    Ok(ExitCode::SUCCESS)
}

/// docker's `system prune`, reported kind by kind as docker's CLI does.
pub fn prune(root: &Path, args: SystemPruneArgs) -> anyhow::Result<ExitCode> {
    let images = if args.images.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.images.force && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let volumes = if args.volumes { "  - all anonymous volumes not used by at least one container\n" } else { "" };
        eprint!(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{volumes}  - {images}\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let opts = system::SystemPruneOptions {
        all_images: args.images.all,
        volumes: args.volumes,
        filter: crate::format::prune_filter(&args.images.filters)?,
    };
    let r = system::prune(&mut Store::open(root)?, &opts)?;
    print_pruned_containers(&r.containers);
    if !r.networks.is_empty() {
        println!("Deleted Networks:");
        for n in &r.networks {
            println!("{n}");
        }
    }
    if !r.volumes.is_empty() {
        println!("Deleted Volumes:");
        for v in &r.volumes {
            println!("{v}");
        }
        println!();
    }
    super::image::print_pruned(&r.images);
    print_pruned_cache(&r.build_cache);
    Ok(ExitCode::SUCCESS)
}

pub fn check(root: &Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let problems = system::check(&mut Store::open(root)?, args.repair)?;
    if problems.is_empty() {
        println!("The store at {} is consistent.", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    let left = problems.iter().filter(|p| !p.ends_with("(repaired)")).count();
    if args.repair && left == 0 {
        println!("{} problem(s) found and repaired.", problems.len());
        Ok(ExitCode::SUCCESS)
    } else if args.repair {
        println!("{} problem(s) found; {left} could not be repaired.", problems.len());
        Ok(ExitCode::from(1))
    } else {
        println!("{} problem(s) found; run 'wharf system check --repair' to fix them.", problems.len());
        Ok(ExitCode::from(1))
    }
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Seconds without a request before the service exits (0: never)
    #[arg(short, long, default_value_t = 5)]
    pub time: u64,
    /// Where to listen: unix:///PATH, or tcp://127.0.0.1:PORT (default:
    /// wharf.sock in the runtime directory, /run/wharf for root)
    pub uri: Option<String>,
}

/// `wharf system service`: the Docker Engine API over this store, until
/// it has been idle `--time` seconds (podman's syntax).
pub fn service(root: &Path, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let uri = args.uri.unwrap_or_else(|| format!("unix://{}", paths::run_dir().join("wharf.sock").display()));
    let listen = api::Listen::parse(&uri).map_err(|e| crate::exit::fail(e.to_string()))?;
    let idle = (args.time > 0).then(|| std::time::Duration::from_secs(args.time));
    api::serve(api::ServeOptions { root: root.to_owned(), listen, idle })
        .map_err(|e| crate::exit::fail(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
