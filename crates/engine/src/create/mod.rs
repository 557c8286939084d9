//! `create`: the Engine API's create body (container config, host config,
//! networking config), over the image's config, into a container: its
//! record, its overlay rootfs and its OCI bundle. The CLI turns `run` and
//! `create` flags into this body as docker's CLI does; the API server
//! takes it off the wire.

mod check;
mod mounts;
pub(crate) mod options;
mod resolv;

use std::collections::BTreeMap;

use serde_json::Value;
use store::Store;

use crate::api::{ContainerCreateBody, EndpointSettings, HostConfig};
use crate::container::{ContainerConfig, RestartPolicy};
use crate::error::ResultExt;
use crate::{Error, Result};

pub use check::check_name;

/// A create request: the API's body and `?name=`.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub body: ContainerCreateBody,
    /// `?platform=` (`--platform`): the image was asked for this platform,
    /// so one of another architecture is no surprise to warn about.
    pub platform: Option<String>,
}

/// What `create` answers (the API's `ContainerCreateResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    /// docker's warnings: limits this host cannot apply, an image of
    /// another platform.
    pub warnings: Vec<String>,
}

/// The request, checked, with defaults filled in.
#[derive(Debug, Clone, Default)]
struct Checked {
    body: ContainerCreateBody,
    hc: HostConfig,
    /// `bridge`, `host`, `none`, `container:X` or a user network.
    network: String,
    /// The endpoint settings for `network` (aliases, IP, MAC).
    endpoint: EndpointSettings,
    restart: RestartPolicy,
    log: crate::logging::LogConfig,
    ip: Option<std::net::Ipv4Addr>,
    mac: Option<String>,
}

/// The image's config (`config` of its config blob), what the container
/// starts from.
struct ImageConfig(Value);

impl ImageConfig {
    fn strings(&self, key: &str) -> Vec<String> {
        self.0[key]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    fn string(&self, key: &str) -> Option<String> {
        self.0[key].as_str().map(str::to_owned)
    }

    fn keys(&self, key: &str) -> Vec<String> {
        self.0[key].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

/// Creates a container from `req`. The image must be in the store (the
/// CLI pulls first, as docker's does).
/// Held while a container's host ports are picked and recorded.
fn ports_lock() -> Result<store::Lock> {
    let dir = paths::ensure_run_dir()?;
    Ok(store::Lock::acquire(&dir.join("ports.lock"), true)?)
}

pub fn create(store: &mut Store, req: &CreateRequest) -> Result<Created> {
    let checked = check::check(req)?;
    let image_ref = checked.body.image.clone().unwrap_or_default();
    let platform = req.platform.clone().unwrap_or_else(|| builder::host_platform().spec());
    let image = crate::manifests::resolve(store, &image_ref, &platform)?
        .ok_or_else(|| Error::not_found(format!("No such image: {image_ref}")))?;
    let blob: Value = serde_json::from_slice(&store.config_bytes(&image)?).ctx("image config")?;
    let mut warnings = foreign_platform(&blob).filter(|_| req.platform.is_none()).into_iter().collect::<Vec<_>>();
    // Another architecture's image runs under emulation, set up now.
    let arch = blob["architecture"].as_str().unwrap_or_default();
    runtime::emulation::ensure(arch, builder::config::host_arch()).map_err(|e| Error::unsupported(e.to_string()))?;
    let image_config = ImageConfig(blob.get("config").cloned().unwrap_or(Value::Null));
    let (entrypoint, cmd) = entry_and_cmd(&image_config, &checked.body);
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    let id = crate::files::random_hex(32)?;
    match &req.name {
        Some(n) => store.add_container(&id, n, &image)?,
        None => add_named_at_random(store, &id, &image)?,
    }
    let made = Container { id: &id, image: &image, config: &image_config, entrypoint, cmd };
    // Host ports are picked, checked against the other containers' and
    // recorded under one host-wide lock: two creates at once picked the
    // same free port, and the second failed ("port is already allocated").
    let _ports = ports_lock()?;
    match options::prepare(store, &checked, &made, &mut warnings) {
        Ok(record) => {
            store.set_container_config(&id, &serde_json::to_string(&record)?)?;
            if record.log.driver != "none" {
                // The log exists from the creation: a reader that comes
                // before the first line (docker-py's `run` asks for the
                // logs, then waits, then removes) follows the very file
                // the monitor appends to, even once it is removed.
                let log = crate::Layout::new(store.root()).container(&id).log();
                std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
            }
        }
        Err(e) => {
            let _ = crate::monitor::remove_files(store, &id);
            return Err(e);
        }
    }
    crate::events::container(store.root(), "create", &store.container(&id)?, &[]);
    Ok(Created { id, warnings })
}

/// The container being made.
struct Container<'a> {
    id: &'a str,
    image: &'a image::Digest,
    config: &'a ImageConfig,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

/// Adds container `id` under a random docker-style name; after
/// `names::ATTEMPTS` names in use, under its short ID, as docker does.
fn add_named_at_random(store: &mut Store, id: &str, image: &image::Digest) -> Result<()> {
    for attempt in 0..crate::names::ATTEMPTS {
        let seed = u64::from_str_radix(&crate::files::random_hex(8)?, 16).unwrap_or_default();
        match store.add_container(id, &crate::names::generate(seed, attempt), image) {
            Err(store::StoreError::Conflict(_)) => continue,
            other => return Ok(other?),
        }
    }
    Ok(store.add_container(id, &id[..12], image)?)
}

/// The argv, by docker's rule: an Entrypoint given replaces the image's
/// and drops its Cmd (`[""]` is "no entrypoint"); a Cmd given replaces
/// the image's.
fn entry_and_cmd(image: &ImageConfig, body: &ContainerCreateBody) -> (Vec<String>, Vec<String>) {
    let mut entry = image.strings("Entrypoint");
    let mut cmd = image.strings("Cmd");
    if let Some(e) = &body.entrypoint {
        entry = e.iter().filter(|a| !a.is_empty() || e.len() > 1).cloned().collect();
        cmd.clear();
    }
    if let Some(c) = body.cmd.as_ref().filter(|c| !c.is_empty()) {
        cmd = c.clone();
    }
    (entry, cmd)
}

/// The image's ENV, then the body's (later wins, by name).
fn environment(image: &ImageConfig, given: &[String]) -> Vec<String> {
    let mut env = image.strings("Env");
    for e in given {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

/// The image's labels, then the body's.
fn labels(image: &ImageConfig, body: &ContainerCreateBody) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = image.0["Labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    labels.extend(body.labels.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

/// docker's warning for an image of another platform (pulled with
/// `--platform`): it is run anyway, and fails as the kernel decides.
fn foreign_platform(blob: &Value) -> Option<String> {
    let field = |k: &str| blob[k].as_str().unwrap_or_default();
    let (os, arch) = (field("os"), field("architecture"));
    let host = builder::config::host_arch();
    ((!os.is_empty() && os != "linux") || (!arch.is_empty() && arch != host)).then(|| {
        format!("The requested image's platform ({os}/{arch}) does not match the detected host platform (linux/{host}) and no specific platform was requested")
    })
}

/// The container's health check: the body's over the image's, field by
/// field, as docker's daemon merges them.
fn health(image: &ImageConfig, body: &ContainerCreateBody) -> Option<crate::health::HealthConfig> {
    let base: Option<crate::health::HealthConfig> = serde_json::from_value(image.0["Healthcheck"].clone()).ok();
    let Some(given) = &body.healthcheck else { return base };
    let base = base.unwrap_or_default();
    let ns = |v: Option<i64>, image: u64| v.filter(|v| *v > 0).map_or(image, |v| v as u64);
    let test = given.test.clone().filter(|t| !t.is_empty()).unwrap_or(base.test);
    Some(crate::health::HealthConfig {
        test,
        interval: ns(given.interval, base.interval),
        timeout: ns(given.timeout, base.timeout),
        start_period: ns(given.start_period, base.start_period),
        start_interval: ns(given.start_interval, base.start_interval),
        retries: given.retries.filter(|r| *r > 0).map_or(base.retries, |r| r as u32),
    })
}

/// The record's model of the container, from the request and what
/// `prepare` decided.
fn record(c: &Checked, made: &Container, image: &ImageConfig) -> ContainerConfig {
    let (body, hc) = (&c.body, &c.hc);
    let strings = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    ContainerConfig {
        image: body.image.clone().unwrap_or_default(),
        entrypoint: made.entrypoint.clone(),
        cmd: made.cmd.clone(),
        env: environment(image, body.env.as_deref().unwrap_or_default()),
        group_add: strings(&hc.group_add),
        labels: labels(image, body),
        tty: body.tty.unwrap_or(false),
        open_stdin: body.open_stdin.unwrap_or(false),
        auto_remove: hc.auto_remove.unwrap_or(false),
        restart: c.restart.clone(),
        stop_timeout: body.stop_timeout,
        runtime: hc.runtime.clone().filter(|r| !r.is_empty()).map(Into::into),
        network: c.network.clone(),
        binds: strings(&hc.binds),
        tmpfs: tmpfs_list(hc),
        aliases: strings(&c.endpoint.aliases),
        extra_hosts: strings(&hc.extra_hosts),
        health: health(image, body),
        ipc: hc.ipc_mode.clone().unwrap_or_default(),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
        ip: c.ip,
        volumes_from: strings(&hc.volumes_from),
        cgroup_parent: hc.cgroup_parent.clone().unwrap_or_default(),
        mac_address: c.mac.clone(),
        log: c.log.clone(),
        request: Some(Box::new(ContainerCreateBody { host_config: Some(hc.clone()), ..body.clone() })),
        ..ContainerConfig::default()
    }
}

/// `HostConfig.Tmpfs` as `PATH[:OPTIONS]`, by path.
fn tmpfs_list(hc: &HostConfig) -> Vec<String> {
    let sorted: BTreeMap<&String, &String> = hc.tmpfs.iter().flatten().collect();
    sorted.into_iter().map(|(p, o)| if o.is_empty() { p.clone() } else { format!("{p}:{o}") }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::HealthConfig;

    fn image(v: Value) -> ImageConfig {
        ImageConfig(v)
    }

    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let img = image(serde_json::json!({"Entrypoint": ["/e"], "Cmd": ["c"]}));
        let body = |e: Option<&[&str]>, c: Option<&[&str]>| ContainerCreateBody {
            entrypoint: e.map(|e| e.iter().map(|s| s.to_string()).collect()),
            cmd: c.map(|c| c.iter().map(|s| s.to_string()).collect()),
            ..ContainerCreateBody::default()
        };
        assert_eq!(entry_and_cmd(&img, &body(None, None)), (vec!["/e".into()], vec!["c".into()]));
        assert_eq!(entry_and_cmd(&img, &body(None, Some(&["x"]))), (vec!["/e".into()], vec!["x".into()]));
        assert_eq!(entry_and_cmd(&img, &body(Some(&["sh"]), None)), (vec!["sh".into()], vec![]));
        assert_eq!(entry_and_cmd(&img, &body(Some(&[""]), Some(&["ls"]))), (vec![], vec!["ls".into()]));
    }

    #[test]
    fn env_and_labels_take_the_image_then_the_body() {
        let img = image(serde_json::json!({"Env": ["A=1", "PATH=/bin"], "Labels": {"a": "1", "b": "2"}}));
        assert_eq!(environment(&img, &["A=2".into(), "C=3".into()]), ["PATH=/bin", "A=2", "C=3"]);
        let body = ContainerCreateBody {
            labels: Some([("b".to_owned(), "x".to_owned())].into_iter().collect()),
            ..ContainerCreateBody::default()
        };
        let l = labels(&img, &body);
        assert_eq!((l["a"].as_str(), l["b"].as_str()), ("1", "x"));
    }

    #[test]
    fn health_merges_field_by_field() {
        let img = image(serde_json::json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2}}));
        let none = ContainerCreateBody::default();
        assert_eq!(health(&img, &none).map(|h| h.interval), Some(5));
        let given = ContainerCreateBody {
            healthcheck: Some(HealthConfig { timeout: Some(7), ..HealthConfig::default() }),
            ..ContainerCreateBody::default()
        };
        let h = health(&img, &given).expect("a check");
        assert_eq!((h.test, h.interval, h.timeout, h.retries), (vec!["CMD".into(), "true".into()], 5, 7, 2));
    }
}
