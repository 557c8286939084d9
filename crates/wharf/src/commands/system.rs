//! `wharf system df|prune|check`.

use std::path::Path;
use std::process::ExitCode;
use store::ContainerState;

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
        containers_row(&store)?,
        volumes_row(&store)?,
        build_cache_row(&store)?,
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

/// docker's `system prune`: stopped containers, unused networks, dangling
/// (with `-a` unused) images, build cache, and with `--volumes` unused
/// anonymous volumes.
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
    let filters = args.images.filters.clone();
    super::ps::prune(root, super::ps::ContainerPruneArgs { force: true, filter: filters.clone() })?;
    super::network::run(root, super::network::NetworkCommand::Prune(super::network::PruneArgs { force: true }))?;
    if args.volumes {
        let store = Store::open(root)?;
        let _lock = exclusive_lock(&store)?;
        let gone: Vec<String> =
            volumes(&store)?.into_iter().filter(|(n, _, used)| !used && is_anonymous(n)).map(|v| v.0).collect();
        if !gone.is_empty() {
            println!("Deleted Volumes:");
            for v in &gone {
                image::layer::remove_tree(&root.join("volumes").join(v))?;
                println!("{v}");
            }
            println!();
        }
    }
    let mut image_args = args.images;
    image_args.force = true;
    super::image::prune(root, image_args)?;
    super::build::prune(root, super::build::PruneArgs { all: true, force: true, filter: filters })
}

/// Bytes of the files under `dir` (not following symlinks).
pub use engine::files::tree_size;

fn usage_row(kind: &str, total: usize, active: usize, size: u64, reclaimable: u64) -> Vec<String> {
    let pct = (reclaimable * 100).checked_div(size).unwrap_or(0);
    let reclaim = if size == 0 { "0B".to_owned() } else { format!("{} ({pct}%)", human_size(reclaimable)) };
    vec![kind.to_owned(), total.to_string(), active.to_string(), human_size(size), reclaim]
}

/// Containers: their writable layers; those not running can be removed.
fn containers_row(store: &Store) -> anyhow::Result<Vec<String>> {
    let all = store.containers()?;
    let (mut size, mut idle, mut active) = (0, 0, 0);
    for c in &all {
        let upper = super::container::container_dir(store.root(), &c.id).join("upper");
        let n = tree_size(&upper);
        size += n;
        if matches!(c.state, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting) {
            active += 1;
        } else {
            idle += n;
        }
    }
    Ok(usage_row("Containers", all.len(), active, size, idle))
}

/// Every volume: (name, bytes, whether a container of any state mounts it).
fn volumes(store: &Store) -> anyhow::Result<Vec<(String, u64, bool)>> {
    let users = super::volume::users(store)?;
    Ok(super::volume::names(store.root())
        .into_iter()
        .map(|n| {
            let size = tree_size(&store.root().join("volumes").join(&n).join("_data"));
            let used = users.contains_key(&n);
            (n, size, used)
        })
        .collect())
}

fn volumes_row(store: &Store) -> anyhow::Result<Vec<String>> {
    let all = volumes(store)?;
    let size = all.iter().map(|v| v.1).sum();
    let idle = all.iter().filter(|v| !v.2).map(|v| v.1).sum();
    Ok(usage_row("Local Volumes", all.len(), all.iter().filter(|v| v.2).count(), size, idle))
}

/// An anonymous volume's name: 64 hex digits, as `-v /path` makes them.
fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Build cache: steps recorded; the layers only the cache keeps can go.
fn build_cache_row(store: &Store) -> anyhow::Result<Vec<String>> {
    let (entries, size, reclaimable) = store.build_cache_usage()?;
    Ok(usage_row("Build Cache", entries, 0, size, reclaimable))
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

/// libcontainer forks a step container's init, which holds wharf's open
/// files (the store lock among them) until it execs the step's command. A
/// build killed in that moment leaves the init waiting forever for a start
/// that will not come, in its own session (so killing the build's process
/// group misses it) and holding the lock. Such a process is in a child PID
/// namespace, orphaned to PID 1, with this store's lock open: it can never
/// proceed, and killing it is the only way to free the lock.
fn reap_orphaned_step_inits(root: &Path) -> Vec<String> {
    let Ok(lock) = std::fs::canonicalize(root.join("lock")) else { return Vec::new() };
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let status = std::fs::read_to_string(p.path().join("status")).unwrap_or_default();
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).unwrap_or_default().trim().to_owned();
        let in_child_ns = field("NSpid:").split_whitespace().count() > 1;
        if field("PPid:") != "1" || !in_child_ns {
            continue;
        }
        let holds_lock = std::fs::read_dir(p.path().join("fd"))
            .map(|fds| fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock)))
            .unwrap_or(false);
        if holds_lock && runtime::supervise::send_signal(pid, libc::SIGKILL).is_ok() {
            found.push(format!("killed orphaned build step process {pid} (it held the store lock)"));
        }
    }
    found
}

/// The store's exclusive lock, after freeing it from orphaned step inits
/// (see above); returns what was reaped.
pub fn exclusive_lock(store: &Store) -> anyhow::Result<(store::Lock, Vec<String>)> {
    let reaped = reap_orphaned_step_inits(store.root());
    Ok((store.lock(true)?, reaped))
}

pub fn check(root: &Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let (lock, mut problems) = exclusive_lock(&store)?;
    problems.extend(build_leftovers(root, args.repair));
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
