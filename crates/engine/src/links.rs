//! Legacy container links (`--link NAME[:ALIAS]`), as docker's daemon
//! makes them on the default bridge: the linked container's address under
//! the alias in /etc/hosts, and its exposed ports, name and environment as
//! `ALIAS_*` variables, computed at each start (its address may change).
//! On a user network a link is only a name: the alias in /etc/hosts.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{ContainerState, Store};

use crate::container::{load_config, ContainerConfig};
use crate::{Error, Result};

/// One link: the linked container's name and the alias it has here.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub alias: String,
}

/// The create request's `HostConfig.Links` (`NAME[:ALIAS]`), each naming
/// an existing container, checked as docker's daemon checks them.
pub fn resolve(store: &Store, given: &[String], network: &str) -> Result<Vec<Link>> {
    if !given.is_empty() && network == "host" {
        return Err(Error::invalid(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        ));
    }
    let mut links = Vec::new();
    for l in given {
        let (name, alias) = l.split_once(':').unwrap_or((l, l));
        let name = name.trim_start_matches('/');
        if name.is_empty() {
            return Err(Error::not_found(format!(
                "could not get container for {name}: invalid name or ID supplied: \"\""
            )));
        }
        let (_, found, _) = store
            .find_container(name)
            .map_err(|_| Error::not_found(format!("could not get container for {name}: No such container: {name}")))?;
        links.push(Link { name: found, alias: alias.trim_start_matches('/').to_owned() });
    }
    Ok(links)
}

/// `HostConfig.Links` as docker's inspect shows them: `/NAME:/ME/ALIAS`.
pub fn shown(me: &str, links: &[Link]) -> Value {
    if links.is_empty() {
        return Value::Null;
    }
    links.iter().map(|l| Value::String(format!("/{}:/{me}/{}", l.name, l.alias))).collect()
}

/// A linked container as the linking one sees it at its start.
struct Linked {
    link: Link,
    id: String,
    ip: String,
    config: ContainerConfig,
}

/// The linked containers, each running (docker's start fails otherwise).
fn linked(store: &Store, me: &str, cfg: &ContainerConfig) -> Result<Vec<Linked>> {
    let mut out = Vec::new();
    for l in &cfg.links {
        let running = store.find_container(&l.name).ok().filter(|(_, _, s)| *s == ContainerState::Running);
        let Some((id, _, _)) = running else {
            return Err(Error::conflict(format!(
                "Cannot link to a non running container: /{} AS /{me}/{}",
                l.name, l.alias
            )));
        };
        let rec = store.container(&id)?;
        let config = load_config(&rec);
        let ip = if cfg.network == "bridge" {
            rec.ip.clone()
        } else {
            crate::netglue::ip_on(store, &rec, &cfg.network).unwrap_or_default()
        };
        out.push(Linked { link: l.clone(), id, ip, config });
    }
    Ok(out)
}

/// The /etc/hosts lines of a container's links: `IP ALIAS ID NAME` on
/// the default bridge (docker's), `IP ALIAS` on a user network.
pub fn hosts_lines(store: &Store, me: &str, cfg: &ContainerConfig) -> String {
    let mut text = String::new();
    for l in linked(store, me, cfg).unwrap_or_default().into_iter().filter(|l| !l.ip.is_empty()) {
        let mut names = vec![l.link.alias.clone()];
        if cfg.network == "bridge" {
            names.push(l.id[..12].to_owned());
            if l.link.name != l.link.alias {
                names.push(l.link.name.clone());
            }
        }
        text.push_str(&format!("{}\t{}\n", l.ip, names.join(" ")));
    }
    text
}

/// The environment of a container with links on the default bridge: the
/// links' variables first, then its own (which win), as docker's.
pub fn environment(store: &Store, me: &str, cfg: &ContainerConfig) -> Result<Vec<String>> {
    let mut vars = Vec::new();
    for l in linked(store, me, cfg)? {
        if cfg.network == "bridge" {
            vars.extend(link_vars(me, &l));
        }
    }
    let own: Vec<&str> = cfg.spec_env.iter().filter_map(|e| e.split('=').next()).collect();
    vars.retain(|v| !own.contains(&v.split('=').next().unwrap_or_default()));
    vars.extend(cfg.spec_env.iter().cloned());
    Ok(vars)
}

/// docker's `links.ToEnv`: `ALIAS_PORT`, per port `ALIAS_PORT_N_PROTO*`
/// (and `_START`/`_END` for runs of consecutive ports), `ALIAS_NAME` and
/// the linked container's environment as `ALIAS_ENV_*`.
fn link_vars(me: &str, l: &Linked) -> Vec<String> {
    let alias = l.link.alias.to_uppercase().replace('-', "_");
    let ip = &l.ip;
    let mut ports: Vec<(u16, String)> = l
        .config
        .exposed
        .iter()
        .filter_map(|p| {
            let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((n.parse().ok()?, proto.to_lowercase()))
        })
        .collect();
    // TCP first, then by number (docker's withTCPPriority).
    ports.sort_by(|a, b| (a.1 != "tcp", &a.1, a.0).cmp(&(b.1 != "tcp", &b.1, b.0)));
    let mut env = Vec::new();
    if let Some((n, proto)) = ports.first() {
        env.push(format!("{alias}_PORT={proto}://{ip}:{n}"));
    }
    let mut i = 0;
    while i < ports.len() {
        let (start, proto) = &ports[i];
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1].1 == *proto && ports[j + 1].0 == ports[j].0 + 1 {
            j += 1;
        }
        for (n, proto) in &ports[i..=j] {
            let prefix = format!("{alias}_PORT_{n}_{}", proto.to_uppercase());
            env.push(format!("{prefix}={proto}://{ip}:{n}"));
            env.push(format!("{prefix}_ADDR={ip}"));
            env.push(format!("{prefix}_PORT={n}"));
            env.push(format!("{prefix}_PROTO={proto}"));
        }
        if j > i {
            let end = ports[j].0;
            let prefix = format!("{alias}_PORT_{start}_{}", proto.to_uppercase());
            env.push(format!("{prefix}_START={proto}://{ip}:{start}"));
            env.push(format!("{prefix}_PORT_START={start}"));
            env.push(format!("{prefix}_END={proto}://{ip}:{end}"));
            env.push(format!("{prefix}_PORT_END={end}"));
        }
        i = j + 1;
    }
    env.push(format!("{alias}_NAME=/{me}/{}", l.link.alias));
    for e in &l.config.env {
        if let Some((k, v)) = e.split_once('=') {
            if k != "HOME" && k != "PATH" {
                env.push(format!("{alias}_ENV_{k}={v}"));
            }
        }
    }
    env
}

/// Writes the links' environment into the bundle's config.json before a
/// start (nothing to do without links).
pub fn prepare_start(store: &Store, id: &str, dir: &std::path::Path) -> Result<()> {
    let rec = store.container(id)?;
    let cfg = load_config(&rec);
    if cfg.links.is_empty() {
        return Ok(());
    }
    let env = environment(store, &rec.name, &cfg)?;
    let path = dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["env"] = serde_json::json!(env);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_variables_follow_dockers() {
        let config = ContainerConfig {
            exposed: vec!["80/tcp".into(), "53/udp".into(), "8001/tcp".into(), "8000/tcp".into()],
            env: vec!["PATH=/bin".into(), "FOO=bar".into(), "HOME=/root".into()],
            ..ContainerConfig::default()
        };
        let l = Linked {
            link: Link { name: "db".into(), alias: "my-db".into() },
            id: "0".repeat(64),
            ip: "10.0.0.2".into(),
            config,
        };
        let env = link_vars("web", &l);
        assert_eq!(env[0], "MY_DB_PORT=tcp://10.0.0.2:80");
        assert!(env.contains(&"MY_DB_PORT_8000_TCP_START=tcp://10.0.0.2:8000".to_owned()));
        assert!(env.contains(&"MY_DB_PORT_8000_TCP_PORT_END=8001".to_owned()));
        assert!(env.contains(&"MY_DB_PORT_53_UDP_PROTO=udp".to_owned()));
        assert!(env.contains(&"MY_DB_NAME=/web/my-db".to_owned()));
        assert!(env.contains(&"MY_DB_ENV_FOO=bar".to_owned()));
        assert!(!env.iter().any(|e| e.starts_with("MY_DB_ENV_PATH") || e.starts_with("MY_DB_ENV_HOME")));
    }
}
