//! The checks docker's daemon makes of a create request before it touches
//! anything (`verifyContainerSettings` and friends). Pure: unit-tested
//! without root.

use crate::api::{HostConfig, RestartPolicyNameEnum};
use crate::container::RestartPolicy;
use crate::{Error, Result};

use super::{Checked, CreateRequest};

/// Checks `req` and fills in docker's defaults.
pub(super) fn check(req: &CreateRequest) -> Result<Checked> {
    if let Some(n) = &req.name {
        check_name(n)?;
    }
    let body = req.body.clone();
    let hc = body.host_config.clone().unwrap_or_default();
    if body.image.as_deref().unwrap_or_default().is_empty() {
        return Err(Error::invalid("config cannot be empty in order to create a container"));
    }
    let restart = restart_policy(&hc)?;
    if hc.auto_remove == Some(true) && restart.name != "no" {
        return Err(Error::invalid("Conflicting options: --restart and --rm"));
    }
    if let Some(w) = body.working_dir.as_deref().filter(|w| !w.is_empty() && !w.starts_with('/')) {
        return Err(Error::invalid(format!("the working directory '{w}' is invalid, it needs to be an absolute path")));
    }
    // `default` (what docker's CLI sends without --network) is the
    // bridge; the request keeps the word, as docker's inspect shows it.
    let mode = hc.network_mode.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| "default".into());
    let network = if mode == "default" { "bridge".to_owned() } else { mode.clone() };
    let endpoints = body.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref());
    let endpoint = endpoints.and_then(|e| e.get(&network).or_else(|| e.get(&mode))).cloned().unwrap_or_default();
    let ip = match endpoint.ipam_config.as_ref().and_then(|c| c.ipv4_address.as_deref()).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(a.parse().map_err(|_| Error::invalid(format!("invalid IPv4 address: {a}")))?),
    };
    if ip.is_some() && !crate::netglue::is_user_network(&network) {
        return Err(Error::invalid("user specified IP address is supported on user defined networks only"));
    }
    let mac = match endpoint.mac_address.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => {
            let parsed =
                network::parse_mac(m).ok_or_else(|| Error::invalid(format!("{m} is not a valid mac address")))?;
            if matches!(network.as_str(), "host" | "none") || network.starts_with("container:") {
                return Err(Error::invalid("conflicting options: mac-address and the network mode"));
            }
            Some(network::format_mac(parsed))
        }
    };
    check_modes(&body, &hc)?;
    let mut hc = hc;
    hc.cap_add = hc.cap_add.map(|c| c.iter().map(|c| runtime::spec::normalize_cap(c)).collect());
    hc.cap_drop = hc.cap_drop.map(|c| c.iter().map(|c| runtime::spec::normalize_cap(c)).collect());
    let log = log_config(&hc)?;
    check_health(&body)?;
    Ok(Checked { body, hc, network, endpoint, restart, log, ip, mac })
}

/// docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (so two
/// characters at least); a leading `/` is the API's own.
pub fn check_name(name: &str) -> Result<()> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(())
}

fn restart_policy(hc: &HostConfig) -> Result<RestartPolicy> {
    let Some(p) = &hc.restart_policy else { return Ok(RestartPolicy { name: "no".into(), max_retries: 0 }) };
    let max_retries = p.maximum_retry_count.unwrap_or(0);
    let name = match p.name.unwrap_or(RestartPolicyNameEnum::EMPTY) {
        RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO => "no",
        RestartPolicyNameEnum::ALWAYS => "always",
        RestartPolicyNameEnum::UNLESS_STOPPED => "unless-stopped",
        RestartPolicyNameEnum::ON_FAILURE => "on-failure",
    };
    if max_retries < 0 {
        return Err(Error::invalid("invalid restart policy: maximum retry count cannot be negative"));
    }
    if max_retries > 0 && name != "on-failure" {
        return Err(Error::invalid(format!(
            "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
        )));
    }
    Ok(RestartPolicy { name: name.into(), max_retries })
}

/// The namespace modes: docker's words for each.
fn check_modes(body: &crate::api::ContainerCreateBody, hc: &HostConfig) -> Result<()> {
    if hc.uts_mode.as_deref().is_some_and(|m| !m.is_empty() && m != "host") {
        return Err(Error::invalid(format!("invalid UTS mode: {}", hc.uts_mode.as_deref().unwrap_or_default())));
    }
    if hc.uts_mode.as_deref() == Some("host") && body.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
        return Err(Error::invalid("Conflicting options: hostname and the UTS mode"));
    }
    let pid = hc.pid_mode.as_deref().unwrap_or_default();
    if !(pid.is_empty() || pid == "host" || pid.starts_with("container:")) {
        return Err(Error::invalid(format!("invalid PID mode: {pid}")));
    }
    let ipc = hc.ipc_mode.as_deref().unwrap_or_default();
    if !(matches!(ipc, "" | "private" | "shareable" | "none" | "host") || ipc.starts_with("container:")) {
        return Err(Error::invalid(format!("invalid IPC mode: {ipc}")));
    }
    let parent = hc.cgroup_parent.as_deref().unwrap_or_default();
    if parent.split('/').any(|c| c == "..") {
        return Err(Error::invalid(format!("invalid --cgroup-parent: {parent}")));
    }
    Ok(())
}

fn log_config(hc: &HostConfig) -> Result<crate::logging::LogConfig> {
    let given = hc.log_config.clone().unwrap_or_default();
    let opts = given.config.unwrap_or_default().into_iter().collect();
    crate::logging::LogConfig::checked(given.typ.as_deref().unwrap_or_default(), opts).map_err(Error::invalid)
}

/// docker's limits on a health check's times and retries.
fn check_health(body: &crate::api::ContainerCreateBody) -> Result<()> {
    let Some(h) = &body.healthcheck else { return Ok(()) };
    let times = [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ];
    for (field, v) in times {
        let v = v.unwrap_or(0);
        if v < 0 || (v > 0 && (v as u64) < crate::health::MIN_DURATION_NS) {
            return Err(Error::invalid(format!("{field} in Healthcheck cannot be less than 1ms")));
        }
    }
    if h.retries.is_some_and(|r| r < 0) {
        return Err(Error::invalid("Retries in Healthcheck cannot be negative"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ContainerCreateBody, EndpointIpamConfig, EndpointSettings, NetworkingConfig, RestartPolicy as ApiRestart,
    };
    use crate::ErrorKind;

    fn req(hc: HostConfig) -> CreateRequest {
        CreateRequest {
            name: None,
            body: ContainerCreateBody { image: Some("img".into()), host_config: Some(hc), ..Default::default() },
            platform: None,
        }
    }

    fn err(r: &CreateRequest) -> String {
        let e = check(r).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        e.to_string()
    }

    #[test]
    fn defaults_are_dockers() {
        let c = check(&req(HostConfig::default())).expect("accepted");
        assert_eq!((c.network.as_str(), c.restart.name.as_str(), c.log.driver.as_str()), ("bridge", "no", "json-file"));
        let caps = HostConfig {
            cap_add: Some(vec!["net_admin".into(), "CAP_SYS_TIME".into(), "all".into()]),
            ..Default::default()
        };
        assert_eq!(
            check(&req(caps)).expect("accepted").hc.cap_add.expect("accepted"),
            ["CAP_NET_ADMIN", "CAP_SYS_TIME", "ALL"]
        );
    }

    #[test]
    fn names_follow_dockers_pattern() {
        for good in ["ab", "web-1", "a.b_c", "/web"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["a", "-web", "we b", "web/1", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restart_and_auto_remove_conflict() {
        let always = Some(ApiRestart { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None });
        let hc = HostConfig { auto_remove: Some(true), restart_policy: always.clone(), ..Default::default() };
        assert_eq!(err(&req(hc)), "Conflicting options: --restart and --rm");
        let retries = Some(ApiRestart { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: Some(3) });
        assert!(err(&req(HostConfig { restart_policy: retries, ..Default::default() })).contains("maximum retry count"));
        let on_failure =
            Some(ApiRestart { name: Some(RestartPolicyNameEnum::ON_FAILURE), maximum_retry_count: Some(3) });
        let c = check(&req(HostConfig { restart_policy: on_failure, ..Default::default() })).expect("accepted");
        assert_eq!((c.restart.name.as_str(), c.restart.max_retries), ("on-failure", 3));
    }

    #[test]
    fn working_dir_must_be_absolute() {
        let mut r = req(HostConfig::default());
        r.body.working_dir = Some("rel".into());
        assert_eq!(err(&r), "the working directory 'rel' is invalid, it needs to be an absolute path");
    }

    fn on_network(net: &str, endpoint: EndpointSettings) -> CreateRequest {
        let mut r = req(HostConfig { network_mode: Some(net.into()), ..Default::default() });
        r.body.networking_config =
            Some(NetworkingConfig { endpoints_config: Some([(net.to_owned(), endpoint)].into_iter().collect()) });
        r
    }

    #[test]
    fn addresses_need_a_user_network() {
        let ip = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig { ipv4_address: Some("10.1.0.5".into()), ..Default::default() }),
            ..Default::default()
        };
        assert!(err(&on_network("bridge", ip.clone())).contains("user defined networks only"));
        assert_eq!(check(&on_network("mynet", ip)).expect("accepted").ip, Some([10, 1, 0, 5].into()));
        let mac = EndpointSettings { mac_address: Some("02:42:ac:11:00:99".into()), ..Default::default() };
        assert!(err(&on_network("host", mac.clone())).contains("mac-address and the network mode"));
        let bad = EndpointSettings { mac_address: Some("nope".into()), ..Default::default() };
        assert_eq!(err(&on_network("bridge", bad)), "nope is not a valid mac address");
        assert!(check(&on_network("bridge", mac)).is_ok());
    }

    #[test]
    fn modes_and_log_drivers_are_checked() {
        let bad_pid = HostConfig { pid_mode: Some("bogus".into()), ..Default::default() };
        assert_eq!(err(&req(bad_pid)), "invalid PID mode: bogus");
        let bad_uts = HostConfig { uts_mode: Some("x".into()), ..Default::default() };
        assert_eq!(err(&req(bad_uts)), "invalid UTS mode: x");
        let parent = HostConfig { cgroup_parent: Some("a/../b".into()), ..Default::default() };
        assert!(err(&req(parent)).starts_with("invalid --cgroup-parent"));
        let log = HostConfig {
            log_config: Some(crate::api::HostConfigLogConfig { typ: Some("syslog".into()), config: None }),
            ..Default::default()
        };
        assert!(err(&req(log)).contains("no log driver named 'syslog'"));
    }

    #[test]
    fn health_times_have_a_floor() {
        let mut r = req(HostConfig::default());
        r.body.healthcheck = Some(crate::api::HealthConfig { interval: Some(10), ..Default::default() });
        assert_eq!(err(&r), "Interval in Healthcheck cannot be less than 1ms");
        r.body.healthcheck = Some(crate::api::HealthConfig { retries: Some(-1), ..Default::default() });
        assert_eq!(err(&r), "Retries in Healthcheck cannot be negative");
    }
}
