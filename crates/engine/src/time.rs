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

/// `until=` of a prune's filters: a Go duration (`24h`, `90m`) before
/// now, or a timestamp; no other filter is taken.
pub fn prune_cutoff(filters: &[String]) -> crate::Result<Option<SystemTime>> {
    let mut cutoff = None;
    for f in filters {
        match f.split_once('=') {
            Some(("until", v)) => {
                let t = match dockerfile::instructions::parse_duration(v) {
                    Ok(ns) => SystemTime::now() - std::time::Duration::from_nanos(ns),
                    Err(_) => parse(v)
                        .or_else(|| {
                            v.parse::<f64>()
                                .ok()
                                .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0)))
                        })
                        .ok_or_else(|| {
                            crate::Error::invalid(format!("invalid filter 'until={v}': not a duration or timestamp"))
                        })?,
                };
                cutoff = Some(t);
            }
            _ => return Err(crate::Error::invalid(format!("invalid filter '{f}' (supported: until)"))),
        }
    }
    Ok(cutoff)
}
