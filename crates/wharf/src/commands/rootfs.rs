//! `wharf diff` and `wharf export`: `engine::rootfs` → docker's output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use store::Store;

use crate::exit::fail;

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

pub fn diff(root: &Path, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let changes = engine::rootfs::diff(&mut Store::open(root)?, &args.container)?;
    let mut stdout = std::io::stdout().lock();
    for c in changes {
        writeln!(stdout, "{} {}", c.kind, c.path)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(root: &Path, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    // Looked up first, as docker's: a missing container is the error, and
    // no output file is made for it.
    engine::lifecycle::lookup(&mut store, &args.container)?;
    match &args.output {
        Some(p) => engine::rootfs::export(&mut store, &args.container, &mut std::fs::File::create(p)?)?,
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
        }
        None => engine::rootfs::export(&mut store, &args.container, &mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}
