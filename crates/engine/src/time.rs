//! Times as the store keeps them (RFC 3339 text).

use std::time::SystemTime;

/// An RFC 3339 time, with or without fractional seconds and offset.
pub fn parse(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('+').next()?)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// docker's `units.HumanDuration`: `Less than a second`, `5 seconds`,
/// `About a minute`, `3 hours`, `2 weeks`...
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if (h as f64 + 0.5) as u64 == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// How long ago `t` was, from now.
pub fn since(t: SystemTime) -> std::time::Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// A time as docker writes one to the second (`2024-01-02T03:04:05Z`).
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A prune's filters, as docker takes them: `until=` (a Go duration
/// before now, or a timestamp) and `label=K`, `label=K=V`, `label!=K`,
/// `label!=K=V`.
#[derive(Debug, Clone, Default)]
pub struct PruneFilter {
    pub until: Option<SystemTime>,
    /// (key, value if given, wanted): `label!=` does not want a match.
    labels: Vec<(String, Option<String>, bool)>,
}

impl PruneFilter {
    pub fn parse(filters: &[String]) -> crate::Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for given in filters {
            match given.split_once('=') {
                Some(("until", v)) => f.until = Some(until(v)?),
                Some(("label", v)) => f.labels.push(label(v, true)),
                Some(("label!", v)) => f.labels.push(label(v, false)),
                _ => {
                    let key = given.split_once('=').map_or(given.as_str(), |(k, _)| k);
                    return Err(crate::Error::invalid(format!("Invalid filter '{key}'")));
                }
            }
        }
        Ok(f)
    }

    /// Whether an object with these labels, created at `created`
    /// (RFC 3339), may go.
    pub fn lets_go(&self, labels: &std::collections::BTreeMap<String, String>, created: &str) -> bool {
        if self.until.is_some_and(|u| parse(created).is_none_or(|c| c >= u)) {
            return false;
        }
        self.labels.iter().all(|(k, v, wanted)| {
            let has = labels.get(k).is_some_and(|have| v.as_ref().is_none_or(|v| v == have));
            has == *wanted
        })
    }
}

fn label(v: &str, wanted: bool) -> (String, Option<String>, bool) {
    match v.split_once('=') {
        Some((k, val)) => (k.to_owned(), Some(val.to_owned()), wanted),
        None => (v.to_owned(), None, wanted),
    }
}

/// `until=V`: a Go duration before now, a timestamp, or Unix seconds.
fn until(v: &str) -> crate::Result<SystemTime> {
    match dockerfile::instructions::parse_duration(v) {
        Ok(ns) => Ok(SystemTime::now() - std::time::Duration::from_nanos(ns)),
        Err(_) => parse(v)
            .or_else(|| {
                v.parse::<f64>()
                    .ok()
                    .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0)))
            })
            .ok_or_else(|| crate::Error::invalid(format!("invalid filter 'until={v}': not a duration or timestamp"))),
    }
}

/// `until=` alone (the build cache has no labels).
pub fn prune_cutoff(filters: &[String]) -> crate::Result<Option<SystemTime>> {
    if let Some(f) = filters.iter().find(|f| !f.starts_with("until=")) {
        return Err(crate::Error::invalid(format!("invalid filter '{f}' (supported: until)")));
    }
    Ok(PruneFilter::parse(filters)?.until)
}

#[cfg(test)]
mod prune_filter_tests {
    use super::*;

    #[test]
    fn labels_and_until_decide_as_dockers_prune_filters() {
        let f = |given: &[&str]| PruneFilter::parse(&given.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let labels: std::collections::BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        let old = "2020-01-01T00:00:00Z";
        assert!(f(&["label=team"]).expect("parses").lets_go(&labels, old));
        assert!(f(&["label=team=a"]).expect("parses").lets_go(&labels, old));
        assert!(!f(&["label=team=b"]).expect("parses").lets_go(&labels, old));
        assert!(!f(&["label!=team"]).expect("parses").lets_go(&labels, old));
        assert!(f(&["label!=team=b"]).expect("parses").lets_go(&labels, old));
        assert!(!f(&["until=2019-01-01T00:00:00Z"]).expect("parses").lets_go(&labels, old));
        assert!(f(&["until=1h", "label=team"]).expect("parses").lets_go(&labels, old));
        assert_eq!(f(&["bogus=1"]).expect_err("refused").to_string(), "Invalid filter 'bogus'");
    }
}
