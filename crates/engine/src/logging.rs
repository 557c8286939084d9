//! How a container's output is logged: docker's `--log-driver` and
//! `--log-opt` (the json-file driver with its rotation, or none).

use std::collections::BTreeMap;

use runtime::logs::Rotation;
use serde::{Deserialize, Serialize};

/// How a container's output is logged (`HostConfig.LogConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file` (docker's default) or `none`.
    pub driver: String,
    pub opts: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { driver: "json-file".into(), opts: BTreeMap::new() }
    }
}

/// The options docker's json-file driver takes.
const JSON_FILE_OPTS: &[&str] =
    &["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"];

impl LogConfig {
    /// `--log-driver` and `--log-opt KEY=VALUE`, checked as docker's
    /// drivers check them.
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, String> {
        let mut map = BTreeMap::new();
        for o in opts {
            let (k, v) =
                o.split_once('=').ok_or_else(|| format!("invalid key value pair format in logging opts: {o}"))?;
            map.insert(k.to_owned(), v.to_owned());
        }
        LogConfig::checked(driver.unwrap_or("json-file"), map)
    }

    /// A driver and its options (the API's `HostConfig.LogConfig`; an
    /// empty driver is docker's default), checked as docker's drivers
    /// check them.
    pub fn checked(driver: &str, map: BTreeMap<String, String>) -> Result<LogConfig, String> {
        let driver = if driver.is_empty() { "json-file" } else { driver }.to_owned();
        let known: &[&str] = match driver.as_str() {
            "json-file" => JSON_FILE_OPTS,
            "none" => &[],
            other => return Err(format!("logger: no log driver named '{other}' is registered")),
        };
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown log opt '{k}' for {driver} log driver"));
        }
        for k in ["labels-regex", "env-regex"] {
            if let Some(re) = map.get(k) {
                regex::Regex::new(re).map_err(|e| {
                    // regex's message ends with the reason, after the
                    // pattern drawn with a caret.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_owned();
                    format!("failed to initialize logging driver: error parsing regexp: {why}: `{re}`")
                })?;
            }
        }
        let cfg = LogConfig { driver, opts: map };
        cfg.rotation()?;
        Ok(cfg)
    }

    /// `max-size` and `max-file`, with docker's rules.
    pub fn rotation(&self) -> Result<Rotation, String> {
        let max_size = match self.opts.get("max-size") {
            Some(s) => {
                let n = human_size(s).ok_or_else(|| format!("invalid size: '{s}'"))?;
                if n <= 0.0 {
                    return Err("max-size must be a positive number".into());
                }
                Some(n as u64)
            }
            None => None,
        };
        let max_file = match self.opts.get("max-file") {
            Some(s) => {
                let n: i64 = s.parse().map_err(|_| format!("invalid value for max-file: {s}"))?;
                if n < 1 {
                    return Err("max-file cannot be less than 1".into());
                }
                n as u32
            }
            None => 1,
        };
        let compress = match self.opts.get("compress") {
            Some(c) => go_bool(c).ok_or_else(|| format!("strconv.ParseBool: parsing \"{c}\": invalid syntax"))?,
            None => false,
        };
        if compress && (max_file == 1 || max_size.is_none()) {
            return Err("compress cannot be true when max-file is less than 2 or max-size is not set".into());
        }
        Ok(Rotation { max_size, max_file, compress })
    }
}

/// Go's `strconv.ParseBool`, which docker reads `compress` with.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// docker's `units.FromHumanSize`, which max-size is read with: decimal
/// units (`10m` is 10,000,000 bytes), unlike `--memory`'s binary ones.
fn human_size(s: &str) -> Option<f64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
    let exp = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    Some(n * 1000f64.powi(exp))
}

/// What `logs` reads: the last `tail` entries (all when None), within
/// `since..=until`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub tail: Option<usize>,
    pub since: Option<std::time::SystemTime>,
    pub until: Option<std::time::SystemTime>,
    /// `--details`: each line after the attributes the container's
    /// `--log-opt labels=`/`env=` name (`K=V,...`, sorted) and a space.
    pub details: bool,
}

/// A container's json-file log, read and then followed.
pub struct LogReader {
    id: String,
    follower: runtime::logs::Follower,
    opts: LogsOptions,
    done: bool,
    /// The `--details` prefix: attributes and a space.
    details: String,
}

/// The attributes docker's json-file driver adds to each line of a
/// container with `--log-opt labels=K,...` / `env=K,...` (those of its
/// labels and environment variables that are set, by name) and
/// `labels-regex=RE` / `env-regex=RE` (those whose name the expression
/// matches anywhere, as Go's `MatchString`).
fn detail_attrs(cfg: &crate::container::ContainerConfig) -> String {
    let env: BTreeMap<&str, &str> = cfg.env.iter().filter_map(|e| e.split_once('=')).collect();
    let labels: BTreeMap<&str, &str> = cfg.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut attrs = BTreeMap::new();
    for (opt, from) in [("labels", &labels), ("env", &env)] {
        for k in cfg.log.opts.get(opt).into_iter().flat_map(|v| v.split(',')) {
            if let Some(v) = from.get(k) {
                attrs.insert(k.to_owned(), v.to_string());
            }
        }
        let re = cfg.log.opts.get(&format!("{opt}-regex")).and_then(|r| regex::Regex::new(r).ok());
        for (k, v) in from.iter().filter(|(k, _)| re.as_ref().is_some_and(|re| re.is_match(k))) {
            attrs.insert(k.to_string(), v.to_string());
        }
    }
    attrs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

impl LogReader {
    /// The log of the container `key` names, and what it has so far.
    pub fn open(store: &mut store::Store, key: &str, opts: LogsOptions) -> crate::Result<(LogReader, Vec<Entry>)> {
        let rec = crate::lifecycle::lookup(store, key)?;
        let cfg = crate::container::load_config(&rec);
        if cfg.log.driver == "none" {
            return Err(crate::Error::invalid("configured logging driver does not support reading"));
        }
        let details = if opts.details { format!("{} ", detail_attrs(&cfg)) } else { String::new() };
        let path = crate::Layout::new(store.root()).container(&rec.id).log();
        let (mut entries, offset) = runtime::logs::read_all(&path)?;
        if let Some(n) = opts.tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        let reader =
            LogReader { id: rec.id, follower: runtime::logs::Follower::new(&path, offset), opts, done: false, details };
        let entries = reader.within(entries);
        Ok((reader, entries))
    }

    fn within(&self, entries: Vec<Entry>) -> Vec<Entry> {
        let (since, until) = (self.opts.since, self.opts.until);
        entries
            .into_iter()
            .filter(|e| {
                let t = crate::time::parse(&e.time);
                !(since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)))
            })
            .map(|mut e| {
                if self.opts.details {
                    e.log.insert_str(0, &self.details);
                }
                e
            })
            .collect()
    }

    /// Whether the container stopped and its last lines were read.
    pub fn finished(&self) -> bool {
        self.done
    }

    /// The entries written since the last call; after the container
    /// stopped (or went), its last ones, and `finished` turns true.
    pub fn next_batch(&mut self, store: &mut store::Store) -> crate::Result<Vec<Entry>> {
        let mut more = self.follower.read_new()?;
        let running = match store.container(&self.id) {
            Ok(r) => crate::lifecycle::refresh(store, r)?.state.is_live_or_restarting(),
            Err(_) => false,
        };
        if more.is_empty() && !running {
            more = self.follower.read_new()?;
            self.done = true;
        }
        Ok(self.within(more))
    }
}

pub use runtime::logs::Entry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_opts_are_checked_as_docker_checks_them() {
        let parse =
            |d: Option<&str>, o: &[&str]| LogConfig::parse(d, &o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let r = parse(None, &["max-size=10m", "max-file=3"]).and_then(|c| c.rotation());
        assert_eq!(r, Ok(Rotation { max_size: Some(10_000_000), max_file: 3, compress: false }));
        let r = parse(None, &["max-size=1k", "max-file=2", "compress=True"]).and_then(|c| c.rotation());
        assert_eq!(r, Ok(Rotation { max_size: Some(1000), max_file: 2, compress: true }));
        assert_eq!(parse(Some("syslogd"), &[]), Err("logger: no log driver named 'syslogd' is registered".into()));
        assert_eq!(parse(None, &["max-sise=1m"]), Err("unknown log opt 'max-sise' for json-file log driver".into()));
        assert_eq!(parse(Some("none"), &["max-size=1m"]), Err("unknown log opt 'max-size' for none log driver".into()));
        assert_eq!(parse(None, &["max-file=0"]), Err("max-file cannot be less than 1".into()));
        assert_eq!(parse(None, &["max-size=0"]), Err("max-size must be a positive number".into()));
        assert_eq!(parse(None, &["max-size=lots"]), Err("invalid size: 'lots'".into()));
        assert_eq!(human_size("1.5k"), Some(1500.0));
        assert_eq!(human_size("2MB"), Some(2e6));
    }
}
