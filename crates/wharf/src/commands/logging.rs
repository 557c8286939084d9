//! Container logging: docker's `--log-driver` and `--log-opt` (the
//! json-file driver with its rotation, or none), and `wharf logs`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;
use engine::logging::{Entry, LogReader, LogsOptions};
use store::Store;

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
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
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
    let tail = match args.tail.as_str() {
        "all" => None,
        n => Some(n.parse::<usize>().map_err(|_| anyhow::anyhow!("invalid tail value: {:?}", args.tail))?),
    };
    let since = args.since.as_deref().map(parse_when).transpose()?;
    let until = args.until.as_deref().map(parse_when).transpose()?;
    let mut store = Store::open(root)?;
    let opts = LogsOptions { tail, since, until, details: args.details };
    let (mut reader, entries) = LogReader::open(&mut store, &args.container, opts)?;
    show(&entries, args.timestamps)?;
    while args.follow && !reader.finished() {
        std::thread::sleep(Duration::from_millis(50));
        show(&reader.next_batch(&mut store)?, args.timestamps)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Entries to stdout and stderr as they were written, as docker's.
fn show(entries: &[Entry], timestamps: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for e in entries {
        let w: &mut dyn Write = match e.stream {
            runtime::logs::Stream::Stdout => &mut out,
            runtime::logs::Stream::Stderr => &mut err,
        };
        if timestamps {
            write!(w, "{} ", e.time)?;
        }
        w.write_all(e.log.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
