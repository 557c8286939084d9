//! /etc/hostname, /etc/hosts and /etc/resolv.conf as docker writes them
//! for a container.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use crate::api::HostConfig;
use crate::Result;

/// The DNS settings asked for (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Debug, Default, Clone)]
pub(super) struct Dns {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Dns {
    pub fn of(hc: &HostConfig) -> Dns {
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        Dns { servers: list(&hc.dns), search: list(&hc.dns_search), options: list(&hc.dns_options) }
    }

    fn is_set(&self) -> bool {
        !self.servers.is_empty() || !self.search.is_empty() || !self.options.is_empty()
    }
}

/// The three files, written in the container's directory `dir` and bind
/// mounted (the host's resolv.conf itself for the host's network without
/// DNS settings).
pub(super) fn etc_files(dir: &Path, hostname: &str, host_net: bool, dns: &Dns) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    let resolv = if host_net && !dns.is_set() {
        PathBuf::from("/etc/resolv.conf")
    } else {
        let p = dir.join("resolv.conf");
        std::fs::write(&p, resolv_conf(&host_resolv_conf(), host_net, dns))?;
        p
    };
    out.push(runtime::bind_mount(&resolv, "/etc/resolv.conf", false)?);
    // docker marks its containers with an empty /.dockerenv, and tools
    // look for it (to tell a container apart).
    let marker = dir.join("dockerenv");
    std::fs::write(&marker, "")?;
    out.push(runtime::bind_mount(&marker, "/.dockerenv", true)?);
    if !host_net {
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, crate::netglue::hosts_file(hostname, None))?;
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
/// servers, as docker falls back to; the DNS settings replace their lines.
fn resolv_conf(host: &str, host_net: bool, dns: &Dns) -> String {
    let reachable = |n: &str| host_net || n.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback());
    let kept: Vec<&str> =
        host.lines().filter(|l| l.trim().strip_prefix("nameserver").is_none_or(|n| reachable(n.trim()))).collect();
    let has = |key: &str| kept.iter().any(|l| l.trim_start().starts_with(key));
    if !dns.is_set() && has("nameserver") {
        return kept.iter().map(|l| format!("{l}\n")).collect();
    }
    let lines_of = |key: &'static str| {
        kept.iter().filter(move |l| l.trim_start().starts_with(key)).map(|l| l.trim().to_owned()).collect::<Vec<_>>()
    };
    let mut out = String::new();
    if dns.search.is_empty() {
        out.extend(lines_of("search").into_iter().chain(lines_of("domain")).map(|l| format!("{l}\n")));
    } else if dns.search != ["."] {
        out.push_str(&format!("search {}\n", dns.search.join(" ")));
    }
    let servers: Vec<String> = match (&dns.servers, has("nameserver")) {
        (d, _) if !d.is_empty() => d.clone(),
        (_, true) => {
            kept.iter().filter_map(|l| l.trim().strip_prefix("nameserver")).map(|n| n.trim().to_owned()).collect()
        }
        (_, false) => vec!["8.8.8.8".into(), "8.8.4.4".into()],
    };
    out.extend(servers.iter().map(|n| format!("nameserver {n}\n")));
    if dns.options.is_empty() {
        out.extend(lines_of("options").into_iter().map(|l| format!("{l}\n")));
    } else {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_unreachable_nameservers_and_takes_the_settings() {
        let host = "# generated\nsearch lan\nnameserver 127.0.0.53\nnameserver fe80::1\noptions edns0\n";
        let none = Dns::default();
        assert_eq!(
            resolv_conf(host, false, &none),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        assert_eq!(resolv_conf(host, true, &none), host, "the host's network reaches its own resolver");
        let usable = "nameserver 10.0.0.2\nnameserver 127.0.0.1\n";
        assert_eq!(resolv_conf(usable, false, &none), "nameserver 10.0.0.2\n");
        let given =
            Dns { servers: vec!["1.1.1.1".into()], search: vec!["a.example".into()], options: vec!["ndots:2".into()] };
        assert_eq!(resolv_conf(host, false, &given), "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n");
        let no_search = Dns { search: vec![".".into()], ..Dns::default() };
        assert_eq!(resolv_conf(usable, false, &no_search), "nameserver 10.0.0.2\n");
    }
}
