//! `wharf save` and `wharf load`: flags → `engine::archive` → docker's
//! output.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use engine::archive::{self, SaveTarget};
use store::Store;

use crate::exit::Failure;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images to save
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to a file (or, for oci-dir, a directory), instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format
    #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
    pub format: SaveFormat,
    /// Layer compression for the OCI formats
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SaveFormat {
    /// docker 25+ layout: OCI layout plus manifest.json, uncompressed layers
    DockerArchive,
    /// OCI image layout in a tar, compressed layers
    OciArchive,
    /// OCI image layout in a directory, compressed layers
    OciDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn save(root: &Path, args: SaveArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let codec = match args.compression {
        Compression::Gzip => store::Codec::Gzip,
        Compression::Zstd => store::Codec::Zstd,
    };
    let format = match args.format {
        SaveFormat::DockerArchive => archive::SaveFormat::DockerArchive,
        SaveFormat::OciArchive => archive::SaveFormat::OciArchive,
        SaveFormat::OciDir => archive::SaveFormat::OciDir,
    };
    let mut stdout = io::stdout().lock();
    let target = match (&args.output, format) {
        (Some(dir), archive::SaveFormat::OciDir) => SaveTarget::Dir(dir.clone()),
        (Some(path), _) => SaveTarget::File(path.clone()),
        (None, archive::SaveFormat::DockerArchive) => {
            if stdout.is_terminal() {
                bail!(Failure::new(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect"));
            }
            SaveTarget::Stream(&mut stdout)
        }
        (None, _) => SaveTarget::Stream(&mut stdout),
    };
    archive::save(&mut store, &args.images, format, codec, target)?;
    Ok(ExitCode::SUCCESS)
}

pub fn load(root: &Path, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let input: Box<dyn Read> = match &args.input {
        Some(p) => Box::new(File::open(p).with_context(|| format!("open {}", p.display()))?),
        None => {
            if io::stdin().is_terminal() {
                bail!(Failure::new(1, "requested load from stdin, but stdin is empty"));
            }
            Box::new(io::stdin().lock())
        }
    };
    for l in archive::load(&mut store, input)? {
        if args.quiet {
            continue;
        }
        if l.names.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for n in &l.names {
            println!("Loaded image: {}", n.familiar());
        }
    }
    Ok(ExitCode::SUCCESS)
}
