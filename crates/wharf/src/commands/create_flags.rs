//! `run` and `create` flags into the Engine API's create body, as
//! docker's CLI turns them into the body it sends: values parsed and
//! files read here (`--env-file`, `--label-file`, a seccomp profile), the
//! rules of what they mean left to the engine (engine::create).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use engine::api::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigLogConfig, Mount, MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig, PortBinding,
    ResourcesUlimits, RestartPolicy as ApiRestart, RestartPolicyNameEnum,
};
use engine::create::CreateRequest;

use super::container::{engine, RestartPolicy};
use super::resources::{parse_bytes, ResourceArgs, RunResourceArgs};

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
    #[arg(long, alias = "net", default_value = "default")]
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
    #[arg(long, value_parser = super::resources::size_flag)]
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
    /// Add link to another container
    #[arg(long, value_name = "list", value_parser = link_flag)]
    pub link: Vec<String>,
    /// User namespace to use (host: the host's, as without the flag; wharf
    /// has no daemon-wide remapping)
    #[arg(long, value_name = "string")]
    pub userns: Option<String>,
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
    /// The image, then the command and its arguments: everything after
    /// the image is the container's, flags too (docker's CLI stops
    /// parsing its own flags at the image).
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "IMAGE [COMMAND] [ARG...]")]
    pub argv: Vec<String>,
}

/// `-t`, `-i` and `-d`: what the container's stdio is and who attaches.
#[derive(Debug, Clone, Copy)]
pub struct Stdio {
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    /// Who attaches to the output (`-a`).
    pub stdout: bool,
    pub stderr: bool,
}

impl CreateArgs {
    /// The image to run.
    pub fn image(&self) -> &str {
        &self.argv[0]
    }

    /// The command and its arguments, after the image.
    pub fn command(&self) -> &[String] {
        &self.argv[1..]
    }

    /// The create request these flags make (docker's CLI `parse`).
    pub fn request(&self, stdio: Stdio) -> anyhow::Result<CreateRequest> {
        let (binds, volumes) = self.binds_and_volumes();
        let body = ContainerCreateBody {
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            user: self.user.clone(),
            exposed_ports: Some(self.exposed_ports()?),
            // As docker's CLI: who attaches, unless detached.
            attach_stdin: Some(stdio.interactive && !stdio.detach),
            attach_stdout: Some(stdio.stdout),
            attach_stderr: Some(stdio.stderr),
            stdin_once: Some(stdio.interactive && !stdio.detach),
            tty: Some(stdio.tty),
            open_stdin: Some(stdio.interactive),
            env: Some(given_env(&self.env_file, &self.env)?),
            cmd: (!self.command().is_empty()).then(|| self.command().to_vec()),
            healthcheck: self.health.to_api().map_err(engine)?,
            image: Some(self.image().to_owned()),
            volumes: Some(volumes),
            working_dir: self.workdir.clone(),
            // `--entrypoint ""` is `[""]`: no entrypoint, and not the image's.
            entrypoint: self.entrypoint.as_ref().map(|e| vec![e.clone()]),
            labels: Some(self.labels()?),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            host_config: Some(self.host_config(binds)?),
            networking_config: self.networking_config(),
            ..ContainerCreateBody::default()
        };
        Ok(CreateRequest { name: self.name.clone(), body, platform: self.platform.clone() })
    }

    /// `-v` flags: those with a source are binds (a relative source made
    /// absolute, as docker's CLI does for `./dir`), a path alone an
    /// anonymous volume.
    fn binds_and_volumes(&self) -> (Vec<String>, Vec<String>) {
        let (mut binds, mut volumes) = (Vec::new(), Vec::new());
        for v in &self.volume {
            match v.split_once(':') {
                None => volumes.push(v.clone()),
                Some((src, rest)) if src.starts_with('.') => binds.push(format!("{}:{rest}", absolute(src))),
                Some(_) => binds.push(v.clone()),
            }
        }
        (binds, volumes)
    }

    /// `--expose` ports and ranges, as `80/tcp`.
    fn exposed_ports(&self) -> anyhow::Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.expose {
            out.extend(expose_ports(e).map_err(engine)?.into_iter().filter(|p| !out.contains(p)).collect::<Vec<_>>());
        }
        Ok(out)
    }

    /// `--label-file`s, then `--label`s (later wins).
    fn labels(&self) -> anyhow::Result<HashMap<String, String>> {
        let mut given = Vec::new();
        for f in &self.label_file {
            given.extend(lines_of(f)?);
        }
        given.extend(self.label.iter().cloned());
        Ok(given
            .iter()
            .map(|l| l.split_once('=').unwrap_or((l, "")))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    fn host_config(&self, binds: Vec<String>) -> anyhow::Result<HostConfig> {
        // The API's policy is an enum: an unknown name cannot reach the
        // engine, so it is refused here in the daemon's words.
        let restart = RestartPolicy::parse(&self.restart).map_err(engine::Error::invalid)?;
        if self.rm && restart.name != "no" {
            return Err(engine("conflicting options: cannot specify both --restart and --rm"));
        }
        let mut hc = HostConfig {
            binds: nonempty(binds),
            mounts: nonempty(self.mount.iter().map(|m| parse_mount(m)).collect::<anyhow::Result<_>>()?),
            tmpfs: Some(
                self.tmpfs
                    .iter()
                    .map(|t| t.split_once(':').unwrap_or((t, "")))
                    .map(|(p, o)| (p.into(), o.into()))
                    .collect(),
            )
            .filter(|m: &HashMap<String, String>| !m.is_empty()),
            network_mode: Some(self.network.clone()),
            port_bindings: Some(self.port_bindings()?),
            publish_all_ports: Some(self.publish_all),
            restart_policy: Some(ApiRestart {
                name: Some(restart_name(&restart.name)),
                maximum_retry_count: Some(restart.max_retries),
            }),
            auto_remove: Some(self.rm),
            volumes_from: nonempty(self.volumes_from.clone()),
            cap_add: nonempty(self.cap_add.clone()),
            cap_drop: nonempty(self.cap_drop.clone()),
            privileged: Some(self.privileged),
            readonly_rootfs: Some(self.read_only),
            security_opt: nonempty(self.security_opts()?),
            shm_size: self.shm_size.as_deref().map(parse_bytes).transpose().map_err(engine)?,
            sysctls: Some(pairs(&self.sysctl, |s| format!("invalid sysctl: {s:?}"))?).filter(|m| !m.is_empty()),
            runtime: self.runtime.as_ref().map(|r| r.to_string_lossy().into_owned()),
            pid_mode: self.pid.clone(),
            ipc_mode: self.ipc.clone(),
            uts_mode: self.uts.clone(),
            userns_mode: self.userns_mode()?,
            cgroupns_mode: self.cgroupns_mode()?,
            cgroup_parent: self.cgroup_parent.clone(),
            annotations: Some(pairs(&self.annotation, |a| {
                format!("invalid key value pair format in annotations: {a}")
            })?)
            .filter(|m| !m.is_empty()),
            extra_hosts: nonempty(self.add_host.clone()),
            links: nonempty(self.link.clone()),
            dns: Some(self.dns.clone()),
            dns_search: Some(self.dns_search.clone()),
            dns_options: Some(self.dns_option.clone()),
            group_add: nonempty(self.group_add.clone()),
            init: self.init.then_some(true),
            log_config: Some(self.log_config()?),
            ulimits: Some(self.ulimit.iter().map(|u| ulimit(u)).collect::<anyhow::Result<_>>()?),
            devices: Some(self.device.iter().map(|d| device(d)).collect::<anyhow::Result<_>>()?),
            device_cgroup_rules: nonempty(self.device_cgroup_rule.clone()),
            ..HostConfig::default()
        };
        self.resources.fill(&mut hc).map_err(engine)?;
        self.run_resources.fill(&mut hc).map_err(engine)?;
        Ok(hc)
    }

    /// `-p` flags as the API's map, `80/tcp` to its host bindings.
    fn port_bindings(&self) -> anyhow::Result<HashMap<String, Option<Vec<PortBinding>>>> {
        let mut map: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for spec in &self.publish {
            for p in network::parse_ports(spec).map_err(|e| engine(e.to_string()))? {
                let binding = PortBinding {
                    host_ip: Some(p.host_ip.map(|ip| ip.to_string()).unwrap_or_default()),
                    host_port: Some(if p.host_port == 0 { String::new() } else { p.host_port.to_string() }),
                };
                map.entry(format!("{}/{}", p.container_port, p.proto))
                    .or_default()
                    .get_or_insert_default()
                    .push(binding);
            }
        }
        Ok(map)
    }

    /// `--security-opt`s, a seccomp profile's file read in (docker's CLI
    /// sends the profile itself).
    fn security_opts(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for s in &self.security_opt {
            let (key, value) = s.split_once('=').or_else(|| s.split_once(':')).unwrap_or((s, ""));
            if key == "seccomp" && value != "unconfined" {
                let text = std::fs::read_to_string(value)
                    .map_err(|e| engine(format!("opening seccomp profile ({value}) failed: {e}")))?;
                out.push(format!("seccomp={text}"));
            } else {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// `--userns`: docker's CLI takes `host` or nothing.
    fn userns_mode(&self) -> anyhow::Result<Option<String>> {
        match self.userns.as_deref() {
            None | Some("") | Some("host") => Ok(self.userns.clone()),
            Some(_) => Err(engine("--userns: invalid USER mode")),
        }
    }

    fn cgroupns_mode(&self) -> anyhow::Result<Option<HostConfigCgroupnsModeEnum>> {
        match self.cgroupns.as_deref() {
            None => Ok(None),
            Some("private") => Ok(Some(HostConfigCgroupnsModeEnum::PRIVATE)),
            Some("host") => Ok(Some(HostConfigCgroupnsModeEnum::HOST)),
            Some(_) => Err(engine("--cgroupns: invalid CGROUP mode")),
        }
    }

    fn log_config(&self) -> anyhow::Result<HostConfigLogConfig> {
        let checked = super::logging::LogConfig::parse(self.logging.log_driver.as_deref(), &self.logging.log_opt)
            .map_err(engine)?;
        Ok(HostConfigLogConfig { typ: Some(checked.driver), config: Some(checked.opts.into_iter().collect()) })
    }

    /// The endpoint on the container's network: aliases, address, MAC.
    fn networking_config(&self) -> Option<NetworkingConfig> {
        if self.network_alias.is_empty() && self.ip.is_none() && self.mac_address.is_none() {
            return None;
        }
        let endpoint = EndpointSettings {
            aliases: Some(self.network_alias.clone()).filter(|a| !a.is_empty()),
            ipam_config: self
                .ip
                .map(|ip| EndpointIpamConfig { ipv4_address: Some(ip.to_string()), ..EndpointIpamConfig::default() }),
            mac_address: self.mac_address.clone(),
            ..EndpointSettings::default()
        };
        Some(NetworkingConfig { endpoints_config: Some([(self.network.clone(), endpoint)].into_iter().collect()) })
    }
}

/// None for no values: docker's CLI sends null for a list flag not given.
fn nonempty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn restart_name(name: &str) -> RestartPolicyNameEnum {
    match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    }
}

/// `KEY=VALUE` flags as a map.
fn pairs(flags: &[String], bad: impl Fn(&str) -> String) -> anyhow::Result<HashMap<String, String>> {
    flags
        .iter()
        .map(|f| f.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| engine(bad(f))))
        .collect()
}

/// A file's lines, but blank ones and comments (`--env-file`,
/// `--label-file`).
fn lines_of(f: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(f).map_err(|e| engine(format!("open {}: {e}", f.display())))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect())
}

/// `--env-file`s then `-e`s as `KEY=value` (run and exec): `-e NAME`
/// takes NAME from wharf's environment, and is dropped when it is unset.
pub fn given_env(files: &[PathBuf], flags: &[String]) -> anyhow::Result<Vec<String>> {
    let mut given = Vec::new();
    for f in files {
        given.extend(lines_of(f)?);
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

/// A relative path made absolute against the working directory, `.` and
/// `..` resolved as Go's `filepath.Abs` does.
fn absolute(path: &str) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = PathBuf::from("/");
    for c in cwd.join(path).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out.to_string_lossy().into_owned()
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

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly`.
fn parse_mount(spec: &str) -> anyhow::Result<Mount> {
    let mut m = Mount { typ: Some(MountType::VOLUME), ..Mount::default() };
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        let yes = v == "true" || v == "1";
        match k {
            "type" => {
                m.typ = Some(match v {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    other => return Err(engine(format!("invalid mount type: {other:?}"))),
                })
            }
            "source" | "src" => m.source = Some(v.to_owned()),
            "target" | "destination" | "dst" => m.target = Some(v.to_owned()),
            "readonly" | "ro" => m.read_only = Some(yes),
            "tmpfs-size" => {
                let size = parse_bytes(v).map_err(engine)?;
                m.tmpfs_options = Some(MountTmpfsOptions { size_bytes: Some(size), ..MountTmpfsOptions::default() });
            }
            "volume-nocopy" => {
                m.volume_options = Some(MountVolumeOptions { no_copy: Some(yes), ..MountVolumeOptions::default() })
            }
            _ => return Err(engine(format!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}'"))),
        }
    }
    if m.target.is_none() {
        return Err(engine(format!("invalid argument \"{spec}\" for \"--mount\" flag: target is required")));
    }
    Ok(m)
}

/// `--ulimit NAME=SOFT[:HARD]` (checked by the runtime's own parser).
fn ulimit(spec: &str) -> anyhow::Result<ResourcesUlimits> {
    let limit = runtime::spec::parse_ulimit(spec).map_err(|e| engine(e.to_string()))?;
    let signed = |v: u64| if v == u64::MAX { -1 } else { v as i64 };
    let name = spec.split_once('=').map_or(spec, |(n, _)| n);
    Ok(ResourcesUlimits {
        name: Some(name.to_owned()),
        soft: Some(signed(limit.soft())),
        hard: Some(signed(limit.hard())),
    })
}

/// `--device HOST[:CONTAINER][:PERMS]`.
fn device(spec: &str) -> anyhow::Result<DeviceMapping> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(engine(format!("invalid device specification: {spec}"))),
    };
    Ok(DeviceMapping {
        path_on_host: Some(host.to_owned()),
        path_in_container: Some(ctr.to_owned()),
        cgroup_permissions: Some(perms.to_owned()),
    })
}

/// `--link NAME[:ALIAS]`, checked as docker's CLI does.
fn link_flag(s: &str) -> Result<String, String> {
    match s.split(':').count() {
        1 | 2 => Ok(s.to_owned()),
        _ => Err(format!("bad format for links: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(flags: &[&str]) -> CreateArgs {
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
    fn everything_after_the_image_is_the_containers() {
        let a = args(&["--entrypoint", "sh", "img2", "-c", "exit 0", "--rm"]);
        assert_eq!(
            (a.image(), a.command()),
            ("img2", &["-c".to_owned(), "exit 0".into(), "--rm".into(), "img".into()][..])
        );
        assert!(!a.rm);
    }

    #[test]
    fn expose_takes_ports_and_ranges() {
        assert_eq!(expose_ports("80"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(expose_ports("7000-7001/udp"), Ok(vec!["7000/udp".to_owned(), "7001/udp".to_owned()]));
        for bad in ["x", "80/ip", "9-8", "0", "70000"] {
            assert!(expose_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_split_into_binds_and_anonymous_ones() {
        let a = args(&["-v", "/data", "-v", "/h:/c:ro", "-v", "name:/n", "-v", "./rel:/r"]);
        let (binds, volumes) = a.binds_and_volumes();
        assert_eq!(volumes, ["/data"]);
        assert_eq!(binds[..2], ["/h:/c:ro".to_owned(), "name:/n".to_owned()]);
        assert!(binds[2].starts_with('/') && binds[2].ends_with("/rel:/r"), "{}", binds[2]);
    }

    #[test]
    fn ports_become_the_apis_map() {
        let a = args(&["-p", "8080:80", "-p", "127.0.0.1:8081:80/udp", "-p", "90"]);
        let map = a.port_bindings().expect("parses");
        let b = |k: &str| map[k].clone().expect("parses");
        assert_eq!(b("80/tcp"), [PortBinding { host_ip: Some(String::new()), host_port: Some("8080".into()) }]);
        assert_eq!(b("80/udp")[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b("90/tcp")[0].host_port.as_deref(), Some(""));
    }

    #[test]
    fn mounts_parse_as_dockers_cli() {
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").expect("parses");
        assert_eq!((m.typ, m.tmpfs_options.expect("parses").size_bytes), (Some(MountType::TMPFS), Some(1 << 20)));
        assert!(parse_mount("type=bind,source=/x").is_err());
        assert!(parse_mount("target=/x,bogus=1").is_err());
    }

    #[test]
    fn devices_and_ulimits_take_dockers_forms() {
        assert_eq!(device("/dev/null:r").expect("parses").cgroup_permissions.as_deref(), Some("r"));
        assert_eq!(device("/dev/null:/dev/x").expect("parses").path_in_container.as_deref(), Some("/dev/x"));
        let u = ulimit("nofile=1024:2048").expect("parses");
        assert_eq!((u.name.as_deref(), u.soft, u.hard), (Some("nofile"), Some(1024), Some(2048)));
        assert_eq!(ulimit("core=-1").expect("parses").soft, Some(-1));
    }
}
