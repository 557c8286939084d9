//! `wharf version` and `wharf info`: what docker's show, for a daemonless
//! engine (the "server" is this binary and its store), with docker's field
//! names so that `--format '{{.Server.Version}}'` and the like work.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use store::Store;

use crate::format;

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Format output using a custom template ('json': the whole object)
    #[arg(short, long)]
    pub format: Option<String>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");
const GIT_COMMIT: &str = env!("WHARF_GIT_COMMIT");

/// `linux/amd64` and the like, as Go names them.
fn os_arch() -> String {
    engine::system::os_arch()
}

/// `--format`: `json` for the whole object, or a template.
fn print_formatted(value: &Value, format: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match format {
        "json" | "{{json .}}" => writeln!(out, "{value}")?,
        f => writeln!(out, "{}", format::template_value(f, value)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn version(args: FormatArgs) -> anyhow::Result<ExitCode> {
    let value = json!({
        "Client": {"Version": VERSION, "GitCommit": GIT_COMMIT, "Os": "linux", "Arch": builder::config::host_arch()},
        "Server": engine::system::version(GIT_COMMIT),
    });
    if let Some(f) = &args.format {
        return print_formatted(&value, f);
    }
    let text = format!(
        "Client:\n Version:           {VERSION}\n Git commit:        {GIT_COMMIT}\n OS/Arch:           {oa}\n\nServer:\n Engine:\n  Version:          {VERSION}\n  Git commit:       {GIT_COMMIT}\n  OS/Arch:          {oa}\n  Daemon:           none (wharf is daemonless)\n Runtime:\n  Version:          libcontainer 0.7.0 (embedded)\n",
        oa = os_arch()
    );
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

pub fn info(root: &Path, args: FormatArgs) -> anyhow::Result<ExitCode> {
    let v = engine::system::info(&Store::open(root)?)?;
    if let Some(f) = &args.format {
        return print_formatted(&v, f);
    }
    let f = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = format!(
        "Server:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n Server Version: {}\n Storage Driver: {}\n Logging Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}\n Default Runtime: {}\n Security Options:\n{} Kernel Version: {}\n Operating System: {}\n OSType: linux\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n Docker Root Dir: {}\n",
        f("Containers"),
        f("ContainersRunning"),
        f("ContainersPaused"),
        f("ContainersStopped"),
        f("Images"),
        f("ServerVersion"),
        f("Driver"),
        f("LoggingDriver"),
        f("CgroupDriver"),
        f("CgroupVersion"),
        f("DefaultRuntime"),
        security_options(&v["SecurityOptions"]),
        f("KernelVersion"),
        f("OperatingSystem"),
        f("Architecture"),
        f("NCPU"),
        format::bytes_size(v["MemTotal"].as_u64().unwrap_or(0)),
        f("Name"),
        f("DockerRootDir"),
    );
    print!("{text}");
    if paths::rootless() {
        // Where an ordinary user's wharf keeps its runtime state (podman's
        // `info` shows its paths too).
        println!(" Runtime Dir: {}", paths::run_dir().display());
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's CLI rendering of `SecurityOptions`: each option's name, then
/// its settings (`profile=default` as `Profile: default`).
fn security_options(v: &Value) -> String {
    let mut out = String::new();
    for opt in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
        for (i, kv) in opt.split(',').enumerate() {
            let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
            if i == 0 {
                out.push_str(&format!("  {val}\n"));
            } else {
                let mut key: Vec<char> = k.chars().collect();
                if let Some(c) = key.first_mut() {
                    *c = c.to_ascii_uppercase();
                }
                out.push_str(&format!("   {}: {val}\n", key.into_iter().collect::<String>()));
            }
        }
    }
    out
}
