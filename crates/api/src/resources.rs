//! `/networks/...` and `/volumes/...`: docker's network and volume
//! endpoints over the engine (compose creates both before its services).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use engine::Error;
use serde::Deserialize;
use serde_json::Value;

use crate::http::{blocking, empty, filters, json, truthy, ApiError, ApiResult};
use crate::Ctx;

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/networks", get(networks))
        .route("/networks/create", post(network_create))
        .route("/networks/prune", post(network_prune))
        .route("/networks/{id}", get(network_inspect).delete(network_remove))
        .route("/networks/{id}/connect", post(network_connect))
        .route("/networks/{id}/disconnect", post(network_disconnect))
        .route("/volumes", get(volumes))
        .route("/volumes/create", post(volume_create))
        .route("/volumes/prune", post(volume_prune))
        .route("/volumes/{name}", get(volume_inspect).delete(volume_remove))
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let body = if body.is_empty() { &b"{}"[..] } else { &body[..] };
    serde_json::from_slice(body).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))
}

/// `GET /networks?filters`: each network as inspect shows it (docker's
/// list answers the same objects), filtered as `network ls` filters.
async fn networks(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let filters = filters(q.get("filters").map(String::as_str))?;
    let list = blocking(&ctx, move |store| {
        let mut out = Vec::new();
        for n in engine::networks::matching(store, &filters)? {
            out.push(engine::networks::inspect(store, &n.name)?);
        }
        Ok(out)
    })
    .await?;
    Ok(json(StatusCode::OK, &list))
}

/// docker's `NetworkCreateRequest`, as far as the bridge driver goes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkCreate {
    name: String,
    driver: String,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    internal: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
}

async fn network_create(State(ctx): State<Ctx>, body: Bytes) -> ApiResult<Response> {
    let req: NetworkCreate = parse(&body)?;
    // One IPv4 and one IPv6 subnet at most, as docker's bridge driver.
    let (mut v6, mut v4): (Vec<IpamConfig>, Vec<IpamConfig>) = req
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .partition(|c| c.subnet.as_deref().is_some_and(|s| s.contains(':')));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(engine::Error::invalid("bridge driver doesn't support multiple subnets").into());
    }
    let (ipam, ipam6) = (v4.pop().unwrap_or_default(), v6.pop().unwrap_or_default());
    let opts = engine::networks::CreateOptions {
        name: req.name,
        driver: if req.driver.is_empty() { "bridge".into() } else { req.driver },
        subnet: ipam.subnet,
        gateway: ipam.gateway,
        ip_range: ipam.ip_range,
        ipv6: req.enable_ipv6,
        subnet6: ipam6.subnet,
        gateway6: ipam6.gateway,
        options: req.options.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
        internal: req.internal,
    };
    let id = blocking(&ctx, move |store| engine::networks::create(store, &opts)).await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id, "Warning": ""})))
}

async fn network_inspect(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let v: Value = blocking(&ctx, move |store| engine::networks::inspect(store, &id)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn network_remove(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&ctx, move |store| engine::networks::remove(store, &id)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn network_prune(State(ctx): State<Ctx>) -> ApiResult<Response> {
    let gone = blocking(&ctx, engine::networks::prune).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"NetworksDeleted": gone})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Connect {
    container: String,
    endpoint_config: Option<Endpoint>,
    force: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Endpoint {
    aliases: Option<Vec<String>>,
}

async fn network_connect(State(ctx): State<Ctx>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: Connect = parse(&body)?;
    let aliases = req.endpoint_config.and_then(|e| e.aliases).unwrap_or_default();
    blocking(&ctx, move |store| engine::networks::connect(store, &req.container, &id, &aliases)).await?;
    Ok(empty(StatusCode::OK))
}

async fn network_disconnect(State(ctx): State<Ctx>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: Connect = parse(&body)?;
    blocking(&ctx, move |store| engine::networks::disconnect(store, &req.container, &id, req.force)).await?;
    Ok(empty(StatusCode::OK))
}

/// `GET /volumes?filters`: docker's `VolumeListResponse`.
async fn volumes(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let filters: Vec<(String, String)> = filters(q.get("filters").map(String::as_str))?
        .into_iter()
        .filter_map(|f| f.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let list = blocking(&ctx, move |store| engine::volumes::list(store, &filters)).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"Volumes": list, "Warnings": null})))
}

/// docker's `VolumeCreateOptions`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeCreate {
    name: Option<String>,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

async fn volume_create(State(ctx): State<Ctx>, body: Bytes) -> ApiResult<Response> {
    let req: VolumeCreate = parse(&body)?;
    let opts = engine::volumes::CreateOptions {
        name: req.name.filter(|n| !n.is_empty()),
        driver: if req.driver.is_empty() { "local".into() } else { req.driver },
        driver_opts: req.driver_opts.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
    };
    let volume = blocking(&ctx, move |store| engine::volumes::create(store.root(), &opts)).await?;
    Ok(json(StatusCode::CREATED, &volume))
}

async fn volume_inspect(State(ctx): State<Ctx>, Path(name): Path<String>) -> ApiResult<Response> {
    let volume = blocking(&ctx, move |store| engine::volumes::inspect(store.root(), &name)).await?;
    Ok(json(StatusCode::OK, &volume))
}

async fn volume_remove(State(ctx): State<Ctx>, Path(name): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let force = truthy(q.get("force").map(String::as_str));
    blocking(&ctx, move |store| engine::volumes::remove(store, &name, force)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn volume_prune(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let filter = engine::time::PruneFilter::parse(&filters(q.get("filters").map(String::as_str))?)?;
    let report = blocking(&ctx, move |store| engine::volumes::prune(store, &filter)).await?;
    Ok(json(StatusCode::OK, &report))
}
