//! `wharf ps`, `wharf container inspect` and `wharf container prune`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use store::ContainerState;

use clap::Args;
use serde_json::{json, Value};
use store::{ContainerRecord, Store};

use super::container::{load_config, ContainerConfig};
use super::health::Health;
use crate::format;
pub use engine::inspect::container as inspect_value;
use engine::inspect::health_of;
use engine::lifecycle::lookup;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go-style template or 'json'
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

/// docker's `Up 5 seconds`, `Up 2 minutes (healthy)`, `Exited (0) 3
/// minutes ago`, `Created`.
fn status(rec: &ContainerRecord, health: Option<&Health>) -> String {
    let since =
        |t: &str| format::parse_time(t).map(|t| std::time::SystemTime::now().duration_since(t).unwrap_or_default());
    match rec.state.as_str() {
        "running" | "paused" => {
            let up = since(&rec.started).map(format::human_duration).unwrap_or_default();
            match health {
                _ if rec.state == ContainerState::Paused => format!("Up {up} (Paused)"),
                Some(h) if h.status == "starting" => format!("Up {up} (health: starting)"),
                Some(h) => format!("Up {up} ({})", h.status),
                None => format!("Up {up}"),
            }
        }
        "exited" => {
            let ago = since(&rec.finished).map(format::human_duration).unwrap_or_default();
            format!("Exited ({}) {ago} ago", rec.exit_code)
        }
        "created" => "Created".into(),
        other => other.to_owned(),
    }
}

/// `0.0.0.0:5001->5000/tcp` for each published port.
fn ports(cfg: &ContainerConfig) -> String {
    cfg.ports
        .iter()
        .map(|p| {
            let parts: Vec<&str> = p.rsplitn(3, ':').collect();
            let (ctr, host, ip) = match parts.as_slice() {
                [c] => (*c, "", "0.0.0.0"),
                [c, h] => (*c, *h, "0.0.0.0"),
                [c, h, ip] => (*c, *h, *ip),
                _ => (p.as_str(), "", ""),
            };
            let ctr = if ctr.contains('/') { ctr.to_owned() } else { format!("{ctr}/tcp") };
            format!("{ip}:{host}->{ctr}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command as docker's ps shows it: an argument with a space in
/// single quotes.
fn command_line(cfg: &ContainerConfig) -> String {
    let quoted = |a: &String| if a.contains(' ') { format!("'{a}'") } else { a.clone() };
    cfg.entrypoint.iter().chain(cfg.cmd.iter()).map(quoted).collect::<Vec<_>>().join(" ")
}

/// Go's strconv.Quote for what ps prints: `"`, `\` and control characters
/// escaped.
fn go_quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// docker's `stringutils.Ellipsis`.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

pub fn ps(root: &Path, args: PsArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let limit = if args.latest { Some(1) } else { (args.last > 0).then_some(args.last as usize) };
    let opts = engine::containers::ListOptions { all: args.all, limit, filters: args.filter.clone() };
    let rows = engine::containers::list(&mut store, &opts)?;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for (rec, _) in &rows {
            writeln!(out, "{}", if args.no_trunc { rec.id.clone() } else { rec.id[..12].to_owned() })?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let maps: Vec<BTreeMap<String, Value>> =
        rows.iter().map(|(rec, cfg)| row(store.root(), rec, cfg, args.no_trunc)).collect();
    match args.format.as_deref() {
        Some(f) if f != "table" => write!(out, "{}", format::render(f, &maps)?)?,
        _ => {
            let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
            let keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"];
            let body: Vec<Vec<String>> = maps
                .iter()
                .map(|m| {
                    keys.iter().map(|k| m.get(*k).and_then(Value::as_str).unwrap_or_default().to_owned()).collect()
                })
                .collect();
            write!(out, "{}", format::table(&header, &body))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(root: &Path, rec: &ContainerRecord, cfg: &ContainerConfig, no_trunc: bool) -> BTreeMap<String, Value> {
    let cmd = command_line(cfg);
    let command = if no_trunc { go_quote(&cmd) } else { go_quote(&ellipsis(&cmd, 20)) };
    let created = format::parse_time(&rec.created);
    let labels = cfg.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let mut m = BTreeMap::new();
    m.insert("ID".into(), json!(if no_trunc { rec.id.clone() } else { rec.id[..12].to_owned() }));
    m.insert("Image".into(), json!(cfg.image));
    m.insert("Command".into(), json!(command));
    m.insert("CreatedAt".into(), json!(created.map(format::docker_time).unwrap_or_default()));
    m.insert("RunningFor".into(), json!(created.map(format::ago).unwrap_or_default()));
    m.insert("Status".into(), json!(status(rec, health_of(root, rec, cfg).as_ref())));
    m.insert("State".into(), json!(rec.state));
    m.insert("Ports".into(), json!(ports(cfg)));
    m.insert("Names".into(), json!(rec.name));
    m.insert("Labels".into(), json!(labels));
    m.insert("Mounts".into(), json!(cfg.binds.join(",")));
    m.insert(
        "Networks".into(),
        json!(if cfg.networks().is_empty() { cfg.network.clone() } else { cfg.networks().join(",") }),
    );
    m.insert("LocalVolumes".into(), json!("0"));
    m.insert("Size".into(), json!("0B"));
    m
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `wharf port`: `5000/tcp -> 0.0.0.0:5001` per mapping.
pub fn port(root: &Path, args: PortArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    let cfg = load_config(&rec);
    let mut out = std::io::stdout().lock();
    let mut found = false;
    for p in &cfg.ports {
        for m in network::parse_ports(p).unwrap_or_default() {
            let key = format!("{}/{}", m.container_port, m.proto);
            let want = args.port.as_deref().map(|w| if w.contains('/') { w.to_owned() } else { format!("{w}/tcp") });
            if want.as_ref().is_some_and(|w| *w != key) {
                continue;
            }
            found = true;
            let ip = m.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
            if args.port.is_some() {
                writeln!(out, "{ip}:{}", m.host_port)?;
            } else {
                writeln!(out, "{key} -> {ip}:{}", m.host_port)?;
            }
        }
    }
    if !found && args.port.is_some() {
        anyhow::bail!("No public port '{}' published for {}", args.port.as_deref().unwrap_or_default(), args.container);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a Go-style template or 'json'
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn inspect(root: &Path, args: ContainerInspectArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let mut values = Vec::new();
    let mut failed = false;
    for key in &args.containers {
        match lookup(&mut store, key) {
            Ok(rec) => values.push(inspect_value(&store, &rec)),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    crate::format::print_values(&values, args.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn prune(root: &Path, args: ContainerPruneArgs) -> anyhow::Result<ExitCode> {
    let until = crate::format::prune_cutoff(&args.filter)?;
    let deleted = engine::system::prune_containers(&mut Store::open(root)?, until)?;
    super::system::print_pruned_containers(&deleted);
    Ok(ExitCode::SUCCESS)
}
