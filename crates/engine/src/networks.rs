//! Networks: the built-in `bridge`, `host` and `none`, and user bridge
//! networks whose containers find each other by name. Names resolve
//! through each container's /etc/hosts, which wharf rewrites (in place:
//! it is bind-mounted) whenever a container on the network starts or
//! stops. A daemonless engine has no process to answer DNS for the
//! network, and /etc/hosts is read by every libc resolver, busybox and
//! musl included. Results in the Engine API's shapes.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use store::{NetworkRecord, Store};

use crate::container::{load_config, ContainerConfig, Endpoint};
use crate::netglue::{attach_endpoint, bridge_of, ip_on, is_user_network, mtu_of, update_hosts, write_hosts};
use crate::{Error, Result};

/// The built-in networks and their drivers, as `network ls` shows them.
pub const BUILTIN: &[(&str, &str)] = &[("bridge", "bridge"), ("host", "host"), ("none", "null")];

/// docker's `NetworkCreateRequest`, as far as the bridge driver goes.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    /// Only `bridge`.
    pub driver: String,
    /// CIDR; None: the first free 10.90.N.0/24.
    pub subnet: Option<String>,
    /// `--gateway`: an address of the subnet; None: its first.
    pub gateway: Option<String>,
    /// `--ip-range`: where in the subnet containers' addresses come from.
    pub ip_range: Option<String>,
    /// `--ipv6`, with an IPv6 subnet (else a unique local /64 is picked,
    /// as current docker does) and gateway.
    pub ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    /// Driver options (`com.docker.network.driver.mtu`).
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// No way out of the network (`--internal`).
    pub internal: bool,
}

/// Creates a user bridge network; its ID.
pub fn create(store: &mut Store, opts: &CreateOptions) -> Result<String> {
    if opts.driver != "bridge" {
        return Err(Error::not_found(format!("plugin \"{}\" not found", opts.driver)));
    }
    if BUILTIN.iter().any(|(n, _)| *n == opts.name) {
        return Err(Error::conflict(format!("network with name {} already exists", opts.name)));
    }
    mtu_of(&opts.options)?;
    let id = crate::files::random_hex(32)?;
    let bridge_name = format!("wh-{}", &id[..12]);
    let given = |o: &Option<String>| o.clone().unwrap_or_default();
    let (subnet, gateway) = match &opts.subnet {
        Some(s) => {
            let br = network::Bridge::with_ipam(&bridge_name, s, &given(&opts.gateway), &given(&opts.ip_range))?;
            if store_subnets(store)?.iter().any(|t| network::overlaps(t, &br)) {
                return Err(Error::conflict("Pool overlaps with other one on this address space"));
            }
            // Shown as given, as docker's IPAM does.
            (s.clone(), given(&opts.gateway))
        }
        None if opts.gateway.is_some() || opts.ip_range.is_some() => {
            return Err(Error::invalid("every ip-range or gateway must have a corresponding subnet"));
        }
        None => {
            let br = free_subnet(store)?;
            (br.subnet(), br.gateway.to_string())
        }
    };
    let (subnet6, gateway6) = ipv6_addressing(store, opts, &id)?;
    let rec = NetworkRecord {
        name: opts.name.clone(),
        id: id.clone(),
        subnet,
        gateway,
        ip_range: given(&opts.ip_range),
        ipv6: opts.ipv6,
        subnet6,
        gateway6,
        bridge: bridge_name,
        created: store::now_rfc3339(),
        options: opts.options.clone(),
        labels: opts.labels.clone(),
        internal: opts.internal,
    };
    store.add_network(&rec)?;
    crate::events::emit(store.root(), "network", "create", &id, &[("name", &rec.name), ("type", "bridge")]);
    Ok(id)
}

/// The IPv6 subnet and gateway (as given) of a new network, picked when
/// `--ipv6` comes alone.
fn ipv6_addressing(store: &Store, opts: &CreateOptions, id: &str) -> Result<(String, String)> {
    let gateway6 = opts.gateway6.clone().unwrap_or_default();
    // Without --ipv6 an IPv6 subnet is kept and shown but gives no
    // addresses, as docker's.
    match &opts.subnet6 {
        None if !gateway6.is_empty() => {
            Err(Error::invalid("every ip-range or gateway must have a corresponding subnet"))
        }
        Some(s) => {
            let v6 = network::V6::parse(s, &gateway6)?;
            for n in store.networks()?.iter().filter(|n| !n.subnet6.is_empty()) {
                let theirs = network::V6::parse(&n.subnet6, "")?;
                let shorter = v6.prefix.min(theirs.prefix);
                let shift = |a: std::net::Ipv6Addr| u128::from(a) >> (128 - u32::from(shorter));
                if shift(v6.base) == shift(theirs.base) {
                    return Err(Error::conflict("Pool overlaps with other one on this address space"));
                }
            }
            Ok((s.clone(), gateway6))
        }
        // A unique local /64 from the network's random ID (RFC 4193's
        // fd00::/8 with a 40-bit global ID).
        None if opts.ipv6 => Ok((format!("fd{}:{}:{}::/64", &id[..2], &id[2..6], &id[6..10]), String::new())),
        None => Ok((String::new(), String::new())),
    }
}

/// docker's network summary, as `network ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSummary {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
}

/// The networks `filters` (docker's `KEY=VALUE`: `name` (part of the
/// name), `id` (a prefix), `driver`, `type` (`builtin` or `custom`),
/// `label`, `scope`) let
/// through: values of one key are alternatives, keys must all match.
pub fn matching(store: &Store, filters: &[String]) -> Result<Vec<NetworkSummary>> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        if !matches!(k, "name" | "id" | "driver" | "type" | "label" | "scope") {
            return Err(Error::invalid(format!("Invalid filter '{k}'")));
        }
        if k == "type" && !matches!(v, "builtin" | "custom") {
            return Err(Error::invalid(format!("invalid filter: 'type'='{v}'")));
        }
        by_key.entry(k).or_default().push(v);
    }
    let keep = |n: &NetworkSummary| {
        by_key.iter().all(|(k, vs)| {
            vs.iter().any(|v| match *k {
                "name" => n.name.contains(v),
                "id" => n.id.starts_with(v),
                "driver" => n.driver == *v,
                // `label=K` or `label=K=V`; all networks are local.
                "label" => match v.split_once('=') {
                    Some((k, want)) => n.labels.get(k).is_some_and(|have| have == want),
                    None => n.labels.contains_key(*v),
                },
                "scope" => *v == "local",
                _ => (*v == "builtin") == BUILTIN.iter().any(|(b, _)| *b == n.name),
            })
        })
    };
    Ok(list(store)?.into_iter().filter(keep).collect())
}

/// Every network, built-in ones too, by name.
pub fn list(store: &Store) -> Result<Vec<NetworkSummary>> {
    let mut out: Vec<NetworkSummary> = BUILTIN
        .iter()
        .map(|(n, d)| NetworkSummary {
            id: builtin_id(n),
            name: n.to_string(),
            driver: d.to_string(),
            labels: BTreeMap::new(),
        })
        .collect();
    for n in store.networks()? {
        out.push(NetworkSummary { id: n.id, name: n.name, driver: "bridge".into(), labels: n.labels });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// docker's `network inspect` object of a network, by name or ID.
pub fn inspect(store: &Store, key: &str) -> Result<Value> {
    let rec = builtin_record(key).map_or_else(|| store.network(key), |b| Ok(Some(b)))?;
    let n = rec.ok_or_else(|| Error::not_found(format!("network {key} not found")))?;
    network_value(store, &n)
}

/// Removes a user network no container is on.
pub fn remove(store: &mut Store, key: &str) -> Result<()> {
    let n = store.network(key)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))?;
    let users = in_use(store, &n.name)?;
    if !users.is_empty() {
        return Err(Error::conflict(format!(
            "error while removing network: network {} id {} has active endpoints ({})",
            n.name,
            n.id,
            users.join(", ")
        )));
    }
    destroy(store, &n)
}

fn destroy(store: &mut Store, n: &NetworkRecord) -> Result<()> {
    network::remove_bridge(&bridge_of(store, &n.name)?);
    store.remove_network(&n.name)?;
    crate::events::emit(store.root(), "network", "destroy", &n.id, &[("name", &n.name), ("type", "bridge")]);
    Ok(())
}

/// Removes every user network no container is on; their names.
pub fn prune(store: &mut Store) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for n in store.networks()? {
        if in_use(store, &n.name)?.is_empty() {
            destroy(store, &n)?;
            removed.push(n.name);
        }
    }
    Ok(removed)
}

/// The subnets of the default bridge and of this store's networks.
fn store_subnets(store: &Store) -> Result<Vec<network::Bridge>> {
    let mut taken = vec![network::Bridge::default_bridge()];
    for n in store.networks()? {
        taken.extend(network::Bridge::from_subnet(&n.bridge, &n.subnet).ok());
    }
    Ok(taken)
}

/// The first 10.90.N.0/24 free on this host and in this store.
fn free_subnet(store: &Store) -> Result<network::Bridge> {
    let mut taken = network::host_subnets();
    taken.extend(store_subnets(store)?);
    for n in 0..=255u8 {
        let cand = network::Bridge::from_subnet("", &format!("10.90.{n}.0/24"))?;
        if !taken.iter().any(|t| network::overlaps(t, &cand)) {
            return Ok(cand);
        }
    }
    Err(Error::conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    ))
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
        // They have no creation of their own: Go's zero time, which every
        // client parses (an empty string breaks docker's `network ls`).
        created: "0001-01-01T00:00:00Z".into(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        internal: false,
        gateway: if bridge.is_empty() { String::new() } else { network::GATEWAY.to_string() },
        ip_range: String::new(),
        ipv6: false,
        subnet6: String::new(),
        gateway6: String::new(),
    })
}

/// A stable ID per built-in network (docker's are random per daemon).
pub fn builtin_id(name: &str) -> String {
    image::Digest::of(format!("wharf network {name}").as_bytes()).hex()
}

/// One network as `network inspect` shows it.
fn network_value(store: &Store, n: &NetworkRecord) -> Result<Value> {
    let driver = BUILTIN.iter().find(|(b, _)| *b == n.name).map_or("bridge", |(_, d)| *d);
    // The fields of docker's Network object wharf has no use for, as
    // docker shows them for a network without those features.
    let fixed = json!({
        "EnableIPv4": true, "EnableIPv6": n.ipv6, "Internal": n.internal, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Labels": n.labels,
    });
    let mut v = if n.bridge.is_empty() {
        json!({
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": driver,
            "IPAM": {"Driver": "default", "Config": []}, "Options": {}, "Containers": {},
        })
    } else {
        bridge_network_value(store, n, driver)?
    };
    if let (Some(o), Some(f)) = (v.as_object_mut(), fixed.as_object()) {
        o.extend(f.clone());
    }
    Ok(v)
}

fn bridge_network_value(store: &Store, n: &NetworkRecord, driver: &str) -> Result<Value> {
    let br = bridge_of(store, &n.name)?;
    let mut containers = serde_json::Map::new();
    for c in store.containers()? {
        if let Some(ip) = ip_on(store, &c, &n.name) {
            let ip6 = br.v6.zip(network::lease6_of(&br, &c.id)).map(|(v6, a)| format!("{a}/{}", v6.prefix));
            containers.insert(
                c.id.clone(),
                json!({"Name": c.name, "IPv4Address": format!("{ip}/{}", br.prefix), "IPv6Address": ip6.unwrap_or_default()}),
            );
        }
    }
    Ok(json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": driver,
        "IPAM": {"Driver": "default", "Config": ipam_configs(n)},
        "Options": options_shown(n),
        "Containers": containers,
    }))
}

/// A network's `IPAM.Config` entries (IPv4, then IPv6): what was given
/// (or picked), as docker's.
fn ipam_configs(n: &NetworkRecord) -> Value {
    let mut c = json!({"Subnet": n.subnet});
    if !n.ip_range.is_empty() {
        c["IPRange"] = json!(n.ip_range);
    }
    if !n.gateway.is_empty() {
        c["Gateway"] = json!(n.gateway);
    }
    let mut all = vec![c];
    if !n.subnet6.is_empty() {
        let mut c6 = json!({"Subnet": n.subnet6});
        if !n.gateway6.is_empty() {
            c6["Gateway"] = json!(n.gateway6);
        }
        all.push(c6);
    }
    json!(all)
}

/// The options `network inspect` shows: those given, as docker's (whose
/// default network alone also names its bridge device). compose compares
/// them with its file's and recreates a network whose options differ.
fn options_shown(n: &NetworkRecord) -> BTreeMap<String, String> {
    let mut shown = n.options.clone();
    if n.name == "bridge" {
        shown.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
    }
    shown
}

/// A stopped container leaves its own network: the next network it was
/// connected to takes its place, or it has none until a `connect`.
fn unplug(cfg: &mut ContainerConfig) {
    if cfg.connected.is_empty() {
        cfg.network = "none".into();
        cfg.unplugged = true;
        cfg.aliases.clear();
        return;
    }
    let next = cfg.connected.remove(0);
    cfg.network = next.network;
    cfg.aliases = next.aliases;
    for (i, e) in cfg.connected.iter_mut().enumerate() {
        e.ifname = format!("eth{}", i + 1);
    }
}

/// Takes a running container off the network it was created on (docker
/// allows it): the rules, interface and address on it go, and the first
/// network it stays on gives it its default route and address. Its
/// configuration says `none`, unplugged, until it stops: its interfaces
/// keep their names meanwhile, and [`settle`] renames them at the next
/// start.
fn detach_primary(
    store: &mut Store,
    rec: &store::ContainerRecord,
    mut cfg: ContainerConfig,
    force: bool,
) -> Result<()> {
    let net = cfg.network.clone();
    let next = cfg.connected.first().map(|e| bridge_of(store, &e.network)).transpose()?;
    if let Err(e) = network::detach_primary(&rec.id, next.as_ref()) {
        if !force {
            return Err(e.into());
        }
    }
    network::release_on(&bridge_of(store, &net)?, &rec.id);
    cfg.network = "none".into();
    cfg.unplugged = true;
    cfg.aliases.clear();
    save_config(store, &rec.id, &cfg)?;
    let ip = next.and_then(|br| network::lease_of(&br, &rec.id)).map(|ip| ip.to_string()).unwrap_or_default();
    store.set_container_ip(&rec.id, &ip)?;
    write_hosts(store, &rec.id)?;
    if is_user_network(&net) {
        update_hosts(store, &net)?;
    }
    Ok(())
}

/// A running container off its creation network: the first network it is
/// still on gives it its address and default route (none when there is
/// none left).
fn take_next_gateway(store: &mut Store, id: &str, cfg: &ContainerConfig) -> Result<()> {
    let Some(first) = cfg.connected.first() else {
        store.set_container_ip(id, "")?;
        return Ok(());
    };
    let br = bridge_of(store, &first.network)?;
    // Already there when the gateway's network stays: nothing to do.
    let _ = network::route_through(id, &br);
    let ip = network::lease_of(&br, id).map(|ip| ip.to_string()).unwrap_or_default();
    store.set_container_ip(id, &ip)?;
    Ok(())
}

/// Before a start: a container taken off its creation network while it
/// ran gets its first remaining network as its own (`eth0`), the others
/// renumbered after it, as a stopped container's disconnect does at once.
pub fn settle(store: &mut Store, id: &str) -> Result<()> {
    let rec = store.container(id)?;
    let mut cfg = load_config(&rec);
    if !(cfg.unplugged && cfg.network == "none" && !cfg.connected.is_empty()) {
        return Ok(());
    }
    unplug(&mut cfg);
    cfg.unplugged = false;
    save_config(store, id, &cfg)
}

/// The name of the network `key` names (its name, ID or ID prefix; a
/// built-in's too; `default` is the bridge), as connect and disconnect
/// take either.
fn network_name(store: &Store, key: &str) -> Result<String> {
    if key == "default" {
        return Ok("bridge".into());
    }
    if let Some((name, _)) = BUILTIN.iter().find(|(n, _)| *n == key || builtin_id(n) == key) {
        return Ok((*name).to_owned());
    }
    match store.network(key)? {
        Some(n) => Ok(n.name),
        None => Err(Error::not_found(format!("network {key} not found"))),
    }
}

fn in_use(store: &Store, name: &str) -> Result<Vec<String>> {
    Ok(store
        .containers()?
        .into_iter()
        .filter(|c| load_config(c).networks().iter().any(|n| n == name))
        .map(|c| c.name)
        .collect())
}

fn running_container(store: &mut Store, key: &str) -> Result<store::ContainerRecord> {
    let (id, _, _) = store.find_container(key).map_err(|_| Error::not_found(format!("No such container: {key}")))?;
    let rec = store.container(&id)?;
    crate::lifecycle::refresh(store, rec)
}

fn save_config(store: &mut Store, id: &str, cfg: &ContainerConfig) -> Result<()> {
    store.set_container_config(id, &serde_json::to_string(cfg)?)?;
    Ok(())
}

/// Connects a container to another network (at once if it runs; at each
/// start after).
pub fn connect(store: &mut Store, container: &str, network: &str, aliases: &[String]) -> Result<()> {
    let rec = running_container(store, container)?;
    let mut cfg = load_config(&rec);
    let net = network_name(store, network)?;
    if net == "host" || net == "none" {
        return Err(Error::invalid(format!(
            "container cannot be disconnected from host network or connected to {net} network"
        )));
    }
    if net != "bridge" && store.network(&net)?.is_none() {
        return Err(Error::not_found(format!("network {net} not found")));
    }
    if cfg.unplugged && !rec.state.is_live() {
        cfg.network = net;
        cfg.aliases = aliases.to_vec();
        cfg.unplugged = false;
        return save_config(store, &rec.id, &cfg);
    }
    let primary_gone = cfg.unplugged && rec.state.is_live();
    if !primary_gone && (cfg.network == "host" || cfg.network == "none" || cfg.network.starts_with("container:")) {
        return Err(Error::invalid(format!(
            "container cannot be connected to multiple networks with one of the networks in {} mode",
            cfg.network
        )));
    }
    if cfg.networks().contains(&net) {
        return Err(Error::conflict(format!("endpoint with name {} already exists in network {net}", rec.name)));
    }
    let ifname = (1..)
        .map(|n| format!("eth{n}"))
        .find(|i| !cfg.connected.iter().any(|e| &e.ifname == i))
        .unwrap_or_else(|| "eth1".into());
    let endpoint = Endpoint { network: net.clone(), ifname, aliases: aliases.to_vec() };
    if rec.state.is_live() {
        attach_endpoint(store, &rec.id, &endpoint)?;
    }
    cfg.connected.push(endpoint);
    save_config(store, &rec.id, &cfg)?;
    if primary_gone && rec.ip.is_empty() {
        take_next_gateway(store, &rec.id, &cfg)?;
    }
    for n in cfg.networks() {
        if is_user_network(&n) {
            update_hosts(store, &n)?;
        }
    }
    Ok(())
}

/// Disconnects a container from a network: one it joined with
/// `connect`, or while it is not running, the one it was created on.
pub fn disconnect(store: &mut Store, container: &str, network: &str, force: bool) -> Result<()> {
    let rec = running_container(store, container)?;
    let mut cfg = load_config(&rec);
    let net = network_name(store, network)?;
    let Some(pos) = cfg.connected.iter().position(|e| e.network == net) else {
        if cfg.network == net && !rec.state.is_live() {
            unplug(&mut cfg);
            save_config(store, &rec.id, &cfg)?;
            return if is_user_network(&net) { update_hosts(store, &net) } else { Ok(()) };
        }
        if cfg.network == net {
            return detach_primary(store, &rec, cfg, force);
        }
        return Err(Error::invalid(format!("container {} is not connected to network {net}", rec.name)));
    };
    let endpoint = cfg.connected.remove(pos);
    if !rec.ip.is_empty() {
        if let Err(e) = network::detach_extra(&rec.id, &endpoint.ifname) {
            if !force {
                return Err(e.into());
            }
        }
        network::release_on(&bridge_of(store, &net)?, &rec.id);
    }
    save_config(store, &rec.id, &cfg)?;
    if cfg.unplugged && rec.state.is_live() {
        take_next_gateway(store, &rec.id, &cfg)?;
    }
    write_hosts(store, &rec.id)?;
    if is_user_network(&net) {
        update_hosts(store, &net)?;
    }
    Ok(())
}
