//! Image commands that need neither a registry nor the builder: import,
//! images/image ls, image inspect, tag, rmi, history, image prune.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use store::ContainerState;

use anyhow::Context;
use clap::Args;
use image::{Digest, Reference};
use serde_json::{json, Value};
use store::{ImageRecord, Store};

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
    /// Also look for containers of that name (top-level `inspect`)
    #[arg(skip)]
    pub containers: bool,
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

/// `until=` of prune: a Go duration (`24h`, `90m`) before now, or an
/// RFC 3339 timestamp.
pub fn prune_cutoff(filters: &[String]) -> anyhow::Result<Option<std::time::SystemTime>> {
    let mut cutoff = None;
    for f in filters {
        match f.split_once('=') {
            Some(("until", v)) => {
                let t = match dockerfile::instructions::parse_duration(v) {
                    Ok(ns) => std::time::SystemTime::now() - std::time::Duration::from_nanos(ns),
                    Err(_) => parse_time(v)
                        .ok_or_else(|| fail(format!("invalid filter 'until={v}': not a duration or timestamp")))?,
                };
                cutoff = Some(t);
            }
            _ => return Err(fail(format!("invalid filter '{f}' (supported: until)"))),
        }
    }
    Ok(cutoff)
}

use crate::exit::fail;

fn parse_ref(s: &str) -> anyhow::Result<Reference> {
    Reference::parse(s).map_err(|e| fail(format!("{e}: {s}")))
}

pub fn short_id(id: &Digest) -> String {
    id.hex()[..12].to_owned()
}

pub fn import(root: &std::path::Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if args.file.contains("://") {
        return Err(fail("importing from a URL is not supported; download the tarball first"));
    }
    if let Some(p) = &args.platform {
        builder::config::check_platform(p).map_err(fail)?;
    }
    let target = args.reference.as_deref().map(parse_ref).transpose()?;
    let mut cfg = builder::config::ImageConfig::new_imported(args.message.as_deref(), &args.file);
    for c in &args.changes {
        cfg.apply_change(c).map_err(|e| fail(format!("--change {c:?}: {e}")))?;
    }
    let mut store = Store::open(root)?;
    let _lock = store.lock(false)?;
    let input: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("open {}", args.file))?)
    };
    let layer = store.import_layer(input, None)?;
    cfg.set_layers(std::slice::from_ref(&layer.diff_id));
    let id = store.add_image(&cfg.to_bytes(), &[layer])?;
    if let Some(t) = &target {
        store.tag(&id, t)?;
    }
    super::events::image(
        root,
        "import",
        &id.to_string(),
        &target.as_ref().map(Reference::familiar).unwrap_or_default(),
    );
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// One row of `wharf images`: an image under one of its names.
struct Row<'a> {
    image: &'a ImageRecord,
    repo: String,
    tag: String,
    digest: String,
}

fn rows(images: &[ImageRecord]) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    for img in images {
        let digest_of = |repo: &str| {
            img.digests
                .iter()
                .find(|d| d.repository() == repo)
                .and_then(|d| d.digest())
                .map_or("<none>".into(), |d| d.to_string())
        };
        if img.tags.is_empty() {
            let (repo, digest) = match img.digests.first() {
                Some(d) => (d.familiar_repository(), d.digest().map_or("<none>".into(), |x| x.to_string())),
                None => ("<none>".into(), "<none>".into()),
            };
            out.push(Row { image: img, repo, tag: "<none>".into(), digest });
        }
        for t in &img.tags {
            out.push(Row {
                image: img,
                repo: t.familiar_repository(),
                tag: t.tag().unwrap_or("<none>").to_owned(),
                digest: digest_of(&t.repository()),
            });
        }
    }
    out
}

/// docker's reference filter: a glob on the familiar name, matched against
/// `repo` and `repo:tag`.
fn reference_matches(pattern: &str, repo: &str, tag: &str) -> bool {
    let full = format!("{repo}:{tag}");
    glob(pattern, repo) || glob(pattern, &full)
}

/// `*` (not crossing `/`) and `?` wildcards, as Go's path.Match.
fn glob(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).take_while(|i| *i == 0 || s[i - 1] != '/').any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

pub fn images(root: &std::path::Path, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let all = store.images()?;
    let mut dangling: Option<bool> = None;
    let mut patterns: Vec<String> = args.reference.iter().cloned().collect();
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    let (mut before, mut since) = (None, None);
    let created_of = |name: &str| -> anyhow::Result<std::time::SystemTime> {
        let id = store.resolve(name).map_err(|e| fail(e.to_string()))?;
        parse_time(&store.image(&id)?.created).ok_or_else(|| fail(format!("image {name} has no creation time")))
    };
    for f in &args.filters {
        match f.split_once('=') {
            Some(("dangling", v)) => dangling = Some(matches!(v, "true" | "1")),
            Some(("reference", v)) => patterns.push(v.to_owned()),
            Some(("label", v)) => labels.push(match v.split_once('=') {
                Some((k, val)) => (k.to_owned(), Some(val.to_owned())),
                None => (v.to_owned(), None),
            }),
            Some(("before", v)) => before = Some(created_of(v)?),
            Some(("since", v)) => since = Some(created_of(v)?),
            Some(("until", _)) => {
                before = prune_cutoff(std::slice::from_ref(f))?;
            }
            _ => return Err(fail(format!("invalid filter '{f}'"))),
        }
    }
    let label_ok = |img: &ImageRecord| -> bool {
        if labels.is_empty() {
            return true;
        }
        let cfg: Value =
            store.config_bytes(&img.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let have = cfg.pointer("/config/Labels");
        labels.iter().all(|(k, v)| match (have.and_then(|l| l.get(k)).and_then(Value::as_str), v) {
            (Some(_), None) => true,
            (Some(x), Some(want)) => x == want,
            (None, _) => false,
        })
    };
    let time_ok = |img: &ImageRecord| -> bool {
        let t = parse_time(&img.created);
        before.is_none_or(|b| t.is_some_and(|t| t < b)) && since.is_none_or(|s| t.is_some_and(|t| t > s))
    };
    let rows: Vec<Row> = rows(&all)
        .into_iter()
        .filter(|r| dangling.is_none_or(|d| d == r.image.tags.is_empty()))
        .filter(|r| label_ok(r.image) && time_ok(r.image))
        .filter(|r| patterns.is_empty() || patterns.iter().any(|p| reference_matches(p, &r.repo, &r.tag)))
        .collect();
    let id_text = |id: &Digest| if args.no_trunc { id.to_string() } else { short_id(id) };
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
    let created = |img: &ImageRecord| parse_time(&img.created);
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
                    ("Size".into(), json!(human_size(r.image.size))),
                    ("Tag".into(), json!(r.tag)),
                    ("UniqueSize".into(), json!("N/A")),
                    ("VirtualSize".into(), json!(human_size(r.image.size))),
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
            v.push(human_size(r.image.size));
            v
        })
        .collect();
    out.write_all(table(&header, &body).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// docker's `image inspect` object for one image.
pub fn inspect_value(store: &Store, id: &Digest) -> anyhow::Result<Value> {
    let rec = store.image(id)?;
    let cfg: Value = serde_json::from_slice(&store.config_bytes(id)?).context("image config")?;
    let layers: Vec<String> = store.diff_ids(id)?.iter().map(ToString::to_string).collect();
    let last_layer = rec.chain.last().map(|c| store.snapshot_dir(c).display().to_string()).unwrap_or_default();
    Ok(json!({
        "Id": id.to_string(),
        "RepoTags": rec.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": rec.digests.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": cfg.get("comment").or_else(|| cfg.pointer("/history/0/comment")).cloned().unwrap_or(json!("")),
        "Created": cfg.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": "",
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Config": builder::config::docker_config(cfg.get("config")),
        "Architecture": cfg.get("architecture").cloned().unwrap_or(json!("")),
        "Variant": cfg.get("variant").cloned(),
        "Os": cfg.get("os").cloned().unwrap_or(json!("")),
        "Size": rec.size,
        "GraphDriver": {"Data": {"UpperDir": last_layer}, "Name": "wharf-overlay"},
        "RootFS": {"Type": "layers", "Layers": layers},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}

pub fn inspect(root: &std::path::Path, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        // `docker inspect` looks for a container first, then an image.
        if args.containers {
            if let Ok(rec) = super::lifecycle::lookup(&mut store, name) {
                values.push(super::ps::inspect_value(&store, &rec));
                continue;
            }
        }
        match store.resolve(name) {
            Ok(id) => values.push(inspect_value(&store, &id)?),
            Err(store::StoreError::NoSuchImage(_)) => missing.push(name.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = std::io::stdout().lock();
    match args.format.as_deref() {
        None => {
            serde_json::to_writer_pretty(&mut out, &values)?;
            writeln!(out)?;
        }
        Some(f) => {
            for v in &values {
                writeln!(out, "{}", crate::format::template_value(f, v)?)?;
            }
        }
    }
    if !missing.is_empty() {
        for m in &missing {
            if args.containers {
                eprintln!("Error: No such object: {m}");
            } else {
                eprintln!("Error: No such image: {m}");
            }
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn tag(root: &std::path::Path, args: TagArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let _lock = store.lock(false)?;
    let id = store.resolve(&args.source).map_err(|e| fail(e.to_string()))?;
    let target = parse_ref(&args.target)?;
    store.tag(&id, &target).map_err(|e| fail(e.to_string()))?;
    super::events::image(root, "tag", &id.to_string(), &target.familiar());
    Ok(ExitCode::SUCCESS)
}

pub fn rmi(root: &std::path::Path, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let (lock, _) = super::system::exclusive_lock(&store)?;
    let mut failed = false;
    for name in &args.images {
        match remove_one(&mut store, name, args.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    store.gc(&lock)?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// docker's rmi: a name untags (deleting the image with its last tag); an
/// ID deletes, refusing without -f if several repositories refer to it;
/// an image used by a container is never deleted without -f.
fn remove_one(store: &mut Store, name: &str, force: bool) -> anyhow::Result<Vec<String>> {
    let id = store.resolve(name)?;
    let rec = store.image(&id)?;
    let by_name = Reference::parse(name).ok().filter(|r| rec.tags.contains(r) || rec.digests.contains(r));
    let users = store.containers_using(&id)?;
    let mut lines = Vec::new();
    if let Some(r) = &by_name {
        if rec.tags.len() + rec.digests.len() > 1 && r.digest().is_none() {
            store.untag(r)?;
            super::events::image(store.root(), "untag", &id.to_string(), &r.familiar());
            return Ok(vec![format!("Untagged: {}", r.familiar())]);
        }
    } else if rec.tags.len() > 1 && !force {
        return Err(fail(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&id)
        )));
    }
    if let Some((cid, state)) = users.first() {
        if !force || *state == ContainerState::Running {
            let what = if *state == ContainerState::Running { "running" } else { "stopped" };
            return Err(fail(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by {what} container {}",
                short_id(&id),
                &cid[..12.min(cid.len())]
            )));
        }
    }
    for t in rec.tags.iter().chain(rec.digests.iter()) {
        lines.push(format!("Untagged: {}", t.familiar()));
        super::events::image(store.root(), "untag", &id.to_string(), &t.familiar());
    }
    store.delete_image(&id)?;
    super::events::image(store.root(), "delete", &id.to_string(), &id.to_string());
    lines.push(format!("Deleted: {id}"));
    Ok(lines)
}

pub fn history(root: &std::path::Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(root)?;
    let id = store.resolve(&args.image).map_err(|e| fail(e.to_string()))?;
    let cfg: Value = serde_json::from_slice(&store.config_bytes(&id)?)?;
    let rec = store.image(&id)?;
    let hist = cfg.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    // Layer sizes, in order, for the entries that made a layer.
    let mut sizes = rec.chain.iter().map(|c| store.snapshot_size(c).unwrap_or(0));
    let mut entries: Vec<(String, String, String, u64, String)> = Vec::new();
    let n = hist.len();
    for (i, h) in hist.iter().enumerate() {
        let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
        let size = if empty { 0 } else { sizes.next().unwrap_or(0) };
        let shown_id = if i + 1 == n { short_or_full(&id, args.no_trunc) } else { "<missing>".into() };
        let created = h.get("created").and_then(Value::as_str).unwrap_or("").to_owned();
        let by = h.get("created_by").and_then(Value::as_str).unwrap_or("").to_owned();
        let comment = h.get("comment").and_then(Value::as_str).unwrap_or("").to_owned();
        entries.push((shown_id, created, by, size, comment));
    }
    entries.reverse();
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
    let cutoff = prune_cutoff(&args.filters)?;
    let mut store = Store::open(root)?;
    let (lock, _) = super::system::exclusive_lock(&store)?;
    let mut lines = Vec::new();
    for img in store.images()? {
        if !args.all && !img.tags.is_empty() {
            continue;
        }
        if cutoff.is_some_and(|c| parse_time(&img.created).is_none_or(|t| t >= c)) {
            continue;
        }
        if !store.containers_using(&img.id)?.is_empty() {
            continue;
        }
        for t in &img.tags {
            lines.push(format!("untagged: {}", t.familiar()));
        }
        store.delete_image(&img.id)?;
        lines.push(format!("deleted: {}", img.id));
    }
    let report = store.gc(&lock)?;
    if !lines.is_empty() {
        println!("Deleted Images:");
        for l in &lines {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.bytes));
    Ok(ExitCode::SUCCESS)
}
