//! The glue between containers and networks: a container's bridge,
//! address, published ports and /etc/hosts, set up before its runtime
//! creates it and torn down after it exits.

use std::collections::BTreeMap;

use store::Store;

use crate::container::{load_config, ContainerConfig, Endpoint};
use crate::{Error, Layout, Result};

/// docker's bridge driver option for the MTU of a network's links.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// The bridge of a network name (`bridge`/`default` or a user network).
pub fn bridge_of(store: &Store, name: &str) -> Result<network::Bridge> {
    if name == "bridge" || name == "default" {
        return Ok(network::Bridge::default_bridge());
    }
    let n = store.network(name)?.ok_or_else(|| Error::not_found(format!("network {name} not found")))?;
    let mut br = network::Bridge::with_ipam(&n.bridge, &n.subnet, &n.gateway, &n.ip_range)?;
    br.mtu = mtu_of(&n.options)?;
    br.internal = n.internal;
    if n.ipv6 {
        br.v6 = Some(network::V6::parse(&n.subnet6, &n.gateway6)?);
    }
    Ok(br)
}

/// The MTU a network's options set, checked as docker's bridge driver
/// checks it.
pub fn mtu_of(options: &BTreeMap<String, String>) -> Result<Option<u32>> {
    let Some((key, v)) = options.get_key_value(MTU_OPTION).or_else(|| options.get_key_value("mtu")) else {
        return Ok(None);
    };
    let mtu: u32 = v.parse().map_err(|e| Error::invalid(format!("failed to parse {key} value: {v} ({e})")))?;
    if !(68..=65535).contains(&mtu) {
        return Err(Error::invalid(format!("invalid MTU number: {mtu} (it must be between 68 and 65535)")));
    }
    Ok(Some(mtu))
}

/// Whether a network name is a user network (one with name resolution).
pub fn is_user_network(name: &str) -> bool {
    !matches!(name, "bridge" | "default" | "host" | "none") && !name.starts_with("container:")
}

/// A container's address on `net`, while it runs.
pub fn ip_on(store: &Store, rec: &store::ContainerRecord, net: &str) -> Option<String> {
    if rec.ip.is_empty() {
        return None;
    }
    if load_config(rec).network == net {
        return Some(rec.ip.clone());
    }
    network::lease_of(&bridge_of(store, net).ok()?, &rec.id).map(|ip| ip.to_string())
}

/// Gives a running container its interface on a connected network.
pub fn attach_endpoint(store: &Store, id: &str, e: &Endpoint) -> Result<()> {
    let br = bridge_of(store, &e.network)?;
    let ip = network::lease(&br, id)?;
    Ok(network::attach_extra(&br, id, ip, &e.ifname)?)
}

/// Rewrites /etc/hosts of every running container on user network `net`.
pub fn update_hosts(store: &Store, net: &str) -> Result<()> {
    for c in store.containers()? {
        if !c.ip.is_empty() && load_config(&c).networks().iter().any(|n| n == net) {
            write_hosts(store, &c.id)?;
        }
    }
    Ok(())
}

/// Writes a running container's /etc/hosts: its own lines, `--add-host`
/// entries, then, for each user network it is on, every other running
/// member by name, hostname and aliases.
pub fn write_hosts(store: &Store, id: &str) -> Result<()> {
    let me = store.container(id)?;
    let cfg = load_config(&me);
    let mut text = hosts_file(&cfg.hostname, (!me.ip.is_empty()).then_some(me.ip.as_str()));
    // Its IPv6 address too, on a network made with --ipv6 (docker's).
    let own6 = bridge_of(store, &cfg.network).ok().and_then(|br| network::lease6_of(&br, &me.id));
    if let Some(ip6) = own6.filter(|_| !me.ip.is_empty()) {
        text.push_str(&format!("{ip6}\t{}\n", cfg.hostname));
    }
    for h in &cfg.extra_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    text.push_str(&crate::links::hosts_lines(store, &me.name, &cfg));
    let all = store.containers()?;
    for net in cfg.networks().iter().filter(|n| is_user_network(n)) {
        for o in all.iter().filter(|o| o.id != me.id) {
            let ocfg = load_config(o);
            if !ocfg.networks().contains(net) {
                continue;
            }
            if let Some(ip) = ip_on(store, o, net) {
                let mut names = vec![o.name.clone()];
                names.extend(ocfg.aliases_on(net));
                text.push_str(&format!("{ip}\t{}\n", names.join(" ")));
            }
        }
    }
    // Written in place: the file is bind-mounted into the container.
    std::fs::write(Layout::new(store.root()).container(id).hosts(), text)?;
    Ok(())
}

/// docker's /etc/hosts for a container.
pub fn hosts_file(hostname: &str, ip: Option<&str>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// Sets up the container's network before its runtime creates it:
/// `none` gets a namespace with `lo`; `bridge` also a veth on wharf0 with
/// an address, and DNAT rules for its published ports. Those are still
/// being applied when it returns: wait for them before the container runs.
pub fn network_up(store: &mut Store, id: &str, cfg: &ContainerConfig) -> Result<Option<network::Restore>> {
    if cfg.network == "host" {
        return Ok(None);
    }
    if cfg.network == "none" || cfg.network.starts_with("container:") {
        // A fresh namespace with only lo (made by the runtime), or another
        // container's.
        return Ok(None);
    }
    network::create_netns(id)?;
    let br = bridge_of(store, &cfg.network)?;
    let ip = match cfg.ip {
        Some(ip) => network::lease_exact(&br, id, ip).map(|()| ip),
        None => network::lease(&br, id),
    };
    let ip = ip?;
    store.set_container_ip(id, &ip.to_string())?;
    let mut ports = Vec::new();
    for p in &cfg.ports {
        ports.extend(network::parse_ports(p)?);
    }
    let rules = network::publish_start(id, ip, &ports)?;
    let mac = cfg.mac_address.as_deref().and_then(network::parse_mac);
    let ip6 = network::lease6(&br, id)?;
    network::attach_bridge(&br, id, ip, ip6, mac)?;
    for e in &cfg.connected {
        attach_endpoint(store, id, e)?;
    }
    write_hosts(store, id)?;
    for net in cfg.networks() {
        if is_user_network(&net) {
            update_hosts(store, &net)?;
        }
    }
    Ok(rules)
}

/// Puts back the rules of the container's bridges if another tool flushed
/// them. It runs iptables (a few ms), so it is done once the container
/// runs, not before.
pub fn recheck_network(store: &Store, id: &str, cfg: &ContainerConfig) {
    for net in cfg.networks() {
        let checked = bridge_of(store, &net).and_then(|br| Ok(network::recheck_rules(&br)?));
        if let Err(e) = checked {
            crate::monitor::warn(store.root(), id, &format!("network {net}: {e:#}"));
        }
    }
}

/// Removes the container's network (rules, veth, namespace, address) and
/// its name from its network's other members. Every step is tried; what
/// failed is returned, each error on its own.
#[must_use = "the failures are for the caller to report"]
pub fn network_down(store: &mut Store, id: &str) -> Vec<Error> {
    network_down_on(&crate::host::System, store, id)
}

/// [`network_down`] on `host`.
#[must_use = "the failures are for the caller to report"]
pub fn network_down_on(host: &dyn crate::host::Host, store: &mut Store, id: &str) -> Vec<Error> {
    let mut errors: Vec<Error> = host.network().teardown(id);
    errors.extend(store.set_container_ip(id, "").err().map(Error::from));
    if let Ok(rec) = store.container(id) {
        for net in load_config(&rec).networks() {
            if is_user_network(&net) {
                errors.extend(update_hosts(store, &net).err());
            }
        }
    }
    errors
}
