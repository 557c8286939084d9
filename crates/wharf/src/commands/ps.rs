//! `wharf ps`, `wharf container inspect` and `wharf container prune`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use engine::api::{ContainerSummary, PortSummary};
use serde_json::{json, Value};
use store::Store;

use super::container::load_config;
use crate::format;
pub use engine::inspect::container as inspect_value;
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
    let rows = engine::containers::summaries(&mut store, &opts)?;
    let mut out = std::io::stdout().lock();
    let id = |c: &ContainerSummary| {
        let id = c.id.clone().unwrap_or_default();
        if args.no_trunc {
            id
        } else {
            id.chars().take(12).collect()
        }
    };
    if args.quiet {
        for c in &rows {
            writeln!(out, "{}", id(c))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let maps: Vec<BTreeMap<String, Value>> = rows.iter().map(|c| row(c, id(c), args.no_trunc)).collect();
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

/// docker's ps fields of a container summary (the docker CLI's
/// `ContainerContext`).
pub(crate) fn row(c: &ContainerSummary, id: String, no_trunc: bool) -> BTreeMap<String, Value> {
    let cmd = c.command.clone().unwrap_or_default();
    let command = if no_trunc { go_quote(&cmd) } else { go_quote(&ellipsis(&cmd, 20)) };
    let created = c.created.map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64));
    let labels: BTreeMap<&String, &String> = c.labels.iter().flatten().collect();
    let labels = labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let mounts = c.mounts.as_deref().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| m.name.clone().filter(|n| !n.is_empty()).or_else(|| m.source.clone()).unwrap_or_default())
        .map(|n| if no_trunc { n } else { ellipsis(&n, 15) })
        .collect();
    let local_volumes = mounts.iter().filter(|m| m.driver.as_deref() == Some("local")).count();
    let mut networks: Vec<&String> =
        c.network_settings.iter().flat_map(|n| n.networks.iter().flatten()).map(|(k, _)| k).collect();
    networks.sort();
    let name = c.names.iter().flatten().next().map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_default();
    let state = c.state.map(|s| s.to_string()).unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert("ID".into(), json!(id));
    m.insert("Image".into(), json!(c.image.clone().unwrap_or_default()));
    m.insert("Command".into(), json!(command));
    m.insert("CreatedAt".into(), json!(created.map(format::docker_time).unwrap_or_default()));
    m.insert("RunningFor".into(), json!(created.map(format::ago).unwrap_or_default()));
    m.insert("Status".into(), json!(c.status.clone().unwrap_or_default()));
    m.insert("State".into(), json!(state));
    m.insert("Ports".into(), json!(ports(c.ports.as_deref().unwrap_or_default())));
    m.insert("Names".into(), json!(name));
    m.insert("Labels".into(), json!(labels));
    m.insert("Mounts".into(), json!(mount_names.join(",")));
    m.insert("Networks".into(), json!(networks.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    // docker's client adds the image's platform when the daemon names it.
    m.insert("Platform".into(), serde_json::Value::Null);
    m.insert("Size".into(), json!("0B"));
    m
}

/// `0.0.0.0:5001->5000/tcp` for a published port, `80/tcp` for one only
/// exposed.
fn ports(ports: &[PortSummary]) -> String {
    ports
        .iter()
        .map(|p| {
            let typ = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match p.public_port {
                Some(public) => format!("{}:{public}->{}/{typ}", p.ip.as_deref().unwrap_or("0.0.0.0"), p.private_port),
                None => format!("{}/{typ}", p.private_port),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
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
    let filter = crate::format::prune_filter(&args.filter)?;
    let deleted = engine::system::prune_containers(&mut Store::open(root)?, &filter)?;
    super::system::print_pruned_containers(&deleted);
    Ok(ExitCode::SUCCESS)
}
