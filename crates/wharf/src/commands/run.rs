//! `wharf run` and `wharf create`: image config + flags → a container
//! record, an overlay rootfs over the image's snapshots and an OCI bundle
//! (runtime::container_spec); then, for `run`, the monitor: in this process
//! for a foreground run (wharf exits with the container's code), or a
//! detached one for `-d` (wharf prints the ID and returns).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::ContainerState;

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use store::Store;

use super::container::{self, engine, Attach, ContainerConfig, RestartPolicy};
use super::resources::{ResourceArgs, RunResourceArgs};

#[derive(Debug, Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (docker uses -h for --hostname here)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// The flags `create` and `run` share.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_name = "string")]
    pub pull: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Bind mount a volume (host-dir:ctr-path[:ro] or name:ctr-path)
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory (path[:options])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=,target=,readonly)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMS]])
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('c 189:* rwm')
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long, value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "string")]
    pub cgroupns: Option<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long, value_name = "map")]
    pub annotation: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long, value_name = "string")]
    pub mac_address: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "ip")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    #[command(flatten)]
    pub health: super::health::HealthArgs,
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[command(flatten)]
    pub run_resources: RunResourceArgs,
    #[command(flatten)]
    pub logging: super::logging::LogArgs,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security options (no-new-privileges)
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Path to an OCI runtime binary (runc, crun, youki, runsc)
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// PID namespace to use (host, container:NAME)
    #[arg(long, value_name = "string")]
    pub pid: Option<String>,
    /// IPC mode to use (private, shareable, host, none, container:NAME)
    #[arg(long, value_name = "string")]
    pub ipc: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long, value_name = "string")]
    pub uts: Option<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "string")]
    pub cidfile: Option<PathBuf>,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<PathBuf>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    pub command: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Adds container `id` under a random docker-style name; after
/// `names::ATTEMPTS` names in use, under its short ID, as docker does.
fn add_named_at_random(store: &mut Store, id: &str, image: &image::Digest) -> anyhow::Result<()> {
    for attempt in 0..crate::names::ATTEMPTS {
        let seed = u64::from_str_radix(&random_hex(8)?, 16)?;
        match store.add_container(id, &crate::names::generate(seed, attempt), image) {
            Err(store::StoreError::Conflict(_)) => continue,
            other => return other.map_err(|e| engine(e.to_string())),
        }
    }
    store.add_container(id, &id[..12], image).map_err(|e| engine(e.to_string()))
}

pub(crate) fn random_hex(bytes: usize) -> anyhow::Result<String> {
    Ok(engine::files::random_hex(bytes)?)
}

/// The argv: docker's rule is that `--entrypoint` replaces the image's
/// ENTRYPOINT and drops its CMD; a command after the image replaces CMD.
fn entry_and_cmd(config: Option<&Value>, args: &CreateArgs) -> (Vec<String>, Vec<String>) {
    let mut entry = strings(config.and_then(|c| c.get("Entrypoint")));
    let mut cmd = strings(config.and_then(|c| c.get("Cmd")));
    if let Some(e) = &args.entrypoint {
        entry = if e.is_empty() { Vec::new() } else { vec![e.clone()] };
        cmd.clear();
    }
    if !args.command.is_empty() {
        cmd = args.command.clone();
    }
    (entry, cmd)
}

/// `--env-file`s then `-e`s as `KEY=value` (run and exec): `-e NAME`
/// takes NAME from wharf's environment, and is dropped when it is unset.
pub fn given_env(files: &[PathBuf], flags: &[String]) -> anyhow::Result<Vec<String>> {
    let mut given = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| engine(format!("open {}: {e}", f.display())))?;
        given.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
    }
    given.extend(flags.iter().cloned());
    Ok(given
        .into_iter()
        .filter_map(|e| match e.split_once('=') {
            Some(_) => Some(e),
            None => std::env::var(&e).ok().map(|v| format!("{e}={v}")),
        })
        .collect())
}

/// Image ENV, then `--env-file`s, then `-e` (later wins). `-e NAME` takes
/// NAME from wharf's environment, and is dropped when it is unset.
fn environment(config: Option<&Value>, args: &CreateArgs) -> anyhow::Result<Vec<String>> {
    let mut env = strings(config.and_then(|c| c.get("Env")));
    for e in given_env(&args.env_file, &args.env)? {
        let key = e.split('=').next().unwrap_or_default().to_owned();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    Ok(env)
}

/// The volumes a new container mounts, by name.
#[derive(Default)]
struct VolumesUsed {
    /// Made for it alone (`-v /path`).
    anonymous: Vec<String>,
    /// All of them, anonymous ones included.
    all: Vec<String>,
}

impl VolumesUsed {
    /// The data directory of volume `name` (None: a new anonymous one),
    /// made if new; with `seed`, a new volume gets the image's content at
    /// the mount path, as docker's do.
    fn volume(&mut self, root: &Path, name: Option<&str>, seed: Option<(&Path, &str)>) -> anyhow::Result<PathBuf> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => {
                let n = random_hex(32)?;
                self.anonymous.push(n.clone());
                n
            }
        };
        let data = engine::volumes::ensure(root, &name, seed)?;
        self.all.push(name);
        Ok(data)
    }
}

/// `-v`, `--mount` and `--tmpfs` as OCI mounts; volumes are made under
/// `volumes/NAME/_data` (engine::volumes).
fn mounts(
    root: &Path,
    rootfs: &Path,
    args: &CreateArgs,
    used: &mut VolumesUsed,
) -> anyhow::Result<Vec<oci_spec::runtime::Mount>> {
    let mut out = Vec::new();
    for m in &args.mount {
        out.push(mount_flag(root, rootfs, m, used)?);
    }
    for v in &args.volume {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [dst] => (None, *dst, ""),
            [src, dst] => (Some(*src), *dst, ""),
            [src, dst, o] => (Some(*src), *dst, *o),
            _ => return Err(engine(format!("invalid volume specification: '{v}'"))),
        };
        if !dst.starts_with('/') {
            return Err(engine(format!("invalid volume specification: '{v}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute")));
        }
        check_volume_mode(v, opts, src.is_some_and(|s| s.starts_with('/')))?;
        let ro = opts.split(',').any(|o| o == "ro");
        let seed = (!opts.split(',').any(|o| o == "nocopy")).then_some((rootfs, dst));
        let source = match src {
            Some(s) if s.starts_with('/') => {
                std::fs::create_dir_all(s).ok();
                PathBuf::from(s)
            }
            named => used.volume(root, named, seed)?,
        };
        let mut mount = runtime::bind_mount(&source, dst, ro)?;
        if let Some(p) = opts.split(',').find(|o| PROPAGATION.contains(o)) {
            // In place of bind_mount's rprivate.
            let options = mount.options().clone().unwrap_or_default();
            mount.set_options(Some(
                options.into_iter().map(|o| if o == "rprivate" { p.to_owned() } else { o }).collect(),
            ));
        }
        out.push(mount);
    }
    for t in &args.tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
        out.push(runtime::tmpfs_mount(dst, opts)?);
    }
    Ok(out)
}

/// `--volumes-from CONTAINER[:ro|rw]`: the binds and volumes of another
/// container (not its tmpfs, nor the files wharf made for it), read-only
/// or read-write as asked, else as it has them.
fn volumes_from(
    store: &mut Store,
    spec: &str,
    used: &mut VolumesUsed,
) -> anyhow::Result<Vec<oci_spec::runtime::Mount>> {
    let (key, mode) = match spec.rsplit_once(':') {
        Some((k, m @ ("ro" | "rw"))) => (k, Some(m)),
        Some((_, m)) => return Err(engine(format!("invalid mode for volumes-from: {m}"))),
        None => (spec, None),
    };
    let (id, _, _) = store.find_container(key).map_err(|e| engine(e.to_string()))?;
    let root = store.root().to_owned();
    let bundle = container::container_dir(&root, &id).join("config.json");
    let theirs: oci_spec::runtime::Spec =
        oci_spec::runtime::Spec::load(&bundle).map_err(|e| engine(format!("reading the mounts of {key}: {e}")))?;
    let own_files = container::container_dir(&root, &id);
    let volumes = root.join("volumes");
    let mut out = Vec::new();
    for m in theirs.mounts().iter().flatten() {
        let Some(src) = m.source().as_ref().filter(|_| m.typ().as_deref() == Some("bind")) else { continue };
        if src.starts_with(&own_files) || m.destination() == Path::new("/dev/shm") {
            continue;
        }
        if let Ok(rest) = src.strip_prefix(&volumes) {
            if let Some(name) = rest.iter().next() {
                used.all.push(name.to_string_lossy().into_owned());
            }
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

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly`.
fn mount_flag(
    root: &Path,
    rootfs: &Path,
    spec: &str,
    used: &mut VolumesUsed,
) -> anyhow::Result<oci_spec::runtime::Mount> {
    let (mut kind, mut src, mut dst, mut ro, mut size) = ("volume".to_owned(), None, None, false, None);
    let mut copy = true;
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        match k {
            "type" => kind = v.to_owned(),
            "source" | "src" => src = Some(v.to_owned()),
            "target" | "destination" | "dst" => dst = Some(v.to_owned()),
            "readonly" | "ro" => ro = v == "true" || v == "1",
            "tmpfs-size" => size = Some(v.to_owned()),
            "volume-nocopy" => copy = !(v == "true" || v == "1"),
            _ => return Err(engine(format!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}'"))),
        }
    }
    let dst =
        dst.ok_or_else(|| engine(format!("invalid argument \"{spec}\" for \"--mount\" flag: target is required")))?;
    match kind.as_str() {
        "bind" => {
            let src =
                src.ok_or_else(|| engine("invalid mount config for type \"bind\": field Source must not be empty"))?;
            if !Path::new(&src).exists() {
                return Err(engine(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                )));
            }
            Ok(runtime::bind_mount(Path::new(&src), &dst, ro)?)
        }
        "volume" => {
            let data = used.volume(root, src.as_deref(), copy.then_some((rootfs, dst.as_str())))?;
            Ok(runtime::bind_mount(&data, &dst, ro)?)
        }
        "tmpfs" => Ok(runtime::tmpfs_mount(&dst, &size.map(|s| format!("size={s}")).unwrap_or_default())?),
        other => Err(engine(format!("invalid mount type: {other:?}"))),
    }
}

/// Mount propagation modes of `-v`.
const PROPAGATION: [&str; 6] = ["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// docker's check of a `-v` mode list: each of access (rw/ro), SELinux
/// label (z/Z), propagation, copy (nocopy, named volumes only) and
/// consistency at most once, and nothing else.
fn check_volume_mode(spec: &str, modes: &str, bind: bool) -> anyhow::Result<()> {
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
        let group = groups.iter().position(|g| g.contains(&m));
        match group {
            Some(g) if !seen[g] => seen[g] = true,
            _ => return Err(engine(format!("invalid mode: {modes}"))),
        }
    }
    if bind && seen[3] {
        return Err(engine(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"bind\": field VolumeOptions must not be specified"
        )));
    }
    Ok(())
}

/// `IP:HOST:CTR/PROTO` as stored and shown.
fn port_string(p: &network::PortMap) -> String {
    format!("{}:{}:{}/{}", p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED), p.host_port, p.container_port, p.proto)
}

/// The `-p` flags, with free host ports picked for `-p CONTAINERPORT`; a
/// host port that something else holds is docker's "port is already
/// allocated" error.
fn published_ports(store: &Store, args: &CreateArgs, exposed: &[String]) -> anyhow::Result<Vec<network::PortMap>> {
    let mut taken: Vec<String> = Vec::new();
    for rec in store.containers()? {
        if matches!(rec.state, ContainerState::Running | ContainerState::Paused | ContainerState::Created) {
            taken.extend(container::load_config(&rec).ports);
        }
    }
    let mut out = Vec::new();
    let mut specs = args.publish.clone();
    if args.publish_all {
        // -P: every EXPOSEd port on a free host port.
        specs.extend(exposed.iter().cloned());
    }
    for spec in &specs {
        for mut p in network::parse_ports(spec).map_err(|e| engine(e.to_string()))? {
            if p.host_port == 0 {
                p.host_port = network::free_port().map_err(|e| engine(e.to_string()))?;
            }
            let same_port = |t: &String| {
                t.split(':').nth(1) == Some(&p.host_port.to_string()) && t.ends_with(&format!("/{}", p.proto))
            };
            if taken.iter().any(same_port) || !network::port_free(&p) {
                let ip = p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                return Err(engine(format!(
                    "driver failed programming external connectivity: Bind for {ip}:{} failed: port is already allocated",
                    p.host_port
                )));
            }
            taken.push(port_string(&p));
            out.push(p);
        }
    }
    Ok(out)
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf as docker writes them,
/// bind-mounted from the container's directory (the host's resolv.conf
/// itself for `--network host` without DNS flags).
fn etc_files(
    dir: &Path,
    hostname: &str,
    host_net: bool,
    args: &CreateArgs,
) -> anyhow::Result<Vec<oci_spec::runtime::Mount>> {
    let mut out = Vec::new();
    let overridden = !args.dns.is_empty() || !args.dns_search.is_empty() || !args.dns_option.is_empty();
    let resolv = if host_net && !overridden {
        PathBuf::from("/etc/resolv.conf")
    } else {
        let p = dir.join("resolv.conf");
        std::fs::write(&p, resolv_conf(&host_resolv_conf(), host_net, args))?;
        p
    };
    out.push(runtime::bind_mount(&resolv, "/etc/resolv.conf", false)?);
    if !host_net {
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, container::hosts_file(hostname, None))?;
        out.push(runtime::bind_mount(&hosts, "/etc/hosts", false)?);
        let hn = dir.join("hostname");
        std::fs::write(&hn, format!("{hostname}\n"))?;
        out.push(runtime::bind_mount(&hn, "/etc/hostname", false)?);
    }
    Ok(out)
}

/// The host's resolv.conf; systemd-resolved's upstream one when the host
/// points at its local stub (127.0.0.53), as docker does.
fn host_resolv_conf() -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let stub_only = nameservers(&text).iter().all(|n| n == "127.0.0.53") && !nameservers(&text).is_empty();
    match std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
        Ok(upstream) if stub_only => upstream,
        _ => text,
    }
}

fn nameservers(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.trim().strip_prefix("nameserver")).map(|n| n.trim().to_owned()).collect()
}

/// docker's container resolv.conf: the host's without the nameservers a
/// container cannot reach (loopback ones, and IPv6 ones: IPv6 is off in
/// a container's own network) or, if none is left, Google's public
/// servers, as docker falls back to; `--dns`, `--dns-search` and
/// `--dns-option` replace their lines.
fn resolv_conf(host: &str, host_net: bool, args: &CreateArgs) -> String {
    let reachable = |n: &String| host_net || n.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback());
    let kept: Vec<&str> = host
        .lines()
        .filter(|l| l.trim().strip_prefix("nameserver").is_none_or(|n| reachable(&n.trim().to_owned())))
        .collect();
    let has = |key: &str| kept.iter().any(|l| l.trim_start().starts_with(key));
    let overridden = !args.dns.is_empty() || !args.dns_search.is_empty() || !args.dns_option.is_empty();
    if !overridden && has("nameserver") {
        return kept.iter().map(|l| format!("{l}\n")).collect();
    }
    let lines_of = |key: &'static str| {
        kept.iter().filter(move |l| l.trim_start().starts_with(key)).map(|l| l.trim().to_owned()).collect::<Vec<_>>()
    };
    let mut out = String::new();
    if args.dns_search.is_empty() {
        out.extend(lines_of("search").into_iter().chain(lines_of("domain")).map(|l| format!("{l}\n")));
    } else if args.dns_search != ["."] {
        out.push_str(&format!("search {}\n", args.dns_search.join(" ")));
    }
    let servers: Vec<String> = match (&args.dns, has("nameserver")) {
        (d, _) if !d.is_empty() => d.clone(),
        (_, true) => {
            kept.iter().filter_map(|l| l.trim().strip_prefix("nameserver")).map(|n| n.trim().to_owned()).collect()
        }
        (_, false) => vec!["8.8.8.8".into(), "8.8.4.4".into()],
    };
    out.extend(servers.iter().map(|n| format!("nameserver {n}\n")));
    if args.dns_option.is_empty() {
        out.extend(lines_of("options").into_iter().map(|l| format!("{l}\n")));
    } else {
        out.push_str(&format!("options {}\n", args.dns_option.join(" ")));
    }
    out
}

/// `--expose 80`, `--expose 7000-7002/udp`: the ports, as `80/tcp`.
fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let bad = || format!("invalid range format for --expose: {spec}");
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let (lo, hi): (u16, u16) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
    if lo == 0 || hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `--pid`, `--ipc` and `--uts`, as docker's modes.
fn namespaces(store: &mut Store, opts: &mut runtime::RunOptions, args: &CreateArgs) -> anyhow::Result<()> {
    use runtime::{Share, Shm};
    // The init of a running container whose namespace is joined.
    let peer = |store: &mut Store, key: &str, what: &str| -> anyhow::Result<i32> {
        let (id, _, state) = store.find_container(key).map_err(|e| engine(e.to_string()))?;
        let pid = store.container(&id)?.pid;
        if state != ContainerState::Running || pid <= 0 {
            return Err(engine(format!("cannot join {what} of a non running container: {key}")));
        }
        Ok(pid)
    };
    opts.pid_ns = match args.pid.as_deref().unwrap_or("") {
        "" => Share::Private,
        "host" => Share::Host,
        m => match m.strip_prefix("container:") {
            Some(key) => Share::Join(format!("/proc/{}/ns/pid", peer(store, key, "PID")?).into()),
            None => return Err(engine(format!("invalid PID mode: {m}"))),
        },
    };
    (opts.ipc_ns, opts.shm) = match args.ipc.as_deref().unwrap_or("") {
        "" | "private" => (Share::Private, Shm::Tmpfs),
        "shareable" => (Share::Private, Shm::Bind(container::shm_dir(store.root(), &opts.id))),
        "none" => (Share::Private, Shm::None),
        "host" => (Share::Host, Shm::Bind("/dev/shm".into())),
        m => match m.strip_prefix("container:") {
            Some(key) => {
                let pid = peer(store, key, "IPC namespace")?;
                let (donor, _, _) = store.find_container(key)?;
                if container::load_config(&store.container(&donor)?).ipc != "shareable" {
                    return Err(engine(format!(
                        "cannot join IPC of {key}: non-shareable IPC (hint: use --ipc shareable for the donor container)"
                    )));
                }
                (Share::Join(format!("/proc/{pid}/ns/ipc").into()), Shm::Bind(container::shm_dir(store.root(), &donor)))
            }
            None => return Err(engine(format!("invalid IPC mode: {m}"))),
        },
    };
    match args.uts.as_deref().unwrap_or("") {
        "" => {}
        "host" => {
            if args.hostname.is_some() {
                return Err(engine("Conflicting options: hostname and the UTS mode"));
            }
            opts.uts_ns = Share::Host;
            opts.hostname = host_name();
        }
        m => return Err(engine(format!("invalid UTS mode: {m}"))),
    }
    // Private by default on v1 too (docker shares the host's there): a
    // container sees its own cgroup as /, whichever the host runs.
    opts.cgroup_ns = match args.cgroupns.as_deref().unwrap_or("private") {
        "private" => Share::Private,
        "host" => Share::Host,
        _ => return Err(engine("--cgroupns: invalid CGROUP mode")),
    };
    Ok(())
}

/// The host's name (a container sharing its UTS namespace has it).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

fn security(opts: &mut runtime::RunOptions, args: &CreateArgs) -> anyhow::Result<()> {
    for s in &args.security_opt {
        match s.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => opts.no_new_privileges = true,
            "no-new-privileges:false" | "no-new-privileges=false" => opts.no_new_privileges = false,
            "seccomp=unconfined" | "seccomp:unconfined" => opts.seccomp = runtime::Seccomp::Unconfined,
            s if s.starts_with("seccomp=") || s.starts_with("seccomp:") => {
                let file = &s[8..];
                let text = std::fs::read_to_string(file)
                    .map_err(|e| engine(format!("opening seccomp profile ({file}) failed: {e}")))?;
                let p = runtime::seccomp::profile_from_json(&text).map_err(|e| engine(e.to_string()))?;
                opts.seccomp = runtime::Seccomp::Profile(Box::new(p));
            }
            _ => return Err(engine(format!("invalid --security-opt: {s:?}"))),
        }
    }
    Ok(())
}

fn limits(opts: &mut runtime::RunOptions, args: &CreateArgs) -> anyhow::Result<()> {
    let mut warn = |w: &str| eprintln!("WARNING: {w}");
    let mut r = args.resources.to_resources(&mut warn).map_err(engine)?;
    args.run_resources.add_to(&mut r, &mut warn).map_err(engine)?;
    opts.oom_score_adj = args.run_resources.oom_score_adj().map_err(engine)?;
    if let (Some(m), Some(s)) = (r.memory, r.memory_swap) {
        if s >= 0 && s < m {
            return Err(engine("Minimum memoryswap limit should be larger than memory limit, see usage"));
        }
    }
    if let (Some(m), None) = (r.memory, r.memory_swap) {
        // docker's default: as much swap as memory (memory+swap = 2x).
        if swap_accounting() {
            r.memory_swap = Some(m.saturating_mul(2));
        }
    }
    opts.resources = r;
    if let Some(s) = &args.shm_size {
        opts.shm_size = super::resources::parse_bytes(s).map_err(engine)? as u64;
    }
    for s in &args.sysctl {
        let (k, v) = s.split_once('=').ok_or_else(|| engine(format!("invalid sysctl: {s:?}")))?;
        opts.sysctls.insert(k.to_owned(), v.to_owned());
    }
    Ok(())
}

/// Whether the kernel accounts swap per cgroup (memory+swap limits can be
/// set): v1's memory.memsw files, or v2's memory.swap.max in any cgroup
/// below the root (the root has none).
pub(crate) fn swap_accounting() -> bool {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    }
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("memory.swap.max").exists())
}

/// docker's warning for an image of another platform (pulled with
/// `--platform`): it is run anyway, and fails as the kernel decides.
fn warn_foreign_platform(cfg: &Value) {
    let field = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or_default();
    let (os, arch) = (field("os"), field("architecture"));
    if (!os.is_empty() && os != "linux") || (!arch.is_empty() && arch != builder::config::host_arch()) {
        eprintln!(
            "WARNING: The requested image's platform ({os}/{arch}) does not match the detected host platform (linux/{}) and no specific platform was requested",
            builder::config::host_arch()
        );
    }
}

/// Creates a container: its record, rootfs and bundle. Returns its ID.
pub fn create(root: &Path, args: &CreateArgs, tty: bool, interactive: bool) -> anyhow::Result<(String, Store)> {
    let restart = RestartPolicy::parse(&args.restart).map_err(engine)?;
    if args.rm && restart.name != "no" {
        return Err(engine("Conflicting options: --restart and --rm"));
    }
    if args.ip.is_some() && !engine::netglue::is_user_network(&args.network) {
        return Err(engine("user specified IP address is supported on user defined networks only"));
    }
    if let Some(m) = &args.mac_address {
        network::parse_mac(m).ok_or_else(|| engine(format!("{m} is not a valid mac address")))?;
        if matches!(args.network.as_str(), "host" | "none") || args.network.starts_with("container:") {
            return Err(engine("conflicting options: mac-address and the network mode"));
        }
    }
    if let Some(f) = args.cidfile.as_ref().filter(|f| f.exists()) {
        return Err(engine(format!(
            "Container ID file found, make sure the other container isn't running or delete {}",
            f.display()
        )));
    }
    let mut store = Store::open(root).map_err(|e| engine(e.to_string()))?;
    let image = match store.resolve(&args.image) {
        Ok(id) if args.pull != "always" && args.platform.is_none() => id,
        _ => {
            crate::commands::registry::ensure_image(root, &args.image, &args.pull, args.quiet, args.platform.as_deref())
                .map_err(|e| engine(e.to_string()))?
        }
    };
    let cfg: Value = serde_json::from_slice(&store.config_bytes(&image)?).context("image config")?;
    warn_foreign_platform(&cfg);
    let config = cfg.get("config");
    let (entrypoint, cmd) = entry_and_cmd(config, args);
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(engine("No command specified"));
    }
    let id = random_hex(32)?;
    match &args.name {
        Some(n) => {
            // docker's [a-zA-Z0-9][a-zA-Z0-9_.-]+: two characters at least.
            if n.len() < 2
                || !n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                || !n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(engine(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            store.add_container(&id, n, &image).map_err(|e| engine(e.to_string()))?;
        }
        None => add_named_at_random(&mut store, &id, &image)?,
    }
    let mut result = prepare(&mut store, &id, &image, config, args, entrypoint, cmd, tty, interactive, restart);
    if let (Ok(()), Some(f)) = (&result, &args.cidfile) {
        result = std::fs::write(f, &id).map_err(|e| engine(format!("Failed to create the container ID file: {e}")));
    }
    if let Err(e) = result {
        let _ = container::remove_files(&mut store, &id);
        return Err(e);
    }
    super::events::container(root, "create", &store.container(&id)?, &[]);
    Ok((id, store))
}

#[allow(clippy::too_many_arguments)]
fn prepare(
    store: &mut Store,
    id: &str,
    image: &image::Digest,
    config: Option<&Value>,
    args: &CreateArgs,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    tty: bool,
    interactive: bool,
    restart: RestartPolicy,
) -> anyhow::Result<()> {
    let root = store.root().to_owned();
    let dir = container::container_dir(&root, id);
    let ov = container::overlay(store, id, &image.to_string())?;
    ov.mount().map_err(|e| engine(format!("mounting the container's rootfs: {e}")))?;
    let get = |k: &str| config.and_then(|c| c.get(k)).and_then(Value::as_str).map(str::to_owned);
    let env = environment(config, args)?;
    let cwd =
        args.workdir.clone().or_else(|| get("WorkingDir")).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    builder::context::make_dir_in(&ov.target, &cwd).map_err(|e| engine(format!("Cannot mkdir: {e}")))?;
    let user_spec = args.user.clone().or_else(|| get("User")).unwrap_or_default();
    let mut user = runtime::resolve_user(&ov.target, &user_spec).map_err(|e| engine(e.to_string()))?;
    user.add_groups(&ov.target, &args.group_add).map_err(|e| engine(e.to_string()))?;
    let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    let mut opts = runtime::RunOptions::new(id, ov.target.clone(), argv, user);
    opts.env = env.clone();
    opts.cwd = cwd.clone();
    opts.read_only = args.read_only;
    opts.tty = tty;
    opts.privileged = args.privileged;
    opts.cap_add = args.cap_add.clone();
    opts.cap_drop = args.cap_drop.clone();
    if let Some(h) = &args.hostname {
        opts.hostname = h.clone();
    }
    opts.domainname = args.domainname.clone().filter(|d| !d.is_empty());
    let parent = args.cgroup_parent.clone().unwrap_or_default();
    if parent.split('/').any(|c| c == "..") {
        return Err(engine(format!("invalid --cgroup-parent: {parent}")));
    }
    let cg = container::cgroup_path(&ContainerConfig { cgroup_parent: parent, ..ContainerConfig::default() }, id);
    opts.cgroups_path = PathBuf::from(format!("/{cg}"));
    for a in &args.annotation {
        let (k, v) =
            a.split_once('=').ok_or_else(|| engine(format!("invalid key value pair format in annotations: {a}")))?;
        opts.annotations.insert(k.to_owned(), v.to_owned());
    }
    let mut exposed: Vec<String> = config
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for e in &args.expose {
        for port in expose_ports(e).map_err(engine)? {
            if !exposed.contains(&port) {
                exposed.push(port);
            }
        }
    }
    let ports = published_ports(store, args, &exposed)?;
    match args.network.as_str() {
        "host" => opts.host_network = true,
        "none" => {}
        "bridge" | "default" => opts.netns = Some(network::netns_path(id)),
        other if other.starts_with("container:") => {
            let key = &other["container:".len()..];
            let (peer_id, _, state) = store.find_container(key).map_err(|e| engine(e.to_string()))?;
            let peer = store.container(&peer_id)?;
            if state != ContainerState::Running || peer.pid <= 0 {
                return Err(engine(format!("cannot join network of a non running container: {key}")));
            }
            if !ports.is_empty() {
                return Err(engine("conflicting options: port publishing and the container type network mode"));
            }
            opts.netns = Some(PathBuf::from(format!("/proc/{}/ns/net", peer.pid)));
        }
        other => {
            if store.network(other)?.is_none() {
                return Err(engine(format!("network {other} not found")));
            }
            opts.netns = Some(network::netns_path(id));
        }
    }
    if !opts.host_network && !args.network.starts_with("container:") {
        // As docker (20.10+) in a container's own network namespace: any
        // user may bind ports below 1024 and ping (ICMP echo sockets)
        // without a capability; and IPv6 is off, since wharf's networks
        // are IPv4 only (so `localhost` is 127.0.0.1 alone, and a client
        // never tries a ::1 no server listens on). --sysctl overrides
        // them (limits()).
        opts.sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        opts.sysctls.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        opts.sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "1".into());
        opts.sysctls.insert("net.ipv6.conf.default.disable_ipv6".into(), "1".into());
    }
    for h in &args.add_host {
        if h.split_once(':').is_none_or(|(_, ip)| ip.parse::<std::net::IpAddr>().is_err() && ip != "host-gateway") {
            return Err(engine(format!("invalid argument \"{h}\" for \"--add-host\" flag: invalid IP address")));
        }
    }
    if args.network == "none" && !ports.is_empty() {
        // docker ignores -p with --network none; so does wharf.
    }
    namespaces(store, &mut opts, args)?;
    security(&mut opts, args)?;
    limits(&mut opts, args)?;
    let mut volumes = VolumesUsed::default();
    opts.extra_mounts = mounts(&root, &ov.target, args, &mut volumes)?;
    for from in &args.volumes_from {
        let theirs = volumes_from(store, from, &mut volumes)?;
        // What this container mounts itself wins, as in docker.
        let mine: Vec<PathBuf> = opts.extra_mounts.iter().map(|m| m.destination().clone()).collect();
        opts.extra_mounts.extend(theirs.into_iter().filter(|m| !mine.contains(m.destination())));
    }
    for u in &args.ulimit {
        opts.rlimits.push(runtime::spec::parse_ulimit(u).map_err(|e| engine(e.to_string()))?);
    }
    for r in &args.device_cgroup_rule {
        opts.device_rules.push(runtime::spec::parse_device_rule(r).map_err(|e| engine(e.to_string()))?);
    }
    for d in &args.device {
        opts.devices.push(runtime::spec::parse_device(d).map_err(|e| engine(e.to_string()))?);
    }
    if args.init {
        // docker's --init is tini; Debian's tini-static runs in any rootfs.
        let tini = ["/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/sbin/docker-init"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| engine("--init needs tini: install Debian's tini package (tini-static)"))?;
        opts.extra_mounts.push(runtime::bind_mount(Path::new(tini), "/sbin/docker-init", true)?);
        let mut argv = vec!["/sbin/docker-init".to_owned(), "--".to_owned()];
        argv.append(&mut opts.args);
        opts.args = argv;
    }
    opts.extra_mounts.extend(etc_files(&dir, &opts.hostname, args.network == "host", args)?);
    let mut spec = runtime::container_spec(&opts).map_err(|e| engine(e.to_string()))?;
    runtime::seccomp::attach_compiled(&mut spec);
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;
    let labels: BTreeMap<String, String> = config
        .and_then(|c| c.get("Labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let mut labels = labels;
    let mut given = Vec::new();
    for f in &args.label_file {
        let text = std::fs::read_to_string(f).map_err(|e| engine(format!("open {}: {e}", f.display())))?;
        given.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
    }
    given.extend(args.label.iter().cloned());
    for l in &given {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let stop_signal = args.stop_signal.clone().or_else(|| get("StopSignal")).unwrap_or_else(|| "SIGTERM".into());
    if engine::lifecycle::parse_signal(&stop_signal).is_none() {
        return Err(engine(format!("Invalid signal: {stop_signal}")));
    }
    let record = ContainerConfig {
        image: args.image.clone(),
        entrypoint,
        cmd,
        env,
        working_dir: cwd,
        user: user_spec,
        group_add: args.group_add.clone(),
        hostname: opts.hostname.clone(),
        labels,
        tty,
        open_stdin: interactive,
        auto_remove: args.rm,
        restart,
        stop_signal,
        stop_timeout: args.stop_timeout,
        runtime: args.runtime.clone(),
        network: args.network.clone(),
        ports: ports.iter().map(port_string).collect(),
        binds: args.volume.clone(),
        tmpfs: args.tmpfs.clone(),
        exposed,
        aliases: args.network_alias.clone(),
        anon_volumes: volumes.anonymous,
        volumes: volumes.all,
        connected: Vec::new(),
        extra_hosts: args.add_host.clone(),
        health: args.health.merge(config.and_then(|c| c.get("Healthcheck"))).map_err(engine)?,
        ipc: args.ipc.clone().unwrap_or_default(),
        shm_size: opts.shm_size,
        nano_cpus: args.resources.cpus().map_err(engine)?.map_or(0, |c| (c * 1e9) as i64),
        ip: args.ip,
        volumes_from: args.volumes_from.clone(),
        cgroup_parent: args.cgroup_parent.clone().unwrap_or_default(),
        mac_address: args.mac_address.as_deref().and_then(network::parse_mac).map(network::format_mac),
        log: super::logging::LogConfig::parse(args.logging.log_driver.as_deref(), &args.logging.log_opt)
            .map_err(engine)?,
    };
    store.set_container_config(id, &serde_json::to_string(&record)?)?;
    Ok(())
}

pub fn run(root: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    run_container(root, args).map_err(crate::exit::as_run_error)
}

fn run_container(root: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    // The container starts in a few ms (here, or in the monitor for -d):
    // pay the first cgroup migration's wait meanwhile (runtime::warmup).
    runtime::warmup::start();
    let keys =
        super::attach::parse_detach_keys(args.detach_keys.as_deref().unwrap_or(super::attach::DEFAULT_DETACH_KEYS))?;
    // Refused before anything is made, as docker's.
    super::attach::check_tty(args.interactive && !args.detach, args.tty)?;
    let (id, store) = create(root, &args.create, args.tty, args.interactive)?;
    if args.tty && args.interactive && !args.detach {
        // As docker: this CLI is an attach client of the container's
        // monitor, so the detach keys leave the container running.
        drop(store);
        let sock = container::spawn_monitor_attached(root, &id)?;
        runtime::warmup::finish();
        return super::attach::run_attached(root, &id, sock, keys);
    }
    if args.detach {
        drop(store);
        container::spawn_monitor(root, &id)?;
        runtime::warmup::finish();
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let code = container::monitor_in(store, &id, Attach::Terminal { stdin: args.interactive })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct CreateCmdArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// `wharf create`: prints the new container's ID.
pub fn create_cmd(root: &Path, args: CreateCmdArgs) -> anyhow::Result<ExitCode> {
    let (id, store) = create(root, &args.create, args.tty, args.interactive).map_err(crate::exit::as_command_error)?;
    let rec = store.container(&id)?;
    let ov = container::overlay(&store, &id, &rec.image_id)?;
    let _ = ov.unmount();
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::resources::parse_bytes;

    #[test]
    fn sizes_parse_as_docker() {
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1GB"), Ok(1 << 30));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("lots").is_err());
    }

    fn create_args(flags: &[&str]) -> CreateArgs {
        #[derive(clap::Parser)]
        #[command(disable_help_flag = true)]
        struct Wrap {
            #[command(flatten)]
            create: CreateArgs,
        }
        let argv = std::iter::once("create").chain(flags.iter().copied()).chain(std::iter::once("img"));
        <Wrap as clap::Parser>::try_parse_from(argv).expect("flags parse").create
    }

    #[test]
    fn resolv_conf_drops_unreachable_nameservers_and_takes_the_flags() {
        let host = "# generated\nsearch lan\nnameserver 127.0.0.53\nnameserver fe80::1\noptions edns0\n";
        let none = create_args(&[]);
        assert_eq!(
            resolv_conf(host, false, &none),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        assert_eq!(resolv_conf(host, true, &none), host, "the host's network reaches its own resolver");
        let usable = "nameserver 10.0.0.2\nnameserver 127.0.0.1\n";
        assert_eq!(resolv_conf(usable, false, &none), "nameserver 10.0.0.2\n");
        let flags = create_args(&["--dns", "1.1.1.1", "--dns-search", "a.example", "--dns-option", "ndots:2"]);
        assert_eq!(resolv_conf(host, false, &flags), "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n");
        let no_search = create_args(&["--dns-search", "."]);
        assert_eq!(resolv_conf(usable, false, &no_search), "nameserver 10.0.0.2\n");
    }

    #[test]
    fn expose_takes_ports_and_ranges() {
        assert_eq!(expose_ports("80"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(expose_ports("7000-7001/udp"), Ok(vec!["7000/udp".to_owned(), "7001/udp".to_owned()]));
        for bad in ["x", "80/ip", "9-8", "0", "70000"] {
            assert!(expose_ports(bad).is_err(), "{bad}");
        }
    }
}
