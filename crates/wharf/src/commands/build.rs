//! `wharf build`: flags → the builder's options (the Engine API's build
//! options) → `builder::build`, with its progress rendered as BuildKit's
//! (`build_progress`); then the tags, `--iidfile` and `--output`.
//! Also the hidden `build-stage` entry point of the builder's children.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use builder::{BuildError, BuildInput, BuildOptions, Reporter};
use clap::Args;
use image::Reference;
use store::Store;

use super::build_progress::{Mode, Progress};
use crate::exit::{fail, Failure};

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
    /// Push the image (every platform's, as one index) to the registry of its -t name
    #[arg(long)]
    pub push: bool,
    /// Cache export destinations (e.g., "type=registry,ref=REG/REPO:TAG[,mode=max]",
    /// "type=local,dest=DIR")
    #[arg(long, value_name = "stringArray")]
    pub cache_to: Vec<String>,
    /// External cache sources (e.g., "type=registry,ref=REG/REPO:TAG", "type=local,src=DIR")
    #[arg(long, value_name = "stringArray")]
    pub cache_from: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Set target platform for build
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

/// The Dockerfile and the context directory (a temporary one for a
/// context read from stdin: removed by the caller).
fn inputs(store: &Store, args: &BuildArgs) -> anyhow::Result<(BuildInput, Option<PathBuf>)> {
    let mut temp = None;
    let context_dir = if args.context == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        let is_tar = data.len() > 262 && &data[257..262] == b"ustar";
        let is_compressed = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let dir = if is_tar || is_compressed {
            engine::build::unpack_context(store, &data[..]).map_err(|e| fail(e.message().to_owned()))?
        } else {
            let dir = store.staging_dir("context-")?;
            std::fs::write(dir.join("Dockerfile"), &data)?;
            dir
        };
        temp = Some(dir.clone());
        dir
    } else {
        let p = PathBuf::from(&args.context);
        if !p.is_dir() {
            return Err(fail(format!("unable to prepare context: path {:?} not found", args.context)));
        }
        p.canonicalize()?
    };
    let (dockerfile, dockerfile_name) = match args.file.as_deref() {
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
    Ok((BuildInput { dockerfile, dockerfile_name, context: context_dir }, temp))
}

/// `--build-arg K=V`, or `K` alone for the value of K in the environment
/// (empty if unset), as docker's CLI resolves them.
pub fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), std::env::var(kv).unwrap_or_default()),
        })
        .collect()
}

/// The request body docker's CLI would send for these flags.
fn options(args: &BuildArgs) -> anyhow::Result<BuildOptions> {
    let labels = args.label.iter().map(|l| l.split_once('=').unwrap_or((l, ""))).map(|(k, v)| (k.into(), v.into()));
    Ok(BuildOptions {
        build_args: build_args(&args.build_arg),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: labels.collect(),
        network_mode: args.network.clone(),
        output: builder::output::parse(&args.output).map_err(fail)?,
        secrets: args.secret.clone(),
        build_contexts: args.build_context.clone(),
        runtime: args.runtime.clone(),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse().ok()),
        cache_import: None,
        inline_cache: false,
        // One platform here; several are built one by one (build_platforms).
        platform: args.platform.clone().filter(|p| !p.contains(',')),
        label_platform: false,
    })
}

/// The platforms to build: those given, or the host's.
fn platforms_or_host(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        vec![builder::host_platform().spec()]
    } else {
        given.to_vec()
    }
}

/// A builder failure as the CLI reports it (docker build exits 1).
fn build_failure(e: BuildError) -> anyhow::Error {
    fail(e.to_string())
}

pub fn build(root: &Path, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let platforms: Vec<String> = args
        .platform
        .iter()
        .flat_map(|p| p.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    for p in &platforms {
        builder::config::check_platform(p).map_err(fail)?;
    }
    if args.push && args.tag.is_empty() {
        return Err(fail("--push needs a name to push to (-t REGISTRY/REPOSITORY[:TAG])"));
    }
    let mut tags = Vec::new();
    for t in &args.tag {
        tags.push(
            Reference::parse(t)
                .map_err(|e| Failure::new(125, format!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}")))?,
        );
    }
    let options = options(&args)?;
    let store = Store::open(root)?;
    let (input, temp) = inputs(&store, &args)?;
    let quiet = args.quiet || args.progress == "quiet";
    let mut render = Progress::new(Mode::pick(quiet, &args.progress));
    let mut progress = Reporter::new(|ev| render.show(ev));
    let req = engine::build::BuildRequest {
        input,
        options,
        tags: args.tag.clone(),
        registry_logins: Vec::new(),
        cache_to: args.cache_to.clone(),
        cache_from: args.cache_from.clone(),
    };
    let result = if platforms.len() > 1 || args.push {
        engine::build::build_platforms(root, &req, &platforms_or_host(&platforms), args.push, &mut progress).map(
            |built| built.iter().find(|(p, _)| *p == builder::host_platform().spec()).unwrap_or(&built[0]).1.clone(),
        )
    } else {
        engine::build::build(root, &req, &mut progress)
    };
    if let Some(t) = temp {
        let _ = image::layer::remove_tree(&t);
    }
    let id = result.map_err(build_failure)?;
    let opts = &req.options;
    if let Some(f) = &args.iidfile {
        std::fs::write(f, id.to_string())?;
    }
    builder::output::export(&store, &id, &opts.output, &mut std::io::stdout().lock()).map_err(build_failure)?;
    if quiet && !opts.output.uses_stdout() {
        println!("{id}");
    } else {
        let n = progress.begin("exporting to image");
        progress.note(n, &format!("writing image {id} done"));
        for t in &tags {
            progress.note(n, &format!("naming to {} done", t));
        }
        progress.done(n);
        let steps = progress.steps();
        drop(progress);
        render.finish(steps);
    }
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
    let cutoff = crate::format::prune_cutoff(&args.filter)?;
    let report = engine::system::prune_build_cache(&mut Store::open(root)?, cutoff)?;
    super::system::print_pruned_cache(&report);
    Ok(ExitCode::SUCCESS)
}
