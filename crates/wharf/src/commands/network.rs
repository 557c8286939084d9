//! `wharf network`: flags → `engine::networks` → docker's output.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use engine::networks;
use serde_json::json;
use store::Store;

use crate::format;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (only "bridge")
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    pub ip_range: Vec<String>,
    /// Set driver specific options (com.docker.network.driver.mtu)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    pub name: String,
}

/// `-o KEY=VALUE` options, as stored and shown by `network inspect`.
fn parse_options(opts: &[String]) -> BTreeMap<String, String> {
    opts.iter().map(|o| o.split_once('=').unwrap_or((o, ""))).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Pretty-print networks using a Go template or 'json'
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// Runs a `network` command. What the engine refuses exits 1, as docker's
/// `network` commands do (only `run` exits 125).
pub fn run(root: &Path, cmd: NetworkCommand) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    match cmd {
        NetworkCommand::Create(a) => {
            check_ipam(&a)?;
            let is_v6 = |s: &&String| s.contains(':');
            let (v6, v4): (Vec<&String>, Vec<&String>) = a.subnet.iter().partition(is_v6);
            if v4.len() > 1 || v6.len() > 1 {
                return Err(engine::Error::invalid("bridge driver doesn't support multiple subnets").into());
            }
            let opts = networks::CreateOptions {
                name: a.name,
                driver: a.driver,
                subnet: v4.first().map(|s| s.to_string()),
                gateway: a.gateway.iter().find(|g| !is_v6(g)).cloned(),
                ip_range: a.ip_range.first().cloned(),
                ipv6: a.ipv6,
                subnet6: v6.first().map(|s| s.to_string()),
                gateway6: a.gateway.iter().find(is_v6).cloned(),
                options: parse_options(&a.opt),
                labels: parse_options(&a.label),
                internal: a.internal,
            };
            println!("{}", networks::create(&mut store, &opts)?);
        }
        NetworkCommand::Ls(a) => ls(&store, a)?,
        NetworkCommand::Inspect(a) => return inspect(&store, a),
        NetworkCommand::Rm(a) => return rm(&mut store, a),
        NetworkCommand::Prune(_) => {
            let removed = networks::prune(&mut store)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for r in removed {
                    println!("{r}");
                }
            }
        }
        NetworkCommand::Connect(a) => networks::connect(&mut store, &a.container, &a.network, &a.alias)?,
        NetworkCommand::Disconnect(a) => networks::disconnect(&mut store, &a.container, &a.network, a.force)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// What docker's CLI checks of `--subnet`, `--gateway` and `--ip-range`
/// before asking the daemon: each gateway and range in a subnet given.
fn check_ipam(a: &CreateArgs) -> anyhow::Result<()> {
    if a.subnet.len() < a.ip_range.len() || a.subnet.len() < a.gateway.len() {
        return Err(crate::exit::fail("every ip-range or gateway must have a corresponding subnet"));
    }
    // Addresses as 128-bit numbers (IPv4 ones mapped), so that one check
    // serves both families.
    let cidr = |s: &String| {
        let bad = || crate::exit::fail(format!("invalid CIDR address: {s}"));
        let (ip, len) = s.split_once('/').ok_or_else(bad)?;
        let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().map_err(|_| bad())?;
        wide(ip, len).ok_or_else(bad)
    };
    let subnets = a.subnet.iter().map(cidr).collect::<anyhow::Result<Vec<_>>>()?;
    let contains = |ip: u128| {
        subnets.iter().any(|(net, len)| {
            let mask = if *len == 0 { 0 } else { u128::MAX << (128 - len) };
            ip & mask == net & mask
        })
    };
    for r in &a.ip_range {
        if !contains(cidr(r)?.0) {
            return Err(crate::exit::fail(format!("no matching subnet for range {r}")));
        }
    }
    for g in &a.gateway {
        if !g.parse().ok().and_then(|ip| wide(ip, 0)).is_some_and(|(ip, _)| contains(ip)) {
            return Err(crate::exit::fail(format!("no matching subnet for gateway {g}")));
        }
    }
    Ok(())
}

/// An address and prefix length in IPv6's width (IPv4 ones mapped).
fn wide(ip: std::net::IpAddr, len: u32) -> Option<(u128, u32)> {
    match ip {
        std::net::IpAddr::V4(v4) if len <= 32 => Some((u128::from(v4.to_ipv6_mapped()), len + 96)),
        std::net::IpAddr::V6(v6) if len <= 128 => Some((u128::from(v6), len)),
        _ => None,
    }
}

fn ls(store: &Store, a: LsArgs) -> anyhow::Result<()> {
    let rows = networks::matching(store, &a.filters)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in rows {
            writeln!(out, "{}", &r.id[..12])?;
        }
        return Ok(());
    }
    let maps: Vec<_> = rows
        .iter()
        .map(|r| {
            BTreeMap::from([
                ("ID".to_owned(), json!(&r.id[..12])),
                ("Name".to_owned(), json!(r.name)),
                ("Driver".to_owned(), json!(r.driver)),
                ("Scope".to_owned(), json!("local")),
            ])
        })
        .collect();
    match a.format.as_deref() {
        Some(f) => write!(out, "{}", format::render(f, &maps)?)?,
        None => {
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| vec![r.id[..12].to_owned(), r.name.clone(), r.driver.clone(), "local".into()])
                .collect();
            write!(out, "{}", format::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &body))?;
        }
    }
    Ok(())
}

fn inspect(store: &Store, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut values = Vec::new();
    let mut failed = false;
    for key in &a.networks {
        match networks::inspect(store, key) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if a.format.is_some() {
        values.iter_mut().for_each(ipam_struct_fields);
    }
    crate::format::print_values(&values, a.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// docker's `IPAMConfig` is a Go struct whose empty fields its JSON
/// leaves out but its templates still see (as ""): `{{.Gateway}}` of a
/// subnet given without one prints nothing rather than failing.
fn ipam_struct_fields(network: &mut serde_json::Value) {
    for c in network["IPAM"]["Config"].as_array_mut().into_iter().flatten() {
        for key in ["Subnet", "IPRange", "Gateway"] {
            if c.get(key).is_none() {
                c[key] = json!("");
            }
        }
    }
}

fn rm(store: &mut Store, a: NamesArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for key in &a.networks {
        match networks::remove(store, key) {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
