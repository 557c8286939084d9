//! `build --output`: the result's filesystem written out, as BuildKit's
//! `local` and `tar` exporters do (`-o DIR`, `-o type=local,dest=DIR`,
//! `-o type=tar,dest=FILE`, `-o -` for a tar on stdout). The image is kept
//! in the store as well (it is what the build cache is made of).

use std::io::Write;
use std::path::{Path, PathBuf};

use image::Digest;
use store::Store;

use super::fail;
use serde::{Deserialize, Serialize};

/// Where a build's result goes besides the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// The store only (no `-o`, or `type=image`/`docker`).
    #[default]
    Image,
    /// Files in a directory.
    Local(PathBuf),
    /// A tar archive; None: the writer [`export`] is given (the CLI's
    /// stdout).
    Tar(Option<PathBuf>),
}

impl Output {
    /// Whether it writes to stdout (so nothing else may).
    pub fn uses_stdout(&self) -> bool {
        *self == Output::Tar(None)
    }
}

/// Parses the `-o` flags (one at most, as docker's).
pub fn parse(specs: &[String]) -> Result<Output, String> {
    let spec = match specs {
        [] => return Ok(Output::Image),
        [one] => one,
        _ => return Err("multiple outputs are not supported".into()),
    };
    if spec == "-" {
        return Ok(Output::Tar(None));
    }
    if !spec.contains('=') {
        return Ok(Output::Local(PathBuf::from(spec)));
    }
    let mut kind = None;
    let mut dest = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", t)) => kind = Some(t),
            Some(("dest", d)) => dest = Some(d),
            _ => return Err(format!("invalid output {spec:?}: unknown field {field:?}")),
        }
    }
    match (kind, dest) {
        (Some("local"), Some(d)) => Ok(Output::Local(PathBuf::from(d))),
        (Some("tar"), Some("-")) => Ok(Output::Tar(None)),
        (Some("tar"), Some(d)) => Ok(Output::Tar(Some(PathBuf::from(d)))),
        (Some("local" | "tar"), None) => Err(format!("invalid output {spec:?}: dest is required")),
        (Some("image" | "docker"), _) => Ok(Output::Image),
        (Some(t), _) => Err(format!("output type {t:?} is not supported (local, tar, image)")),
        (None, _) => Err(format!("invalid output {spec:?}: type is required")),
    }
}

/// Writes image `id`'s filesystem (its layers merged) where `out` says;
/// `Tar(None)` into `stream`.
pub fn export(store: &Store, id: &Digest, out: &Output, stream: &mut dyn Write) -> Result<(), super::BuildError> {
    if *out == Output::Image {
        return Ok(());
    }
    let staging = store.staging_dir("output-").map_err(|e| super::BuildError::Failed(e.to_string()))?;
    let result = export_from(store, id, out, &staging, stream);
    let _ = image::layer::remove_tree(&staging);
    result.map_err(super::typed)
}

fn export_from(store: &Store, id: &Digest, out: &Output, staging: &Path, stream: &mut dyn Write) -> anyhow::Result<()> {
    let lowers: Vec<PathBuf> = store.image(id)?.chain.iter().map(|c| store.snapshot_dir(c)).collect();
    let merged = staging.join("merged");
    let overlay =
        runtime::Overlay { lowers, upper: staging.join("upper"), work: staging.join("work"), target: merged.clone() };
    overlay.mount().map_err(|e| fail(format!("mounting the result: {e}")))?;
    let written = write(&merged, out, staging, stream);
    let _ = overlay.unmount();
    written
}

fn write(tree: &Path, out: &Output, staging: &Path, stream: &mut dyn Write) -> anyhow::Result<()> {
    use image::layer::write_tree;
    match out {
        Output::Image => Ok(()),
        Output::Tar(None) => Ok(write_tree(tree, stream)?),
        Output::Tar(Some(file)) => {
            let f = std::fs::File::create(file).map_err(|e| fail(format!("creating {}: {e}", file.display())))?;
            Ok(write_tree(tree, std::io::BufWriter::new(f))?)
        }
        Output::Local(dir) => {
            // Through a tar, so that the files land with the same checks
            // (and owners, modes, links) as a layer does.
            let tar = staging.join("out.tar");
            write_tree(tree, std::io::BufWriter::new(std::fs::File::create(&tar)?))?;
            std::fs::create_dir_all(dir).map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
            image::layer::apply(std::fs::File::open(&tar)?, dir, image::layer::Whiteouts::Delete)
                .map_err(|e| fail(format!("writing to {}: {e}", dir.display())))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_as_buildkit_spells_them() {
        assert_eq!(parse(&[]), Ok(Output::Image));
        assert_eq!(parse(&["out".into()]), Ok(Output::Local("out".into())));
        assert_eq!(parse(&["-".into()]), Ok(Output::Tar(None)));
        assert_eq!(parse(&["type=local,dest=d".into()]), Ok(Output::Local("d".into())));
        assert_eq!(parse(&["type=tar,dest=a.tar".into()]), Ok(Output::Tar(Some("a.tar".into()))));
        assert_eq!(parse(&["type=tar,dest=-".into()]), Ok(Output::Tar(None)));
        assert_eq!(parse(&["type=image".into()]), Ok(Output::Image));
        assert!(parse(&["type=registry".into()]).is_err());
        assert!(parse(&["type=local".into()]).is_err());
        assert!(parse(&["a".into(), "b".into()]).is_err());
    }
}
