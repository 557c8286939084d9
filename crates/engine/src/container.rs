//! A container's model: what it was created with (stored as JSON in its
//! record), its networks and its restart policy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a container was created with (stored as JSON in its record; the
/// docker-shaped parts of `inspect` come from here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// `--group-add`, as given.
    pub group_add: Vec<String>,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub restart: RestartPolicy,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    /// An OCI runtime binary; None: the default.
    pub runtime: Option<PathBuf>,
    pub network: String,
    pub ports: Vec<String>,
    pub binds: Vec<String>,
    pub tmpfs: Vec<String>,
    pub exposed: Vec<String>,
    /// `--network-alias`: more names on a user network.
    pub aliases: Vec<String>,
    /// `--add-host NAME:IP`.
    pub extra_hosts: Vec<String>,
    /// Volumes made for this container alone (`-v /path`), removed by
    /// `rm -v`.
    pub anon_volumes: Vec<String>,
    /// Every volume the container mounts, by name (anonymous ones too).
    pub volumes: Vec<String>,
    /// Networks joined with `network connect`, beyond `network`.
    pub connected: Vec<Endpoint>,
    /// Disconnected from its own network while stopped (`network` is then
    /// `none`): the next `network connect` gives it its own network again,
    /// as compose does to set a service's aliases.
    pub unplugged: bool,
    /// The health check (the image's, with `--health-*` over it).
    pub health: Option<crate::health::HealthConfig>,
    /// `--ipc`, as given (`shareable`: /dev/shm is a host-side tmpfs that
    /// `--ipc container:` containers bind too).
    pub ipc: String,
    /// Bytes of the shareable /dev/shm.
    pub shm_size: u64,
    /// `--cpus` in billionths (docker's NanoCpus): the spec's CPU quota
    /// came from it, not from `--cpu-quota`, which `update` and `inspect`
    /// keep apart as docker does.
    pub nano_cpus: i64,
    /// `--log-driver` and `--log-opt`.
    pub log: crate::logging::LogConfig,
    /// `--ip`: the address asked for on a user network.
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--volumes-from`, as given.
    pub volumes_from: Vec<String>,
    /// `--cgroup-parent`: the container's cgroup is PARENT/ID, not wharf/ID.
    pub cgroup_parent: String,
    /// `--mac-address` of eth0 (checked at create).
    pub mac_address: Option<String>,
    /// `--link`: the containers linked, by name, and their aliases.
    pub links: Vec<crate::links::Link>,
    /// The process environment of the bundle as made, which a start with
    /// links puts their variables before (empty without links).
    pub spec_env: Vec<String>,
    /// The create request as given (the API's body): what `inspect`
    /// shows of the container's HostConfig and Config beyond the fields
    /// above. None for a record an older wharf wrote.
    pub request: Option<Box<crate::api::ContainerCreateBody>>,
}

/// A network a container was connected to after creation, and the
/// interface it has there.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Endpoint {
    pub network: String,
    /// `eth1`, `eth2`, ...
    pub ifname: String,
    pub aliases: Vec<String>,
}

impl ContainerConfig {
    /// The bridge networks the container is on: the one it was created
    /// with (unless host/none/container:), then those it was connected to.
    pub fn networks(&self) -> Vec<String> {
        let own = !matches!(self.network.as_str(), "host" | "none") && !self.network.starts_with("container:");
        own.then(|| self.network.clone()).into_iter().chain(self.connected.iter().map(|e| e.network.clone())).collect()
    }

    /// Names the container answers to on `net`: its name is added by the
    /// caller; these are the aliases and the hostname.
    pub fn aliases_on(&self, net: &str) -> Vec<String> {
        let mut names = if net == self.network {
            self.aliases.clone()
        } else {
            self.connected.iter().filter(|e| e.network == net).flat_map(|e| e.aliases.clone()).collect()
        };
        names.push(self.hostname.clone());
        names
    }
}

/// docker's `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    pub max_retries: i64,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, max) = s.split_once(':').map_or((s, None), |(n, m)| (n, Some(m)));
        let max_retries = match max {
            None => 0,
            Some(m) => m
                .parse()
                .map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {m:?}"))?,
        };
        match name {
            "" | "no" if max.is_none() => Ok(RestartPolicy { name: "no".into(), max_retries }),
            "always" | "unless-stopped" if max.is_none() => Ok(RestartPolicy { name: name.into(), max_retries }),
            "on-failure" => Ok(RestartPolicy { name: name.into(), max_retries }),
            "no" | "always" | "unless-stopped" => Err(format!(
                "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
            )),
            _ => Err(format!("invalid restart policy '{name}'")),
        }
    }

    /// Whether the monitor starts the container again after it exited
    /// with `code` for the `attempt`-th time (a stop by the user ends it).
    pub fn restarts(&self, code: i32, attempt: i64) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || attempt <= self.max_retries),
            _ => false,
        }
    }
}

/// The configuration a record was created with (defaults for a record an
/// older wharf wrote without one).
pub fn load_config(rec: &store::ContainerRecord) -> ContainerConfig {
    serde_json::from_str(&rec.config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide_as_docker_does() {
        let p = |s: &str| RestartPolicy::parse(s);
        assert_eq!(p("").map(|r| r.name), Ok("no".into()));
        assert_eq!(p("on-failure:3"), Ok(RestartPolicy { name: "on-failure".into(), max_retries: 3 }));
        assert!(p("always:2").is_err() && p("sometimes").is_err() && p("on-failure:x").is_err());
        let always = p("always").expect("parses");
        assert!(always.restarts(0, 100) && always.restarts(1, 1));
        let on_failure = p("on-failure:2").expect("parses");
        assert!(!on_failure.restarts(0, 1), "a clean exit ends it");
        assert!(on_failure.restarts(1, 1) && on_failure.restarts(1, 2) && !on_failure.restarts(1, 3));
        assert!(p("on-failure").expect("parses").restarts(7, 1000), "no limit without a count");
        assert!(!p("no").expect("parses").restarts(1, 1));
    }

    #[test]
    fn networks_are_the_own_one_then_the_connected_ones() {
        let mut cfg = ContainerConfig { network: "bridge".into(), hostname: "h".into(), ..ContainerConfig::default() };
        cfg.connected.push(Endpoint { network: "net1".into(), ifname: "eth1".into(), aliases: vec!["db".into()] });
        assert_eq!(cfg.networks(), vec!["bridge", "net1"]);
        assert_eq!(cfg.aliases_on("net1"), vec!["db", "h"]);
        for mode in ["host", "none", "container:abc"] {
            let cfg = ContainerConfig { network: mode.into(), ..ContainerConfig::default() };
            assert!(cfg.networks().is_empty(), "{mode}");
        }
    }
}
