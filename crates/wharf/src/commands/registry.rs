//! pull, push, login, logout — and the pull that `run`, `create` and
//! `build` do for an image that is not in the store.

use std::collections::HashMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use clap::{Args, ValueEnum};
use image::Reference;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use registry::{auth, Event, Options, Platform};

use crate::exit::Failure;

/// How registries are reached (podman's flag; docker's daemon setting).
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Require HTTPS and verify certificates (false: also plain HTTP)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
}

impl TlsArgs {
    pub fn options(&self) -> Options {
        engine::registry::options(self.tls_verify)
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Skip image verification (accepted for docker compatibility)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub disable_content_trust: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Layer compression for layers not yet compressed
    #[arg(long, alias = "compression-format", value_enum, default_value = "gzip")]
    pub compression: Compression,
    /// Skip image signing (accepted for docker compatibility)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub disable_content_trust: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
}

use crate::exit::fail;

/// Docker's registry key for a login server argument.
fn server_name(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let s = s.trim_end_matches('/').trim_end_matches("/v1").trim_end_matches("/v2");
    match s {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

pub fn pull(root: &Path, args: PullArgs) -> anyhow::Result<ExitCode> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let opts = args.tls.options();
    let named = Reference::parse_named(&args.name)?;
    if args.all_tags {
        if named.tag().is_some() || named.digest().is_some() {
            return Err(fail("tag can't be used with --all-tags/-a"));
        }
        let tags = registry::list_tags(&named, &opts).map_err(|e| fail(e.to_string()))?;
        if tags.is_empty() {
            return Err(fail(format!("{}: the repository has no tags", named.familiar())));
        }
        for tag in tags {
            pull_one(root, &named.with_tag(&tag), &platform, &opts, args.quiet, false)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let r = Reference::parse(&args.name)?;
    if named.tag().is_none() && named.digest().is_none() && !args.quiet {
        println!("Using default tag: latest");
    }
    pull_one(root, &r, &platform, &opts, args.quiet, false)?;
    if args.quiet {
        println!("{r}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Pulls one image, printing docker's lines to `out` (nothing when quiet).
pub fn pull_one(
    root: &Path,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    quiet: bool,
    to_stderr: bool,
) -> anyhow::Result<image::Digest> {
    let mut out = output(to_stderr);
    let what = r.tag().map_or_else(|| r.digest().map(|d| d.to_string()).unwrap_or_default(), str::to_owned);
    if !quiet {
        writeln!(out, "{what}: Pulling from {}", r.path())?;
        out.flush()?;
    }
    let progress = Lines::new(quiet, to_stderr, "Pulling fs layer", "Pull complete", "Already exists");
    let pulled = engine::registry::pull(root, r, platform, opts, &progress)?;
    progress.finish();
    if !quiet {
        writeln!(out, "Digest: {}", pulled.digest)?;
        let status = if pulled.fetched == 0 { "Image is up to date for" } else { "Downloaded newer image for" };
        writeln!(out, "Status: {status} {}", r.familiar())?;
        writeln!(out, "{r}")?;
    }
    Ok(pulled.id)
}

/// Resolves an image for `run`/`create`/`FROM`, pulling it as `policy`
/// says (docker's `--pull=missing|always|never`). Pull output goes to
/// stderr, as docker run's does.
pub fn ensure_image(
    root: &Path,
    name: &str,
    policy: &str,
    quiet: bool,
    platform: Option<&str>,
) -> anyhow::Result<image::Digest> {
    let platform = platform.map(Platform::parse).transpose().map_err(|e| Failure::new(125, e.to_string()))?;
    let local = engine::registry::local_image(&store::Store::open(root)?, name, policy, platform.as_ref());
    match local {
        Ok(Some(id)) => return Ok(id),
        Ok(None) => {}
        Err(e) if e.kind() == engine::ErrorKind::InvalidArgument => return Err(Failure::new(125, e.to_string()).into()),
        Err(e) => return Err(e.into()),
    }
    let r = Reference::parse(name).map_err(|e| fail(format!("{name}: {e}")))?;
    if !quiet && policy == "missing" {
        eprintln!("Unable to find image '{}' locally", r.familiar());
    }
    let platform = platform.unwrap_or_else(Platform::host);
    pull_one(root, &r, &platform, &TlsArgs { tls_verify: None }.options(), quiet, true)
}

pub fn push(root: &Path, args: PushArgs) -> anyhow::Result<ExitCode> {
    let opts = args.tls.options();
    let named = Reference::parse_named(&args.name)?;
    let targets = engine::registry::push_targets(&store::Store::open(root)?, &args.name, args.all_tags)?;
    let codec = match args.compression {
        Compression::Gzip => store::Codec::Gzip,
        Compression::Zstd => store::Codec::Zstd,
    };
    if !args.quiet {
        println!("The push refers to repository [{}]", named.repository());
    }
    for t in &targets {
        // A multi-platform name (a local manifest list of it): every
        // platform's image, then the index.
        if store::Store::open(root)?.manifest_list(&t.to_string())?.is_some() {
            let digest = engine::manifests::push(root, &t.to_string(), None, false, &opts)?;
            match args.quiet {
                true => println!("{t}"),
                false => println!("{}: digest: {digest}", t.tag().unwrap_or("latest")),
            }
            continue;
        }
        let progress = Lines::new(args.quiet, false, "Preparing", "Pushed", "Layer already exists");
        let pushed = engine::registry::push(root, t, codec, &opts, &progress)?;
        progress.finish();
        if args.quiet {
            println!("{t}");
        } else {
            println!("{}: digest: {} size: {}", t.tag().unwrap_or("latest"), pushed.digest, pushed.size);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let server = server_name(args.server.as_deref());
    let stdin = io::stdin();
    if args.password.is_some() && args.password_stdin {
        return Err(fail("--password and --password-stdin are mutually exclusive"));
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match args.username {
        Some(u) => u,
        None if args.password_stdin => return Err(fail("Must provide --username with --password-stdin")),
        None => match auth::credentials(&server)? {
            Some(c) if args.password.is_none() && !stdin.is_terminal() => c.username,
            _ => prompt("Username: ")?,
        },
    };
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut p = String::new();
            stdin.lock().read_line(&mut p)?;
            p.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => rpassword::prompt_password("Password: ").context("reading the password")?,
    };
    if username.is_empty() {
        return Err(fail("Error: Non-null Username Required"));
    }
    let creds = auth::Credentials { username, secret: password };
    registry::login(&server, &creds, &args.tls.options()).map_err(|e| fail(format!("login to {server}: {e}")))?;
    if let Some(file) = auth::store(&server, &creds)? {
        eprintln!("WARNING! Your credentials are stored unencrypted in '{}'.", file.display());
        eprintln!("Configure a credential helper to remove this warning. See");
        eprintln!("https://docs.docker.com/go/credential-store/");
        eprintln!();
    }
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    io::stderr().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let server = server_name(args.server.as_deref());
    if auth::erase(&server)? {
        println!("Removing login credentials for {}", auth::server_key(&server));
    } else {
        println!("Not logged in to {}", auth::server_key(&server));
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress as docker prints it: a bar per layer on a terminal
/// (indicatif), else one line per layer state change.
struct Lines {
    quiet: bool,
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
    words: (&'static str, &'static str, &'static str),
    out: Mutex<Box<dyn Write + Send>>,
}

/// Where progress goes: `pull` and `push` print to stdout, as docker
/// does; the pull inside `run` or `build` prints to stderr.
fn output(to_stderr: bool) -> Box<dyn Write + Send> {
    if to_stderr {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    }
}

impl Lines {
    fn new(quiet: bool, to_stderr: bool, start: &'static str, done: &'static str, exists: &'static str) -> Lines {
        let tty = if to_stderr { io::stderr().is_terminal() } else { io::stdout().is_terminal() };
        let bars = (!quiet && tty).then(|| {
            let target = if to_stderr { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
            (MultiProgress::with_draw_target(target), Mutex::new(HashMap::new()))
        });
        Lines { quiet, bars, words: (start, done, exists), out: Mutex::new(output(to_stderr)) }
    }

    fn line(&self, id: &str, msg: &str) {
        if let Ok(mut o) = self.out.lock() {
            let _ = writeln!(o, "{id}: {msg}");
            let _ = o.flush();
        }
    }

    fn bar(&self, id: &str, total: u64) -> Option<ProgressBar> {
        let (multi, map) = self.bars.as_ref()?;
        let mut map = map.lock().ok()?;
        Some(
            map.entry(id.to_owned())
                .or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(total));
                    // Total 0: not known (a layer compressed while it uploads).
                    let template = if total == 0 {
                        "{prefix}: {msg} {bytes}"
                    } else {
                        "{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}"
                    };
                    let style = ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                    b.set_style(style);
                    b.set_prefix(id.to_owned());
                    b
                })
                .clone(),
        )
    }

    fn finish(&self) {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
        }
    }
}

impl registry::Progress for Lines {
    fn event(&self, e: Event) {
        if self.quiet {
            return;
        }
        let (start, done, exists) = self.words;
        match e {
            Event::Started { id, total } => match self.bar(&id, total) {
                Some(b) => b.set_message(if start == "Preparing" { "Pushing" } else { "Downloading" }),
                None => self.line(&id, start),
            },
            Event::Progress { id, done: n, total } => {
                if let Some(b) = self.bar(&id, total) {
                    b.set_position(n);
                }
            }
            Event::Exists { id } => self.line(&id, exists),
            Event::Mounted { id, from } => self.line(&id, &format!("Mounted from {from}")),
            Event::Done { id } => match self.bar(&id, 0) {
                Some(b) => {
                    b.finish_with_message(done);
                }
                None => self.line(&id, done),
            },
            Event::Retrying { id, reason } => self.line(&id, &format!("Retrying ({reason})")),
        }
    }
}
