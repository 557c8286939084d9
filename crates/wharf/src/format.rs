//! Output the way docker prints it: human sizes, "2 hours ago", aligned
//! tables, and `--format` with Go-template-style `{{.Field}}` and `json`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// docker's `units.HumanSize`: decimal units, 4 significant digits.
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 4)
}

/// docker's `units.HumanSizeWithPrecision` (decimal units).
pub fn human_size_with_precision(bytes: u64, precision: usize) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"], precision)
}

/// docker's `units.BytesSize`: binary units, 4 significant digits.
pub fn bytes_size(bytes: u64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], 4)
}

/// `bytes` in the largest unit below `base`, printed as Go's `%.{p}g`:
/// `precision` significant digits, trailing zeros trimmed.
fn scaled(bytes: u64, base: f64, units: &[&str], precision: usize) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    let int_digits = if v >= 1.0 { v.log10().floor() as usize + 1 } else { 1 };
    let decimals = precision.saturating_sub(int_digits);
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", units[i])
}

/// docker's `units.HumanDuration` + " ago".
pub fn ago(t: SystemTime) -> String {
    let d = SystemTime::now().duration_since(t).unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(d))
}

pub fn human_duration(d: Duration) -> String {
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

/// Parses an RFC 3339 time (as stored in image configs).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('+').next()?)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// `2024-01-02T15:04:05Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `2024-01-02 15:04:05 +0000 UTC`, docker's `CreatedAt`.
pub fn docker_time(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
}

/// Prints rows as docker's tabwriter does (minimum width 10, padding 3):
/// columns padded to the widest cell plus three spaces, and to 10 at least.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat((widths[i] + 3).max(10) - c.chars().count()));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Renders `--format`: `json` (one JSON object per line), or a template
/// where `{{.Field}}` (and `{{json .}}`) are replaced; a leading `table `
/// prints a header row from the field names. `\t` and `\n` are honoured.
pub fn render(format: &str, rows: &[BTreeMap<String, serde_json::Value>]) -> String {
    if format == "json" || format == "{{json .}}" {
        return rows
            .iter()
            .map(|r| format!("{}\n", serde_json::Value::Object(r.clone().into_iter().collect())))
            .collect();
    }
    let (table, tmpl) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_owned()),
        None => (false, format.to_owned()),
    };
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    if table {
        let header = fill(&tmpl, &|f| upper_header(f));
        out.push_str(&header);
        out.push('\n');
    }
    for r in rows {
        out.push_str(&fill(&tmpl, &|f| match r.get(f) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None if f == "json ." => serde_json::Value::Object(r.clone().into_iter().collect()).to_string(),
            None => "<no value>".into(),
        }));
        out.push('\n');
    }
    if table {
        let lines: Vec<Vec<String>> = out.lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect();
        if let Some((head, body)) = lines.split_first() {
            let head: Vec<&str> = head.iter().map(String::as_str).collect();
            return self::table(&head, body);
        }
    }
    out
}

fn upper_header(field: &str) -> String {
    let mut s = String::new();
    let mut prev_upper = true;
    for c in field.chars() {
        if c.is_uppercase() && !prev_upper {
            s.push(' ');
        }
        prev_upper = c.is_uppercase();
        s.extend(c.to_uppercase());
    }
    s
}

/// Replaces each `{{ .Field }}` using `get`.
fn fill(tmpl: &str, get: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        let field = expr.strip_prefix('.').unwrap_or(expr);
        out.push_str(&get(field));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders a Go-style template against one JSON value (`image inspect
/// --format`): `{{.Id}}`, `{{.Config.Cmd}}`, `{{json .Config}}`, `{{.}}`.
pub fn template_value(format: &str, v: &serde_json::Value) -> String {
    if format == "json" {
        return v.to_string();
    }
    let tmpl = format.replace("\\t", "\t").replace("\\n", "\n");
    fill(&tmpl, &|expr| {
        let (as_json, path) = match expr.strip_prefix("json") {
            Some(rest) => (true, rest.trim()),
            None => (false, expr),
        };
        let path = path.trim_start_matches('.');
        let mut cur = v;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            match cur.get(part) {
                Some(next) => cur = next,
                None => return "<no value>".into(),
            }
        }
        if as_json {
            cur.to_string()
        } else {
            go_print(cur)
        }
    })
}

/// How Go's text/template prints a value.
fn go_print(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_print(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(117_000_000), "117MB");
        assert_eq!(human_size(1_240_000), "1.24MB");
        assert_eq!(human_size(55_900), "55.9kB");
        assert_eq!(human_size_with_precision(1_234, 3), "1.23kB");
        assert_eq!(human_size_with_precision(648, 3), "648B");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1_241_514), "1.184MiB");
        assert_eq!(bytes_size(299_008), "292KiB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn templates() {
        let mut r = BTreeMap::new();
        r.insert("Repository".to_string(), serde_json::json!("busybox"));
        r.insert("Tag".to_string(), serde_json::json!("latest"));
        assert_eq!(render("{{.Repository}}:{{ .Tag }}", &[r.clone()]), "busybox:latest\n");
        assert_eq!(render("table {{.Repository}}\\t{{.Tag}}", &[r.clone()]), "REPOSITORY   TAG\nbusybox      latest\n");
        assert_eq!(render("json", &[r]), "{\"Repository\":\"busybox\",\"Tag\":\"latest\"}\n");
    }
}
