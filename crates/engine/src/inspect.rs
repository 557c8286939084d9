//! `inspect` of a container, in docker's shape (`ContainerInspectResponse`
//! field for field): its record, its create-time configuration, its
//! runtime spec (limits, mounts) and its network state.

use std::path::Path;

use serde_json::{json, Value};
use store::{ContainerRecord, ContainerState, Store};

use crate::container::{load_config, ContainerConfig};
use crate::health::Health;

/// The health of a container with a check (None without one).
pub fn health_of(root: &Path, rec: &ContainerRecord, cfg: &ContainerConfig) -> Option<Health> {
    cfg.health.as_ref().filter(|h| h.active()).and_then(|_| crate::health::read(root, &rec.id))
}

/// A container's mounts and networks in the API's types, for its list
/// summary.
pub fn mounts_and_networks(
    store: &Store,
    rec: &ContainerRecord,
    cfg: &ContainerConfig,
) -> (Vec<crate::api::MountPoint>, std::collections::HashMap<String, crate::api::EndpointSettings>) {
    let paths = crate::Layout::new(store.root()).container(&rec.id);
    let spec: Value =
        std::fs::read(paths.spec()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let dir = crate::monitor::container_dir(store.root(), &rec.id);
    let mounts = serde_json::from_value(mounts_of(store.root(), &dir, &spec)).unwrap_or_default();
    let networks = serde_json::from_value(networks_value(store, rec, cfg)).unwrap_or_default();
    (mounts, networks)
}

/// docker's `Mounts` of a container: its volumes and bind mounts, read
/// from its runtime spec (the runtime's own mounts, and wharf's
/// /etc/hosts, hostname and resolv.conf, left out).
fn mounts_of(root: &Path, dir: &Path, spec: &Value) -> Value {
    let volumes = crate::Layout::new(root).volumes_dir();
    let mut out = Vec::new();
    for m in spec["mounts"].as_array().into_iter().flatten() {
        let options: Vec<&str> = m["options"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let is_bind = m["type"] == "bind" || options.iter().any(|o| *o == "bind" || *o == "rbind");
        let (Some(source), Some(dest)) = (m["source"].as_str(), m["destination"].as_str()) else { continue };
        if !is_bind || Path::new(source).starts_with(dir) || dest == "/sbin/docker-init" {
            continue;
        }
        let rw = !options.contains(&"ro");
        let volume = Path::new(source).strip_prefix(&volumes).ok().and_then(|p| p.components().next());
        out.push(match volume {
            Some(name) => json!({
                "Type": "volume", "Name": name.as_os_str().to_string_lossy(), "Source": source,
                "Destination": dest, "Driver": "local", "Mode": "z", "RW": rw, "Propagation": "",
            }),
            None => {
                let propagation = options.iter().copied().find(|o| o.ends_with("shared") || o.ends_with("slave"));
                json!({
                    "Type": "bind", "Source": source, "Destination": dest, "Mode": if rw { "" } else { "ro" },
                    "RW": rw, "Propagation": propagation.unwrap_or("rprivate"),
                })
            }
        });
    }
    out.sort_by(|a, b| a["Destination"].as_str().cmp(&b["Destination"].as_str()));
    json!(out)
}

/// `inspect` of a container, in docker's shape.
pub fn container(store: &Store, rec: &ContainerRecord) -> Value {
    let cfg = load_config(rec);
    let dir = crate::monitor::container_dir(store.root(), &rec.id);
    let (path, args) = {
        let argv: Vec<String> = cfg.entrypoint.iter().chain(cfg.cmd.iter()).cloned().collect();
        (argv.first().cloned().unwrap_or_default(), argv.iter().skip(1).cloned().collect::<Vec<_>>())
    };
    let running = rec.state.is_live();
    let zero = "0001-01-01T00:00:00Z";
    let spec: Value =
        std::fs::read(dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    // Health and Healthcheck are null without a check: docker's JSON leaves
    // them out, but its templates see a nil (`{{json .State.Health}}` is
    // `null`), as they do here.
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": rec.state,
            "Running": running,
            "Paused": rec.state == ContainerState::Paused,
            "Restarting": false,
            "OOMKilled": rec.oom_killed,
            "Dead": false,
            "Pid": if running { rec.pid } else { 0 },
            "ExitCode": rec.exit_code,
            "Error": rec.error,
            "StartedAt": if rec.started.is_empty() { zero } else { rec.started.as_str() },
            "FinishedAt": if rec.finished.is_empty() { zero } else { rec.finished.as_str() },
            "Health": health_of(store.root(), rec, &cfg),
        },
        "Image": rec.image_id,
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": if cfg.log.driver == "none" { String::new() } else { crate::monitor::log_path(store.root(), &rec.id).display().to_string() },
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restarts,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": host_config(&rec.name, &cfg, &spec),
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": dir.join("upper").display().to_string(),
            "WorkDir": dir.join("work").display().to_string(),
            "MergedDir": dir.join("merged").display().to_string(),
        }},
        "Mounts": mounts_of(store.root(), &dir, &spec),
        "Config": config(&cfg, image_workdir(store, rec)),
        "NetworkSettings": network_settings(store, rec, &cfg),
    })
}

/// docker's `Config` of a container: the create request merged with its
/// image's (what the container runs with), and the request's own fields.
/// Unset maps and lists are null, as docker's templates see them.
fn config(cfg: &ContainerConfig, image_workdir: String) -> Value {
    let request = cfg.request.as_deref().cloned().unwrap_or_default();
    // As configured ("" for none: the process runs in /).
    let workdir = match &cfg.request {
        Some(r) => r.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or(image_workdir),
        None => cfg.working_dir.clone(),
    };
    let volumes: Option<serde_json::Map<String, Value>> =
        request.volumes.filter(|v| !v.is_empty()).map(|v| v.into_iter().map(|p| (p, json!({}))).collect());
    let exposed: serde_json::Map<String, Value> = cfg.exposed.iter().map(|p| (p.clone(), json!({}))).collect();
    json!({
        "Hostname": cfg.hostname,
        "Domainname": request.domainname.unwrap_or_default(),
        "User": cfg.user,
        "AttachStdin": request.attach_stdin.unwrap_or(false),
        "AttachStdout": request.attach_stdout.unwrap_or(false),
        "AttachStderr": request.attach_stderr.unwrap_or(false),
        "ExposedPorts": if exposed.is_empty() { Value::Null } else { Value::Object(exposed) },
        "Tty": cfg.tty,
        "OpenStdin": cfg.open_stdin,
        "StdinOnce": request.stdin_once.unwrap_or(false),
        "Env": if cfg.env.is_empty() { Value::Null } else { json!(cfg.env) },
        "Cmd": cfg.cmd,
        "Healthcheck": cfg.health,
        "Image": cfg.image,
        "Volumes": volumes,
        "WorkingDir": workdir,
        "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
        "OnBuild": null,
        "Labels": cfg.labels,
        "StopSignal": cfg.stop_signal,
        "StopTimeout": cfg.stop_timeout,
    })
}

/// The WORKDIR of the container's image ("" for none).
fn image_workdir(store: &Store, rec: &ContainerRecord) -> String {
    let id: Option<image::Digest> = rec.image_id.parse().ok();
    let blob: Value =
        id.and_then(|d| store.config_bytes(&d).ok()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    blob["config"]["WorkingDir"].as_str().unwrap_or_default().to_owned()
}

/// docker's `NetworkSettings`: address on the bridge and the port map
/// (`"5000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5001"}]`).
fn network_settings(store: &Store, rec: &ContainerRecord, cfg: &ContainerConfig) -> Value {
    let mut ports = serde_json::Map::new();
    for p in &cfg.ports {
        for m in network::parse_ports(p).unwrap_or_default() {
            let key = format!("{}/{}", m.container_port, m.proto);
            let ip = m.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string();
            let entry = ports.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": ip, "HostPort": m.host_port.to_string()}));
            }
        }
    }
    let (gw, prefix) =
        if rec.ip.is_empty() { (String::new(), 0) } else { (network::GATEWAY.to_string(), network::PREFIX) };
    json!({
        "Ports": ports,
        "IPAddress": rec.ip,
        "MacAddress": cfg.mac_address.clone().filter(|_| !rec.ip.is_empty()).unwrap_or_else(|| mac_of(&rec.ip)),
        "IPPrefixLen": prefix,
        "Gateway": gw,
        "SandboxKey": if cfg.network == "host" { String::new() } else { network::netns_path(&rec.id).display().to_string() },
        "Networks": networks_value(store, rec, cfg),
    })
}

/// The MAC of the interface with address `ip` ("" without one).
fn mac_of(ip: &str) -> String {
    let Ok(ip) = ip.parse() else { return String::new() };
    network::format_mac(network::mac_for(ip))
}

/// Each network the container is on, with its address there while it runs.
fn networks_value(store: &Store, rec: &ContainerRecord, cfg: &ContainerConfig) -> Value {
    let mut nets = serde_json::Map::new();
    let names = if cfg.networks().is_empty() { vec![cfg.network.clone()] } else { cfg.networks() };
    for n in names {
        let br = crate::netglue::bridge_of(store, &n).ok();
        let ip = crate::netglue::ip_on(store, rec, &n).unwrap_or_default();
        let (gw, prefix) = match (&br, ip.is_empty()) {
            (Some(b), false) => (b.gateway.to_string(), b.prefix),
            _ => (String::new(), 0),
        };
        let aliases = cfg.connected.iter().find(|e| e.network == n).map_or(cfg.aliases.clone(), |e| e.aliases.clone());
        let own = n == cfg.network && !ip.is_empty();
        let mac = cfg.mac_address.clone().filter(|_| own).unwrap_or_else(|| mac_of(&ip));
        // What was asked for (`--ip`), as docker keeps it apart.
        let ipam = cfg.ip.filter(|_| n == cfg.network).map(|a| json!({"IPv4Address": a.to_string()}));
        let v6 = br.as_ref().and_then(|b| Some((b.v6?, network::lease6_of(b, &rec.id)?))).filter(|_| !ip.is_empty());
        let (ip6, prefix6, gw6) =
            v6.map_or((String::new(), 0, String::new()), |(v6, a)| (a.to_string(), v6.prefix, v6.gateway.to_string()));
        nets.insert(
            n,
            json!({"IPAMConfig": ipam, "IPAddress": ip, "Gateway": gw, "IPPrefixLen": prefix, "MacAddress": mac,
                   "Aliases": aliases, "IPv6Gateway": gw6, "GlobalIPv6Address": ip6, "GlobalIPv6PrefixLen": prefix6}),
        );
    }
    Value::Object(nets)
}

/// `inspect`'s HostConfig, as docker's: every key docker has (its
/// defaults), the create request's over them, then what the container
/// has now (limits from the spec, which `update` changes; its restart
/// policy; its binds).
fn host_config(name: &str, cfg: &ContainerConfig, spec: &Value) -> Value {
    let mut hc = host_config_defaults(spec);
    if let Some(given) = cfg.request.as_ref().and_then(|r| r.host_config.as_ref()) {
        merge(&mut hc, serde_json::to_value(given).unwrap_or_default());
    }
    merge(&mut hc, host_config_now(cfg, spec));
    hc["Links"] = crate::links::shown(name, &cfg.links);
    if cfg.request.is_none() {
        // An older record: the mode and bindings as made, in the API's map.
        hc["NetworkMode"] = json!(cfg.network);
        hc["PortBindings"] = port_map(cfg);
        hc["Tmpfs"] = cfg
            .tmpfs
            .iter()
            .map(|t| t.split_once(':').unwrap_or((t, "")))
            .map(|(p, o)| (p.to_owned(), json!(o)))
            .collect();
    }
    hc
}

/// Each key of `over` replaces the same key of `base`.
fn merge(base: &mut Value, over: Value) {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), over) {
        b.extend(o);
    }
}

/// docker's HostConfig of a container created with no flags (its JSON
/// leaves out the null ones at the end, but its templates see them).
const HOST_CONFIG_DEFAULTS: &str = r#"{
    "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
    "CapAdd": null, "CapDrop": null, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [], "DnsSearch": [],
    "ExtraHosts": null, "GroupAdd": null, "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0,
    "PidMode": "", "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
    "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "wharf", "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
    "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null, "Ulimits": [],
    "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "MaskedPaths": null, "ReadonlyPaths": null,
    "Tmpfs": null, "Sysctls": null, "StorageOpt": null, "Mounts": null, "Init": null
}"#;

fn host_config_defaults(spec: &Value) -> Value {
    let mut hc: Value = serde_json::from_str(HOST_CONFIG_DEFAULTS).unwrap_or_default();
    hc["MaskedPaths"] = spec["linux"]["maskedPaths"].clone();
    hc["ReadonlyPaths"] = spec["linux"]["readonlyPaths"].clone();
    hc
}

/// The published ports as made, in the API's map.
fn port_map(cfg: &ContainerConfig) -> Value {
    let mut ports = serde_json::Map::new();
    for m in cfg.ports.iter().flat_map(|p| network::parse_ports(p).unwrap_or_default()) {
        let ip = m.host_ip.map(|ip| ip.to_string()).unwrap_or_default();
        let entry = ports.entry(format!("{}/{}", m.container_port, m.proto)).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": ip, "HostPort": m.host_port.to_string()}));
        }
    }
    Value::Object(ports)
}

/// What the container has now: the limits from its spec, the policy and
/// names as they are.
fn host_config_now(cfg: &ContainerConfig, spec: &Value) -> Value {
    let res = &spec["linux"]["resources"];
    // A quota from --cpus is NanoCpus, one from --cpu-quota is CpuQuota.
    let cpu = |k: &str| if cfg.nano_cpus == 0 { res["cpu"][k].as_i64().unwrap_or(0) } else { 0 };
    let mem = |k: &str| res["memory"][k].as_i64().unwrap_or(0);
    let throttles = |k: &str| -> Value {
        let list = res["blockIO"][k].as_array().cloned().unwrap_or_default();
        json!(list
            .iter()
            .map(|t| json!({"Path": block_device(&t["major"], &t["minor"]), "Rate": t["rate"]}))
            .collect::<Vec<_>>())
    };
    json!({
        "Binds": if cfg.binds.is_empty() { Value::Null } else { json!(cfg.binds) },
        "CgroupParent": cfg.cgroup_parent,
        "VolumesFrom": if cfg.volumes_from.is_empty() { Value::Null } else { json!(cfg.volumes_from) },
        "LogConfig": {"Type": cfg.log.driver, "Config": cfg.log.opts},
        "GroupAdd": if cfg.group_add.is_empty() { Value::Null } else { json!(cfg.group_add) },
        "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.max_retries},
        "AutoRemove": cfg.auto_remove,
        "Memory": mem("limit"),
        "MemorySwap": mem("swap"),
        "MemoryReservation": mem("reservation"),
        "MemorySwappiness": res["memory"]["swappiness"].as_i64(),
        "OomKillDisable": res["memory"]["disableOOMKiller"].as_bool().unwrap_or(false),
        "OomScoreAdj": spec["process"]["oomScoreAdj"].as_i64().unwrap_or(0),
        "NanoCpus": cfg.nano_cpus,
        "CpuPeriod": cpu("period"),
        "CpuQuota": cpu("quota"),
        "CpuShares": res["cpu"]["shares"].as_u64().unwrap_or(0),
        "CpusetCpus": res["cpu"]["cpus"].as_str().unwrap_or_default(),
        "CpusetMems": res["cpu"]["mems"].as_str().unwrap_or_default(),
        "BlkioWeight": res["blockIO"]["weight"].as_u64().unwrap_or(0),
        "BlkioDeviceReadBps": throttles("throttleReadBpsDevice"),
        "BlkioDeviceWriteBps": throttles("throttleWriteBpsDevice"),
        "BlkioDeviceReadIOps": throttles("throttleReadIOPSDevice"),
        "BlkioDeviceWriteIOps": throttles("throttleWriteIOPSDevice"),
        "PidsLimit": res["pids"]["limit"].as_i64().filter(|p| *p > 0),
        "Runtime": cfg.runtime.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "wharf".into()),
    })
}

/// `/dev/NAME` of a block device by its numbers (the spec keeps only
/// those; docker's inspect shows the path given).
fn block_device(major: &Value, minor: &Value) -> String {
    let link = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok();
    link.and_then(|l| l.file_name().map(|n| format!("/dev/{}", n.to_string_lossy())))
        .unwrap_or_else(|| format!("{major}:{minor}"))
}
