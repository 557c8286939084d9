//! `wharf cp`: `CONTAINER:PATH` and host paths → `engine::cp`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use engine::cp::Direction;
use store::Store;

use crate::exit::fail;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path
    pub dest: String,
}

/// `NAME:PATH` (a container path) or a host path.
fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

/// A host path as docker's CLI passes it on: relative to the working
/// directory of the command.
fn host_path(p: &str) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(p)?)
}

pub fn cp(root: &Path, args: CpArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let (key, direction) = match (split(&args.src), split(&args.dest)) {
        // `-`: a tar stream on stdout or from stdin, as docker's.
        (Some((c, path)), None) if args.dest == "-" => {
            engine::cp::archive_out(&mut store, c, path, &mut std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        (None, Some((c, path))) if args.src == "-" => {
            engine::cp::archive_in(&mut store, c, path, std::io::stdin().lock(), args.archive)?;
            return Ok(ExitCode::SUCCESS);
        }
        (Some((c, path)), None) => {
            let host = host_path(&args.dest)?;
            (c, Direction::Out { container_path: path.to_owned(), host, follow: args.follow_link })
        }
        (None, Some((c, path))) => (c, Direction::In { host: host_path(&args.src)?, container_path: path.to_owned() }),
        (Some(_), Some(_)) => return Err(fail("copying between containers is not supported")),
        (None, None) => return Err(fail("must specify at least one container source")),
    };
    engine::cp::copy(&mut store, key, &direction, args.archive)?;
    Ok(ExitCode::SUCCESS)
}
