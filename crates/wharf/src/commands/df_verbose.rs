//! `system df -v`: the engine's usage report as docker's CLI shows it
//! (its `DiskUsageContext.verboseWrite`): a table per kind, or a template
//! over `.Images`, `.Containers`, `.Volumes` and `.BuildCache`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::system::UsageReport;
use serde_json::{json, Value};

use crate::format::{ago, docker_time, human_size, human_size_with_precision, table};

type Row = BTreeMap<String, Value>;

/// Prints the report: tables, or `format` (a template, or `json`).
pub fn print(report: &UsageReport, format: Option<&str>) -> anyhow::Result<()> {
    let trunc = format.is_none_or(|f| f.starts_with("table"));
    let images: Vec<Row> = report.images.iter().map(|i| image(i, trunc)).collect();
    let containers: Vec<Row> = report.containers.iter().map(|c| container(c, trunc)).collect();
    let volumes: Vec<Row> = report.volumes.iter().map(volume).collect();
    let cache: Vec<Row> = report.build_cache.iter().map(|e| cache_entry(e, trunc)).collect();
    if let Some(f) = format.filter(|f| !f.starts_with("table")) {
        let all = json!({"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache});
        // Executed once over the whole report, with no newline after it,
        // as docker's CLI.
        let f = if f == "json" { "{{json .}}" } else { f };
        print!("{}", crate::format::template_value(f, &all)?);
        return Ok(());
    }
    let cells = |rows: &[Row], keys: &[&str]| -> Vec<Vec<String>> {
        rows.iter().map(|r| keys.iter().map(|k| r[*k].as_str().unwrap_or_default().to_owned()).collect()).collect()
    };
    print!("Images space usage:\n\n");
    let keys = ["Repository", "Tag", "ID", "CreatedSince", "Size", "SharedSize", "UniqueSize", "Containers"];
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"];
    print!("{}", table(&header, &cells(&images, &keys)));
    print!("\nContainers space usage:\n\n");
    let keys = ["ID", "Image", "Command", "LocalVolumes", "Size", "RunningFor", "Status", "Names"];
    let header = ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"];
    print!("{}", table(&header, &cells(&containers, &keys)));
    print!("\nLocal Volumes space usage:\n\n");
    print!("{}", table(&["VOLUME NAME", "LINKS", "SIZE"], &cells(&volumes, &["Name", "Links", "Size"])));
    let cache_size: u64 = report.build_cache.iter().map(|e| e.size).sum();
    print!("\nBuild cache usage: {}\n\n", human_size(cache_size));
    let keys = ["ID", "CacheType", "Size", "CreatedSince", "LastUsedSince", "UsageCount", "Shared"];
    let header = ["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"];
    print!("{}", table(&header, &cells(&cache, &keys)));
    Ok(())
}

fn since_epoch(secs: i64) -> Option<SystemTime> {
    (secs > 0).then(|| UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// docker's `imageContext`, under the image's first name.
fn image(i: &engine::api::ImageSummary, trunc: bool) -> Row {
    let (repo, tag) = i
        .repo_tags
        .first()
        .and_then(|t| t.rsplit_once(':'))
        .map_or(("<none>".to_owned(), "<none>".to_owned()), |(r, t)| (r.to_owned(), t.to_owned()));
    let hex = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
    let created = since_epoch(i.created);
    let size = i.size.max(0) as u64;
    let shared = i.shared_size.max(0) as u64;
    BTreeMap::from([
        ("Containers".into(), json!(i.containers.to_string())),
        ("CreatedAt".into(), json!(created.map(docker_time).unwrap_or_default())),
        ("CreatedSince".into(), json!(created.map(ago).unwrap_or_else(|| "N/A".into()))),
        ("Digest".into(), json!("")),
        ("ID".into(), json!(if trunc { hex.chars().take(12).collect() } else { i.id.clone() })),
        ("Repository".into(), json!(repo)),
        ("SharedSize".into(), json!(human_size(shared))),
        ("Size".into(), json!(human_size_with_precision(size, 3))),
        ("Tag".into(), json!(tag)),
        ("UniqueSize".into(), json!(human_size(size.saturating_sub(shared)))),
        ("VirtualSize".into(), json!(human_size(size))),
    ])
}

/// docker's `ContainerContext` (ps's fields), with the writable layer's size.
fn container(c: &engine::api::ContainerSummary, trunc: bool) -> Row {
    let id = c.id.clone().unwrap_or_default();
    let id = if trunc { id.chars().take(12).collect() } else { id };
    let mut row = super::ps::row(c, id, !trunc);
    row.insert("Size".into(), json!(human_size_with_precision(c.size_rw.unwrap_or(0).max(0) as u64, 3)));
    row
}

/// docker's `volumeContext`.
fn volume(v: &engine::volumes::Volume) -> Row {
    let labels: Vec<String> = v.labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    let usage = v.usage_data.as_ref();
    BTreeMap::from([
        ("Driver".into(), json!(v.driver)),
        ("Labels".into(), json!(labels.join(","))),
        ("Links".into(), json!(usage.map_or("N/A".into(), |u| u.ref_count.to_string()))),
        ("Mountpoint".into(), json!(v.mountpoint)),
        ("Name".into(), json!(v.name)),
        ("Scope".into(), json!(v.scope)),
        ("Size".into(), json!(usage.map_or("N/A".into(), |u| human_size(u.size.max(0) as u64)))),
    ])
}

/// docker's `buildCacheContext` of a cache record.
fn cache_entry(e: &store::CacheEntry, trunc: bool) -> Row {
    let id = &e.key[..25.min(e.key.len())];
    let when = |t: &str| crate::format::parse_time(t);
    BTreeMap::from([
        ("ID".into(), json!(if trunc { id.chars().take(12).collect() } else { id.to_owned() })),
        ("CacheType".into(), json!("regular")),
        ("Size".into(), json!(human_size_with_precision(e.size, 3))),
        ("CreatedAt".into(), json!(when(&e.created).map(docker_time).unwrap_or_default())),
        ("CreatedSince".into(), json!(when(&e.created).map(ago).unwrap_or_default())),
        ("LastUsedAt".into(), json!(when(&e.last_used).map(docker_time).unwrap_or_default())),
        ("LastUsedSince".into(), json!(when(&e.last_used).map(ago).unwrap_or_default())),
        ("UsageCount".into(), json!("1")),
        ("InUse".into(), json!(e.in_use.to_string())),
        ("Shared".into(), json!("false")),
        ("Description".into(), json!(e.chain_id.as_deref().map_or("no layer".into(), |c| format!("layer {c}")))),
    ])
}
