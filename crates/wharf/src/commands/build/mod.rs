//! `wharf build`: Dockerfile + context → an image, one cached layer per
//! RUN/COPY/ADD. Each RUN runs in a real container over an overlay of the
//! parent layers; its upper directory *is* the new layer (committed with
//! one hashing pass). Cache keys are content-based for COPY/ADD.

pub(crate) mod context;
pub(crate) mod copy;
mod exec;
mod output;
mod parallel;
mod progress;
mod steps;

pub use progress::Progress;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use dockerfile::expand::{platform_args, Scope};
use dockerfile::shell::Lexer;
use image::Reference;
use store::Store;

use crate::exit::Failure;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads stdin)
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Set target platform for build (only the host's)
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Set type of progress output (auto, plain, tty, quiet)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Secret to expose to the build (format: "id=mysecret,src=/local/secret")
    #[arg(long)]
    pub secret: Vec<String>,
    /// Additional build contexts (e.g., name=path)
    #[arg(long = "build-context")]
    pub build_context: Vec<String>,
    /// OCI runtime binary for RUN steps
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Output destination (format: "type=local,dest=path", "type=tar,dest=file"; PATH for local, - for a tar on stdout)
    #[arg(short, long)]
    pub output: Vec<String>,
    /// Build context: a directory, or '-' for a tar (or a Dockerfile) on stdin
    pub context: String,
}

pub(crate) use crate::exit::fail;

/// The Dockerfile bytes, its display name, and the context directory.
fn inputs(store: &Store, args: &BuildArgs) -> anyhow::Result<(Vec<u8>, String, PathBuf, Option<PathBuf>)> {
    let mut temp = None;
    let context_dir = if args.context == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        let dir = store.staging_dir("context-")?;
        temp = Some(dir.clone());
        let is_tar = data.len() > 262 && &data[257..262] == b"ustar";
        let is_compressed = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        if is_tar || is_compressed {
            image::layer::apply(&data[..], &dir, image::layer::Whiteouts::Delete)
                .map_err(|e| fail(format!("reading the context from stdin: {e}")))?;
        } else {
            std::fs::write(dir.join("Dockerfile"), &data)?;
        }
        dir
    } else {
        let p = PathBuf::from(&args.context);
        if !p.is_dir() {
            return Err(fail(format!("unable to prepare context: path {:?} not found", args.context)));
        }
        p.canonicalize()?
    };
    let (bytes, name) = match args.file.as_deref() {
        Some("-") => {
            let mut d = Vec::new();
            std::io::stdin().read_to_end(&mut d)?;
            (d, "Dockerfile".to_owned())
        }
        Some(f) => {
            let p = if Path::new(f).exists() { PathBuf::from(f) } else { context_dir.join(f) };
            let d = std::fs::read(&p).map_err(|e| fail(format!("failed to read dockerfile {f}: {e}")))?;
            (d, p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "Dockerfile".into()))
        }
        None => {
            let p = context_dir.join("Dockerfile");
            let d = std::fs::read(&p).map_err(|_| {
                fail("failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory")
            })?;
            (d, "Dockerfile".to_owned())
        }
    };
    Ok((bytes, name, context_dir, temp))
}

pub fn build(root: &Path, args: BuildArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.platform {
        crate::config::check_platform(p).map_err(fail)?;
    }
    let mut tags = Vec::new();
    for t in &args.tag {
        tags.push(
            Reference::parse(t)
                .map_err(|e| Failure::new(125, format!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}")))?,
        );
    }
    let output = output::parse(&args.output).map_err(fail)?;
    match args.network.as_str() {
        "default" | "host" | "none" => {}
        other => return Err(fail(format!("network mode {other:?} not supported by buildkit"))),
    }
    let mut store = Store::open(root)?;
    let _lock = store.lock(false)?;
    if let Some(dir) = parallel::job_dir() {
        return build_job(&mut store, &args, &dir);
    }
    let (bytes, df_name, context_dir, temp) = inputs(&store, &args)?;
    let result = build_in(&mut store, &args, &bytes, &df_name, context_dir);
    if let Some(t) = temp {
        let _ = image::layer::remove_tree(&t);
    }
    let (id, progress) = result?;
    for t in &tags {
        store.tag(&id, t)?;
        crate::commands::events::image(root, "tag", &id.to_string(), &t.familiar());
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, id.to_string())?;
    }
    output::export(&store, &id, &output)?;
    let quiet = args.quiet || args.progress == "quiet";
    if quiet && !output.uses_stdout() {
        println!("{id}");
    } else {
        let mut p = progress;
        let n = p.begin("exporting to image");
        p.note(n, &format!("writing image {id} done"));
        for t in &tags {
            p.note(n, &format!("naming to {} done", t));
        }
        p.done(n, std::time::Duration::ZERO);
        p.finish();
    }
    Ok(ExitCode::SUCCESS)
}

/// A parsed Dockerfile, ready to build: its stages, lexer, meta args and
/// target stage.
struct Plan {
    stages: dockerfile::Stages,
    lex: Lexer,
    meta: Scope,
    target: usize,
    build_args: std::collections::BTreeMap<String, String>,
    warnings: Vec<String>,
}

fn plan(args: &BuildArgs, bytes: &[u8], df_name: &str) -> anyhow::Result<Plan> {
    let df = dockerfile::parse(bytes).map_err(|e| fail(format!("{df_name}:{}: {}", e.line, e.message)))?;
    let warnings = df.warnings.iter().map(|w| w.message.clone()).collect();
    let stages =
        dockerfile::stages(&df).map_err(|e| fail(format!("{df_name}:{}: {}", e.location.start_line, e.message)))?;
    let build_args = super::dockerfile::build_args(&args.build_arg);
    let lex = Lexer::new(stages.escape);
    let host = super::dockerfile::host_platform();
    let meta = Scope::meta(&lex, &stages.meta_args, &build_args, platform_args(&host, &host))
        .map_err(|e| fail(e.to_string()))?;
    let target = match &args.target {
        Some(t) => stages
            .stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| fail(format!("failed to solve: target stage \"{t}\" could not be found")))?,
        None => stages.stages.len().checked_sub(1).ok_or_else(|| fail("the Dockerfile has no FROM"))?,
    };
    Ok(Plan { stages, lex, meta, target, build_args, warnings })
}

fn build_in(
    store: &mut Store,
    args: &BuildArgs,
    bytes: &[u8],
    df_name: &str,
    context_dir: PathBuf,
) -> anyhow::Result<(image::Digest, Progress)> {
    let quiet = args.quiet || args.progress == "quiet";
    let mut progress = Progress::new(progress::Mode::pick(quiet, &args.progress));
    let p = plan(args, bytes, df_name)?;
    for w in &p.warnings {
        progress.warn(w);
    }
    let ctx = context::Context::open(context_dir.clone(), df_name)?;
    let mut builder = steps::Builder::new(store, &p.stages, &p.lex, p.meta.clone(), ctx, args, &mut progress)?;
    let needed = builder.needed(p.target)?;
    parallel::build_all(&mut builder, &needed, bytes, df_name, &context_dir)?;
    let unused = builder.unused_args(&p.build_args);
    let id = builder.finish(p.target, &args.label)?;
    if !unused.is_empty() {
        progress.warn(&format!("One or more build-args [{}] were not consumed", unused.join(" ")));
    }
    Ok((id, progress))
}

/// A child building one stage for a parent build (see `parallel`).
fn build_job(store: &mut Store, args: &BuildArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let job = parallel::read_job(dir)?;
    let mut progress = Progress::new(progress::Mode::Events);
    let result = (|| {
        let p = plan(args, &job.dockerfile, &job.dockerfile_name)?;
        let ctx = context::Context::open(job.context.clone(), &job.dockerfile_name)?;
        let mut builder = steps::Builder::new(store, &p.stages, &p.lex, p.meta.clone(), ctx, args, &mut progress)?;
        for (i, b) in job.built {
            builder.insert_built(i, b);
        }
        builder.build_stage(job.stage)?;
        builder.built(job.stage).cloned().ok_or_else(|| fail("the stage was not built"))
    })();
    parallel::write_outcome(dir, result)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=24h')
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `wharf builder prune`: forgets cache entries (older than `until=`) and
/// frees the layers only they kept.
pub fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let cutoff = super::image::prune_cutoff(&args.filter)?;
    let before = cutoff.map(|t| humantime::format_rfc3339_nanos(t).to_string());
    let n = store.prune_build_cache(before.as_deref())?;
    let (lock, _) = crate::commands::system::exclusive_lock(&store)?;
    let report = store.gc(&lock)?;
    println!("Deleted build cache objects: {n}");
    println!("Total:\t{}", crate::format::human_size(report.bytes));
    Ok(ExitCode::SUCCESS)
}
