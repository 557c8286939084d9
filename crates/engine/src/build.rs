//! Builds: the builder run with the engine's services (base images pulled
//! quietly from their registries, stages built at once by internal-job
//! children), then the tags and their events. The CLI builds in its own
//! process; the API server in a child ([`Job::Build`]), which sends its
//! progress back as JSON lines: the embedded runtime forks for RUN, which
//! a multi-threaded server must not do itself.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use builder::{BuildError, BuildEvent, BuildInput, BuildOptions, Reporter, Services};
use image::{Digest, Reference};
use serde::{Deserialize, Serialize};
use store::Store;

use crate::internal::Job;
use crate::{Error, Result};

/// What to build: the Dockerfile and context, the options, the tags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildRequest {
    pub input: BuildInput,
    pub options: BuildOptions,
    /// `-t` / `t=`: the names the image gets.
    pub tags: Vec<String>,
    /// Credentials for the base images' registries (the API's
    /// `X-Registry-Config`); the stored ones are used for the others.
    #[serde(default)]
    pub registry_logins: Vec<RegistryLogin>,
    /// `--cache-to` (BuildKit's `type=local|registry,...`), as given.
    #[serde(default)]
    pub cache_to: Vec<String>,
    /// `--cache-from`, as given.
    #[serde(default)]
    pub cache_from: Vec<String>,
}

/// A registry's credentials given with a build request.
#[derive(Clone, Serialize, Deserialize)]
pub struct RegistryLogin {
    pub registry: String,
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryLogin({}, {}, ****)", self.registry, self.username)
    }
}

/// The tags of a request, each a valid reference.
pub fn parse_tags(tags: &[String]) -> Result<Vec<Reference>> {
    let parse = |t: &String| Reference::parse(t).map_err(|e| Error::invalid(format!("invalid tag \"{t}\": {e}")));
    tags.iter().map(parse).collect()
}

/// Builds `req` in this process, reporting to `progress`; tags the image
/// (with docker's tag events) and returns its ID.
pub fn build(root: &Path, req: &BuildRequest, progress: &mut Reporter) -> Result<Digest, BuildError> {
    let tags = parse_tags(&req.tags).map_err(|e| BuildError::Invalid(e.message().to_owned()))?;
    let failed = |e: store::StoreError| BuildError::Failed(e.to_string());
    let mut store = Store::open(root).map_err(failed)?;
    let _lock = store.lock(false).map_err(failed)?;
    let mut opts = crate::registry::options(None);
    opts.credentials = req
        .registry_logins
        .iter()
        .map(|l| {
            (l.registry.clone(), registry::auth::Credentials { username: l.username.clone(), secret: l.secret.clone() })
        })
        .collect();
    let pull = |name: &str, platform: &str| {
        crate::registry::pull_quietly(root, name, platform, &opts).map_err(|e| e.message().to_owned())
    };
    let spawn = |dir: &Path| Job::BuildStage { dir: dir.to_owned() }.command(root);
    let fetch = |import: &builder::CacheImport, diffs: &[Digest]| crate::buildcache::fetch(root, import, diffs);
    let services = Services { pull: &pull, spawn_stage: &spawn, fetch: &fetch };
    let invalid = |e: Error| BuildError::Invalid(e.message().to_owned());
    let exports = req
        .cache_to
        .iter()
        .map(|s| crate::buildcache::parse_spec(s, true))
        .collect::<Result<Vec<_>>>()
        .map_err(invalid)?;
    let mut options = req.options.clone();
    // BuildKit's build arg for an inline cache, as `type=inline`.
    let inline_arg = options.build_args.remove("BUILDKIT_INLINE_CACHE").is_some_and(|v| v == "1" || v == "true");
    options.inline_cache |= inline_arg || exports.iter().any(|(s, _)| *s == crate::buildcache::CacheSpec::Inline);
    let mut warnings = Vec::new();
    options.cache_import = crate::buildcache::import(&req.cache_from, &mut |w| warnings.push(w)).map_err(invalid)?;
    for w in warnings {
        progress.warn(&w);
    }
    let built = builder::build(&mut store, &req.input, &options, services, progress)?;
    for (spec, mode) in &exports {
        crate::buildcache::export(root, spec, *mode, &built.cache)
            .map_err(|e| BuildError::Failed(format!("exporting the build cache: {e}")))?;
    }
    let id = built.id;
    for t in &tags {
        store.tag(&id, t).map_err(failed)?;
        crate::events::image(root, "tag", &id.to_string(), &t.familiar());
    }
    Ok(id)
}

/// Builds `req` for each of `platforms` (`--platform a,b`): one image per
/// platform, their RUN steps under emulation where foreign. The tags name
/// the host's platform's image (else the first platform's); with `push`
/// every tag is pushed as an OCI index of all of them. Returns the images
/// by platform.
pub fn build_platforms(
    root: &Path,
    req: &BuildRequest,
    platforms: &[String],
    push: bool,
    progress: &mut Reporter,
) -> Result<Vec<(String, Digest)>, BuildError> {
    let tags = parse_tags(&req.tags).map_err(|e| BuildError::Invalid(e.message().to_owned()))?;
    let mut built = Vec::new();
    for p in platforms {
        let spec = builder::config::parse_platform(p).map_err(BuildError::Invalid)?.spec();
        let mut one = req.clone();
        one.options.platform = Some(spec.clone());
        one.options.label_platform = platforms.len() > 1;
        one.tags.clear();
        built.push((spec, build(root, &one, progress)?));
    }
    let host = builder::host_platform().spec();
    let named = built.iter().find(|(p, _)| *p == host).or(built.first()).map(|(_, id)| id.clone());
    let failed = |e: String| BuildError::Failed(e);
    if let Some(id) = named {
        let mut store = Store::open(root).map_err(|e| failed(e.to_string()))?;
        for t in &tags {
            store.tag(&id, t).map_err(|e| failed(e.to_string()))?;
            crate::events::image(root, "tag", &id.to_string(), &t.familiar());
            // The name also stands for every platform: a local manifest
            // list of the same name, which push and save keep whole.
            if built.len() > 1 {
                let list = platform_list(t, &built).map_err(|e| failed(e.to_string()))?;
                store.put_manifest_list(&list).map_err(|e| failed(e.to_string()))?;
            }
        }
    }
    if push {
        for t in &tags {
            push_index(root, t, &built).map_err(|e| failed(format!("pushing {}: {e}", t.familiar())))?;
        }
    }
    Ok(built)
}

/// The manifest list `r` names after a multi-platform build.
fn platform_list(r: &Reference, images: &[(String, Digest)]) -> Result<store::ManifestList> {
    let mut entries = Vec::new();
    for (platform, id) in images {
        let p = builder::config::parse_platform(platform).map_err(Error::invalid)?;
        entries.push(store::ListEntry {
            source: r.to_string(),
            image: Some(id.to_string()),
            os: p.os,
            architecture: p.arch,
            variant: p.variant,
            ..store::ListEntry::default()
        });
    }
    Ok(store::ManifestList { name: r.to_string(), created: store::now_rfc3339(), entries })
}

/// Pushes each image by digest, then an index of them under `r`'s tag.
fn push_index(root: &Path, r: &Reference, images: &[(String, Digest)]) -> Result<()> {
    let opts = crate::registry::options(None);
    let quiet = |_: registry::Event| {};
    let mut entries = Vec::new();
    for (platform, id) in images {
        let pushed = registry::push_image(root, id, r, true, store::Codec::Gzip, &opts, &quiet)?;
        let p = builder::config::parse_platform(platform).map_err(Error::invalid)?;
        entries.push(registry::IndexEntry {
            digest: pushed.digest,
            size: pushed.size,
            os: p.os,
            architecture: p.arch,
            variant: p.variant,
            media_type: String::new(),
            os_version: String::new(),
            os_features: Vec::new(),
            annotations: Default::default(),
        });
    }
    registry::push_index(r, &entries, &opts)?;
    crate::events::image(root, "push", &r.familiar(), &r.familiar());
    Ok(())
}

/// A child building one stage of a parent's build (`Job::BuildStage`).
pub fn stage_job(root: &Path, dir: &Path) -> Result<(), BuildError> {
    let failed = |e: store::StoreError| BuildError::Failed(e.to_string());
    let mut store = Store::open(root).map_err(failed)?;
    let _lock = store.lock(false).map_err(failed)?;
    let opts = crate::registry::options(None);
    let pull = |name: &str, platform: &str| {
        crate::registry::pull_quietly(root, name, platform, &opts).map_err(|e| e.message().to_owned())
    };
    let fetch = |import: &builder::CacheImport, diffs: &[Digest]| crate::buildcache::fetch(root, import, diffs);
    builder::build_stage_job(&mut store, dir, &pull, &fetch)
}

/// A build context read from a tar stream (plain or compressed), in a
/// staging directory of its own that the caller removes.
pub fn unpack_context(store: &Store, tar: impl Read) -> Result<PathBuf> {
    let dir = store.staging_dir("context-")?;
    if let Err(e) = image::layer::apply(tar, &dir, image::layer::Whiteouts::Delete) {
        let _ = image::layer::remove_tree(&dir);
        return Err(Error::invalid(format!("reading the build context: {e}")));
    }
    Ok(dir)
}

/// A build running in a child process (`Job::Build`): its events as they
/// come, then its outcome.
pub struct BuildChild {
    dir: PathBuf,
    child: Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

/// What a build child leaves in its job directory.
type Outcome = std::result::Result<String, BuildError>;

impl BuildChild {
    /// Starts building `req` in a child; the job directory `dir` (a
    /// staging directory) is the child's to write and the caller's to
    /// remove.
    pub fn start(root: &Path, dir: &Path, req: &BuildRequest) -> Result<BuildChild> {
        let json = serde_json::to_vec(req).map_err(|e| Error::internal(e.to_string()))?;
        // The request may hold registry credentials: for the owner only.
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dir.join("request.json"))?;
        f.write_all(&json)?;
        let mut child = Job::Build { dir: dir.to_owned() }
            .command(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::internal(format!("starting the build: {e}")))?;
        let out = child.stdout.take().ok_or_else(|| Error::internal("the build child has no stdout"))?;
        Ok(BuildChild { dir: dir.to_owned(), child, lines: std::io::BufReader::new(out).lines() })
    }

    /// The next progress event; None once the child is done.
    pub fn next_event(&mut self) -> Option<BuildEvent> {
        loop {
            let line = self.lines.next()?.ok()?;
            if let Ok(ev) = serde_json::from_str(&line) {
                return Some(ev);
            }
        }
    }

    /// Waits for the child and returns what it built.
    pub fn finish(mut self) -> Result<Digest, BuildError> {
        let status = self.child.wait().map_err(|e| BuildError::Failed(format!("waiting for the build: {e}")))?;
        let outcome: Option<Outcome> =
            std::fs::read(self.dir.join("outcome.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match outcome {
            Some(Ok(id)) => id.parse().map_err(|_| BuildError::Failed(format!("the build child named no image: {id}"))),
            Some(Err(e)) => Err(e),
            None => Err(BuildError::Failed(format!("the build process ended without a result ({status})"))),
        }
    }

    /// Stops the build (its client went away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

/// The child's side of `Job::Build`: builds the request in `dir`, its
/// events as JSON lines on stdout, its outcome in `dir/outcome.json`.
pub fn build_job(root: &Path, dir: &Path) -> Result<i32> {
    let req: BuildRequest = serde_json::from_slice(&std::fs::read(dir.join("request.json"))?)
        .map_err(|e| Error::invalid(format!("not a build request: {e}")))?;
    let mut progress = Reporter::new(|ev| {
        use std::io::Write;
        if let Ok(line) = serde_json::to_string(&ev) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
    });
    let outcome: Outcome = build(root, &req, &mut progress).map(|id| id.to_string());
    let code = i32::from(outcome.is_err());
    let json = serde_json::to_vec(&outcome).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(dir.join("outcome.json"), json)?;
    Ok(code)
}
