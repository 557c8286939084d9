//! `/containers/...`: docker's container endpoints over the engine.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use engine::api::ContainerCreateBody;
use engine::{ContainerState, Error, ErrorKind};

use crate::http::{blocking, empty, filters, json, truthy, ApiError, ApiResult};
use crate::Ctx;

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/logs", get(crate::logs::logs))
        .route("/containers/{id}/attach", post(crate::attach::attach))
        .route("/containers/{id}/resize", post(crate::attach::resize))
        .route("/containers/{id}", delete(remove))
}

/// `GET /containers/json?all&limit&filters`.
async fn list(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let limit = q.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let opts = engine::containers::ListOptions {
        all: truthy(q.get("all").map(String::as_str)),
        limit,
        filters: filters(q.get("filters").map(String::as_str))?,
    };
    let list = blocking(&ctx, move |store| engine::containers::summaries(store, &opts)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// `POST /containers/create?name`: the API's create body, as it is.
async fn create(State(ctx): State<Ctx>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let body: ContainerCreateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))?;
    let request = engine::create::CreateRequest {
        name: q.get("name").filter(|n| !n.is_empty()).cloned(),
        body,
        platform: q.get("platform").filter(|p| !p.is_empty()).cloned(),
    };
    let created = blocking(&ctx, move |store| engine::create::create(store, &request)).await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": created.id, "Warnings": created.warnings})))
}

async fn inspect(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let v = blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &id)?;
        Ok(engine::inspect::container(store, &rec))
    })
    .await?;
    Ok(json(StatusCode::OK, &v))
}

/// A container that runs already is docker's 304.
async fn start(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let pending = ctx.pending.clone();
    blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &id)?;
        if rec.state == ContainerState::Running {
            return Err(Error::new(ErrorKind::NotModified, "container already started"));
        }
        let waiting = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&rec.id).unwrap_or_default();
        crate::attach::start_for_waiting(store, &rec.id, waiting)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `?t=` seconds before SIGKILL, `?signal=`; a stopped container is 304.
async fn stop(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let timeout = q.get("t").and_then(|t| t.parse().ok());
    blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &id)?;
        if !rec.state.is_live() {
            return Err(Error::new(ErrorKind::NotModified, "container already stopped"));
        }
        engine::lifecycle::stop(store, &rec.id, timeout, q.get("signal").map(String::as_str))
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn kill(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let name = q.get("signal").cloned().unwrap_or_else(|| "KILL".into());
    let sig = engine::lifecycle::parse_signal(&name)
        .ok_or_else(|| ApiError(Error::invalid(format!("Invalid signal: {name}"))))?;
    blocking(&ctx, move |store| engine::lifecycle::kill(store, &id, sig)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn restart(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let timeout = q.get("t").and_then(|t| t.parse().ok());
    blocking(&ctx, move |store| engine::lifecycle::restart(store, &id, timeout)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `?condition=not-running|next-exit|removed`: the exit code once the
/// container stops (and, for `removed`, once it is gone). As dockerd, the
/// headers go at once and the body when the wait is over: docker's CLI
/// asks for the wait before it starts the container, and waits for the
/// headers before it goes on.
async fn wait(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let condition = engine::lifecycle::WaitCondition::parse(q.get("condition").map_or("", String::as_str))?;
    let rec = blocking(&ctx, move |store| engine::lifecycle::lookup(store, &id)).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    let root = ctx.root.clone();
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let result = store::Store::open(root.as_path())
            .map_err(engine::Error::from)
            .and_then(|mut store| engine::lifecycle::wait_until(&mut store, &rec, condition, &|| tx.is_closed()));
        let body = match result {
            Ok(code) => serde_json::json!({"StatusCode": code, "Error": null}),
            Err(e) => serde_json::json!({"StatusCode": -1, "Error": {"Message": e.message()}}),
        };
        let _ = tx.send(body.to_string().into_bytes());
    });
    let body = axum::body::Body::from_stream(futures_util::stream::once(async move {
        rx.await.map_err(|_| std::io::Error::other("the wait ended without an answer"))
    }));
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn pause(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&ctx, move |store| engine::lifecycle::pause(store, &id, false)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn unpause(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(&ctx, move |store| engine::lifecycle::pause(store, &id, true)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn rename(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let name = q.get("name").cloned().unwrap_or_default();
    engine::create::check_name(&name)?;
    blocking(&ctx, move |store| engine::lifecycle::rename(store, &id, &name)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `?ps_args=`: ps(1)'s options, split as a shell would not (docker's
/// daemon splits on spaces).
async fn top(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let args: Vec<String> =
        q.get("ps_args").map(|a| a.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    let top = blocking(&ctx, move |store| engine::lifecycle::top(store, &id, &args)).await?;
    Ok(json(StatusCode::OK, &top))
}

/// `?force` kills a running one first; `?v` removes its anonymous volumes.
async fn remove(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> ApiResult<Response> {
    let (force, volumes) = (truthy(q.get("force").map(String::as_str)), truthy(q.get("v").map(String::as_str)));
    blocking(&ctx, move |store| engine::lifecycle::remove_container(store, &id, force, volumes)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
