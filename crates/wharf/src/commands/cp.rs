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

pub fn cp(root: &Path, args: CpArgs) -> anyhow::Result<ExitCode> {
    let (key, direction) = match (split(&args.src), split(&args.dest)) {
        (Some((c, path)), None) => {
            let host = PathBuf::from(&args.dest);
            (c, Direction::Out { container_path: path.to_owned(), host, follow: args.follow_link })
        }
        (None, Some((c, path))) => {
            (c, Direction::In { host: PathBuf::from(&args.src), container_path: path.to_owned() })
        }
        (Some(_), Some(_)) => return Err(fail("copying between containers is not supported")),
        (None, None) => return Err(fail("must specify at least one container source")),
    };
    engine::cp::copy(&mut Store::open(root)?, key, &direction, args.archive)?;
    Ok(ExitCode::SUCCESS)
}
