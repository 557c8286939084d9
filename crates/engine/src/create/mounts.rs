//! A new container's mounts: `HostConfig.Mounts`, `Binds`, the config's
//! anonymous `Volumes`, `Tmpfs` and `VolumesFrom`, as OCI mounts; named
//! and anonymous volumes are made under `volumes/NAME/_data`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount as OciMount;
use store::Store;

use crate::api::{ContainerCreateBody, HostConfig, Mount, MountType};
use crate::{Error, Result};

/// The volumes a new container mounts, by name.
#[derive(Default)]
pub(super) struct VolumesUsed {
    /// Made for it alone (`-v /path`).
    pub anonymous: Vec<String>,
    /// All of them, anonymous ones included.
    pub all: Vec<String>,
}

impl VolumesUsed {
    /// The data directory of volume `name` (None: a new anonymous one),
    /// made if new; with `seed`, a new volume gets the image's content at
    /// the mount path, as docker's do.
    fn volume(&mut self, root: &Path, name: Option<&str>, seed: Option<(&Path, &str)>) -> Result<PathBuf> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => {
                let n = crate::files::random_hex(32)?;
                self.anonymous.push(n.clone());
                n
            }
        };
        let data = crate::volumes::ensure(root, &name, seed)?;
        self.all.push(name);
        Ok(data)
    }
}

/// The body's own mounts (not `VolumesFrom`), in docker's order of
/// precedence; the caller sorts them by depth.
pub(super) fn mounts(
    root: &Path,
    rootfs: &Path,
    body: &ContainerCreateBody,
    hc: &HostConfig,
    used: &mut VolumesUsed,
) -> Result<Vec<OciMount>> {
    let mut out = Vec::new();
    for m in hc.mounts.iter().flatten() {
        out.push(api_mount(root, rootfs, m, used)?);
    }
    for b in hc.binds.iter().flatten() {
        out.push(bind(root, rootfs, b, used)?);
    }
    let tmpfs = super::tmpfs_list(hc);
    // A `Volumes` entry that a bind, mount or tmpfs already covers makes
    // no anonymous volume (compose sends both for `data:/data`).
    let mut covered: Vec<PathBuf> = out.iter().map(|m| clean(&m.destination().to_string_lossy())).collect();
    covered.extend(tmpfs.iter().map(|t| clean(t.split_once(':').map_or(t.as_str(), |(d, _)| d))));
    for dst in body.volumes.iter().flatten() {
        if !dst.starts_with('/') {
            return Err(Error::invalid(format!("invalid volume specification: '{dst}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute")));
        }
        if covered.contains(&clean(dst)) {
            continue;
        }
        let data = used.volume(root, None, Some((rootfs, dst)))?;
        out.push(runtime::bind_mount(&data, dst, false)?);
    }
    for t in tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((&t, ""));
        out.push(runtime::tmpfs_mount(dst, opts)?);
    }
    Ok(out)
}

/// A mount destination with `.`, `..` and extra slashes resolved.
fn clean(dst: &str) -> PathBuf {
    Path::new("/").join(builder::context::clean_rel(dst))
}

/// Mount propagation modes of a bind.
const PROPAGATION: [&str; 6] = ["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// A `Binds` entry: `SOURCE:DEST[:MODES]`, the source a host path or a
/// volume name.
fn bind(root: &Path, rootfs: &Path, spec: &str, used: &mut VolumesUsed) -> Result<OciMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, o] => (*src, *dst, *o),
        _ => return Err(Error::invalid(format!("invalid volume specification: '{spec}'"))),
    };
    if !dst.starts_with('/') {
        return Err(Error::invalid(format!("invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute")));
    }
    check_volume_mode(spec, opts, src.starts_with('/'))?;
    let ro = opts.split(',').any(|o| o == "ro");
    let seed = (!opts.split(',').any(|o| o == "nocopy")).then_some((rootfs, dst));
    let source = if src.starts_with('/') {
        // docker makes a missing bind source (as a directory).
        std::fs::create_dir_all(src).ok();
        PathBuf::from(src)
    } else {
        used.volume(root, Some(src), seed)?
    };
    let mut mount = runtime::bind_mount(&source, dst, ro)?;
    if let Some(p) = opts.split(',').find(|o| PROPAGATION.contains(o)) {
        // In place of bind_mount's rprivate.
        let options = mount.options().clone().unwrap_or_default();
        mount.set_options(Some(options.into_iter().map(|o| if o == "rprivate" { p.to_owned() } else { o }).collect()));
    }
    Ok(mount)
}

/// docker's check of a bind's mode list: each of access (rw/ro), SELinux
/// label (z/Z), propagation, copy (nocopy, named volumes only) and
/// consistency at most once, and nothing else.
fn check_volume_mode(spec: &str, modes: &str, bind: bool) -> Result<()> {
    let groups: [&[&str]; 5] = [
        &["rw", "ro"],
        // SELinux relabelling: nothing to do where SELinux is off, which
        // wharf does not support (as docker without it).
        &["z", "Z"],
        &PROPAGATION,
        &["nocopy"],
        &["consistent", "cached", "delegated"],
    ];
    if modes.is_empty() {
        return Ok(());
    }
    let mut seen = [false; 5];
    for m in modes.split(',') {
        match groups.iter().position(|g| g.contains(&m)) {
            Some(g) if !seen[g] => seen[g] = true,
            _ => return Err(Error::invalid(format!("invalid mode: {modes}"))),
        }
    }
    if bind && seen[3] {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"bind\": field VolumeOptions must not be specified"
        )));
    }
    Ok(())
}

/// A `HostConfig.Mounts` entry (`--mount`).
fn api_mount(root: &Path, rootfs: &Path, m: &Mount, used: &mut VolumesUsed) -> Result<OciMount> {
    let dst = m.target.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| Error::invalid("target is required"))?;
    let src = m.source.as_deref().filter(|s| !s.is_empty());
    let ro = m.read_only.unwrap_or(false);
    match m.typ.unwrap_or(MountType::VOLUME) {
        MountType::BIND => {
            let src = src.ok_or_else(|| {
                Error::invalid("invalid mount config for type \"bind\": field Source must not be empty")
            })?;
            if !Path::new(src).exists() {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                )));
            }
            Ok(runtime::bind_mount(Path::new(src), dst, ro)?)
        }
        MountType::VOLUME => {
            let copy = !m.volume_options.as_ref().and_then(|o| o.no_copy).unwrap_or(false);
            let data = used.volume(root, src, copy.then_some((rootfs, dst)))?;
            Ok(runtime::bind_mount(&data, dst, ro)?)
        }
        MountType::TMPFS => {
            let size = m.tmpfs_options.as_ref().and_then(|o| o.size_bytes).filter(|s| *s > 0);
            Ok(runtime::tmpfs_mount(dst, &size.map(|s| format!("size={s}")).unwrap_or_default())?)
        }
        other => Err(Error::invalid(format!("invalid mount type: {:?}", other.to_string()))),
    }
}

/// `VolumesFrom` entries, `CONTAINER[:ro|rw]`: the binds and volumes of
/// another container (not its tmpfs, nor the files wharf made for it),
/// read-only or read-write as asked, else as it has them.
pub(super) fn volumes_from(store: &mut Store, spec: &str, used: &mut VolumesUsed) -> Result<Vec<OciMount>> {
    let (key, mode) = match spec.rsplit_once(':') {
        Some((k, m @ ("ro" | "rw"))) => (k, Some(m)),
        Some((_, m)) => return Err(Error::invalid(format!("invalid mode for volumes-from: {m}"))),
        None => (spec, None),
    };
    let (id, _, _) = store.find_container(key)?;
    let root = store.root().to_owned();
    let own_files = crate::monitor::container_dir(&root, &id);
    let theirs = oci_spec::runtime::Spec::load(own_files.join("config.json"))
        .map_err(|e| Error::internal(format!("reading the mounts of {key}: {e}")))?;
    let volumes = root.join("volumes");
    let mut out = Vec::new();
    for m in theirs.mounts().iter().flatten() {
        let Some(src) = m.source().as_ref().filter(|_| m.typ().as_deref() == Some("bind")) else { continue };
        if src.starts_with(&own_files) || m.destination() == Path::new("/dev/shm") {
            continue;
        }
        if let Some(name) = src.strip_prefix(&volumes).ok().and_then(|rest| rest.iter().next()) {
            used.all.push(name.to_string_lossy().into_owned());
        }
        let mut mount = m.clone();
        if let Some(mode) = mode {
            let options = m.options().clone().unwrap_or_default().into_iter().filter(|o| o != "ro" && o != "rw");
            mount.set_options(Some(options.chain(std::iter::once(mode.to_owned())).collect()));
        }
        out.push(mount);
    }
    Ok(out)
}

/// Mounts in the order they can be made: a parent before what is
/// mounted below it (docker sorts by the number of path components);
/// equal depths keep their order.
pub(super) fn sort_by_depth(mounts: &mut [OciMount]) {
    mounts.sort_by_key(|m| m.destination().components().count());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_dockers() {
        assert!(check_volume_mode("a:/b:ro", "ro", false).is_ok());
        assert!(check_volume_mode("a:/b:ro,z,rshared,nocopy", "ro,z,rshared,nocopy", false).is_ok());
        assert!(check_volume_mode("a:/b:ro,rw", "ro,rw", false).is_err());
        assert!(check_volume_mode("a:/b:bogus", "bogus", false).is_err());
        assert!(check_volume_mode("/a:/b:nocopy", "nocopy", true)
            .is_err_and(|e| e.message().ends_with("field VolumeOptions must not be specified")));
    }

    #[test]
    fn parents_mount_first() {
        let m = |d: &str| runtime::tmpfs_mount(d, "").expect("a tmpfs mount");
        let mut mounts = vec![m("/data/sub"), m("/x"), m("/data")];
        sort_by_depth(&mut mounts);
        let order: Vec<_> = mounts.iter().map(|m| m.destination().to_string_lossy().into_owned()).collect();
        assert_eq!(order, ["/x", "/data", "/data/sub"]);
    }
}
