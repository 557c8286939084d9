//! Links, addresses, routes and network namespaces through rtnetlink,
//! with a small synchronous face.
//!
//! `rtnetlink` is async; each [`Netlink`] drives it with a current-thread
//! tokio runtime, which starts no threads: wharf forks containers right
//! after setting up their network, and the embedded runtime must not be
//! forked from a multi-threaded process (youki#3011).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMetric};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};
use rustix::io::Errno;
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType, UnshareFlags};

use crate::NetError;

/// The namespace end of a veth pair.
pub struct Peer<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
    pub mtu: u32,
}

/// An rtnetlink connection in one network namespace.
pub struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: Handle,
    ns: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Command { cmd: what.to_owned(), msg: e.to_string() }
}

/// The errno of a netlink error reply.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

impl Netlink {
    /// A connection in this process's network namespace.
    pub fn host() -> Result<Netlink, NetError> {
        Self::connect("host")
    }

    /// A connection in the namespace at `path` (a `/run/netns` file). The
    /// socket belongs to the namespace it was made in: this thread enters
    /// `path` for the moment it takes to make it.
    pub fn in_netns(path: &Path) -> Result<Netlink, NetError> {
        let here = File::open("/proc/thread-self/ns/net").map_err(|e| err("open /proc/thread-self/ns/net", e))?;
        let there = File::open(path).map_err(|e| err(&format!("open {}", path.display()), e))?;
        let enter = |f: &File| move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network));
        enter(&there).map_err(|e| err(&format!("setns {}", path.display()), e))?;
        let nl = Self::connect(&path.display().to_string());
        enter(&here).map_err(|e| err("setns back to the host namespace", e))?;
        nl
    }

    fn connect(ns: &str) -> Result<Netlink, NetError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| err("starting the netlink runtime", e))?;
        let (conn, handle, _) = {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(|e| err("opening a netlink socket", e))?
        };
        rt.spawn(conn);
        Ok(Netlink { rt, handle, ns: ns.to_owned() })
    }

    fn run<T>(
        &self,
        what: impl Fn() -> String,
        f: impl std::future::Future<Output = Result<T, rtnetlink::Error>>,
    ) -> Result<T, NetError> {
        self.rt.block_on(f).map_err(|e| err(&format!("{} (netns {})", what(), self.ns), e))
    }

    /// [`Netlink::run`], taking the error `fine` (EEXIST for an add,
    /// ENODEV for a delete) as success: two wharf processes may make or
    /// remove the same thing at once.
    fn run_or(
        &self,
        fine: rustix::io::Errno,
        what: impl Fn() -> String,
        f: impl std::future::Future<Output = Result<(), rtnetlink::Error>>,
    ) -> Result<(), NetError> {
        match self.rt.block_on(f) {
            Err(e) if errno(&e) != Some(fine.raw_os_error()) => Err(err(&what(), e)),
            _ => Ok(()),
        }
    }

    /// The index of link `name`, if it exists.
    pub fn index(&self, name: &str) -> Result<Option<u32>, NetError> {
        let req = self.handle.link().get().match_name(name.to_owned()).execute();
        match self.rt.block_on(async {
            futures_util::pin_mut!(req);
            req.try_next().await
        }) {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(Errno::NODEV.raw_os_error()) => Ok(None),
            Err(e) => Err(err(&format!("link show {name}"), e)),
        }
    }

    fn must_index(&self, name: &str) -> Result<u32, NetError> {
        self.index(name)?.ok_or_else(|| err(&format!("link show {name}"), "no such device"))
    }

    /// `ip link add NAME type bridge` and up; fine if it exists.
    pub fn add_bridge(&self, name: &str) -> Result<(), NetError> {
        let req = self.handle.link().add(LinkBridge::new(name).build()).execute();
        self.run_or(Errno::EXIST, || format!("link add {name} type bridge"), req)
    }

    /// A veth pair: `host` here, enslaved to `bridge` and up; `peer` in
    /// the namespace `netns`. Both ends get the peer's MTU.
    pub fn add_veth(&self, host: &str, bridge: &str, peer: Peer, netns: &Path) -> Result<(), NetError> {
        let master = self.must_index(bridge)?;
        let ns = File::open(netns).map_err(|e| err(&format!("open {}", netns.display()), e))?;
        let peer_msg = LinkUnspec::new_with_name(peer.name)
            .setns_by_fd(ns.as_raw_fd())
            .address(peer.mac.to_vec())
            .mtu(peer.mtu)
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_owned())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .controller(master)
            .mtu(peer.mtu)
            .up()
            .build();
        let peer = peer.name;
        self.run(|| format!("link add {host} type veth peer name {peer} netns {}", netns.display()), async {
            self.handle.link().add(msg).execute().await
        })
    }

    /// `ip link set NAME mtu MTU`.
    pub fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), NetError> {
        let msg = LinkUnspec::new_with_index(self.must_index(name)?).mtu(mtu).build();
        self.run(|| format!("link set {name} mtu {mtu}"), self.handle.link().set(msg).execute())
    }

    /// `ip link set NAME up`.
    pub fn set_up(&self, name: &str) -> Result<(), NetError> {
        let msg = LinkUnspec::new_with_index(self.must_index(name)?).up().build();
        self.run(|| format!("link set {name} up"), self.handle.link().set(msg).execute())
    }

    /// `ip link del NAME`; fine if it is gone.
    pub fn del_link(&self, name: &str) -> Result<(), NetError> {
        let Some(i) = self.index(name)? else { return Ok(()) };
        self.run_or(Errno::NODEV, || format!("link del {name}"), self.handle.link().del(i).execute())
    }

    /// The IPv4 addresses (with prefix lengths) on link `name`, or on
    /// every link when None.
    pub fn ipv4_addrs(&self, name: Option<&str>) -> Result<Vec<(Ipv4Addr, u8)>, NetError> {
        let mut req = self.handle.address().get();
        if let Some(n) = name {
            req = req.set_link_index_filter(self.must_index(n)?);
        }
        let msgs: Vec<AddressMessage> =
            self.run(|| "addr show".to_owned(), async { req.execute().try_collect().await })?;
        Ok(msgs
            .iter()
            .flat_map(|m| {
                m.attributes.iter().filter_map(move |a| match a {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some((*ip, m.header.prefix_len)),
                    _ => None,
                })
            })
            .collect())
    }

    /// `ip addr add IP/PREFIX dev NAME`; fine if it is there.
    pub fn add_addr(&self, name: &str, ip: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
        let i = self.must_index(name)?;
        let req = self.handle.address().add(i, IpAddr::V4(ip), prefix).execute();
        self.run_or(Errno::EXIST, || format!("addr add {ip}/{prefix} dev {name}"), req)
    }

    /// `ip -6 addr add IP/PREFIX dev NAME nodad` (usable at once, as
    /// docker's: no duplicate address detection on a bridge it owns);
    /// fine if it is there.
    pub fn add_addr6(&self, name: &str, ip: Ipv6Addr, prefix: u8) -> Result<(), NetError> {
        let i = self.must_index(name)?;
        let mut req = self.handle.address().add(i, IpAddr::V6(ip), prefix);
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        self.run_or(Errno::EXIST, || format!("addr add {ip}/{prefix} dev {name}"), req.execute())
    }

    /// `ip -6 route add default via GATEWAY`.
    pub fn add_default_route6(&self, gateway: Ipv6Addr) -> Result<(), NetError> {
        let msg = RouteMessageBuilder::<Ipv6Addr>::new().gateway(gateway).build();
        self.run_or(Errno::EXIST, || format!("route add default via {gateway}"), self.handle.route().add(msg).execute())
    }

    /// `ip route add default via GATEWAY [mtu MTU]`.
    pub fn add_default_route(&self, gateway: Ipv4Addr, mtu: Option<u32>) -> Result<(), NetError> {
        let mut builder = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway);
        if let Some(m) = mtu {
            builder.get_mut().attributes.push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(m)]));
        }
        let msg = builder.build();
        self.run(|| format!("route add default via {gateway}"), self.handle.route().add(msg).execute())
    }
}

/// Makes a named network namespace at `path` (as `ip netns add`): a new
/// namespace, kept alive by a bind mount of it on the file.
pub fn add_netns(path: &Path) -> Result<(), NetError> {
    let here = File::open("/proc/thread-self/ns/net").map_err(|e| err("open /proc/thread-self/ns/net", e))?;
    let made = add_netns_here(path);
    // This thread goes back to the host namespace whatever happened.
    move_into_link_name_space(here.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(|e| err("setns back to the host namespace", e))?;
    made
}

/// As [`add_netns`], leaving this thread in the new namespace (for a
/// thread that is thrown away after: in a user namespace, one that left
/// the host's namespace cannot go back).
pub fn add_netns_here(path: &Path) -> Result<(), NetError> {
    let dir = path.parent().unwrap_or(Path::new("/run/netns"));
    std::fs::create_dir_all(dir).map_err(|e| err(&format!("mkdir {}", dir.display()), e))?;
    share_netns_dir(dir)?;
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| err(&format!("create {}", path.display()), e))?;
    let made = (|| {
        // SAFETY: only the network namespace is unshared, which changes
        // no memory, file descriptor or credential this process relies on.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET)? };
        rustix::mount::mount_bind("/proc/thread-self/ns/net", path)
    })();
    made.map_err(|e| {
        let _ = std::fs::remove_file(path);
        err(&format!("netns add {}", path.display()), e)
    })
}

/// Makes `dir` a shared mount point, as `ip netns add` does: bound onto
/// itself the first time, then shared. Namespace mounts made in it then
/// reach other mount namespaces. Without it, a tool that does this later
/// (`ip netns`, podman) binds a new mount over the namespaces made before:
/// they could then be neither unmounted nor removed (EBUSY) until reboot,
/// which was seen here.
fn share_netns_dir(dir: &Path) -> Result<(), NetError> {
    use rustix::mount::{mount_bind_recursive, mount_change, MountPropagationFlags};
    let share = || mount_change(dir, MountPropagationFlags::SHARED | MountPropagationFlags::REC);
    match share() {
        // EINVAL: not a mount point yet.
        Err(Errno::INVAL) => {
            mount_bind_recursive(dir, dir).map_err(|e| err(&format!("mount --rbind {0} {0}", dir.display()), e))?;
            share().map_err(|e| err(&format!("mount --make-rshared {}", dir.display()), e))
        }
        other => other.map_err(|e| err(&format!("mount --make-rshared {}", dir.display()), e)),
    }
}

/// Removes a named network namespace (as `ip netns del`); fine if gone.
pub fn del_netns(path: &Path) -> Result<(), NetError> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(err(&format!("umount {}", path.display()), e)),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(&format!("rm {}", path.display()), e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root (as CI runs): the directory becomes one shared mount point,
    /// and stays one when asked again.
    #[test]
    fn the_netns_dir_becomes_a_shared_mount_point() -> Result<(), NetError> {
        if !rustix::process::geteuid().is_root() {
            return Ok(());
        }
        let dir = tempfile::tempdir().map_err(|e| err("tempdir", e))?;
        share_netns_dir(dir.path())?;
        share_netns_dir(dir.path())?;
        let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| err("mountinfo", e))?;
        let target = dir.path().to_string_lossy().into_owned();
        let mounts: Vec<&str> = info.lines().filter(|l| l.split(' ').nth(4) == Some(target.as_str())).collect();
        let _ = rustix::mount::unmount(dir.path(), rustix::mount::UnmountFlags::DETACH);
        assert_eq!(mounts.len(), 1, "{mounts:?}");
        assert!(mounts[0].contains(" shared:"), "{}", mounts[0]);
        Ok(())
    }
}
