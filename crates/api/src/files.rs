//! A container's files: `/containers/{id}/archive` (HEAD: a path's stat
//! in `X-Docker-Container-Path-Stat`; GET: a tar of it; PUT: a tar
//! extracted into a directory), which `docker cp` uses both ways;
//! `/changes` (docker diff) and `/export`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use engine::Error;

use crate::http::{blocking, body_reader, json, stream_written, truthy, ApiError, ApiResult};
use crate::Ctx;

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/containers/{id}/archive", get(archive).head(archive).put(extract))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
}

/// The stat header docker's CLI reads (base64 of the JSON).
fn stat_header(stat: &engine::cp::PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError(Error::internal(e.to_string())))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| ApiError(Error::internal(e.to_string())))
}

fn path_param(q: &HashMap<String, String>) -> ApiResult<String> {
    q.get("path").filter(|p| !p.is_empty()).cloned().ok_or_else(|| ApiError(Error::invalid("path is required")))
}

/// HEAD: the stat; GET: the stat and a tar of the path, streamed.
async fn archive(
    State(ctx): State<Ctx>,
    method: Method,
    Path(id): Path<String>,
    Query(q): Params,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let (key, p) = (id.clone(), path.clone());
    let stat = blocking(&ctx, move |store| engine::cp::stat_path(store, &key, &p)).await?;
    let stat_value = stat_header(&stat)?;
    if method == Method::HEAD {
        return Ok((StatusCode::OK, [("X-Docker-Container-Path-Stat", stat_value)]).into_response());
    }
    let mut r = stream_written(&ctx, "application/x-tar", move |store, out| {
        engine::cp::archive_out(store, &id, &path, out).map(|_| ())
    });
    r.headers_mut().insert("X-Docker-Container-Path-Stat", stat_value);
    Ok(r)
}

/// PUT: the body's tar extracted into the directory `path`.
async fn extract(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params, body: Body) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let keep_owners = truthy(q.get("copyUIDGID").map(String::as_str));
    let reader = body_reader(body);
    blocking(&ctx, move |store| engine::cp::archive_in(store, &id, &path, reader, keep_owners)).await?;
    Ok(crate::http::empty(StatusCode::OK))
}

/// docker's `ContainerChangeResponseItem`s: Kind 0 modified, 1 added,
/// 2 deleted.
async fn changes(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let changes = blocking(&ctx, move |store| engine::rootfs::diff(store, &id)).await?;
    let items: Vec<serde_json::Value> =
        changes.iter().map(|c| serde_json::json!({"Path": c.path, "Kind": c.kind_code()})).collect();
    Ok(json(StatusCode::OK, &items))
}

/// The container's filesystem as a tar, streamed.
async fn export(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let key = id.clone();
    blocking(&ctx, move |store| engine::lifecycle::lookup(store, &key).map(|_| ())).await?;
    Ok(stream_written(&ctx, "application/x-tar", move |store, out| engine::rootfs::export(store, &id, out)))
}
