//! docker's event stream, without a daemon. Each command, and each
//! container's monitor, appends what it did to `ROOT/events.jsonl`: one
//! JSON object a line, in a single O_APPEND write, so lines from several
//! processes never interleave. [`EventReader`] reads those in a window
//! and follows the file.
//! The file is cut to its newer half when it passes 4 MiB (an event that
//! another process appends while the cut is being made can be lost: the
//! log is a record for people, not a journal the store depends on).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use runtime::logs::Follower;
use serde::{Deserialize, Serialize};

use crate::{Error, Layout, Result};

const MAX_LOG: u64 = 4 << 20;

/// One event, in docker's JSON shape (`status`/`id`/`from` are the API's
/// older names, kept as docker does).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

fn log_path(root: &Path) -> PathBuf {
    Layout::new(root).events_log()
}

/// Records that `typ` object `id` had `action` done to it. Best effort:
/// an event that cannot be written never fails the command.
pub fn emit(root: &Path, typ: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64;
    let attributes: BTreeMap<String, String> =
        attributes.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    // docker fills the old fields for containers and images only.
    let legacy = matches!(typ, "container" | "image");
    let event = Event {
        status: if legacy { action.to_owned() } else { String::new() },
        id: if legacy { id.to_owned() } else { String::new() },
        from: if typ == "container" { attributes.get("image").cloned().unwrap_or_default() } else { String::new() },
        typ: typ.to_owned(),
        action: action.to_owned(),
        actor: Actor { id: id.to_owned(), attributes },
        scope: "local".into(),
        time: nanos / 1_000_000_000,
        time_nano: nanos,
    };
    let _ = append(&log_path(root), &event);
}

/// `emit` for a container, with docker's attributes: image, name, labels.
pub fn container(root: &Path, action: &str, rec: &store::ContainerRecord, extra: &[(&str, &str)]) {
    container_with(root, action, rec, &crate::container::load_config(rec), extra);
}

/// [`container`] with its configuration already read (the monitor's
/// start and exit, which should not parse it again).
pub fn container_with(
    root: &Path,
    action: &str,
    rec: &store::ContainerRecord,
    cfg: &crate::container::ContainerConfig,
    extra: &[(&str, &str)],
) {
    let mut attrs: Vec<(&str, &str)> = cfg.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    attrs.extend([("image", cfg.image.as_str()), ("name", rec.name.as_str())]);
    attrs.extend_from_slice(extra);
    emit(root, "container", action, &rec.id, &attrs);
}

fn append(path: &Path, event: &Event) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(&line)?;
    if f.metadata()?.len() > MAX_LOG {
        trim(path)?;
    }
    Ok(())
}

/// Keeps the newer half of the log (a new file renamed over the old:
/// readers that follow the old one see its inode change).
fn trim(path: &Path) -> std::io::Result<()> {
    let text = std::fs::read(path)?;
    let half = text.len() / 2;
    let start = text[half..].iter().position(|b| *b == b'\n').map_or(text.len(), |p| half + p + 1);
    crate::files::replace(path, &text[start..])
}

/// The `--filter`s: the same key ORs, different keys AND, as docker's.
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// `KEY=VALUE` specs, as docker's `--filter`.
    pub fn parse(specs: &[String]) -> Result<Filters> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in specs {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("bad format of filter (expected name=value): {f}")))?;
            if !["type", "event", "container", "image", "label", "network", "volume"].contains(&k) {
                return Err(Error::invalid(format!("Invalid filter '{k}'")));
            }
            m.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        Ok(Filters(m))
    }

    pub fn keep(&self, e: &Event) -> bool {
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
        self.0.iter().all(|(k, wanted)| {
            wanted.iter().any(|w| match k.as_str() {
                "type" => e.typ == *w,
                "event" => e.action == *w || e.action.split(':').next() == Some(w.as_str()),
                "container" => e.typ == "container" && (e.actor.id.starts_with(w.as_str()) || attr("name") == w),
                "image" => attr("image") == w || (e.typ == "image" && (e.actor.id == *w || attr("name") == w)),
                "network" => e.typ == "network" && (e.actor.id.starts_with(w.as_str()) || attr("name") == w),
                "volume" => e.typ == "volume" && e.actor.id == *w,
                _ => match w.split_once('=') {
                    Some((lk, lv)) => attr(lk) == lv,
                    None => e.actor.attributes.contains_key(w),
                },
            })
        })
    }
}

/// The events log read from a point, for `events`: what is there, then
/// what is appended (follow it by calling [`EventReader::next_batch`]
/// again).
pub struct EventReader {
    follower: Follower,
    since: Option<i64>,
    until: Option<i64>,
    filters: Filters,
    done: bool,
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64
}

impl EventReader {
    /// Events in `since..=until` (nanoseconds) that pass `filters`; with
    /// neither bound, only those that happen from now on (docker's
    /// default).
    pub fn open(root: &Path, since: Option<i64>, until: Option<i64>, filters: Filters) -> EventReader {
        let path = log_path(root);
        let end = std::fs::metadata(&path).map_or(0, |m| m.len());
        let start = if since.is_none() && until.is_none() { end } else { 0 };
        EventReader { follower: Follower::new(&path, start), since, until, filters, done: false }
    }

    /// Whether `until` has passed: no more events will come.
    pub fn finished(&self) -> bool {
        self.done || self.until.is_some_and(|u| now_nanos() > u)
    }

    /// The matching events written since the last call.
    pub fn next_batch(&mut self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for e in self.follower.read_new::<Event>()? {
            if self.since.is_some_and(|s| e.time_nano < s) || !self.filters.keep(&e) {
                continue;
            }
            if self.until.is_some_and(|u| e.time_nano > u) {
                self.done = true;
                break;
            }
            out.push(e);
        }
        Ok(out)
    }
}

/// `emit` with an image's docker attributes (`name`).
pub fn image(root: &Path, action: &str, id: &str, name: &str) {
    emit(root, "image", action, id, &[("name", name)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(typ: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            status: String::new(),
            id: String::new(),
            from: String::new(),
            typ: typ.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            },
            scope: "local".into(),
            time: 1,
            time_nano: 1_000_000_001,
        }
    }

    #[test]
    fn filters_or_within_a_key_and_and_across_keys() {
        let die = event("container", "die", "abc123", &[("name", "web"), ("image", "bb"), ("tier", "front")]);
        let pull = event("image", "pull", "bb:latest", &[("name", "bb")]);
        let f =
            |specs: &[&str]| Filters::parse(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parses");
        assert!(f(&["type=container", "event=die"]).keep(&die));
        assert!(!f(&["type=container", "event=start"]).keep(&die));
        assert!(f(&["event=start", "event=die"]).keep(&die));
        assert!(f(&["container=web"]).keep(&die) && f(&["container=abc"]).keep(&die));
        assert!(!f(&["container=web"]).keep(&pull));
        assert!(f(&["image=bb"]).keep(&die) && f(&["image=bb"]).keep(&pull));
        assert!(f(&["label=tier=front"]).keep(&die) && f(&["label=tier"]).keep(&die) && !f(&["label=x"]).keep(&die));
        assert!(Filters::parse(&["bogus=1".into()]).is_err());
        let health = event("container", "health_status: healthy", "abc123", &[]);
        assert!(f(&["event=health_status"]).keep(&health));
    }

    #[test]
    fn the_log_is_followed_across_a_trim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        emit(root, "container", "create", "a", &[]);
        let mut f = Follower::new(&log_path(root), 0);
        assert_eq!(f.read_new::<Event>().expect("reads").len(), 1);
        emit(root, "container", "start", "a", &[("image", "bb")]);
        let got = f.read_new::<Event>().expect("reads");
        assert_eq!((got[0].action.as_str(), got[0].from.as_str()), ("start", "bb"));
        trim(&log_path(root)).expect("trims");
        emit(root, "network", "create", "n", &[]);
        let got: Vec<String> = f.read_new::<Event>().expect("reads").into_iter().map(|e| e.action).collect();
        assert!(got.ends_with(&["create".to_owned()]), "{got:?}");
    }
}
