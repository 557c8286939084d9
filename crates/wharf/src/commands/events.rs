//! `wharf events`: the engine's event log, rendered as docker prints it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
pub use engine::events::Event;
use engine::events::{EventReader, Filters};

use crate::exit::fail;
use crate::format;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// A `--since`/`--until` value: a timestamp (RFC 3339, or Unix seconds)
/// or a duration back from now (`10m`).
fn instant(flag: &str, v: &str) -> anyhow::Result<i64> {
    let t = if let Ok(secs) = v.parse::<f64>() {
        UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0))
    } else if let Ok(ns) = dockerfile::instructions::parse_duration(v) {
        SystemTime::now() - Duration::from_nanos(ns)
    } else {
        format::parse_time(v).ok_or_else(|| fail(format!("invalid value for --{flag}: {v}")))?
    };
    Ok(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64)
}

/// docker's line: `TIME TYPE ACTION ID (k=v, ...)`.
fn line(e: &Event) -> String {
    let secs = UNIX_EPOCH + Duration::from_nanos(e.time_nano.max(0) as u64);
    let time = humantime::format_rfc3339_nanos(secs).to_string();
    let attrs: Vec<String> = e.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{time} {} {} {} ({})", e.typ, e.action, e.actor.id, attrs.join(", "))
}

pub fn events(root: &Path, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let since = args.since.as_deref().map(|v| instant("since", v)).transpose()?;
    let until = args.until.as_deref().map(|v| instant("until", v)).transpose()?;
    let filters = Filters::parse(&args.filter)?;
    let mut reader = EventReader::open(root, since, until, filters);
    let mut out = std::io::stdout().lock();
    loop {
        for e in reader.next_batch()? {
            let text = match &args.format {
                Some(f) => format::template_value(f, &serde_json::to_value(&e)?)?,
                None => line(&e),
            };
            writeln!(out, "{text}")?;
        }
        out.flush()?;
        if reader.finished() {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_docker_prints_them() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "bb"}},
            "scope": "local", "time": 1, "timeNano": 1_000_000_001i64,
        }))
        .expect("an event");
        assert_eq!(line(&e), "1970-01-01T00:00:01.000000001Z container start abc (image=bb, name=web)");
    }
}
