//! Output the way docker prints it: human sizes, "2 hours ago", aligned
//! tables, and `--format` with Go-template-style `{{.Field}}` and `json`.

use std::collections::BTreeMap;

use crate::exit::Failure;
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

pub use engine::time::human_duration;

/// Parses an RFC 3339 time (as stored in image configs).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    engine::time::parse(s)
}

/// `2024-01-02 15:04:05 +0000 UTC`, docker's `CreatedAt`.
pub fn docker_time(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
}

/// Prints rows as docker's tabwriter does (minimum width 10, padding 3):
/// columns padded to the widest cell plus three spaces, and to 10 at least.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_min(header, rows, 10)
}

/// [`table`] with another minimum column width (`top`'s tabwriter: 20).
pub fn table_min(header: &[&str], rows: &[Vec<String>], min: usize) -> String {
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
                s.push_str(&" ".repeat((widths[i] + 3).max(min) - c.chars().count()));
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

/// Renders `--format` for listed rows: `json` (one JSON object per line),
/// or a Go template per row (`template`); a leading `table ` prints a
/// header row from the field names and aligns the columns.
pub fn render(format: &str, rows: &[BTreeMap<String, serde_json::Value>]) -> Result<String, Failure> {
    if format == "json" || format == "{{json .}}" {
        return Ok(rows
            .iter()
            .map(|r| format!("{}\n", serde_json::Value::Object(r.clone().into_iter().collect())))
            .collect());
    }
    let (table, tmpl) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_owned()),
        None => (false, format.to_owned()),
    };
    let tmpl = label_calls(&tmpl.replace("\\t", "\t").replace("\\n", "\n"));
    // docker's list commands report a template that does not parse with
    // exit 1 (inspect: 64).
    let compiled = compile(&tmpl)
        .map_err(|e| Failure::new(1, e.message.replacen("template parsing error", "failed to parse template", 1)))?;
    let mut out = String::new();
    if table {
        out.push_str(&header(&tmpl));
        out.push('\n');
    }
    for r in rows {
        let row = serde_json::Value::Object(r.clone().into_iter().collect());
        out.push_str(&execute(&compiled, &row)?);
        out.push('\n');
    }
    if table {
        let lines: Vec<Vec<String>> = out.lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect();
        if let Some((head, body)) = lines.split_first() {
            let head: Vec<&str> = head.iter().map(String::as_str).collect();
            return Ok(self::table(&head, body));
        }
    }
    Ok(out)
}

/// docker's list rows have a `Label` method (`{{.Label "com.x"}}`), which
/// a template over JSON cannot call: each call becomes the `label`
/// function over the row's `Labels` text (`k=v,k2=v2`).
fn label_calls(tmpl: &str) -> String {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(at) = rest.find(".Label \"") {
        let after = &rest[at + ".Label ".len()..];
        let Some(end) = after[1..].find('"') else { break };
        out.push_str(&rest[..at]);
        out.push_str(&format!("(label .Labels {})", &after[..end + 2]));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The header row of a `table` format: each `{{.Field}}` as docker names
/// its column (`CreatedAt` -> `CREATED AT`).
fn header(tmpl: &str) -> String {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        let expr = rest[start + 2..start + end].trim();
        out.push_str(&upper_header(expr.trim_start_matches('.')));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
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

/// Renders a Go template against one JSON value (`inspect --format`):
/// Go's text/template (the `gotmpl` crate: `range`, `if`, `with`, `index`,
/// `len`, `printf`, pipelines...) with docker's functions (`json`, `join`,
/// `split`, `upper`, `lower`, `title`, `truncate`, `pad`) and its rule
/// that a missing key is an error. `json` alone prints the whole value.
pub fn template_value(format: &str, v: &serde_json::Value) -> Result<String, Failure> {
    if format == "json" {
        return Ok(v.to_string());
    }
    let tmpl = format.replace("\\t", "\t").replace("\\n", "\n");
    execute(&compile(&tmpl)?, v)
}

/// A template error as docker reports it: 64 for one that does not parse.
fn compile(tmpl: &str) -> Result<gotmpl::Template, Failure> {
    docker_funcs(gotmpl::Template::new("").missing_key(gotmpl::MissingKey::Error))
        .parse(tmpl)
        .map_err(|e| Failure::new(64, format!("template parsing error: {e}")))
}

fn execute(t: &gotmpl::Template, v: &serde_json::Value) -> Result<String, Failure> {
    let data = gotmpl::to_value(v).map_err(|e| Failure::new(1, format!("template: {e}")))?;
    t.execute_to_string(&data).map_err(|e| Failure::new(1, format!("template: {e}")))
}

/// docker's template functions (cli/templates), beyond Go's built-ins.
fn docker_funcs(t: gotmpl::Template) -> gotmpl::Template {
    use gotmpl::Value;
    let s = |v: &Value| match v {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    };
    let text =
        |f: fn(&str) -> String| move |a: &[Value]| Ok(Value::String(f(&a.first().map(s).unwrap_or_default()).into()));
    t.func("json", |a: &[Value]| Ok(Value::String(to_json(a.first().unwrap_or(&Value::Nil)).to_string().into())))
        .func("join", move |a: &[Value]| {
            let sep = a.get(1).map(s).unwrap_or_default();
            let items: Vec<String> = match a.first() {
                Some(Value::List(l)) => l.iter().map(s).collect(),
                _ => Vec::new(),
            };
            Ok(Value::String(items.join(&sep).into()))
        })
        .func("split", move |a: &[Value]| {
            let (text, sep) = (a.first().map(s).unwrap_or_default(), a.get(1).map(s).unwrap_or_default());
            Ok(Value::List(text.split(sep.as_str()).map(|p| Value::String(p.into())).collect()))
        })
        .func("label", move |a: &[Value]| {
            let (labels, key) = (a.first().map(s).unwrap_or_default(), a.get(1).map(s).unwrap_or_default());
            let value = labels.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v));
            Ok(Value::String(value.unwrap_or_default().into()))
        })
        .func("upper", text(|x| x.to_uppercase()))
        .func("lower", text(|x| x.to_lowercase()))
        .func(
            "title",
            text(|x| {
                let mut c = x.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            }),
        )
        .func("truncate", move |a: &[Value]| {
            let n = match a.get(1) {
                Some(Value::Int(n)) => *n as usize,
                Some(Value::Uint(n)) => *n as usize,
                _ => usize::MAX,
            };
            Ok(Value::String(a.first().map(s).unwrap_or_default().chars().take(n).collect::<String>().into()))
        })
        .func("pad", move |a: &[Value]| {
            let n = |i: usize| match a.get(i) {
                Some(Value::Int(n)) => (*n).max(0) as usize,
                Some(Value::Uint(n)) => *n as usize,
                _ => 0,
            };
            Ok(Value::String(
                format!("{}{}{}", " ".repeat(n(1)), a.first().map(s).unwrap_or_default(), " ".repeat(n(2))).into(),
            ))
        })
}

/// A template value as JSON (for `json`).
fn to_json(v: &gotmpl::Value) -> serde_json::Value {
    use gotmpl::Value;
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => s.as_ref().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect(),
        _ => serde_json::Value::Null,
    }
}

/// `inspect`'s output: the objects as an indented JSON array, or each
/// through the `--format` template.
pub fn print_values(values: &[serde_json::Value], format: Option<&str>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        None => {
            serde_json::to_writer_pretty(&mut out, values)?;
            writeln!(out)?;
        }
        Some(f) => {
            for v in values {
                // docker's inspect ends the line it was writing when the
                // template fails.
                let text = template_value(f, v).inspect_err(|_| {
                    let _ = writeln!(out);
                })?;
                writeln!(out, "{text}")?;
            }
        }
    }
    Ok(())
}

/// A prune's `--filter`s (see `engine::time::PruneFilter`); the engine
/// refuses what it does not know.
pub fn prune_filter(filters: &[String]) -> anyhow::Result<engine::time::PruneFilter> {
    Ok(engine::time::PruneFilter::parse(filters)?)
}

/// `until=` of prune (see `engine::time::prune_cutoff`).
pub fn prune_cutoff(filters: &[String]) -> anyhow::Result<Option<std::time::SystemTime>> {
    engine::time::prune_cutoff(filters).map_err(|e| crate::exit::fail(e.message().to_owned()))
}

/// One line of rmi's (`Untagged: x`) or prune's (`untagged: x`) report.
pub fn delete_line(item: &engine::images::DeleteItem, untagged: &str, deleted: &str) -> String {
    match item {
        engine::images::DeleteItem::Untagged(name) => format!("{untagged}: {name}"),
        engine::images::DeleteItem::Deleted(id) => format!("{deleted}: {id}"),
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
    fn label_calls_read_the_rows_labels() {
        let mut row = BTreeMap::new();
        row.insert("Names".to_owned(), serde_json::json!("web"));
        row.insert("Labels".to_owned(), serde_json::json!("a=b,c=d"));
        assert_eq!(render(r#"{{.Names}} {{.Label "c"}}|{{.Label "x"}}"#, &[row]).expect("renders"), "web d|\n");
    }

    #[test]
    fn templates() {
        let mut r = BTreeMap::new();
        r.insert("Repository".to_string(), serde_json::json!("busybox"));
        r.insert("Tag".to_string(), serde_json::json!("latest"));
        let render = |f: &str, rows: &[BTreeMap<String, serde_json::Value>]| render(f, rows).map_err(|e| e.message);
        assert_eq!(render("{{.Repository}}:{{ .Tag }}", &[r.clone()]), Ok("busybox:latest\n".into()));
        assert_eq!(
            render("table {{.Repository}}\\t{{.Tag}}", &[r.clone()]),
            Ok("REPOSITORY   TAG\nbusybox      latest\n".into())
        );
        assert_eq!(render("json", &[r]), Ok("{\"Repository\":\"busybox\",\"Tag\":\"latest\"}\n".into()));
    }

    #[test]
    fn go_templates_with_dockers_functions() {
        let v = serde_json::json!({
            "Name": "/web", "Config": {"Cmd": ["sleep", "9"]},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.89.0.2"}, "app": {"IPAddress": "10.90.0.3"}}},
            "State": {"Running": true},
        });
        let t = |f: &str| template_value(f, &v).map_err(|e| (e.code, e.message));
        assert_eq!(t("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"), Ok("10.90.0.3 10.89.0.2 ".into()));
        assert_eq!(
            t("{{if .State.Running}}up{{else}}down{{end}} {{len .Config.Cmd}} {{index .Config.Cmd 1}}"),
            Ok("up 2 9".into())
        );
        assert_eq!(
            t("{{json .Config.Cmd}} {{join .Config.Cmd \",\"}} {{upper .Name}} {{.Config.Cmd}}"),
            Ok("[\"sleep\",\"9\"] sleep,9 /WEB [sleep 9]".into())
        );
        assert_eq!(t("{{.Nope}}").map_err(|e| e.0), Err(1), "a missing key is an error, as docker's");
        assert_eq!(t("{{.Name").map_err(|e| e.0), Err(64), "one that does not parse exits 64");
    }
}
