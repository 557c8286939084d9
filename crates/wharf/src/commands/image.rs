//! Image commands that need neither a registry nor the builder: import,
//! images/image ls, image inspect, tag, rmi, history, image prune.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use engine::api::ImageSummary;
use image::Digest;
use serde_json::{json, Value};
use store::Store;

use crate::format::{ago, docker_time, human_size, parse_time, render, table};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A rootfs tarball (plain, gzip or zstd), or '-' for standard input
    pub file: String,
    /// Name the image REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Commit message for the imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only show images of this repository[:tag]
    pub reference: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN)
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go-style template)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images to inspect
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Format output using a Go-style template or 'json'
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub image: String,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a Go-style template or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values: until=DURATION|TIMESTAMP (only images created before)
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

use crate::exit::fail;

pub use engine::images::short_id;

pub fn import(root: &std::path::Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if args.file.contains("://") {
        return Err(fail("importing from a URL is not supported; download the tarball first"));
    }
    let opts = engine::images::ImportOptions {
        reference: args.reference.clone(),
        changes: args.changes.clone(),
        message: args.message.clone(),
        source: args.file.clone(),
        platform: args.platform.clone(),
    };
    let mut store = Store::open(root)?;
    let input: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("open {}", args.file))?)
    };
    let id = engine::images::import(&mut store, input, &opts)?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// One row of `wharf images`: an image under one of its names (docker's
/// CLI makes a row of each of a summary's `RepoTags`).
struct Row<'a> {
    image: &'a ImageSummary,
    repo: String,
    tag: String,
    digest: String,
}

fn rows(images: &[ImageSummary]) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    for img in images {
        let digest_of = |repo: &str| {
            img.repo_digests
                .iter()
                .filter_map(|d| d.split_once('@'))
                .find(|(r, _)| *r == repo)
                .map_or("<none>".into(), |(_, d)| d.to_owned())
        };
        if img.repo_tags.is_empty() {
            let (repo, digest) = match img.repo_digests.first().and_then(|d| d.split_once('@')) {
                Some((r, d)) => (r.to_owned(), d.to_owned()),
                None => ("<none>".into(), "<none>".into()),
            };
            out.push(Row { image: img, repo, tag: "<none>".into(), digest });
        }
        for t in &img.repo_tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            out.push(Row { image: img, repo: repo.to_owned(), tag: tag.to_owned(), digest: digest_of(repo) });
        }
    }
    out
}

pub fn images(root: &std::path::Path, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let opts =
        engine::image_list::ImageListOptions { reference: args.reference.clone(), filters: args.filters.clone() };
    let summaries = engine::image_list::list(&store, &opts)?;
    let rows = rows(&summaries);
    let id_text = |id: &str| {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        if args.no_trunc {
            id.to_owned()
        } else {
            hex.chars().take(12).collect()
        }
    };
    let mut out = std::io::stdout().lock();
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for r in &rows {
            if seen.insert(r.image.id.clone()) {
                writeln!(out, "{}", id_text(&r.image.id))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let created = |img: &ImageSummary| {
        (img.created > 0).then(|| std::time::UNIX_EPOCH + std::time::Duration::from_secs(img.created as u64))
    };
    let size = |img: &ImageSummary| human_size(img.size.max(0) as u64);
    if let Some(fmt) = args.format.as_deref().filter(|f| *f != "table") {
        let maps: Vec<BTreeMap<String, Value>> = rows
            .iter()
            .map(|r| {
                let t = created(r.image);
                BTreeMap::from([
                    ("Containers".into(), json!("N/A")),
                    ("CreatedAt".into(), json!(t.map(docker_time).unwrap_or_default())),
                    ("CreatedSince".into(), json!(t.map(ago).unwrap_or_else(|| "N/A".into()))),
                    ("Digest".into(), json!(r.digest)),
                    ("ID".into(), json!(id_text(&r.image.id))),
                    ("Repository".into(), json!(r.repo)),
                    ("SharedSize".into(), json!("N/A")),
                    ("Size".into(), json!(size(r.image))),
                    ("Tag".into(), json!(r.tag)),
                    ("UniqueSize".into(), json!("N/A")),
                    ("VirtualSize".into(), json!(size(r.image))),
                ])
            })
            .collect();
        out.write_all(render(fmt, &maps)?.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut v = vec![r.repo.clone(), r.tag.clone()];
            if args.digests {
                v.push(r.digest.clone());
            }
            v.push(id_text(&r.image.id));
            v.push(created(r.image).map(ago).unwrap_or_else(|| "N/A".into()));
            v.push(size(r.image));
            v
        })
        .collect();
    out.write_all(table(&header, &body).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// docker's `image inspect` object for one image.
pub fn inspect_value(store: &Store, id: &Digest) -> anyhow::Result<Value> {
    Ok(engine::images::inspect(store, id)?)
}

pub fn inspect(root: &std::path::Path, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        match store.resolve(name) {
            Ok(id) => values.push(inspect_value(&store, &id)?),
            Err(store::StoreError::NoSuchImage(_)) => missing.push(name.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    crate::format::print_values(&values, args.format.as_deref())?;
    if !missing.is_empty() {
        for m in &missing {
            eprintln!("Error response from daemon: No such image: {m}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn tag(root: &std::path::Path, args: TagArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let _lock = store.lock(false)?;
    engine::images::tag(&mut store, &args.source, &args.target)?;
    Ok(ExitCode::SUCCESS)
}

pub fn rmi(root: &std::path::Path, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut failed = false;
    for outcome in engine::images::remove_all(&mut store, &args.images, args.force)? {
        match outcome {
            Ok(items) => {
                items.iter().for_each(|i| println!("{}", crate::format::delete_line(i, "Untagged", "Deleted")))
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn history(root: &std::path::Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let items = engine::images::history(&store, &args.image)?;
    let shown = |id: &str| match id.parse::<Digest>() {
        Ok(d) => short_or_full(&d, args.no_trunc),
        Err(_) => id.to_owned(),
    };
    let entries: Vec<(String, String, String, u64, String)> =
        items.into_iter().map(|h| (shown(&h.id), h.created, h.created_by, h.size, h.comment)).collect();
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for e in &entries {
            writeln!(out, "{}", e.0)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let when = |c: &str| match (args.human, parse_time(c)) {
        (true, Some(t)) => ago(t),
        _ => c.to_owned(),
    };
    let size = |s: u64| if args.human { human_size(s) } else { s.to_string() };
    if let Some(fmt) = &args.format {
        let maps: Vec<BTreeMap<String, Value>> = entries
            .iter()
            .map(|e| {
                BTreeMap::from([
                    ("ID".into(), json!(e.0)),
                    ("CreatedAt".into(), json!(e.1)),
                    ("CreatedSince".into(), json!(when(&e.1))),
                    ("CreatedBy".into(), json!(e.2)),
                    ("Size".into(), json!(size(e.3))),
                    ("Comment".into(), json!(e.4)),
                ])
            })
            .collect();
        out.write_all(render(fmt, &maps)?.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let body: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let by = if args.no_trunc || e.2.chars().count() <= 45 {
                e.2.clone()
            } else {
                format!("{}…", e.2.chars().take(44).collect::<String>())
            };
            vec![e.0.clone(), when(&e.1), by, size(e.3), e.4.clone()]
        })
        .collect();
    out.write_all(table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &body).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn short_or_full(id: &Digest, full: bool) -> String {
    if full {
        id.to_string()
    } else {
        short_id(id)
    }
}

pub fn prune(root: &std::path::Path, args: PruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let what = if args.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let filter = crate::format::prune_filter(&args.filters)?;
    let mut store = Store::open(root)?;
    let (lock, _) = engine::system::exclusive_lock(&store)?;
    let report = engine::images::prune(&mut store, &lock, args.all, &filter)?;
    print_pruned(&report);
    Ok(ExitCode::SUCCESS)
}

/// docker's report of an image prune.
pub fn print_pruned(report: &engine::images::PruneReport) {
    if !report.images_deleted.is_empty() {
        println!("Deleted Images:");
        for item in &report.images_deleted {
            println!("{}", crate::format::delete_line(item, "untagged", "deleted"));
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.space_reclaimed));
}
