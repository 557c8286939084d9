//! Commits a directory as a layer, as a build step's upperdir is committed:
//! `commit_dir STORE_ROOT DIR` moves DIR into the store's staging area and
//! times `Store::adopt_snapshot` (canonical tar → sha256 → rename → index).
//! Used by bench/store.sh to compare against `docker commit`.

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(root), Some(dir)) = (args.next().map(PathBuf::from), args.next().map(PathBuf::from)) else {
        return Err("usage: commit_dir STORE_ROOT DIR".into());
    };
    let mut store = store::Store::open(&root)?;
    let staging = store.staging_dir("commit-")?;
    std::fs::rename(&dir, staging.join("fs"))?;
    let t = Instant::now();
    let layer = store.adopt_snapshot(&staging, None)?;
    println!("{} {} bytes in {:.3}s", layer.diff_id, layer.size, t.elapsed().as_secs_f64());
    Ok(())
}
