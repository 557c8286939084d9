//! Container logging: docker's `--log-driver` and `--log-opt` (the
//! json-file driver with its rotation, or none), and `wharf logs`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};
use store::ContainerState;

use clap::Args;
use store::Store;

use super::container;
use super::lifecycle::{lookup, refresh};
use crate::exit::fail;
use crate::format;

pub use engine::logging::LogConfig;

/// `run`/`create`'s logging flags.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Logging driver for the container (json-file, none)
    #[arg(long, value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size, max-file for json-file)
    #[arg(long, value_name = "list")]
    pub log_opt: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

/// `--since`/`--until`: an RFC 3339 time, a Unix time, or a duration
/// before now.
fn parse_when(s: &str) -> anyhow::Result<SystemTime> {
    if let Some(t) = format::parse_time(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    let d = humantime::parse_duration(s).map_err(|_| anyhow::anyhow!("invalid time: {s:?}"))?;
    Ok(SystemTime::now() - d)
}

pub fn logs(root: &Path, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    let cfg = container::load_config(&rec);
    if cfg.log.driver == "none" {
        return Err(fail("configured logging driver does not support reading"));
    }
    let path = container::log_path(root, &rec.id);
    let since = args.since.as_deref().map(parse_when).transpose()?;
    let until = args.until.as_deref().map(parse_when).transpose()?;
    let (mut entries, offset) = runtime::logs::read_all(&path)?;
    let mut follower = runtime::logs::Follower::new(&path, offset);
    if args.tail != "all" {
        let n: usize = args.tail.parse().map_err(|_| anyhow::anyhow!("invalid tail value: {:?}", args.tail))?;
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    let show = |entries: &[runtime::logs::Entry]| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for e in entries {
            let t = format::parse_time(&e.time);
            if since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)) {
                continue;
            }
            let w: &mut dyn Write = match e.stream {
                runtime::logs::Stream::Stdout => &mut out,
                runtime::logs::Stream::Stderr => &mut err,
            };
            if args.timestamps {
                write!(w, "{} ", e.time)?;
            }
            w.write_all(e.log.as_bytes())?;
        }
        out.flush()?;
        Ok(())
    };
    show(&entries)?;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let more = follower.read_new()?;
        show(&more)?;
        let now = match store.container(&rec.id) {
            Ok(r) => refresh(&mut store, r)?,
            Err(_) => break,
        };
        if more.is_empty()
            && !matches!(now.state, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting)
        {
            show(&follower.read_new()?)?;
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
