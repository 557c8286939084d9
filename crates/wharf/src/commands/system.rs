//! `wharf system df|prune|check`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use store::Store;

use crate::format::{human_size, table};

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    #[command(flatten)]
    pub images: crate::commands::image::PruneArgs,
    /// Prune anonymous volumes (wharf has no volumes yet: nothing to prune)
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

pub fn df(root: &Path, args: DfArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let images = store.images()?;
    let active =
        images.iter().filter(|i| store.containers_using(&i.id).map(|c| !c.is_empty()).unwrap_or(false)).count();
    let (_, layer_bytes, blob_bytes) = store.disk_usage()?;
    let size = layer_bytes + blob_bytes;
    let unused: u64 = images
        .iter()
        .filter(|i| store.containers_using(&i.id).map(|c| c.is_empty()).unwrap_or(true))
        .map(|i| i.size)
        .sum::<u64>()
        .min(size);
    let pct = |part: u64, whole: u64| (part * 100).checked_div(whole).unwrap_or(0);
    let rows = vec![
        vec![
            "Images".into(),
            images.len().to_string(),
            active.to_string(),
            human_size(size),
            format!("{} ({}%)", human_size(unused), pct(unused, size)),
        ],
        vec!["Containers".into(), "0".into(), "0".into(), "0B".into(), "0B".into()],
        vec!["Local Volumes".into(), "0".into(), "0".into(), "0B".into(), "0B".into()],
        vec!["Build Cache".into(), "0".into(), "0".into(), "0B".into(), "0B".into()],
    ];
    print!("{}", table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows));
    if args.verbose {
        println!("\nImages space usage:\n");
        let body: Vec<Vec<String>> = images
            .iter()
            .map(|i| {
                let name = i.tags.first().map(|t| t.familiar()).unwrap_or_else(|| "<none>:<none>".into());
                vec![name, crate::commands::image::short_id(&i.id), human_size(i.size)]
            })
            .collect();
        print!("{}", table(&["REPOSITORY:TAG", "IMAGE ID", "SIZE"], &body));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prune(root: &Path, args: SystemPruneArgs) -> anyhow::Result<ExitCode> {
    crate::commands::image::prune(root, args.images)
}

/// What a killed build leaves besides staging files: step containers and
/// overlay mounts under tmp/. Only called under the exclusive lock, so no
/// build is running.
fn build_leftovers(root: &Path, repair: bool) -> Vec<String> {
    let mut found = Vec::new();
    let state = root.join("libcontainer");
    if let Ok(rd) = std::fs::read_dir(&state) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("wharf-build-") {
                found.push(format!("build step container {name} left running"));
                if repair {
                    let _ = super::container::runtime_for(root, None).delete(&name);
                }
            }
        }
    }
    let tmp = root.join("tmp").display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&tmp)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        found.push(format!("mount {p} left by a build"));
        if repair {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
    }
    found
}

pub fn check(root: &Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let lock = store.lock(true)?;
    let mut problems = build_leftovers(root, args.repair);
    if args.repair {
        problems.iter_mut().for_each(|p| p.push_str(" (repaired)"));
    }
    problems.extend(store.check(&lock, args.repair)?);
    if problems.is_empty() {
        println!("The store at {} is consistent.", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    if args.repair {
        println!("{} problem(s) found and repaired.", problems.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problem(s) found; run 'wharf system check --repair' to fix them.", problems.len());
        Ok(ExitCode::from(1))
    }
}
