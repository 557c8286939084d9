//! The checked request into the runtime's options: the rootfs, the
//! process, the namespaces, security, limits, ports and mounts; then the
//! OCI bundle and the record.

use std::path::{Path, PathBuf};

use store::{ContainerState, Store};

use super::mounts::{self, VolumesUsed};
use super::resolv::{self, Dns};
use super::{Checked, Container};
use crate::api::{HostConfig, HostConfigCgroupnsModeEnum};
use crate::container::{load_config, ContainerConfig};
use crate::error::ResultExt;
use crate::{Error, Result};

/// Makes the container's rootfs and bundle; returns its record.
pub(super) fn prepare(
    store: &mut Store,
    c: &Checked,
    made: &Container,
    warnings: &mut Vec<String>,
) -> Result<ContainerConfig> {
    let (body, hc, id) = (&c.body, &c.hc, made.id);
    let root = store.root().to_owned();
    let dir = crate::monitor::container_dir(&root, id);
    let ov = crate::monitor::overlay(store, id, &made.image.to_string())?;
    ov.mount().map_err(|e| Error::internal(format!("mounting the container's rootfs: {e}")))?;
    let mut record = super::record(c, made, made.config);
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let cwd = given(&body.working_dir).or_else(|| given(&made.config.string("WorkingDir"))).unwrap_or("/".into());
    builder::context::make_dir_in(&ov.target, &cwd).map_err(|e| Error::internal(format!("Cannot mkdir: {e}")))?;
    let user_spec = body.user.clone().or_else(|| made.config.string("User")).unwrap_or_default();
    let mut user = runtime::resolve_user(&ov.target, &user_spec)?;
    user.add_groups(&ov.target, hc.group_add.as_deref().unwrap_or_default())?;
    let argv = made.entrypoint.iter().chain(&made.cmd).cloned().collect();
    let mut opts = runtime::RunOptions::new(id, ov.target.clone(), argv, user);
    opts.env = record.env.clone();
    opts.cwd = cwd.clone();
    opts.read_only = hc.readonly_rootfs.unwrap_or(false);
    opts.tty = record.tty;
    opts.privileged = hc.privileged.unwrap_or(false);
    opts.cap_add = hc.cap_add.clone().unwrap_or_default();
    opts.cap_drop = hc.cap_drop.clone().unwrap_or_default();
    if let Some(h) = given(&body.hostname) {
        opts.hostname = h;
    }
    opts.domainname = given(&body.domainname);
    opts.cgroups_path = PathBuf::from(format!("/{}", crate::monitor::cgroup_path(&record, id)));
    opts.annotations.extend(hc.annotations.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    let exposed = exposed_ports(made, body.exposed_ports.as_deref().unwrap_or_default());
    let ports = published_ports(store, hc, &exposed)?;
    network(store, c, &mut opts, !ports.is_empty())?;
    namespaces(store, hc, &mut opts)?;
    security(&mut opts, hc)?;
    limits(&mut opts, hc, warnings)?;
    let mut volumes = VolumesUsed::default();
    opts.extra_mounts = mounts::mounts(&root, &ov.target, body, hc, &mut volumes)?;
    for from in hc.volumes_from.iter().flatten() {
        let theirs = mounts::volumes_from(store, from, &mut volumes)?;
        // What this container mounts itself wins, as in docker.
        let mine: Vec<PathBuf> = opts.extra_mounts.iter().map(|m| m.destination().clone()).collect();
        opts.extra_mounts.extend(theirs.into_iter().filter(|m| !mine.contains(m.destination())));
    }
    mounts::sort_by_depth(&mut opts.extra_mounts);
    devices(&mut opts, hc)?;
    if hc.init == Some(true) {
        init(&mut opts)?;
    }
    opts.extra_mounts.extend(resolv::etc_files(&dir, &opts.hostname, c.network == "host", &Dns::of(hc))?);
    record.links = crate::links::resolve(store, hc.links.as_deref().unwrap_or_default(), &c.network)?;
    let mut spec = runtime::container_spec(&opts)?;
    if !record.links.is_empty() {
        record.spec_env = spec.process().as_ref().and_then(|p| p.env().clone()).unwrap_or_default();
    }
    runtime::seccomp::attach_compiled(&mut spec);
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;
    let stop_signal = given(&body.stop_signal).or_else(|| made.config.string("StopSignal")).unwrap_or("SIGTERM".into());
    if crate::lifecycle::parse_signal(&stop_signal).is_none() {
        return Err(Error::invalid(format!("Invalid signal: {stop_signal}")));
    }
    record.working_dir = cwd;
    record.user = user_spec;
    record.hostname = opts.hostname.clone();
    record.stop_signal = stop_signal;
    record.ports = ports.iter().map(port_string).collect();
    record.exposed = exposed;
    record.anon_volumes = volumes.anonymous;
    record.volumes = volumes.all;
    record.shm_size = opts.shm_size;
    Ok(record)
}

/// The image's exposed ports, then the body's.
fn exposed_ports(made: &Container, given: &[String]) -> Vec<String> {
    let mut exposed = made.config.keys("ExposedPorts");
    for p in given {
        let p = if p.contains('/') { p.clone() } else { format!("{p}/tcp") };
        if !exposed.contains(&p) {
            exposed.push(p);
        }
    }
    exposed
}

/// `IP:HOST:CTR/PROTO` as stored and shown.
fn port_string(p: &network::PortMap) -> String {
    format!("{}:{}:{}/{}", p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED), p.host_port, p.container_port, p.proto)
}

/// `PortBindings` (and, with `PublishAllPorts`, every exposed port not
/// bound already) with free host ports picked where none is given; a
/// host port something else holds is docker's "port is already
/// allocated". In port order, as docker lists them.
fn published_ports(store: &Store, hc: &HostConfig, exposed: &[String]) -> Result<Vec<network::PortMap>> {
    let mut wanted: Vec<network::PortMap> = Vec::new();
    let bindings = hc.port_bindings.iter().flatten();
    for (key, list) in bindings {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let bad = || Error::invalid(format!("invalid port specification: \"{key}\""));
        let container_port: u16 = port.parse().map_err(|_| bad())?;
        for b in list.iter().flatten() {
            let host_ip = match b.host_ip.as_deref().filter(|i| !i.is_empty()) {
                None => None,
                Some(ip) => Some(ip.parse().map_err(|_| Error::invalid(format!("invalid IP address: {ip}")))?),
            };
            let host_port = match b.host_port.as_deref().filter(|p| !p.is_empty()) {
                None => 0,
                Some(p) => p.parse().map_err(|_| Error::invalid(format!("invalid port specification: \"{p}\"")))?,
            };
            wanted.push(network::PortMap { host_ip, host_port, container_port, proto: proto.to_owned() });
        }
    }
    if hc.publish_all_ports == Some(true) {
        for e in exposed {
            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let Ok(container_port) = port.parse() else { continue };
            if !wanted.iter().any(|w| w.container_port == container_port && w.proto == proto) {
                wanted.push(network::PortMap { host_ip: None, host_port: 0, container_port, proto: proto.to_owned() });
            }
        }
    }
    wanted.sort_by(|a, b| (a.container_port, &a.proto).cmp(&(b.container_port, &b.proto)));
    allocate(store, wanted)
}

/// Host ports for `wanted`: checked free, or picked.
fn allocate(store: &Store, wanted: Vec<network::PortMap>) -> Result<Vec<network::PortMap>> {
    let mut taken: Vec<String> = Vec::new();
    for rec in store.containers()? {
        if matches!(rec.state, ContainerState::Running | ContainerState::Paused | ContainerState::Created) {
            taken.extend(load_config(&rec).ports);
        }
    }
    let mut out = Vec::new();
    for mut p in wanted {
        let in_use = |p: &network::PortMap| {
            let same = |t: &String| {
                t.split(':').nth(1) == Some(&p.host_port.to_string()) && t.ends_with(&format!("/{}", p.proto))
            };
            taken.iter().any(same) || !network::port_free(p)
        };
        if p.host_port == 0 {
            // A port the kernel just gave out may be taken again before it
            // is checked (another command's pick, a connection's source
            // port): another is picked then, as docker's allocator would.
            for _ in 0..32 {
                p.host_port = network::free_port()?;
                if !in_use(&p) {
                    break;
                }
            }
        }
        if in_use(&p) {
            let ip = p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
            return Err(Error::conflict(format!(
                "driver failed programming external connectivity: Bind for {ip}:{} failed: port is already allocated",
                p.host_port
            )));
        }
        taken.push(port_string(&p));
        out.push(p);
    }
    Ok(out)
}

/// The network namespace: the host's, none, another container's, or its
/// own (bridge or a user network).
fn network(store: &mut Store, c: &Checked, opts: &mut runtime::RunOptions, publishes: bool) -> Result<()> {
    let id = opts.id.clone();
    match c.network.as_str() {
        "host" => opts.host_network = true,
        "none" => {}
        "bridge" | "default" => opts.netns = Some(network::netns_path(&id)),
        other if other.starts_with("container:") => {
            let key = &other["container:".len()..];
            let pid = running_pid(store, key, "network")?;
            if publishes {
                return Err(Error::invalid("conflicting options: port publishing and the container type network mode"));
            }
            opts.netns = Some(PathBuf::from(format!("/proc/{pid}/ns/net")));
        }
        other => {
            if store.network(other)?.is_none() {
                return Err(Error::not_found(format!("network {other} not found")));
            }
            opts.netns = Some(network::netns_path(&id));
        }
    }
    if !opts.host_network && !c.network.starts_with("container:") {
        // As docker (20.10+) in a container's own network namespace: any
        // user may bind ports below 1024 and ping (ICMP echo sockets)
        // without a capability; and IPv6 is off but on networks made with
        // --ipv6 (so `localhost` is 127.0.0.1 alone, and a client never
        // tries a ::1 no server listens on). Sysctls given override them
        // (limits()).
        opts.sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        // Not in a user namespace (rootless), as moby: GIDs beyond the
        // namespace's map are not valid there.
        if !paths::in_user_namespace() {
            opts.sysctls.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        }
        // A network made with --ipv6 keeps it on.
        let ipv6 = store.network(&c.network)?.is_some_and(|n| n.ipv6);
        if !ipv6 {
            opts.sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "1".into());
            opts.sysctls.insert("net.ipv6.conf.default.disable_ipv6".into(), "1".into());
        }
    }
    for h in c.hc.extra_hosts.iter().flatten() {
        if h.split_once(':').is_none_or(|(_, ip)| ip.parse::<std::net::IpAddr>().is_err() && ip != "host-gateway") {
            return Err(Error::invalid(format!(
                "invalid argument \"{h}\" for \"--add-host\" flag: invalid IP address"
            )));
        }
    }
    Ok(())
}

/// The init of running container `key`, whose namespace is joined.
fn running_pid(store: &mut Store, key: &str, what: &str) -> Result<i32> {
    let (id, _, state) = store.find_container(key)?;
    let pid = store.container(&id)?.pid;
    if state != ContainerState::Running || pid <= 0 {
        return Err(Error::conflict(format!("cannot join {what} of a non running container: {key}")));
    }
    Ok(pid)
}

/// `PidMode`, `IpcMode`, `UTSMode` and `CgroupnsMode`, as docker's modes.
fn namespaces(store: &mut Store, hc: &HostConfig, opts: &mut runtime::RunOptions) -> Result<()> {
    use runtime::{Share, Shm};
    opts.pid_ns = match hc.pid_mode.as_deref().unwrap_or("") {
        "" => Share::Private,
        "host" => Share::Host,
        m => {
            let key = m.strip_prefix("container:").ok_or_else(|| Error::invalid(format!("invalid PID mode: {m}")))?;
            Share::Join(format!("/proc/{}/ns/pid", running_pid(store, key, "PID")?).into())
        }
    };
    let root = store.root().to_owned();
    (opts.ipc_ns, opts.shm) = match hc.ipc_mode.as_deref().unwrap_or("") {
        "" | "private" => (Share::Private, Shm::Tmpfs),
        "shareable" => (Share::Private, Shm::Bind(crate::monitor::shm_dir(&root, &opts.id))),
        "none" => (Share::Private, Shm::None),
        "host" => (Share::Host, Shm::Bind("/dev/shm".into())),
        m => {
            let key = m.strip_prefix("container:").ok_or_else(|| Error::invalid(format!("invalid IPC mode: {m}")))?;
            let pid = running_pid(store, key, "IPC namespace")?;
            let (donor, _, _) = store.find_container(key)?;
            if load_config(&store.container(&donor)?).ipc != "shareable" {
                return Err(Error::invalid(format!(
                    "cannot join IPC of {key}: non-shareable IPC (hint: use --ipc shareable for the donor container)"
                )));
            }
            (Share::Join(format!("/proc/{pid}/ns/ipc").into()), Shm::Bind(crate::monitor::shm_dir(&root, &donor)))
        }
    };
    if hc.uts_mode.as_deref() == Some("host") {
        opts.uts_ns = Share::Host;
        opts.hostname =
            std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    }
    // Private by default on v1 too (docker shares the host's there): a
    // container sees its own cgroup as /, whichever the host runs.
    opts.cgroup_ns = match hc.cgroupns_mode {
        Some(HostConfigCgroupnsModeEnum::HOST) => Share::Host,
        _ => Share::Private,
    };
    Ok(())
}

/// `SecurityOpt`: no-new-privileges, and seccomp (`unconfined`, or the
/// profile's JSON, which docker's CLI reads from the file named).
fn security(opts: &mut runtime::RunOptions, hc: &HostConfig) -> Result<()> {
    for s in hc.security_opt.iter().flatten() {
        let (key, value) = s.split_once('=').or_else(|| s.split_once(':')).unwrap_or((s, ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => opts.no_new_privileges = true,
            ("no-new-privileges", "false") => opts.no_new_privileges = false,
            ("seccomp", "unconfined") => opts.seccomp = runtime::Seccomp::Unconfined,
            ("seccomp", json) => {
                let p = runtime::seccomp::profile_from_json(json).map_err(|e| Error::invalid(e.to_string()))?;
                opts.seccomp = runtime::Seccomp::Profile(Box::new(p));
            }
            _ => return Err(Error::invalid(format!("invalid --security-opt: {s:?}"))),
        }
    }
    Ok(())
}

/// Resource limits, `OomScoreAdj`, `ShmSize` and `Sysctls`.
/// podman's words for limits an ordinary user's container cannot have.
pub(crate) fn rootless_limits() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "Resource limits are not supported and ignored for rootless containers without cgroup v2 delegation (no cgroup of this user's to make them in)"
    } else {
        "Resource limits are not supported and ignored on cgroups V1 rootless systems"
    }
}

fn limits(opts: &mut runtime::RunOptions, hc: &HostConfig, warnings: &mut Vec<String>) -> Result<()> {
    let mut r = crate::resources::limits(hc, warnings)?;
    opts.oom_score_adj = crate::resources::oom_score_adj(hc)?;
    if let (Some(m), Some(s)) = (r.memory, r.memory_swap) {
        if s >= 0 && s < m {
            return Err(Error::invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
        }
    }
    if let (Some(m), None) = (r.memory, r.memory_swap) {
        // docker's default: as much swap as memory (memory+swap = 2x).
        if crate::resources::swap_accounting() {
            r.memory_swap = Some(m.saturating_mul(2));
        }
    }
    // An ordinary user's containers have no cgroup of their own without
    // cgroup v2 delegation: limits are dropped with podman's warning.
    if !runtime::delegation::own_cgroups() && r != runtime::resources::Resources::default() {
        warnings.push(rootless_limits().to_owned());
        r = runtime::resources::Resources::default();
    }
    opts.resources = r;
    if let Some(s) = hc.shm_size.filter(|s| *s > 0) {
        opts.shm_size = s as u64;
    }
    opts.sysctls.extend(hc.sysctls.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    Ok(())
}

/// `Ulimits`, `DeviceCgroupRules` and `Devices`.
fn devices(opts: &mut runtime::RunOptions, hc: &HostConfig) -> Result<()> {
    for u in hc.ulimits.iter().flatten() {
        let name = u.name.as_deref().unwrap_or_default();
        let spec = format!("{name}={}:{}", u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        opts.rlimits.push(runtime::spec::parse_ulimit(&spec)?);
    }
    for r in hc.device_cgroup_rules.iter().flatten() {
        opts.device_rules.push(runtime::spec::parse_device_rule(r)?);
    }
    for d in hc.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or_default();
        let ctr = d.path_in_container.as_deref().filter(|p| !p.is_empty()).unwrap_or(host);
        let perms = d.cgroup_permissions.as_deref().filter(|p| !p.is_empty()).unwrap_or("rwm");
        opts.devices.push(runtime::spec::parse_device(&format!("{host}:{ctr}:{perms}"))?);
    }
    Ok(())
}

/// `Init`: docker's init is tini; Debian's tini-static runs in any rootfs.
fn init(opts: &mut runtime::RunOptions) -> Result<()> {
    let tini = ["/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/sbin/docker-init"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ctx("--init needs tini: install Debian's tini package (tini-static)")?;
    opts.extra_mounts.push(runtime::bind_mount(Path::new(tini), "/sbin/docker-init", true)?);
    let mut argv = vec!["/sbin/docker-init".to_owned(), "--".to_owned()];
    argv.append(&mut opts.args);
    opts.args = argv;
    Ok(())
}
