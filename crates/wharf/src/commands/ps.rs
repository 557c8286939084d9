//! `wharf ps`, `wharf container inspect` and `wharf container prune`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use store::ContainerState;

use clap::Args;
use serde_json::{json, Value};
use store::{ContainerRecord, Store};

use super::container::{self, load_config, ContainerConfig};
use super::health::{self, Health};
use super::lifecycle::{lookup, refresh, remove};
use crate::format;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go-style template or 'json'
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

/// The health of a container with a check (None without one).
fn health_of(root: &Path, rec: &ContainerRecord, cfg: &ContainerConfig) -> Option<Health> {
    cfg.health.as_ref().filter(|h| h.active()).and_then(|_| health::read(root, &rec.id))
}

/// docker's `Up 5 seconds`, `Up 2 minutes (healthy)`, `Exited (0) 3
/// minutes ago`, `Created`.
fn status(rec: &ContainerRecord, health: Option<&Health>) -> String {
    let since =
        |t: &str| format::parse_time(t).map(|t| std::time::SystemTime::now().duration_since(t).unwrap_or_default());
    match rec.state.as_str() {
        "running" | "paused" => {
            let up = since(&rec.started).map(format::human_duration).unwrap_or_default();
            match health {
                _ if rec.state == ContainerState::Paused => format!("Up {up} (Paused)"),
                Some(h) if h.status == "starting" => format!("Up {up} (health: starting)"),
                Some(h) => format!("Up {up} ({})", h.status),
                None => format!("Up {up}"),
            }
        }
        "exited" => {
            let ago = since(&rec.finished).map(format::human_duration).unwrap_or_default();
            format!("Exited ({}) {ago} ago", rec.exit_code)
        }
        "created" => "Created".into(),
        other => other.to_owned(),
    }
}

/// `0.0.0.0:5001->5000/tcp` for each published port.
fn ports(cfg: &ContainerConfig) -> String {
    cfg.ports
        .iter()
        .map(|p| {
            let parts: Vec<&str> = p.rsplitn(3, ':').collect();
            let (ctr, host, ip) = match parts.as_slice() {
                [c] => (*c, "", "0.0.0.0"),
                [c, h] => (*c, *h, "0.0.0.0"),
                [c, h, ip] => (*c, *h, *ip),
                _ => (p.as_str(), "", ""),
            };
            let ctr = if ctr.contains('/') { ctr.to_owned() } else { format!("{ctr}/tcp") };
            format!("{ip}:{host}->{ctr}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command as docker's ps shows it: an argument with a space in
/// single quotes.
fn command_line(cfg: &ContainerConfig) -> String {
    let quoted = |a: &String| if a.contains(' ') { format!("'{a}'") } else { a.clone() };
    cfg.entrypoint.iter().chain(cfg.cmd.iter()).map(quoted).collect::<Vec<_>>().join(" ")
}

/// Go's strconv.Quote for what ps prints: `"`, `\` and control characters
/// escaped.
fn go_quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// docker's `stringutils.Ellipsis`.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

fn matches(rec: &ContainerRecord, cfg: &ContainerConfig, filter: &str, store: &Store) -> anyhow::Result<bool> {
    let (k, v) = filter.split_once('=').ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
    Ok(match k {
        "status" => rec.state.as_str() == v,
        "name" => rec.name.contains(v),
        "id" => rec.id.starts_with(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => cfg.labels.get(lk).is_some_and(|x| x == lv),
            None => cfg.labels.contains_key(v),
        },
        "ancestor" => cfg.image == v || store.resolve(v).map(|d| d.to_string() == rec.image_id).unwrap_or(false),
        "exited" => rec.state == ContainerState::Exited && v.parse::<i32>().is_ok_and(|c| c == rec.exit_code),
        "health" => {
            if !["starting", "healthy", "unhealthy", "none"].contains(&v) {
                anyhow::bail!("Unrecognised filter value for health: {v}");
            }
            health_of(store.root(), rec, cfg).map_or("none".to_owned(), |h| h.status) == v
        }
        _ => anyhow::bail!("invalid filter '{k}'"),
    })
}

pub fn ps(root: &Path, args: PsArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut recs = Vec::new();
    for rec in store.containers()? {
        recs.push(refresh(&mut store, rec)?);
    }
    let mut limit = if args.latest { 1 } else { args.last };
    let all = args.all || limit > 0;
    if limit <= 0 {
        limit = i64::MAX;
    }
    let mut rows = Vec::new();
    for rec in recs.iter().take(limit as usize) {
        let cfg = load_config(rec);
        if !all
            && !args.filter.iter().any(|f| f.starts_with("status="))
            && rec.state != ContainerState::Running
            && rec.state != ContainerState::Paused
        {
            continue;
        }
        let mut keep = true;
        for f in &args.filter {
            keep &= matches(rec, &cfg, f, &store)?;
        }
        if keep {
            rows.push((rec, cfg));
        }
    }
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for (rec, _) in &rows {
            writeln!(out, "{}", if args.no_trunc { rec.id.clone() } else { rec.id[..12].to_owned() })?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let maps: Vec<BTreeMap<String, Value>> =
        rows.iter().map(|(rec, cfg)| row(store.root(), rec, cfg, args.no_trunc)).collect();
    match args.format.as_deref() {
        Some(f) if f != "table" => write!(out, "{}", format::render(f, &maps)?)?,
        _ => {
            let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
            let keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"];
            let body: Vec<Vec<String>> = maps
                .iter()
                .map(|m| {
                    keys.iter().map(|k| m.get(*k).and_then(Value::as_str).unwrap_or_default().to_owned()).collect()
                })
                .collect();
            write!(out, "{}", format::table(&header, &body))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(root: &Path, rec: &ContainerRecord, cfg: &ContainerConfig, no_trunc: bool) -> BTreeMap<String, Value> {
    let cmd = command_line(cfg);
    let command = if no_trunc { go_quote(&cmd) } else { go_quote(&ellipsis(&cmd, 20)) };
    let created = format::parse_time(&rec.created);
    let labels = cfg.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let mut m = BTreeMap::new();
    m.insert("ID".into(), json!(if no_trunc { rec.id.clone() } else { rec.id[..12].to_owned() }));
    m.insert("Image".into(), json!(cfg.image));
    m.insert("Command".into(), json!(command));
    m.insert("CreatedAt".into(), json!(created.map(format::docker_time).unwrap_or_default()));
    m.insert("RunningFor".into(), json!(created.map(format::ago).unwrap_or_default()));
    m.insert("Status".into(), json!(status(rec, health_of(root, rec, cfg).as_ref())));
    m.insert("State".into(), json!(rec.state));
    m.insert("Ports".into(), json!(ports(cfg)));
    m.insert("Names".into(), json!(rec.name));
    m.insert("Labels".into(), json!(labels));
    m.insert("Mounts".into(), json!(cfg.binds.join(",")));
    m.insert(
        "Networks".into(),
        json!(if cfg.networks().is_empty() { cfg.network.clone() } else { cfg.networks().join(",") }),
    );
    m.insert("LocalVolumes".into(), json!("0"));
    m.insert("Size".into(), json!("0B"));
    m
}

/// docker's `Mounts` of a container: its volumes and bind mounts, read
/// from its runtime spec (the runtime's own mounts, and wharf's
/// /etc/hosts, hostname and resolv.conf, left out).
fn mounts_of(root: &Path, dir: &Path, spec: &Value) -> Value {
    let volumes = root.join("volumes");
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
pub fn inspect_value(store: &Store, rec: &ContainerRecord) -> Value {
    let cfg = load_config(rec);
    let dir = container::container_dir(store.root(), &rec.id);
    let (path, args) = {
        let argv: Vec<String> = cfg.entrypoint.iter().chain(cfg.cmd.iter()).cloned().collect();
        (argv.first().cloned().unwrap_or_default(), argv.iter().skip(1).cloned().collect::<Vec<_>>())
    };
    let running = rec.state == ContainerState::Running || rec.state == ContainerState::Paused;
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
        "LogPath": if cfg.log.driver == "none" { String::new() } else { container::log_path(store.root(), &rec.id).display().to_string() },
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restarts,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": host_config(&cfg, &spec),
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": dir.join("upper").display().to_string(),
            "WorkDir": dir.join("work").display().to_string(),
            "MergedDir": dir.join("merged").display().to_string(),
        }},
        "Mounts": mounts_of(store.root(), &dir, &spec),
        "Config": {
            "Hostname": cfg.hostname,
            "User": cfg.user,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": cfg.image,
            "WorkingDir": cfg.working_dir,
            "Entrypoint": if cfg.entrypoint.is_empty() { Value::Null } else { json!(cfg.entrypoint) },
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
            "ExposedPorts": cfg.exposed.iter().map(|p| (p.clone(), json!({}))).collect::<serde_json::Map<_, _>>(),
            "Healthcheck": cfg.health,
        },
        "NetworkSettings": network_settings(store, rec, &cfg),
    })
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
        let br = super::network::bridge_of(store, &n).ok();
        let ip = super::network::ip_on(store, rec, &n).unwrap_or_default();
        let (gw, prefix) = match (&br, ip.is_empty()) {
            (Some(b), false) => (b.gateway.to_string(), b.prefix),
            _ => (String::new(), 0),
        };
        let aliases = cfg.connected.iter().find(|e| e.network == n).map_or(cfg.aliases.clone(), |e| e.aliases.clone());
        let own = n == cfg.network && !ip.is_empty();
        let mac = cfg.mac_address.clone().filter(|_| own).unwrap_or_else(|| mac_of(&ip));
        // What was asked for (`--ip`), as docker keeps it apart.
        let ipam = cfg.ip.filter(|_| n == cfg.network).map(|a| json!({"IPv4Address": a.to_string()}));
        nets.insert(
            n,
            json!({"IPAMConfig": ipam, "IPAddress": ip, "Gateway": gw, "IPPrefixLen": prefix, "MacAddress": mac, "Aliases": aliases}),
        );
    }
    Value::Object(nets)
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `wharf port`: `5000/tcp -> 0.0.0.0:5001` per mapping.
pub fn port(root: &Path, args: PortArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    let cfg = load_config(&rec);
    let mut out = std::io::stdout().lock();
    let mut found = false;
    for p in &cfg.ports {
        for m in network::parse_ports(p).unwrap_or_default() {
            let key = format!("{}/{}", m.container_port, m.proto);
            let want = args.port.as_deref().map(|w| if w.contains('/') { w.to_owned() } else { format!("{w}/tcp") });
            if want.as_ref().is_some_and(|w| *w != key) {
                continue;
            }
            found = true;
            let ip = m.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
            if args.port.is_some() {
                writeln!(out, "{ip}:{}", m.host_port)?;
            } else {
                writeln!(out, "{key} -> {ip}:{}", m.host_port)?;
            }
        }
    }
    if !found && args.port.is_some() {
        anyhow::bail!("No public port '{}' published for {}", args.port.as_deref().unwrap_or_default(), args.container);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a Go-style template or 'json'
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn inspect(root: &Path, args: ContainerInspectArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut values = Vec::new();
    let mut failed = false;
    for key in &args.containers {
        match lookup(&mut store, key) {
            Ok(rec) => values.push(inspect_value(&store, &rec)),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    print_values(&values, args.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn print_values(values: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        None => {
            serde_json::to_writer_pretty(&mut out, values)?;
            writeln!(out)?;
        }
        Some(f) => {
            for v in values {
                writeln!(out, "{}", format::template_value(f, v)?)?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn prune(root: &Path, args: ContainerPruneArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let until = super::image::prune_cutoff(&args.filter)?;
    let mut deleted = Vec::new();
    for rec in store.containers()? {
        let rec = refresh(&mut store, rec)?;
        if rec.state.is_live() {
            continue;
        }
        if until.is_some_and(|u| format::parse_time(&rec.created).is_some_and(|c| c > u)) {
            continue;
        }
        remove(&mut store, &rec, false)?;
        deleted.push(rec.id);
    }
    let mut out = std::io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Containers:")?;
        for d in &deleted {
            writeln!(out, "{d}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: 0B")?;
    Ok(ExitCode::SUCCESS)
}

/// `inspect`'s HostConfig: the flags as given, the limits from the spec.
fn host_config(cfg: &container::ContainerConfig, spec: &Value) -> Value {
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
        "Binds": cfg.binds,
        "CgroupParent": cfg.cgroup_parent,
        "VolumesFrom": if cfg.volumes_from.is_empty() { Value::Null } else { json!(cfg.volumes_from) },
        "LogConfig": {"Type": cfg.log.driver, "Config": cfg.log.opts},
        "GroupAdd": if cfg.group_add.is_empty() { Value::Null } else { json!(cfg.group_add) },
        "NetworkMode": cfg.network,
        "PortBindings": cfg.ports,
        "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.max_retries},
        "AutoRemove": cfg.auto_remove,
        "Tmpfs": cfg.tmpfs,
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
