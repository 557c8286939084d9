//! `wharf update`: flags → `engine::update`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use engine::api::HostConfig;
use engine::update::Limits;
use store::Store;

use super::container::RestartPolicy;
use super::resources::ResourceArgs;
use crate::exit::fail;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceArgs,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The flags as the engine's limits (docker's UpdateConfig).
fn limits(a: &ResourceArgs) -> anyhow::Result<Limits> {
    let mut hc = HostConfig::default();
    a.fill(&mut hc).map_err(fail)?;
    let mut warnings = Vec::new();
    let limits = Limits::from_host_config(&hc, &mut warnings)?;
    for w in warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(limits)
}

pub fn update(root: &Path, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let limits = limits(&args.resources)?;
    let restart = args.restart.as_deref().map(RestartPolicy::parse).transpose().map_err(fail)?;
    let mut store = Store::open(root)?;
    let mut failed = false;
    for key in &args.containers {
        match engine::update::update(&mut store, key, &limits, restart.as_ref()) {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
