//! Container networking for the default `bridge` network: a Linux bridge
//! `wharf0` (10.89.0.1/16), one veth pair per container with the peer as
//! `eth0` in the container's network namespace, outbound NAT (masquerade),
//! and published ports as DNAT rules that answer on 127.0.0.1 and on the
//! host's own addresses (as docker without its userland proxy).
//!
//! Links, addresses, routes and namespaces are made over rtnetlink (the
//! `rtnetlink` crate, see [`netlink`]): no process per change. NAT and
//! filtering use `iptables` (nft-backed on Debian 12): it is on every host
//! that runs containers, and its rules show up in the tools an
//! administrator already uses, next to docker's and podman's; the nftables
//! crates would need wharf to own a table of its own that those tools do
//! not show the same way. Every rule carries the comment `wharf:ID`, so
//! the rules of one container can be found and removed, also after a
//! crash.

pub mod netlink;
pub mod rootless;

use rootless::host_side;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

pub const BRIDGE: &str = "wharf0";
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
pub const PREFIX: u8 = 16;
pub const SUBNET: &str = "10.89.0.0/16";

/// The MTU of a bridge and its veths when the network sets none: as
/// large as loopback's, because most of a bridge's traffic never leaves
/// the host (host to container through a published port on 127.0.0.1,
/// container to container). TCP counts its window in segments: with
/// 1500-byte links a new connection starts at ten 1460-byte segments, with
/// these at ten of 64 KiB, and a 1 MiB answer to the host took 45% longer.
/// The way out of the host keeps 1500: see [`OUTSIDE_MTU`].
pub const LINK_MTU: u32 = 65520;

/// The MTU of a container's default route when its network sets none:
/// what leaves the bridge through the gateway (NAT to the world, other
/// networks) is sized for an Ethernet path, as docker's default MTU. The
/// subnet's own route keeps the link's MTU.
pub const OUTSIDE_MTU: u32 = 1500;

/// A bridge network: the default `wharf0`, or a user network's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    /// The network's MTU (`-o com.docker.network.driver.mtu`), for its
    /// links and every route; None: [`LINK_MTU`] and [`OUTSIDE_MTU`].
    pub mtu: Option<u32>,
    /// `network create --internal`: no way out of the bridge (no NAT, no
    /// forwarding to or from other interfaces; its containers keep a
    /// default route, as docker's); its containers reach one another.
    pub internal: bool,
    /// `--ip-range`: the part of the subnet addresses are picked from
    /// (base, prefix length); None: the whole subnet.
    pub range: Option<(Ipv4Addr, u8)>,
    /// `--ipv6`: the network's IPv6 subnet and gateway.
    pub v6: Option<V6>,
}

/// A network's IPv6 addressing (`network create --ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6 {
    /// The subnet's first address.
    pub base: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Ipv6Addr,
}

impl V6 {
    /// `--subnet` (an IPv6 CIDR) and `--gateway` (else the first address).
    pub fn parse(subnet: &str, gateway: &str) -> Result<V6, NetError> {
        let bad = || NetError::BadSubnet(subnet.to_owned());
        let (ip, prefix) = subnet.split_once('/').ok_or_else(bad)?;
        let (ip, prefix): (Ipv6Addr, u8) = (ip.parse().map_err(|_| bad())?, prefix.parse().map_err(|_| bad())?);
        if !(8..=126).contains(&prefix) {
            return Err(bad());
        }
        let base = Ipv6Addr::from(u128::from(ip) & mask6(prefix));
        let gateway = match gateway {
            "" => Ipv6Addr::from(u128::from(base) + 1),
            g => {
                let gw: Ipv6Addr =
                    g.parse().map_err(|_| NetError::Ipam(format!("no matching subnet for gateway {g}")))?;
                if u128::from(gw) & mask6(prefix) != u128::from(base) {
                    return Err(NetError::Ipam(format!("no matching subnet for gateway {g}")));
                }
                gw
            }
        };
        Ok(V6 { base, prefix, gateway })
    }

    /// `base/prefix`.
    pub fn subnet(&self) -> String {
        format!("{}/{}", self.base, self.prefix)
    }
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix.min(128))
    }
}

impl Bridge {
    /// The default `bridge` network.
    pub fn default_bridge() -> Bridge {
        Bridge {
            name: BRIDGE.into(),
            gateway: GATEWAY,
            prefix: PREFIX,
            mtu: None,
            internal: false,
            range: None,
            v6: None,
        }
    }

    /// The MTU of the bridge and its veths.
    pub fn link_mtu(&self) -> u32 {
        self.mtu.unwrap_or(LINK_MTU)
    }

    /// The MTU the default route sets, when not the link's.
    fn outside_mtu(&self) -> Option<u32> {
        self.mtu.is_none().then_some(OUTSIDE_MTU)
    }

    /// `a.b.c.d/n` of the network.
    pub fn subnet(&self) -> String {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
        format!("{}/{}", Ipv4Addr::from(u32::from(self.gateway) & mask), self.prefix)
    }

    /// Parses `--subnet a.b.c.d/n` (the gateway is the first address).
    pub fn from_subnet(name: &str, subnet: &str) -> Result<Bridge, NetError> {
        let bad = || NetError::BadSubnet(subnet.to_owned());
        let (ip, prefix) = parse_cidr(subnet).ok_or_else(bad)?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        Ok(Bridge {
            name: name.into(),
            gateway: Ipv4Addr::from((u32::from(ip) & mask(prefix)) + 1),
            prefix,
            mtu: None,
            internal: false,
            range: None,
            v6: None,
        })
    }

    /// A network's addressing as `network create` gives it: `--subnet`,
    /// and within it `--gateway` (else the first address) and
    /// `--ip-range` (else the whole subnet), checked as docker's IPAM
    /// checks them.
    pub fn with_ipam(name: &str, subnet: &str, gateway: &str, range: &str) -> Result<Bridge, NetError> {
        let mut br = Bridge::from_subnet(name, subnet)?;
        let base = u32::from(br.gateway) & mask(br.prefix);
        let inside = |ip: Ipv4Addr| u32::from(ip) & mask(br.prefix) == base;
        if !gateway.is_empty() {
            let gw: Ipv4Addr =
                gateway.parse().map_err(|_| NetError::Ipam(format!("no matching subnet for gateway {gateway}")))?;
            if !inside(gw) {
                return Err(NetError::Ipam(format!("no matching subnet for gateway {gateway}")));
            }
            let host = u32::from(gw) - base;
            if host == 0 || host == !mask(br.prefix) {
                return Err(NetError::Ipam(format!("failed to allocate gateway ({gateway}): Address already in use")));
            }
            br.gateway = gw;
        }
        if !range.is_empty() {
            let (ip, prefix) =
                parse_cidr(range).ok_or_else(|| NetError::Ipam(format!("invalid CIDR address: {range}")))?;
            if !inside(ip) {
                return Err(NetError::Ipam(format!("no matching subnet for range {range}")));
            }
            let first = u32::from(ip) & mask(prefix);
            br.range = Some((Ipv4Addr::from(first), prefix));
            if gateway.is_empty() {
                // docker's IPAM takes the gateway from the pool, which the
                // range narrows: its first address.
                br.gateway = Ipv4Addr::from(if first == base { first + 1 } else { first });
            }
        }
        Ok(br)
    }

    fn lease_dir(&self) -> PathBuf {
        leases_dir().join(&self.name)
    }
}

/// The mask of a prefix length (0..=32).
fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    }
}

/// `a.b.c.d/n`.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let prefix: u8 = len.parse().ok()?;
    (prefix <= 32).then_some((ip.parse().ok()?, prefix))
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// An addressing option docker's IPAM refuses, in its words.
    #[error("{0}")]
    Ipam(String),
    #[error("invalid subnet {0:?} (expected a.b.c.d/8..30)")]
    BadSubnet(String),
    #[error("{cmd}: {msg}")]
    Command { cmd: String, msg: String },
    /// A `-p` that does not parse, in docker's words.
    #[error("{0}")]
    BadPort(String),
    #[error("Bind for {0} failed: port is already allocated")]
    PortTaken(String),
    /// What an ordinary user's network cannot do, in words.
    #[error("{0}")]
    Rootless(String),
    #[error("no free address left on the network")]
    Exhausted,
    #[error("Address already in use")]
    AddressInUse,
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    OutsideSubnet(Ipv4Addr),
}

fn run(prog: &str, args: &[&str]) -> Result<String, NetError> {
    let out = Command::new(paths::host_program(prog))
        .args(args)
        .output()
        .map_err(|e| NetError::Command { cmd: format!("{prog} {}", args.join(" ")), msg: e.to_string() })?;
    if !out.status.success() {
        return Err(NetError::Command {
            cmd: format!("{prog} {}", args.join(" ")),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ok(prog: &str, args: &[&str]) -> bool {
    Command::new(paths::host_program(prog)).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: String,
}

/// Parses `-p [IP:]HOSTPORT:CONTAINERPORT[/PROTO]` (also ranges
/// `8000-8001:80-81` and `CONTAINERPORT` alone, which picks a free host
/// port).
pub fn parse_ports(spec: &str) -> Result<Vec<PortMap>, NetError> {
    let bad = |what: &str, v: &str| NetError::BadPort(format!("invalid {what}: {v}"));
    let (rest, proto) = spec.split_once('/').map_or((spec, "tcp"), |(r, p)| (r, p));
    if proto != "tcp" && proto != "udp" {
        return Err(bad("proto", proto));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(ip.parse::<Ipv4Addr>().map_err(|_| bad("IP address", ip))?), *h, *c),
        _ => return Err(NetError::BadPort(format!("invalid port specification: {spec:?}"))),
    };
    // `A-B` (B not below A) or one port.
    let range = |s: &str| -> Option<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let (a, b) = (a.parse().ok()?, b.parse().ok()?);
        (a <= b).then_some((a, b))
    };
    let (c0, c1) = range(ctr).ok_or_else(|| bad("containerPort", ctr))?;
    let hosts: Vec<u16> = if host.is_empty() {
        vec![0; (c1 - c0 + 1) as usize]
    } else {
        let (h0, h1) = range(host).ok_or_else(|| bad("hostPort", host))?;
        if h1 - h0 != c1 - c0 {
            return Err(NetError::BadPort(format!(
                "invalid ranges specified for container and host Ports: {ctr} and {host}"
            )));
        }
        (h0..=h1).collect()
    };
    Ok((c0..=c1)
        .zip(hosts)
        .map(|(c, h)| PortMap { host_ip: ip, host_port: h, container_port: c, proto: proto.to_owned() })
        .collect())
}

/// The network namespace file of a container.
pub fn netns_path(id: &str) -> PathBuf {
    netns_dir().join(netns_name(id))
}

/// Where named network namespaces are bound: root's `/run/netns` (as `ip
/// netns`), an ordinary user's runtime directory (in the user's mount
/// namespace).
pub fn netns_dir() -> PathBuf {
    if paths::rootless() {
        paths::run_dir().join("netns")
    } else {
        PathBuf::from("/run/netns")
    }
}

/// Whether link `name` is in this thread's network namespace (sysfs shows
/// the namespace of whoever mounted it, so it is not asked).
fn link_exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else { return false };
    // SAFETY: if_nametoindex reads a NUL-terminated name and returns 0
    // when there is no such link.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

fn netns_name(id: &str) -> String {
    format!("wharf-{}", &id[..12.min(id.len())])
}

fn veth_name(id: &str) -> String {
    format!("vw{}", &id[..10.min(id.len())])
}

/// Whether container `id`'s host-side veth is there.
pub fn has_veth(id: &str) -> bool {
    bridges_may_exist() && host_side(|| link_exists(&veth_name(id))).unwrap_or(false)
}

/// Whether wharf's bridges (and veths) may exist: always for root; for an
/// ordinary user once the user's network namespace is there (it is not
/// made just to look in it or tear something down).
fn bridges_may_exist() -> bool {
    !paths::rootless() || rootless::is_netns(&rootless::netns())
}

/// Makes the container's (named) network namespace; `attach_bridge`
/// brings its links up.
pub fn create_netns(id: &str) -> Result<PathBuf, NetError> {
    let path = netns_path(id);
    // A file that is no namespace (its mount went with the mount
    // namespace it was made in: a rootless user's, made again) is stale.
    if path.exists() && !rootless::is_netns(&path) {
        let _ = std::fs::remove_file(&path);
    }
    if !path.exists() {
        rootless::on_own_thread(|| netlink::add_netns_here(&path))??;
    }
    Ok(path)
}

/// Creates the bridge and its NAT and forwarding rules; a marker in /run
/// (cleared at boot) holding the bridge's MTU lets later containers skip
/// all but a look at the bridge. Whether the rules are still there (another
/// tool may have flushed them) costs an `iptables` run, a few ms of every
/// start: [`recheck_rules`] does it once the container runs.
pub fn ensure_bridge(br: &Bridge) -> Result<(), NetError> {
    host_side(|| ensure_bridge_here(br))?
}

fn ensure_bridge_here(br: &Bridge) -> Result<(), NetError> {
    let ready = paths::run_dir().join(format!("bridge-ready-{}", br.name));
    let mtu = br.link_mtu().to_string();
    if std::fs::read_to_string(&ready).is_ok_and(|m| m == mtu) && link_exists(&br.name) {
        return Ok(());
    }
    // Two wharf processes may get here at once: adding what exists is no
    // error.
    let (bridge, gateway, prefix) = (br.name.as_str(), br.gateway, br.prefix);
    let nl = netlink::Netlink::host()?;
    nl.add_bridge(bridge)?;
    // Set again: the bridge may be older than this MTU.
    nl.set_mtu(bridge, br.link_mtu())?;
    nl.add_addr(bridge, gateway, prefix)?;
    if let Some(v6) = &br.v6 {
        // As docker for an IPv6 network: the bridge takes IPv6 (a host
        // may have it off by default) and the host forwards it.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6"), "0");
        nl.add_addr6(bridge, v6.gateway, v6.prefix)?;
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")
            .map_err(|e| NetError::Command { cmd: "enable IPv6 forwarding".into(), msg: e.to_string() })?;
    }
    nl.set_up(bridge)?;
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| NetError::Command { cmd: "enable ip_forward".into(), msg: e.to_string() })?;
    // 127.0.0.1:PORT → container needs routing of loopback-sourced
    // packets out of the bridge.
    let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"), "1");
    ensure_rules(br)?;
    let _ = paths::ensure_run_dir();
    let _ = std::fs::write(&ready, mtu);
    Ok(())
}

/// Puts back the bridge's NAT and forwarding rules if another tool
/// (dockerd restarting, a firewall reload) flushed the FORWARD chain.
pub fn recheck_rules(br: &Bridge) -> Result<(), NetError> {
    // An ordinary user's rules are in the user's own network namespace,
    // where no other tool flushes them: no iptables run to look.
    if paths::rootless() {
        return Ok(());
    }
    host_side(|| recheck_rules_here(br))?
}

fn recheck_rules_here(br: &Bridge) -> Result<(), NetError> {
    let rules = bridge_rules(br);
    let last = rules.last().expect("every bridge has rules");
    let mut check: Vec<&str> = vec!["-t", &last[0], "-C", &last[1]];
    check.extend(last[2..].iter().map(String::as_str));
    check.extend_from_slice(&["-m", "comment", "--comment", "wharf"]);
    if ok("iptables", &check) {
        return Ok(());
    }
    ensure_rules(br)
}

/// A bridge's rules, as (table, chain, match and target...): NAT out of
/// it and forwarding both ways; for an internal network, forwarding
/// within the bridge only.
fn bridge_rules(br: &Bridge) -> Vec<Vec<String>> {
    let (b, subnet) = (br.name.as_str(), br.subnet());
    let own = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if br.internal {
        vec![
            own(&["filter", ISOLATION, "-i", b, "!", "-o", b, "-j", "DROP"]),
            own(&["filter", ISOLATION, "-o", b, "!", "-i", b, "-j", "DROP"]),
            own(&["filter", "FORWARD", "-i", b, "-o", b, "-j", "ACCEPT"]),
        ]
    } else {
        vec![
            own(&["nat", "POSTROUTING", "-s", &subnet, "!", "-o", b, "-j", "MASQUERADE"]),
            own(&["nat", "POSTROUTING", "-s", "127.0.0.0/8", "-o", b, "-j", "MASQUERADE"]),
            own(&["filter", "FORWARD", "-o", b, "-j", "ACCEPT"]),
            own(&["filter", "FORWARD", "-i", b, "-j", "ACCEPT"]),
        ]
    }
}

/// The chain of internal networks' DROP rules. FORWARD jumps to it
/// first: every time wharf inserts rules at the top of FORWARD, the jump
/// is put back above them, so that no bridge's ACCEPT (inserted later,
/// or again after a flush) lets traffic out of an internal network.
const ISOLATION: &str = "WHARF-ISOLATION";

/// Adds whichever of the bridge's NAT and forwarding rules is missing.
fn ensure_rules(br: &Bridge) -> Result<(), NetError> {
    // Made before a rule goes into it; "exists" is no error.
    let _ = ok("iptables", &["-t", "filter", "-N", ISOLATION]);
    for r in bridge_rules(br) {
        let r: Vec<&str> = r.iter().map(String::as_str).collect();
        let (table, chain, rest) = (r[0], r[1], &r[2..]);
        let mut check = vec!["-t", table, "-C", chain];
        check.extend_from_slice(rest);
        check.extend_from_slice(&["-m", "comment", "--comment", "wharf"]);
        if !ok("iptables", &check) {
            let mut add = vec!["-t", table, "-I", chain];
            add.extend_from_slice(rest);
            add.extend_from_slice(&["-m", "comment", "--comment", "wharf"]);
            run("iptables", &add)?;
        }
    }
    let jump = ["FORWARD", "-j", ISOLATION, "-m", "comment", "--comment", "wharf"];
    let first = run("iptables", &["-t", "filter", "-S", "FORWARD", "1"]).unwrap_or_default();
    if !first.contains(ISOLATION) {
        while ok("iptables", &[&["-t", "filter", "-D"][..], &jump[..]].concat()) {}
        run("iptables", &[&["-t", "filter", "-I"][..], &jump[..]].concat())?;
    }
    Ok(())
}

/// The hardware address of a container's interface with address `ip`:
/// 02:42 and the address, as docker makes it. A container that gets the
/// address of one removed a moment ago then also gets its MAC, so the
/// host's neighbour cache (which keeps an entry for up to 30 s) stays
/// right; with random MACs, connections to the new container stalled
/// until the stale entry expired.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`), as `--mac-address` takes it.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (byte, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Connects a container's namespace to the bridge with address `ip`, and
/// `mac` (`--mac-address`) or the one [`mac_for`] gives.
pub fn attach_bridge(
    br: &Bridge,
    id: &str,
    ip: Ipv4Addr,
    ip6: Option<Ipv6Addr>,
    mac: Option<[u8; 6]>,
) -> Result<(), NetError> {
    host_side(|| {
        ensure_bridge_here(br)?;
        let host = veth_name(id);
        let nl = netlink::Netlink::host()?;
        nl.del_link(&host)?;
        let peer = netlink::Peer { name: "eth0", mac: mac.unwrap_or_else(|| mac_for(ip)), mtu: br.link_mtu() };
        nl.add_veth(&host, &br.name, peer, &netns_path(id))?;
        let inside = netlink::Netlink::in_netns(&netns_path(id))?;
        inside.set_up("lo")?;
        inside.add_addr("eth0", ip, br.prefix)?;
        if let (Some(v6), Some(ip6)) = (&br.v6, ip6) {
            inside.add_addr6("eth0", ip6, v6.prefix)?;
        }
        inside.set_up("eth0")?;
        if let (Some(v6), Some(_)) = (&br.v6, ip6) {
            inside.add_default_route6(v6.gateway)?;
        }
        inside.add_default_route(br.gateway, br.outside_mtu())
    })?
}

/// Connects a running container to another bridge as `ifname` (`eth1`,
/// ...): a second veth pair, an address, no default route (the first
/// network keeps it, as with docker).
pub fn attach_extra(br: &Bridge, id: &str, ip: Ipv4Addr, ifname: &str) -> Result<(), NetError> {
    host_side(|| attach_extra_here(br, id, ip, ifname))?
}

fn attach_extra_here(br: &Bridge, id: &str, ip: Ipv4Addr, ifname: &str) -> Result<(), NetError> {
    ensure_bridge_here(br)?;
    // vw + 8 hex + ifname: at most 15 bytes for eth0..eth99999.
    let host = format!("vw{}{}", &id[..8.min(id.len())], ifname);
    let nl = netlink::Netlink::host()?;
    nl.del_link(&host)?;
    let peer = netlink::Peer { name: ifname, mac: mac_for(ip), mtu: br.link_mtu() };
    nl.add_veth(&host, &br.name, peer, &netns_path(id))?;
    let inside = netlink::Netlink::in_netns(&netns_path(id))?;
    inside.add_addr(ifname, ip, br.prefix)?;
    inside.set_up(ifname)
}

/// Removes a container's extra interface (its host peer goes with it).
pub fn detach_extra(id: &str, ifname: &str) -> Result<(), NetError> {
    host_side(|| detach_extra_here(id, ifname))?
}

fn detach_extra_here(id: &str, ifname: &str) -> Result<(), NetError> {
    if !netns_path(id).exists() {
        return Ok(());
    }
    netlink::Netlink::in_netns(&netns_path(id))?.del_link(ifname)
}

/// Takes a running container off the network it was created on: its
/// published ports' rules and `eth0` go, and the default route moves to
/// `next` (the bridge of a network it stays on), as docker moves the
/// gateway to another endpoint.
pub fn detach_primary(id: &str, next: Option<&Bridge>) -> Result<(), NetError> {
    host_side(|| detach_primary_here(id, next))?
}

fn detach_primary_here(id: &str, next: Option<&Bridge>) -> Result<(), NetError> {
    unpublish(id)?;
    detach_extra(id, "eth0")?;
    next.map_or(Ok(()), |br| route_through(id, br))
}

/// Makes `br`'s gateway the default route of container `id` (connected
/// to `br`), when the network that held it was taken away.
pub fn route_through(id: &str, br: &Bridge) -> Result<(), NetError> {
    host_side(|| route_through_here(id, br))?
}

fn route_through_here(id: &str, br: &Bridge) -> Result<(), NetError> {
    netlink::Netlink::in_netns(&netns_path(id))?.add_default_route(br.gateway, br.outside_mtu())
}

/// DNAT rules for the published ports of container `id` at `ip`, for
/// traffic from outside (PREROUTING) and from the host itself (OUTPUT).
/// They are still being applied when it returns (iptables-restore takes
/// 3-4 ms here): the caller sets the container up meanwhile and waits for
/// the [`Restore`] before the container runs.
pub fn publish_start(id: &str, ip: Ipv4Addr, ports: &[PortMap]) -> Result<Option<Restore>, NetError> {
    let tag = format!("wharf:{id}");
    if ports.is_empty() {
        return Ok(None);
    }
    // Written before the rules, so that teardown (also after a crash)
    // knows there are rules to look for.
    let marker = ports_marker(id);
    let io = |e: std::io::Error| NetError::Command { cmd: format!("write {}", marker.display()), msg: e.to_string() };
    std::fs::create_dir_all(marker.parent().unwrap_or(std::path::Path::new("/run"))).map_err(io)?;
    std::fs::write(&marker, id).map_err(io)?;
    // An ordinary user's ports: slirp4netns listens on the host and sends
    // them to the same port of the user's namespace, to a local address.
    let rootless = paths::rootless();
    if rootless {
        rootless::publish(ports, &slirp_record(id))?;
    }
    // One iptables-restore for every rule: a process per rule cost more
    // than the rules (a port range makes hundreds).
    let mut batch = String::from("*nat\n");
    for p in ports {
        let dst = match p.host_ip.filter(|h| !h.is_unspecified() && !rootless) {
            Some(h) => format!("-d {h}"),
            None => "-m addrtype --dst-type LOCAL".to_owned(),
        };
        for chain in ["PREROUTING", "OUTPUT"] {
            batch.push_str(&format!(
                "-A {chain} -p {} --dport {} {dst} -j DNAT --to-destination {ip}:{} -m comment --comment {tag}\n",
                p.proto, p.host_port, p.container_port
            ));
        }
    }
    batch.push_str("COMMIT\n");
    host_side(|| Restore::start(batch).map(Some))?
}

/// Applies `rules` (iptables-save format) without flushing what is there.
fn restore(rules: &str) -> Result<(), NetError> {
    Restore::start(rules.to_owned())?.wait()
}

/// A running `iptables-restore --noflush`. Dropped without [`Restore::wait`]
/// it is still waited for, so that no rule lands after a teardown.
pub struct Restore {
    child: Option<std::process::Child>,
    rules: String,
}

impl Restore {
    fn start(rules: String) -> Result<Restore, NetError> {
        use std::io::Write;
        let mut child = Command::new(paths::host_program("iptables-restore"))
            .arg("--noflush")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| restore_error(&rules, e.to_string()))?;
        let stdin = child.stdin.take();
        let pending = Restore { child: Some(child), rules };
        // Closed when written: iptables-restore applies the rules at EOF.
        if let Some(mut stdin) = stdin {
            stdin.write_all(pending.rules.as_bytes()).map_err(|e| restore_error(&pending.rules, e.to_string()))?;
        }
        Ok(pending)
    }

    /// Waits until the rules are applied, or for why they were not.
    pub fn wait(mut self) -> Result<(), NetError> {
        let Some(child) = self.child.take() else { return Ok(()) };
        let out = child.wait_with_output().map_err(|e| restore_error(&self.rules, e.to_string()))?;
        if !out.status.success() {
            return Err(restore_error(&self.rules, String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(())
    }
}

fn restore_error(rules: &str, msg: String) -> NetError {
    NetError::Command { cmd: format!("iptables-restore --noflush: {}", rules.trim()), msg }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

fn ports_marker(id: &str) -> PathBuf {
    paths::run_dir().join("ports").join(id)
}

/// The slirp4netns forward IDs of a rootless container's ports.
fn slirp_record(id: &str) -> PathBuf {
    paths::run_dir().join("ports").join(format!("{id}.slirp"))
}

/// The marker of container `id`'s published port rules (there while
/// they are).
pub fn ports_path(id: &str) -> PathBuf {
    ports_marker(id)
}

/// Removes the DNAT rules of container `id`'s published ports, if it has
/// any (the marker says so, also after a crash).
fn unpublish(id: &str) -> Result<(), NetError> {
    let tag = format!("wharf:{id}");
    let marker = ports_marker(id);
    if !marker.exists() {
        return Ok(());
    }
    if paths::rootless() {
        rootless::unpublish(&slirp_record(id))?;
    }
    host_side(|| unpublish_rules(&tag))??;
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

fn unpublish_rules(tag: &str) -> Result<(), NetError> {
    // `-S` prints rules in iptables-save syntax: each one deleted as
    // printed, all in one iptables-restore.
    let rules = run("iptables", &["-t", "nat", "-S"])?;
    let dels: Vec<String> =
        rules.lines().filter(|l| l.contains(tag) && l.starts_with("-A ")).map(|l| format!("-D {}", &l[3..])).collect();
    if !dels.is_empty() {
        restore(&format!("*nat\n{}\nCOMMIT\n", dels.join("\n")))?;
    }
    Ok(())
}

/// Removes everything of container `id`: its DNAT rules, its veth and its
/// namespace. Safe to call when some or all of it is already gone. Every
/// step is tried; the failures are returned, each on its own.
pub fn teardown(id: &str) -> Vec<NetError> {
    let mut errors: Vec<NetError> = unpublish(id).err().into_iter().collect();
    // Deleting the namespace destroys eth0 and with it its host peer.
    if netns_path(id).exists() {
        errors.extend(netlink::del_netns(&netns_path(id)).err());
    }
    // A peer left (a namespace removed before its link), where the
    // bridges are.
    if bridges_may_exist() {
        let veth = veth_name(id);
        let gone = host_side(|| match link_exists(&veth) {
            true => netlink::Netlink::host().and_then(|nl| nl.del_link(&veth)),
            false => Ok(()),
        });
        errors.extend(gone.and_then(|r| r).err());
    }
    release(id);
    errors
}

/// Host-wide address leases: one file per address naming the container.
/// The bridge is shared by every wharf store on the host, so the leases
/// live in the runtime directory, not in a store.
fn leases_dir() -> PathBuf {
    paths::run_dir().join("ipam")
}

/// Leases the lowest free address for container `id` (whose namespace
/// must already exist). A lease whose container's namespace is gone was
/// left by a crash and is taken over.
pub fn lease(br: &Bridge, id: &str) -> Result<Ipv4Addr, NetError> {
    let dir = br.lease_dir();
    let io = |e: std::io::Error| NetError::Command {
        cmd: format!("lease an address in {}", dir.display()),
        msg: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut skip = Vec::new();
    loop {
        let ip = allocate_in(br, &skip)?;
        let path = dir.join(ip.to_string());
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(id.as_bytes()).map_err(io)?;
                return Ok(ip);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                if owner.len() >= 12 && !netns_path(&owner).exists() {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                skip.push(ip);
            }
            Err(e) => return Err(io(e)),
        }
    }
}

/// Leases `ip` itself for container `id` (`--ip`): a host address of the
/// network (not its own, its gateway's or its broadcast address) that no
/// live container holds.
pub fn lease_exact(br: &Bridge, id: &str, ip: Ipv4Addr) -> Result<(), NetError> {
    let size = 1u32 << (32 - br.prefix);
    let base = u32::from(br.gateway) & !(size - 1);
    let host = u32::from(ip).wrapping_sub(base);
    if u32::from(ip) & !(size - 1) != base || host == 0 || host == size - 1 || ip == br.gateway {
        return Err(NetError::OutsideSubnet(ip));
    }
    let dir = br.lease_dir();
    let io =
        |e: std::io::Error| NetError::Command { cmd: format!("lease {ip} in {}", dir.display()), msg: e.to_string() };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(ip.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                return f.write_all(id.as_bytes()).map_err(io);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                if owner == id {
                    return Ok(());
                }
                // Left by a crash (its namespace is gone): taken over.
                if owner.len() >= 12 && !netns_path(&owner).exists() {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                return Err(NetError::AddressInUse);
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(NetError::AddressInUse)
}

/// The address leased to `id` on `br`, if any.
pub fn lease_of(br: &Bridge, id: &str) -> Option<Ipv4Addr> {
    leases_of(br, id).find_map(|name| name.parse().ok())
}

/// The IPv6 address leased to `id` on `br`, if any.
pub fn lease6_of(br: &Bridge, id: &str) -> Option<Ipv6Addr> {
    leases_of(br, id).find_map(|name| name.parse().ok())
}

/// The names of the lease files (addresses) `id` holds on `br`.
fn leases_of<'a>(br: &Bridge, id: &'a str) -> impl Iterator<Item = String> + 'a {
    std::fs::read_dir(br.lease_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(move |e| std::fs::read_to_string(e.path()).is_ok_and(|o| o == id))
        .filter_map(|e| e.file_name().into_string().ok())
}

/// Leases the lowest free IPv6 address of `br`'s IPv6 subnet (not its
/// gateway) for container `id`, as [`lease`] does IPv4 ones.
pub fn lease6(br: &Bridge, id: &str) -> Result<Option<Ipv6Addr>, NetError> {
    let Some(v6) = br.v6 else { return Ok(None) };
    if let Some(held) = lease6_of(br, id) {
        return Ok(Some(held));
    }
    let dir = br.lease_dir();
    let io = |e: std::io::Error| NetError::Command { cmd: format!("lease in {}", dir.display()), msg: e.to_string() };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let hosts = if v6.prefix >= 64 { (1u128 << (128 - v6.prefix)) - 1 } else { u128::from(u32::MAX) };
    for n in 1..hosts {
        let ip = Ipv6Addr::from(u128::from(v6.base) + n);
        if ip == v6.gateway {
            continue;
        }
        let path = dir.join(ip.to_string());
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(id.as_bytes()).map_err(io)?;
                return Ok(Some(ip));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Left by a crash (its namespace is gone): taken over.
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                if owner.len() >= 12 && !netns_path(&owner).exists() {
                    std::fs::write(&path, id).map_err(io)?;
                    return Ok(Some(ip));
                }
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(NetError::Exhausted)
}

/// Releases the address leased to `id` on `br`.
pub fn release_on(br: &Bridge, id: &str) {
    for name in leases_of(br, id).collect::<Vec<_>>() {
        let _ = std::fs::remove_file(br.lease_dir().join(name));
    }
}

/// Releases the addresses leased to `id` on every network.
pub fn release(id: &str) {
    let Ok(nets) = std::fs::read_dir(leases_dir()) else { return };
    for net in nets.flatten() {
        if let Ok(rd) = std::fs::read_dir(net.path()) {
            for e in rd.flatten() {
                if std::fs::read_to_string(e.path()).is_ok_and(|o| o == id) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Picks the lowest free address of the default network, given those in use.
pub fn allocate(used: &[Ipv4Addr]) -> Result<Ipv4Addr, NetError> {
    allocate_in(&Bridge::default_bridge(), used)
}

/// Picks the lowest free address in a network, or in its `--ip-range`:
/// not the gateway, nor the network's own or broadcast address, as
/// docker's IPAM.
pub fn allocate_in(br: &Bridge, used: &[Ipv4Addr]) -> Result<Ipv4Addr, NetError> {
    let size = 1u32 << (32 - br.prefix);
    let base = u32::from(br.gateway) & !(size - 1);
    let (first, count) = match br.range {
        Some((ip, prefix)) => (u32::from(ip), 1u64 << (32 - prefix)),
        None => (base, u64::from(size)),
    };
    for n in 0..count {
        let addr = first.wrapping_add(n as u32);
        let ip = Ipv4Addr::from(addr);
        let host = addr.wrapping_sub(base);
        if host == 0 || host >= size - 1 || ip == br.gateway || used.contains(&ip) {
            continue;
        }
        return Ok(ip);
    }
    Err(NetError::Exhausted)
}

/// A free TCP port on the host, for `-p CONTAINERPORT` without a host port.
pub fn free_port() -> Result<u16, NetError> {
    let l = std::net::TcpListener::bind("0.0.0.0:0")
        .map_err(|e| NetError::Command { cmd: "bind".into(), msg: e.to_string() })?;
    Ok(l.local_addr().map_err(|e| NetError::Command { cmd: "bind".into(), msg: e.to_string() })?.port())
}

/// Whether a host port is free to publish (nothing listens on it).
pub fn port_free(p: &PortMap) -> bool {
    let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let bound = match p.proto.as_str() {
        "udp" => std::net::UdpSocket::bind((ip, p.host_port)).map(drop),
        _ => std::net::TcpListener::bind((ip, p.host_port)).map(drop),
    };
    // Not this user's to bind (an ordinary user, below the host's
    // ip_unprivileged_port_start) is not "taken": publishing says why.
    bound.is_ok() || bound.is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// Removes a user network's bridge and its rules (its containers must be
/// gone).
pub fn remove_bridge(br: &Bridge) {
    let _ = host_side(|| remove_bridge_here(br));
}

fn remove_bridge_here(br: &Bridge) {
    for r in bridge_rules(br) {
        let mut args: Vec<&str> = vec!["-t", &r[0], "-D", &r[1]];
        args.extend(r[2..].iter().map(String::as_str));
        args.extend_from_slice(&["-m", "comment", "--comment", "wharf"]);
        let _ = run("iptables", &args);
    }
    let _ = netlink::Netlink::host().and_then(|nl| nl.del_link(&br.name));
    let _ = std::fs::remove_file(paths::run_dir().join(format!("bridge-ready-{}", br.name)));
    let _ = std::fs::remove_dir_all(br.lease_dir());
}

/// Subnets of the host's IPv4 addresses (to keep new networks apart).
pub fn host_subnets() -> Vec<Bridge> {
    let addrs =
        host_side(|| netlink::Netlink::host().and_then(|nl| nl.ipv4_addrs(None))).and_then(|a| a).unwrap_or_default();
    addrs
        .into_iter()
        .map(|(ip, prefix)| Bridge {
            name: String::new(),
            gateway: ip,
            prefix,
            mtu: None,
            internal: false,
            range: None,
            v6: None,
        })
        .collect()
}

/// Whether two networks overlap.
pub fn overlaps(a: &Bridge, b: &Bridge) -> bool {
    let p = a.prefix.min(b.prefix);
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    u32::from(a.gateway) & mask == u32::from(b.gateway) & mask
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_ipv6_subnet_takes_its_gateway_from_the_flag_or_its_first_address() {
        let v6 = V6::parse("fd00:1::5/64", "").expect("parses");
        assert_eq!((v6.subnet(), v6.gateway.to_string()), ("fd00:1::/64".to_owned(), "fd00:1::1".to_owned()));
        assert_eq!(V6::parse("fd00:1::/64", "fd00:1::9").expect("parses").gateway.to_string(), "fd00:1::9");
        assert!(matches!(V6::parse("fd00:1::/64", "fd00:2::1"), Err(NetError::Ipam(_))));
        assert!(matches!(V6::parse("fd00:1::/200", ""), Err(NetError::BadSubnet(_))));
    }

    #[test]
    fn an_ip_range_narrows_the_addresses_and_gives_the_gateway() {
        let br = Bridge::with_ipam("x", "10.6.0.0/24", "", "10.6.0.128/25").expect("parses");
        assert_eq!(br.gateway, Ipv4Addr::new(10, 6, 0, 128));
        assert_eq!(allocate_in(&br, &[]).expect("free"), Ipv4Addr::new(10, 6, 0, 129));
        let br = Bridge::with_ipam("x", "10.5.0.0/24", "10.5.0.254", "").expect("parses");
        assert_eq!(allocate_in(&br, &[]).expect("free"), Ipv4Addr::new(10, 5, 0, 1));
        assert!(matches!(Bridge::with_ipam("x", "10.5.0.0/24", "10.5.0.0", ""), Err(NetError::Ipam(_))));
    }

    use super::*;

    #[test]
    fn macs_parse_with_colons_or_dashes() {
        assert_eq!(parse_mac("02:11:22:33:44:5A"), Some([2, 0x11, 0x22, 0x33, 0x44, 0x5a]));
        assert_eq!(parse_mac("02-11-22-33-44-5a").map(format_mac).as_deref(), Some("02:11:22:33:44:5a"));
        for bad in ["zz", "02:11:22:33:44", "02:11:22:33:44:5", "002:11:22:33:44:55"] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn port_specs_parse_as_docker() -> Result<(), NetError> {
        let p = parse_ports("5001:5000")?;
        assert_eq!(p, vec![PortMap { host_ip: None, host_port: 5001, container_port: 5000, proto: "tcp".into() }]);
        let p = parse_ports("127.0.0.1:8080:80/udp")?;
        assert_eq!(p[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p[0].proto, "udp");
        assert_eq!(parse_ports("8000-8001:80-81")?.len(), 2);
        assert_eq!(parse_ports("80")?[0].host_port, 0);
        assert!(parse_ports("a:b").is_err());
        assert!(parse_ports("8000-8002:80-81").is_err());
        Ok(())
    }

    #[test]
    fn addresses_are_allocated_lowest_first() -> Result<(), NetError> {
        assert_eq!(allocate(&[])?, Ipv4Addr::new(10, 89, 0, 2));
        assert_eq!(allocate(&[Ipv4Addr::new(10, 89, 0, 2)])?, Ipv4Addr::new(10, 89, 0, 3));
        Ok(())
    }
}
