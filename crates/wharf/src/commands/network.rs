//! `wharf network`: user bridge networks whose containers find each other
//! by name. Names resolve through each container's /etc/hosts, which wharf
//! rewrites (in place: it is bind-mounted) whenever a container on the
//! network starts or stops. A daemonless engine has no process to answer
//! DNS for the network, and /etc/hosts is read by every libc resolver,
//! busybox and musl included.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use store::ContainerState;

use clap::{Args, Subcommand};
use serde_json::json;
use store::{NetworkRecord, Store};

use super::container::{self, engine, load_config};
use crate::format;

/// The built-in networks, as `network ls` shows them.
const BUILTIN: &[(&str, &str)] = &[("bridge", "bridge"), ("host", "host"), ("none", "null")];

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (only "bridge")
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// Set driver specific options (com.docker.network.driver.mtu)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    pub name: String,
}

/// The driver option that sets a network's MTU (podman's `mtu` too).
pub use engine::netglue::{attach_endpoint, bridge_of, ip_on, is_user_network, mtu_of, update_hosts, write_hosts};

/// `-o KEY=VALUE` options, as stored and shown by `network inspect`.
fn parse_options(opts: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for o in opts {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        map.insert(k.to_owned(), v.to_owned());
    }
    mtu_of(&map)?;
    Ok(map)
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print networks using a Go template or 'json'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// Runs a `network` command. What the engine refuses exits 1, as docker's
/// `network` commands do (only `run` exits 125).
pub fn run(root: &Path, cmd: NetworkCommand) -> anyhow::Result<ExitCode> {
    dispatch(root, cmd).map_err(crate::exit::as_command_error)
}

fn dispatch(root: &Path, cmd: NetworkCommand) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    match cmd {
        NetworkCommand::Create(a) => create(&mut store, a),
        NetworkCommand::Ls(a) => ls(&store, a),
        NetworkCommand::Inspect(a) => inspect(&store, a),
        NetworkCommand::Rm(a) => rm(&mut store, a),
        NetworkCommand::Prune(_) => prune(&mut store),
        NetworkCommand::Connect(a) => connect(&mut store, a),
        NetworkCommand::Disconnect(a) => disconnect(&mut store, a),
    }
}

fn random_id() -> anyhow::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The first 10.90.N.0/24 free on this host and in this store.
fn free_subnet(store: &Store) -> anyhow::Result<network::Bridge> {
    let mut taken = network::host_subnets();
    taken.push(network::Bridge::default_bridge());
    for n in store.networks()? {
        taken.extend(network::Bridge::from_subnet(&n.bridge, &n.subnet).ok());
    }
    for n in 0..=255u8 {
        let cand = network::Bridge::from_subnet("", &format!("10.90.{n}.0/24")).map_err(|e| engine(e.to_string()))?;
        if !taken.iter().any(|t| network::overlaps(t, &cand)) {
            return Ok(cand);
        }
    }
    Err(engine(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    ))
}

fn create(store: &mut Store, a: CreateArgs) -> anyhow::Result<ExitCode> {
    if a.driver != "bridge" {
        return Err(engine(format!("plugin \"{}\" not found", a.driver)));
    }
    if BUILTIN.iter().any(|(n, _)| *n == a.name) {
        return Err(engine(format!("network with name {} already exists", a.name)));
    }
    let options = parse_options(&a.opt)?;
    let id = random_id()?;
    let bridge_name = format!("wh-{}", &id[..12]);
    let subnet = match &a.subnet {
        Some(s) => network::Bridge::from_subnet(&bridge_name, s).map_err(|e| engine(e.to_string()))?,
        None => free_subnet(store)?,
    };
    let rec = NetworkRecord {
        name: a.name.clone(),
        id: id.clone(),
        subnet: subnet.subnet(),
        bridge: bridge_name,
        created: store::now_rfc3339(),
        options,
    };
    store.add_network(&rec)?;
    super::events::emit(store.root(), "network", "create", &id, &[("name", &rec.name), ("type", "bridge")]);
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn ls(store: &Store, a: LsArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for (n, driver) in BUILTIN {
        let id = builtin_id(n);
        rows.push((id[..12].to_owned(), n.to_string(), driver.to_string()));
    }
    for n in store.networks()? {
        rows.push((n.id[..12].to_owned(), n.name, "bridge".into()));
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in rows {
            writeln!(out, "{}", r.0)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let maps: Vec<_> = rows
        .iter()
        .map(|(id, name, driver)| {
            let mut m = std::collections::BTreeMap::new();
            m.insert("ID".to_owned(), json!(id));
            m.insert("Name".to_owned(), json!(name));
            m.insert("Driver".to_owned(), json!(driver));
            m.insert("Scope".to_owned(), json!("local"));
            m
        })
        .collect();
    match a.format.as_deref() {
        Some(f) => write!(out, "{}", format::render(f, &maps)?)?,
        None => {
            let body: Vec<Vec<String>> =
                rows.iter().map(|(i, n, d)| vec![i.clone(), n.clone(), d.clone(), "local".into()]).collect();
            write!(out, "{}", format::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &body))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut values = Vec::new();
    let mut failed = false;
    for key in &a.networks {
        let Some(n) = builtin_record(key).map_or_else(|| store.network(key), |b| Ok(Some(b)))? else {
            eprintln!("Error response from daemon: network {key} not found");
            failed = true;
            continue;
        };
        values.push(network_value(store, &n)?);
    }
    super::ps::print_values(&values, a.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A built-in network (`bridge`, `host`, `none`) as a record.
fn builtin_record(name: &str) -> Option<NetworkRecord> {
    let (name, _) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let bridge = if *name == "bridge" { network::BRIDGE } else { "" };
    Some(NetworkRecord {
        name: name.to_string(),
        id: builtin_id(name),
        subnet: if bridge.is_empty() { String::new() } else { network::SUBNET.into() },
        bridge: bridge.into(),
        created: String::new(),
        options: BTreeMap::new(),
    })
}

/// A stable ID per built-in network (docker's are random per daemon).
fn builtin_id(name: &str) -> String {
    image::Digest::of(format!("wharf network {name}").as_bytes()).hex()
}

/// One network as `network inspect` shows it.
fn network_value(store: &Store, n: &NetworkRecord) -> anyhow::Result<serde_json::Value> {
    let driver = BUILTIN.iter().find(|(b, _)| *b == n.name).map_or("bridge", |(_, d)| *d);
    if n.bridge.is_empty() {
        return Ok(json!({
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": driver,
            "IPAM": {"Driver": "default", "Config": []}, "Options": {}, "Containers": {},
        }));
    }
    let br = bridge_of(store, &n.name)?;
    let mut containers = serde_json::Map::new();
    for c in store.containers()? {
        if let Some(ip) = ip_on(store, &c, &n.name) {
            containers.insert(c.id.clone(), json!({"Name": c.name, "IPv4Address": format!("{ip}/{}", br.prefix)}));
        }
    }
    Ok(json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": driver,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet, "Gateway": br.gateway.to_string()}]},
        "Options": options_shown(n),
        "Containers": containers,
    }))
}

/// The options `network inspect` shows: the bridge's name and those given.
fn options_shown(n: &NetworkRecord) -> BTreeMap<String, String> {
    let mut shown = n.options.clone();
    shown.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
    shown
}

fn in_use(store: &Store, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(store
        .containers()?
        .into_iter()
        .filter(|c| load_config(c).networks().iter().any(|n| n == name))
        .map(|c| c.name)
        .collect())
}

fn running_container(store: &mut Store, key: &str) -> anyhow::Result<store::ContainerRecord> {
    let (id, _, _) = store.find_container(key).map_err(|_| fail(format!("No such container: {key}")))?;
    let rec = store.container(&id)?;
    Ok(super::lifecycle::refresh(store, rec)?)
}

fn save_config(store: &mut Store, id: &str, cfg: &container::ContainerConfig) -> anyhow::Result<()> {
    store.set_container_config(id, &serde_json::to_string(cfg)?)?;
    Ok(())
}

fn connect(store: &mut Store, a: ConnectArgs) -> anyhow::Result<ExitCode> {
    let rec = running_container(store, &a.container)?;
    let mut cfg = load_config(&rec);
    let net = if a.network == "default" { "bridge".to_owned() } else { a.network.clone() };
    if net == "host" || net == "none" {
        return Err(fail(format!("container cannot be disconnected from host network or connected to {net} network")));
    }
    if net != "bridge" && store.network(&net)?.is_none() {
        return Err(fail(format!("network {net} not found")));
    }
    if cfg.network == "host" || cfg.network == "none" || cfg.network.starts_with("container:") {
        return Err(fail(format!(
            "container cannot be connected to multiple networks with one of the networks in {} mode",
            cfg.network
        )));
    }
    if cfg.networks().contains(&net) {
        return Err(fail(format!("endpoint with name {} already exists in network {net}", rec.name)));
    }
    let ifname = (1..)
        .map(|n| format!("eth{n}"))
        .find(|i| !cfg.connected.iter().any(|e| &e.ifname == i))
        .unwrap_or_else(|| "eth1".into());
    let endpoint = container::Endpoint { network: net.clone(), ifname, aliases: a.alias };
    if rec.state == ContainerState::Running || rec.state == ContainerState::Paused {
        attach_endpoint(store, &rec.id, &endpoint)?;
    }
    cfg.connected.push(endpoint);
    save_config(store, &rec.id, &cfg)?;
    for n in cfg.networks() {
        if is_user_network(&n) {
            update_hosts(store, &n)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn disconnect(store: &mut Store, a: DisconnectArgs) -> anyhow::Result<ExitCode> {
    let rec = running_container(store, &a.container)?;
    let mut cfg = load_config(&rec);
    let net = if a.network == "default" { "bridge".to_owned() } else { a.network.clone() };
    let Some(pos) = cfg.connected.iter().position(|e| e.network == net) else {
        if cfg.network == net {
            return Err(fail(format!(
                "container {} was created on network {net}: wharf can only disconnect networks joined with 'network connect'",
                rec.name
            )));
        }
        return Err(fail(format!("container {} is not connected to network {net}", rec.name)));
    };
    let endpoint = cfg.connected.remove(pos);
    if !rec.ip.is_empty() {
        if let Err(e) = network::detach_extra(&rec.id, &endpoint.ifname) {
            if !a.force {
                return Err(engine(e.to_string()));
            }
        }
        network::release_on(&bridge_of(store, &net)?, &rec.id);
    }
    save_config(store, &rec.id, &cfg)?;
    write_hosts(store, &rec.id)?;
    if is_user_network(&net) {
        update_hosts(store, &net)?;
    }
    Ok(ExitCode::SUCCESS)
}

use crate::exit::fail;

fn rm(store: &mut Store, a: NamesArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for key in &a.networks {
        let Some(n) = store.network(key)? else {
            eprintln!("Error response from daemon: network {key} not found");
            failed = true;
            continue;
        };
        let users = in_use(store, &n.name)?;
        if !users.is_empty() {
            eprintln!(
                "Error response from daemon: error while removing network: network {} id {} has active endpoints ({})",
                n.name,
                n.id,
                users.join(", ")
            );
            failed = true;
            continue;
        }
        network::remove_bridge(&bridge_of(store, &n.name)?);
        store.remove_network(&n.name)?;
        super::events::emit(store.root(), "network", "destroy", &n.id, &[("name", &n.name), ("type", "bridge")]);
        println!("{key}");
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn prune(store: &mut Store) -> anyhow::Result<ExitCode> {
    let mut removed = Vec::new();
    for n in store.networks()? {
        if in_use(store, &n.name)?.is_empty() {
            network::remove_bridge(&bridge_of(store, &n.name)?);
            store.remove_network(&n.name)?;
            super::events::emit(store.root(), "network", "destroy", &n.id, &[("name", &n.name), ("type", "bridge")]);
            super::events::emit(store.root(), "network", "destroy", &n.id, &[("name", &n.name), ("type", "bridge")]);
            removed.push(n.name);
        }
    }
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for r in removed {
            println!("{r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
