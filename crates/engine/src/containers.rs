//! Listing containers, as docker's `GET /containers/json` selects them
//! and answers: the API's `ContainerSummary` for each.

use store::{ContainerRecord, ContainerState, Store};

use crate::api::{
    ContainerSummary, ContainerSummaryHealth, ContainerSummaryHealthStatusEnum, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, PortSummary, PortSummaryTypeEnum,
};
use crate::container::{load_config, ContainerConfig};
use crate::health::Health;
use crate::{Error, Result};

/// docker's list options: `all`, `limit` (the newest N, of any state),
/// and `filters` as `KEY=VALUE` (status, name, id, label, ancestor,
/// exited, health), each of which must hold.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub filters: Vec<String>,
}

/// The containers the options select, newest first, each with its record
/// made true and its configuration.
pub fn list(store: &mut Store, opts: &ListOptions) -> Result<Vec<(ContainerRecord, ContainerConfig)>> {
    check_filters(&opts.filters)?;
    let mut recs = Vec::new();
    for rec in store.containers()? {
        match crate::lifecycle::refresh(store, rec) {
            Ok(rec) => recs.push(rec),
            // Removed by another command since it was listed.
            Err(e) if e.kind() == crate::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let all = opts.all || opts.limit.is_some();
    let by_status = opts.filters.iter().any(|f| f.starts_with("status="));
    let mut rows = Vec::new();
    for rec in recs.into_iter().take(opts.limit.unwrap_or(usize::MAX)) {
        let cfg = load_config(&rec);
        if !all && !by_status && !rec.state.is_live() {
            continue;
        }
        let mut keep = true;
        for f in &opts.filters {
            keep &= matches(&rec, &cfg, f, store)?;
        }
        if keep {
            rows.push((rec, cfg));
        }
    }
    Ok(rows)
}

/// The containers the options select, as the API's summaries.
pub fn summaries(store: &mut Store, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
    let rows = list(store, opts)?;
    Ok(rows.iter().map(|(rec, cfg)| summary(store, rec, cfg)).collect())
}

fn summary(store: &Store, rec: &ContainerRecord, cfg: &ContainerConfig) -> ContainerSummary {
    let health = crate::inspect::health_of(store.root(), rec, cfg);
    let (mounts, networks) = crate::inspect::mounts_and_networks(store, rec, cfg);
    let created = crate::time::parse(&rec.created)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![format!("/{}", rec.name)]),
        image: Some(cfg.image.clone()),
        image_id: Some(rec.image_id.clone()),
        command: Some(command_line(cfg)),
        created,
        ports: Some(ports(cfg)),
        labels: Some(cfg.labels.clone().into_iter().collect()),
        state: Some(state(rec.state)),
        status: Some(status(rec, health.as_ref())),
        host_config: Some(ContainerSummaryHostConfig { network_mode: Some(cfg.network.clone()), annotations: None }),
        network_settings: Some(ContainerSummaryNetworkSettings { networks: Some(networks) }),
        mounts: Some(mounts),
        health: health.map(|h| ContainerSummaryHealth {
            status: Some(health_status(&h.status)),
            failing_streak: Some(h.failing_streak.into()),
        }),
        ..ContainerSummary::default()
    }
}

/// The command as docker's daemon lists it: arguments with a space in
/// single quotes.
fn command_line(cfg: &ContainerConfig) -> String {
    let quoted = |a: &String| if a.contains(' ') { format!("'{a}'") } else { a.clone() };
    cfg.entrypoint.iter().chain(cfg.cmd.iter()).map(quoted).collect::<Vec<_>>().join(" ")
}

/// The published ports, then the exposed ones published nowhere (on a
/// network of its own: the host's and none have no port map).
fn ports(cfg: &ContainerConfig) -> Vec<PortSummary> {
    let typ = |p: &str| match p {
        "udp" => PortSummaryTypeEnum::UDP,
        "sctp" => PortSummaryTypeEnum::SCTP,
        _ => PortSummaryTypeEnum::TCP,
    };
    let mut out: Vec<PortSummary> = Vec::new();
    for m in cfg.ports.iter().flat_map(|p| network::parse_ports(p).unwrap_or_default()) {
        out.push(PortSummary {
            ip: Some(m.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string()),
            private_port: m.container_port,
            public_port: Some(m.host_port),
            typ: Some(typ(&m.proto)),
        });
    }
    if matches!(cfg.network.as_str(), "host" | "none") || cfg.network.starts_with("container:") {
        return out;
    }
    for e in &cfg.exposed {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let Ok(port) = port.parse::<u16>() else { continue };
        if !out.iter().any(|p| p.private_port == port && p.typ == Some(typ(proto))) {
            out.push(PortSummary { ip: None, private_port: port, public_port: None, typ: Some(typ(proto)) });
        }
    }
    out
}

fn state(s: ContainerState) -> ContainerSummaryStateEnum {
    match s {
        ContainerState::Created => ContainerSummaryStateEnum::CREATED,
        ContainerState::Running => ContainerSummaryStateEnum::RUNNING,
        ContainerState::Paused => ContainerSummaryStateEnum::PAUSED,
        ContainerState::Restarting => ContainerSummaryStateEnum::RESTARTING,
        ContainerState::Removing => ContainerSummaryStateEnum::REMOVING,
        // The API's enum has no `dead`; docker lists such a container as
        // exited.
        ContainerState::Exited | ContainerState::Dead => ContainerSummaryStateEnum::EXITED,
    }
}

fn health_status(s: &str) -> ContainerSummaryHealthStatusEnum {
    match s {
        "starting" => ContainerSummaryHealthStatusEnum::STARTING,
        "healthy" => ContainerSummaryHealthStatusEnum::HEALTHY,
        "unhealthy" => ContainerSummaryHealthStatusEnum::UNHEALTHY,
        _ => ContainerSummaryHealthStatusEnum::NONE,
    }
}

/// docker's `Up 5 seconds`, `Up 2 minutes (healthy)`, `Exited (0) 3
/// minutes ago`, `Created`.
pub fn status(rec: &ContainerRecord, health: Option<&Health>) -> String {
    let since = |t: &str| crate::time::parse(t).map(crate::time::since).map(crate::time::human_duration);
    match rec.state {
        ContainerState::Running | ContainerState::Paused => {
            let up = since(&rec.started).unwrap_or_default();
            match health {
                _ if rec.state == ContainerState::Paused => format!("Up {up} (Paused)"),
                Some(h) if h.status == "starting" => format!("Up {up} (health: starting)"),
                Some(h) => format!("Up {up} ({})", h.status),
                None => format!("Up {up}"),
            }
        }
        ContainerState::Exited => {
            format!("Exited ({}) {} ago", rec.exit_code, since(&rec.finished).unwrap_or_default())
        }
        ContainerState::Created => "Created".into(),
        other => other.as_str().to_owned(),
    }
}

/// The filters, checked before anything is listed, as docker's daemon
/// does (so a bad one is refused when no container would be tested).
fn check_filters(filters: &[String]) -> Result<()> {
    const KEYS: [&str; 7] = ["status", "name", "id", "label", "ancestor", "exited", "health"];
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| Error::invalid("bad format of filter (expected name=value)"))?;
        if !KEYS.contains(&k) {
            return Err(Error::invalid(format!("Invalid filter '{k}'")));
        }
        if k == "status" && !ContainerState::ALL.iter().any(|s| s.as_str() == v) {
            return Err(Error::invalid(format!("Invalid filter 'status={v}'")));
        }
        if k == "health" && !["starting", "healthy", "unhealthy", "none"].contains(&v) {
            return Err(Error::invalid(format!("Unrecognised filter value for health: {v}")));
        }
    }
    Ok(())
}

fn matches(rec: &ContainerRecord, cfg: &ContainerConfig, filter: &str, store: &Store) -> Result<bool> {
    let (k, v) = filter.split_once('=').ok_or_else(|| Error::invalid("bad format of filter (expected name=value)"))?;
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
        "health" => crate::inspect::health_of(store.root(), rec, cfg).map_or("none".to_owned(), |h| h.status) == v,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_refused_up_front_as_docker_does() {
        let f = |s: &str| check_filters(&[s.to_owned()]).map_err(|e| e.to_string());
        assert_eq!(f("status=bogus"), Err("Invalid filter 'status=bogus'".into()));
        assert_eq!(f("bogus=1"), Err("Invalid filter 'bogus'".into()));
        assert!(f("health=sick").is_err() && f("nofilter").is_err());
        for ok in ["status=exited", "status=running", "name=x", "label=a=b", "health=none", "exited=0"] {
            assert_eq!(f(ok), Ok(()), "{ok}");
        }
    }
}
