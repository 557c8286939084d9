//! `wharf manifest`: docker's manifest list commands (create, annotate,
//! inspect, push, rm) and podman's `add`, over `engine::manifests`.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use engine::manifests::{self, Platform};

use super::registry::TlsArgs;

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Create a local manifest list for annotating and pushing to a registry
    Create(CreateArgs),
    /// Add an image (local or in a registry) to a manifest list
    Add(AddArgs),
    /// Add additional information to a local image manifest
    Annotate(AnnotateArgs),
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
    /// Push a manifest list to a repository
    Push(PushArgs),
    /// Delete one or more manifest lists from local storage
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Amend an existing manifest list
    #[arg(short, long)]
    pub amend: bool,
    /// Allow communication with an insecure registry (plain HTTP)
    #[arg(long)]
    pub insecure: bool,
    pub list: String,
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// Set architecture
    #[arg(long)]
    pub arch: Option<String>,
    /// Set operating system
    #[arg(long)]
    pub os: Option<String>,
    /// Set operating system version
    #[arg(long)]
    pub os_version: Option<String>,
    /// Set operating system feature
    #[arg(long)]
    pub os_features: Vec<String>,
    /// Set architecture variant
    #[arg(long)]
    pub variant: Option<String>,
    /// Set an annotation (KEY=VALUE)
    #[arg(long)]
    pub annotation: Vec<String>,
}

impl PlatformArgs {
    fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            arch: self.arch.clone(),
            variant: self.variant.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            annotations: self.annotation.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    pub list: String,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    pub list: String,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Allow communication with an insecure registry (plain HTTP)
    #[arg(long)]
    pub insecure: bool,
    /// Output additional info including layers and platform
    #[arg(short, long)]
    pub verbose: bool,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Allow push to an insecure registry (plain HTTP)
    #[arg(long)]
    pub insecure: bool,
    /// Remove the local manifest list after push
    #[arg(short, long)]
    pub purge: bool,
    pub list: String,
    /// Where to push it (default: the list's own name)
    pub destination: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub lists: Vec<String>,
}

/// Registry options: `--insecure` lets plain HTTP through, as docker's.
fn options(insecure: bool) -> registry::Options {
    engine::registry::options(insecure.then_some(false))
}

/// docker's manifest commands run in its CLI, not its daemon: their
/// errors have no "Error response from daemon" before them.
pub fn run(root: &Path, cmd: ManifestCommand) -> anyhow::Result<ExitCode> {
    run_local(root, cmd).map_err(|e| match e.downcast::<engine::Error>() {
        Ok(e) => crate::exit::fail(e.to_string()),
        Err(e) => e,
    })
}

fn run_local(root: &Path, cmd: ManifestCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ManifestCommand::Create(a) => {
            let name = manifests::create(root, &a.list, &a.images, a.amend, &options(a.insecure))?;
            println!("Created manifest list {name}");
        }
        ManifestCommand::Add(a) => {
            manifests::add(root, &a.list, &a.image, &a.platform.platform(), &a.tls.options())?;
        }
        ManifestCommand::Annotate(a) => manifests::annotate(root, &a.list, &a.image, &a.platform.platform())?,
        ManifestCommand::Inspect(a) => {
            let v = manifests::inspect(root, &a.name, &options(a.insecure))?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ManifestCommand::Push(a) => {
            let digest = manifests::push(root, &a.list, a.destination.as_deref(), a.purge, &options(a.insecure))?;
            println!("{digest}");
        }
        ManifestCommand::Rm(a) => manifests::remove(root, &a.lists)?,
    }
    Ok(ExitCode::SUCCESS)
}
