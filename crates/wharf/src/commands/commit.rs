//! `wharf commit`: flags → `engine::rootfs::commit`.

use std::path::Path;
use std::process::ExitCode;

use clap::{ArgAction, Args};
use store::Store;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

pub fn commit(root: &Path, args: CommitArgs) -> anyhow::Result<ExitCode> {
    let opts = engine::rootfs::CommitOptions {
        reference: args.reference,
        author: args.author,
        message: args.message,
        changes: args.change,
        pause: args.pause,
    };
    println!("{}", engine::rootfs::commit(&mut Store::open(root)?, &args.container, &opts)?);
    Ok(ExitCode::SUCCESS)
}
