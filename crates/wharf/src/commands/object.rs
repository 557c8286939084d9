//! `inspect`: any object by name or ID (a container, an image, a network,
//! a volume, looked for in that order), or only one kind with `--type`.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;
use store::Store;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Objects to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
    /// Format output using a Go template or 'json'
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
}

const KINDS: [&str; 4] = ["container", "image", "network", "volume"];

/// The object `name` of `kind`, or the engine's error for it.
fn find(store: &mut Store, kind: &str, name: &str) -> engine::Result<Value> {
    match kind {
        "container" => {
            let rec = engine::lifecycle::lookup(store, name)?;
            Ok(engine::inspect::container(store, &rec))
        }
        "image" => {
            let id = store.resolve(name).map_err(|_| engine::Error::not_found(format!("No such image: {name}")))?;
            engine::images::inspect(store, &id)
        }
        "network" => engine::networks::inspect(store, name),
        _ => Ok(serde_json::to_value(engine::volumes::inspect(store.root(), name)?)?),
    }
}

pub fn inspect(root: &std::path::Path, args: InspectArgs) -> anyhow::Result<ExitCode> {
    if let Some(k) = args.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        let all = "\"config\", \"container\", \"image\", \"network\", \"node\", \"plugin\", \"secret\", \"service\", \"task\", \"volume\"";
        return Err(crate::exit::fail(format!("unknown type: \"{k}\": must be one of {all}")));
    }
    let mut store = Store::open(root)?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match args.kind.as_deref() {
            Some(kind) => match find(&mut store, kind, name) {
                Ok(v) => values.push(v),
                Err(e) => errors.push(format!("Error response from daemon: {e}")),
            },
            None => match KINDS.iter().find_map(|k| find(&mut store, k, name).ok()) {
                Some(v) => values.push(v),
                None => errors.push(format!("Error: No such object: {name}")),
            },
        }
    }
    crate::format::print_values(&values, args.format.as_deref())?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
