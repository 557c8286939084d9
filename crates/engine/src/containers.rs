//! Listing containers, as docker's `GET /containers/json` selects them.

use store::{ContainerRecord, ContainerState, Store};

use crate::container::{load_config, ContainerConfig};
use crate::{Error, Result};

/// docker's list options: `all`, `limit` (the newest N, of any state),
/// and `filters` as `KEY=VALUE` (status, name, id, label, ancestor,
/// exited, health), each of which must hold.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub filters: Vec<String>,
}

/// The containers the options select, newest first, each with its record
/// made true and its configuration.
pub fn list(store: &mut Store, opts: &ListOptions) -> Result<Vec<(ContainerRecord, ContainerConfig)>> {
    let mut recs = Vec::new();
    for rec in store.containers()? {
        recs.push(crate::lifecycle::refresh(store, rec)?);
    }
    let all = opts.all || opts.limit.is_some();
    let by_status = opts.filters.iter().any(|f| f.starts_with("status="));
    let mut rows = Vec::new();
    for rec in recs.into_iter().take(opts.limit.unwrap_or(usize::MAX)) {
        let cfg = load_config(&rec);
        if !all && !by_status && !rec.state.is_live() {
            continue;
        }
        let mut keep = true;
        for f in &opts.filters {
            keep &= matches(&rec, &cfg, f, store)?;
        }
        if keep {
            rows.push((rec, cfg));
        }
    }
    Ok(rows)
}

fn matches(rec: &ContainerRecord, cfg: &ContainerConfig, filter: &str, store: &Store) -> Result<bool> {
    let (k, v) = filter.split_once('=').ok_or_else(|| Error::invalid("bad format of filter (expected name=value)"))?;
    Ok(match k {
        "status" => rec.state.as_str() == v,
        "name" => rec.name.contains(v),
        "id" => rec.id.starts_with(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => cfg.labels.get(lk).is_some_and(|x| x == lv),
            None => cfg.labels.contains_key(v),
        },
        "ancestor" => cfg.image == v || store.resolve(v).map(|d| d.to_string() == rec.image_id).unwrap_or(false),
        "exited" => rec.state == ContainerState::Exited && v.parse::<i32>().is_ok_and(|c| c == rec.exit_code),
        "health" => {
            if !["starting", "healthy", "unhealthy", "none"].contains(&v) {
                return Err(Error::invalid(format!("Unrecognised filter value for health: {v}")));
            }
            crate::inspect::health_of(store.root(), rec, cfg).map_or("none".to_owned(), |h| h.status) == v
        }
        _ => return Err(Error::invalid(format!("invalid filter '{k}'"))),
    })
}
