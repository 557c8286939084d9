//! wharf's builder: Dockerfile + context → an image, one cached layer per
//! RUN/COPY/ADD. Each RUN runs in a real container over an overlay of the
//! parent layers; its upper directory *is* the new layer (committed with
//! one hashing pass). Cache keys are content-based for COPY/ADD.
//!
//! The builder takes a [`BuildOptions`] (the Engine API's build options),
//! reports progress as [`BuildEvent`]s and never prints. Stages that can
//! be built at once are built by child processes, each started by the
//! caller's [`StageSpawner`] with a serialized job (see `parallel`).

pub mod cache;
mod cache_key;
pub mod config;
pub mod context;
pub mod copy;
mod exec;
mod history;
pub mod output;
mod parallel;
mod progress;
mod seed;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dockerfile::expand::{platform_args, Scope};
use dockerfile::shell::Lexer;
use serde::{Deserialize, Serialize};
use store::Store;

pub use cache::{CacheExport, CacheFetcher, CacheImport, CacheRecord};
pub use output::Output;
pub use progress::{BuildEvent, Reporter};

/// A build failure, as docker's builder reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BuildError {
    /// The request cannot be built as given: a Dockerfile that does not
    /// parse, an unknown target, a malformed option (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// A step failed, or the host did (HTTP 500).
    #[error("{0}")]
    Failed(String),
}

/// A failed step or operation (inside the builder: anyhow carries
/// context on the way up; the public functions return a BuildError).
pub(crate) fn fail(msg: impl Into<String>) -> anyhow::Error {
    BuildError::Failed(msg.into()).into()
}

/// A request the builder cannot take as given.
pub(crate) fn invalid(msg: impl Into<String>) -> anyhow::Error {
    BuildError::Invalid(msg.into()).into()
}

/// The error a public function returns: the BuildError inside, with any
/// context added on the way up; anything else is a failure.
pub(crate) fn typed(e: anyhow::Error) -> BuildError {
    let text = format!("{e:#}");
    match e.downcast_ref::<BuildError>() {
        Some(BuildError::Invalid(_)) => BuildError::Invalid(text),
        _ => BuildError::Failed(text),
    }
}

/// What to build and how: the Engine API's build options (`POST /build`'s
/// query parameters; names in comments), plus wharf's BuildKit-only
/// features the classic API lacks (secrets, named contexts, outputs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildOptions {
    /// `buildargs`: `--build-arg` values (the CLI resolves bare names).
    pub build_args: BTreeMap<String, String>,
    /// `target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `pull`: pull every base image, even one in the store.
    pub pull: bool,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `networkmode`: `default`, `host` or `none` for RUN steps.
    pub network_mode: String,
    /// `outputs`: where the result goes besides the store.
    pub output: Output,
    /// `--secret id=ID,src=PATH`, as given.
    pub secrets: Vec<String>,
    /// `--build-context NAME=DIR`, as given.
    pub build_contexts: Vec<String>,
    /// An OCI runtime binary for RUN steps (None: the embedded one).
    pub runtime: Option<PathBuf>,
    /// SOURCE_DATE_EPOCH: clamps times for a reproducible image.
    pub source_date_epoch: Option<i64>,
    /// `--cache-from`: records and blobs of caches made elsewhere.
    pub cache_import: Option<CacheImport>,
    /// `--cache-to type=inline` (or BuildKit's `BUILDKIT_INLINE_CACHE=1`
    /// build arg): the target stage's records in the image's config.
    pub inline_cache: bool,
    /// `platform`: the one platform to build for (None: the host's).
    /// Stages without `FROM --platform` are of it; their RUN steps run
    /// under emulation when it is not the host's.
    pub platform: Option<String>,
    /// Progress titles name the stage's platform (a build of several).
    pub label_platform: bool,
}

/// The Dockerfile and the context directory it is built in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInput {
    pub dockerfile: Vec<u8>,
    /// Its name in messages (`Dockerfile:3: ...`).
    pub dockerfile_name: String,
    pub context: PathBuf,
}

/// Starts the process that builds one stage: the caller's binary, told to
/// run [`build_stage_job`] on the job directory it is given.
pub type StageSpawner<'a> = &'a dyn Fn(&Path) -> Command;

/// Pulls a base image the store lacks (or every base, with `pull`) for a
/// platform (`os/arch[/variant]`); the error is a message.
pub type BasePuller<'a> = &'a dyn Fn(&str, &str) -> Result<image::Digest, String>;

/// How a build gets what is outside the builder: base images, and child
/// processes for stages built at once.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub pull: BasePuller<'a>,
    pub spawn_stage: StageSpawner<'a>,
    /// Brings layers of imported cache records into the store.
    pub fetch: CacheFetcher<'a>,
}

/// What a build made: the image, and the cache records `--cache-to`
/// exports.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: image::Digest,
    pub cache: CacheExport,
}

/// The platform wharf builds for: the host's.
pub fn host_platform() -> dockerfile::expand::Platform {
    dockerfile::expand::Platform { os: "linux".into(), arch: config::host_arch().into(), variant: String::new() }
}

/// The platform a build is for: `platform`, or the host's.
pub fn target_platform(opts: &BuildOptions) -> anyhow::Result<dockerfile::expand::Platform> {
    match &opts.platform {
        Some(p) => config::parse_platform(p).map_err(invalid),
        None => Ok(host_platform()),
    }
}

/// A parsed Dockerfile, ready to build: its stages, lexer, meta args and
/// target stage.
struct Plan {
    stages: dockerfile::Stages,
    lex: Lexer,
    meta: Scope,
    target: usize,
    warnings: Vec<String>,
}

fn plan(opts: &BuildOptions, input: &BuildInput) -> anyhow::Result<Plan> {
    let name = &input.dockerfile_name;
    // Text has no NUL bytes (a file given by mistake, an image, an
    // archive): refused whole rather than as "unknown instruction" with
    // its bytes printed.
    if let Some(at) = input.dockerfile.iter().position(|b| *b == 0) {
        return Err(invalid(format!("invalid Dockerfile {name}: not text (a NUL byte at offset {at})")));
    }
    let df = dockerfile::parse(&input.dockerfile)
        .map_err(|e| invalid(format!("{name}:{}: {}", e.line, image::layer::printable(&e.message))))?;
    let warnings = df.warnings.iter().map(|w| w.message.clone()).collect();
    let stages = dockerfile::stages(&df)
        .map_err(|e| invalid(format!("{name}:{}: {}", e.location.start_line, image::layer::printable(&e.message))))?;
    let lex = Lexer::new(stages.escape);
    let host = host_platform();
    let target = target_platform(opts)?;
    let meta = Scope::meta(&lex, &stages.meta_args, &opts.build_args, platform_args(&host, &target))
        .map_err(|e| invalid(e.to_string()))?;
    let target = match &opts.target {
        Some(t) => stages
            .stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| invalid(format!("failed to solve: target stage \"{t}\" could not be found")))?,
        None => stages.stages.len().checked_sub(1).ok_or_else(|| invalid("the Dockerfile has no FROM"))?,
    };
    Ok(Plan { stages, lex, meta, target, warnings })
}

/// Builds the image; returns its ID. Progress goes to `progress`; the
/// image is in the store, untagged (tagging is the caller's).
pub fn build(
    store: &mut Store,
    input: &BuildInput,
    opts: &BuildOptions,
    services: Services,
    progress: &mut Reporter,
) -> Result<Built, BuildError> {
    build_planned(store, input, opts, services, progress).map_err(typed)
}

fn build_planned(
    store: &mut Store,
    input: &BuildInput,
    opts: &BuildOptions,
    services: Services,
    progress: &mut Reporter,
) -> anyhow::Result<Built> {
    match opts.network_mode.as_str() {
        "" | "default" | "host" | "none" => {}
        other => return Err(invalid(format!("network mode {other:?} not supported by buildkit"))),
    }
    let p = plan(opts, input)?;
    for w in &p.warnings {
        progress.warn(w);
    }
    let ctx = context::Context::open(input.context.clone(), &input.dockerfile_name)?;
    let mut builder = steps::Builder::new(store, &p.stages, &p.lex, p.meta.clone(), ctx, opts, services, progress)?;
    let needed = builder.needed(p.target)?;
    parallel::build_all(&mut builder, &needed, input)?;
    let unused = builder.unused_args(&opts.build_args);
    let built = builder.finish(p.target, &opts.labels)?;
    if !unused.is_empty() {
        progress.warn(&format!("One or more build-args [{}] were not consumed", unused.join(" ")));
    }
    Ok(built)
}

/// The body of a child process that builds one stage for a parent build
/// (`parallel`): reads the job in `dir`, builds, leaves the outcome there.
/// Its progress goes to stdout as JSON lines, for the parent to show.
pub fn build_stage_job(store: &mut Store, dir: &Path, pull: BasePuller, fetch: CacheFetcher) -> Result<(), BuildError> {
    let job = parallel::read_job(dir).map_err(typed)?;
    let mut progress = Reporter::new(|ev| parallel::send_event(&ev));
    let result = (|| {
        let p = plan(&job.options, &job.input)?;
        let ctx = context::Context::open(job.input.context.clone(), &job.input.dockerfile_name)?;
        // A child builds its one stage in this process: it never spawns.
        let spawn_stage: StageSpawner = &|_| Command::new("false");
        let services = Services { pull, spawn_stage, fetch };
        let mut builder =
            steps::Builder::new(store, &p.stages, &p.lex, p.meta.clone(), ctx, &job.options, services, &mut progress)?;
        for (i, b) in job.built {
            builder.insert_built(i, b);
        }
        builder.build_stage(job.stage)?;
        builder.built(job.stage).cloned().ok_or_else(|| fail("the stage was not built"))
    })();
    parallel::write_outcome(dir, result.map_err(typed)).map_err(typed)
}
