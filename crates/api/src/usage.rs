//! Resource use and reclaiming it: `/containers/{id}/stats` (streamed or
//! one-shot), `/containers/{id}/update`, `/containers/prune`,
//! `/images/prune` and `/system/df`, in dockerd's shapes.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use engine::api::HostConfig;
use engine::stats::Sample;
use engine::Error;
use serde_json::{json, Value};

use crate::http::{blocking, filters, json, streamed, truthy, ApiError, ApiResult};
use crate::Ctx;

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
        .route("/containers/prune", post(prune_containers))
        .route("/images/prune", post(prune_images))
        .route("/system/df", get(disk_usage))
}

/// docker's `StatsResponse` for a sample and the one before it. Memory
/// usage is reported with the inactive file cache already taken out, so
/// `stats` carries none for docker's CLI to take out again.
fn stats_json(name: &str, id: &str, now: &Sample, pre: Option<&Sample>, read: &str, preread: &str) -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = |s: Option<&Sample>| {
        let s = s.copied().unwrap_or_default();
        json!({"cpu_usage": {"total_usage": s.cpu, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
               "system_cpu_usage": s.system, "online_cpus": cpus,
               "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
    };
    let io = |op: &str, v: u64| json!({"major": 0, "minor": 0, "op": op, "value": v});
    json!({
        "name": format!("/{name}"), "id": id, "read": read, "preread": preread,
        "pids_stats": {"current": now.pids},
        "blkio_stats": {"io_service_bytes_recursive": [io("read", now.blk_read), io("write", now.blk_write)]},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu(Some(now)), "precpu_stats": cpu(pre),
        "memory_stats": {"usage": now.mem_usage, "limit": now.mem_limit, "stats": {}},
        "networks": {"eth0": {"rx_bytes": now.net_rx, "tx_bytes": now.net_tx, "rx_packets": 0, "tx_packets": 0,
                              "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
    })
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `stream` (default): a sample a second until the client goes or the
/// container stops; otherwise one, a second after a first reading
/// (at once with `one-shot`, without the previous one).
async fn stats(State(ctx): State<Ctx>, Path(key): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let stream = q.get("stream").is_none_or(|v| truthy(Some(v)));
    let one_shot = truthy(q.get("one-shot").map(String::as_str));
    if stream && one_shot {
        return Err(ApiError(Error::invalid("cannot have stream=true and one-shot=true")));
    }
    let rec = blocking(&ctx, move |store| engine::lifecycle::lookup(store, &key)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let root = ctx.root.clone();
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let send = |v: Value| tx.blocking_send(Bytes::from(format!("{v}\n"))).is_ok();
        let now = || store::now_rfc3339();
        let mut pre: Option<(Sample, String)> = None;
        if !stream && !one_shot && rec.state.is_live() {
            pre = Some((engine::stats::sample(&rec), now()));
            std::thread::sleep(Duration::from_secs(1));
        }
        loop {
            let Ok(mut store) = store::Store::open(root.as_path()) else { return };
            let Ok(rec) = engine::lifecycle::refresh(&mut store, rec.clone()) else { return };
            let sample = engine::stats::sample(&rec);
            let read = now();
            let (p, preread) = pre.as_ref().map_or((None, ZERO_TIME), |(s, t)| (Some(s), t.as_str()));
            if !send(stats_json(&rec.name, &rec.id, &sample, p, &read, preread)) || !stream || !rec.state.is_live() {
                return;
            }
            pre = Some((sample, read));
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    Ok(streamed("application/json", rx))
}

/// The update body: docker's `Resources` and `RestartPolicy`.
async fn update(State(ctx): State<Ctx>, Path(key): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = if body.is_empty() { &b"{}"[..] } else { &body[..] };
    let hc: HostConfig =
        serde_json::from_slice(body).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))?;
    let mut warnings = Vec::new();
    let limits = engine::update::Limits::from_host_config(&hc, &mut warnings)?;
    let restart = hc
        .restart_policy
        .as_ref()
        .and_then(|p| p.name.map(|n| (n.to_string(), p.maximum_retry_count.unwrap_or(0))))
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, max)| if max > 0 { format!("{n}:{max}") } else { n })
        .map(|s| engine::container::RestartPolicy::parse(&s).map_err(Error::invalid))
        .transpose()?;
    blocking(&ctx, move |store| engine::update::update(store, &key, &limits, restart.as_ref())).await?;
    Ok(json(StatusCode::OK, &json!({ "Warnings": warnings })))
}

async fn prune_containers(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let filter = engine::time::PruneFilter::parse(&filters(q.get("filters").map(String::as_str))?)?;
    let (deleted, reclaimed) = blocking(&ctx, move |store| {
        let before = engine::system::disk_usage(store)?.containers.size;
        let deleted = engine::system::prune_containers(store, &filter)?;
        let after = engine::system::disk_usage(store)?.containers.size;
        Ok((deleted, before.saturating_sub(after)))
    })
    .await?;
    Ok(json(StatusCode::OK, &json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})))
}

/// `dangling=false` prunes every unused image (docker's `prune -a`).
async fn prune_images(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let mut given = filters(q.get("filters").map(String::as_str))?;
    let all = given.iter().any(|f| matches!(f.as_str(), "dangling=false" | "dangling=0"));
    given.retain(|f| !f.starts_with("dangling="));
    let filter = engine::time::PruneFilter::parse(&given)?;
    let report = blocking(&ctx, move |store| {
        let (lock, _) = engine::system::exclusive_lock(store)?;
        engine::images::prune(store, &lock, all, &filter)
    })
    .await?;
    let deleted: Vec<Value> = report
        .images_deleted
        .iter()
        .map(|d| match d {
            engine::images::DeleteItem::Untagged(n) => json!({ "Untagged": n }),
            engine::images::DeleteItem::Deleted(id) => json!({ "Deleted": id }),
        })
        .collect();
    Ok(json(StatusCode::OK, &json!({"ImagesDeleted": deleted, "SpaceReclaimed": report.space_reclaimed})))
}

/// docker's `system df` answer: the images (with how many containers
/// use each), the containers (with their writable layer's size), the
/// volumes (with their size and users), the build cache's records.
async fn disk_usage(State(ctx): State<Ctx>) -> ApiResult<Response> {
    let v = blocking(&ctx, |store| {
        let r = engine::system::usage_report(store)?;
        let cache: Vec<Value> = r.build_cache.iter().map(cache_record).collect();
        Ok(json!({
            "LayersSize": r.layers_size, "Images": r.images, "Containers": r.containers,
            "Volumes": r.volumes, "BuildCache": cache,
        }))
    })
    .await?;
    Ok(json(StatusCode::OK, &v))
}

/// A build cache entry as BuildKit's `BuildCache` record. docker's CLI
/// sums `Size` over the records not `Shared`, and counts as reclaimable
/// what is not `InUse`: an entry whose layer an image holds is in use.
fn cache_record(e: &store::CacheEntry) -> Value {
    json!({
        "ID": &e.key[..25.min(e.key.len())], "Parent": "", "Parents": null, "Type": "regular",
        "Description": e.chain_id.as_deref().map_or_else(|| "no layer".to_owned(), |c| format!("layer {c}")),
        "InUse": e.in_use, "Shared": false, "Size": e.size,
        "CreatedAt": e.created, "LastUsedAt": e.last_used, "UsageCount": 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_carry_what_dockers_cli_computes_from() {
        let now = Sample { cpu: 300, system: 2000, mem_usage: 10, mem_limit: 100, pids: 2, ..Sample::default() };
        let pre = Sample { cpu: 100, system: 1000, ..Sample::default() };
        let v = stats_json("web", "abc", &now, Some(&pre), "t1", "t0");
        assert_eq!(v["name"], "/web");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 300);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 1000);
        assert_eq!(v["memory_stats"]["usage"], 10);
        assert_eq!(v["pids_stats"]["current"], 2);
        let first = stats_json("web", "abc", &now, None, "t1", ZERO_TIME);
        assert_eq!(first["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    }
}
