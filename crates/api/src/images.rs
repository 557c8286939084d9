//! `/images/...`: list, inspect, history, tag, remove. An image's name
//! may hold slashes (`localhost/app`), so one route per method takes the
//! rest of the path and the last segment says what is asked.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use engine::Error;

use crate::http::{blocking, filters, json, truthy, ApiError, ApiResult};
use crate::{transfer, Ctx};

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(transfer::create))
        .route("/images/load", post(transfer::load))
        .route("/images/get", get(save_many))
        .route("/images/search", get(search))
        .route("/auth", post(transfer::auth))
        .route("/images/{*rest}", any(image))
}

/// `GET /images/json?filters`.
async fn list(State(ctx): State<Ctx>, Query(q): Params) -> ApiResult<Response> {
    let opts = engine::image_list::ImageListOptions {
        reference: None,
        filters: filters(q.get("filters").map(String::as_str))?,
    };
    let list = blocking(&ctx, move |store| engine::image_list::list(store, &opts)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// `GET /images/search`: there is no registry index to search here.
async fn search() -> Response {
    crate::http::json_error(
        StatusCode::NOT_IMPLEMENTED,
        "image search is not supported by wharf: no registry offers a search index it could ask",
    )
}

/// `GET /images/get?names=A&names=B`.
async fn save_many(State(ctx): State<Ctx>, Query(q): Query<Vec<(String, String)>>) -> ApiResult<Response> {
    let names = q.into_iter().filter(|(k, _)| k == "names").map(|(_, v)| v).collect();
    transfer::save(ctx, names).await
}

/// `GET NAME/json`, `GET NAME/history`, `POST NAME/tag`, `POST NAME/push`,
/// `GET NAME/get`, `DELETE NAME`.
async fn image(
    State(ctx): State<Ctx>,
    method: Method,
    headers: HeaderMap,
    Path(rest): Path<String>,
    Query(q): Params,
) -> ApiResult<Response> {
    let (name, what) = match rest.rsplit_once('/') {
        Some((n, w @ ("json" | "history" | "tag" | "push" | "get"))) => (n.to_owned(), w),
        _ => (rest.clone(), ""),
    };
    match (method, what) {
        (Method::POST, "push") => transfer::push(ctx, name, &headers, &q).await,
        (Method::GET, "get") => transfer::save(ctx, vec![name]).await,
        (Method::GET, "json") => {
            let v = blocking(&ctx, move |store| {
                let id = store.resolve(&name).map_err(|_| Error::not_found(format!("No such image: {name}")))?;
                engine::images::inspect(store, &id)
            })
            .await?;
            Ok(json(StatusCode::OK, &v))
        }
        (Method::GET, "history") => {
            let items = blocking(&ctx, move |store| engine::images::history(store, &name)).await?;
            let items: Vec<serde_json::Value> = items.into_iter().map(history_item).collect();
            Ok(json(StatusCode::OK, &items))
        }
        (Method::POST, "tag") => {
            let repo = q.get("repo").cloned().unwrap_or_default();
            let target = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            blocking(&ctx, move |store| engine::images::tag(store, &name, &target)).await?;
            Ok(crate::http::empty(StatusCode::CREATED))
        }
        (Method::DELETE, "") => {
            let force = truthy(q.get("force").map(String::as_str));
            let items = blocking(&ctx, move |store| {
                engine::images::remove_all(store, std::slice::from_ref(&name), force)?.remove(0)
            })
            .await?;
            Ok(json(StatusCode::OK, &items))
        }
        (m, _) => Err(ApiError(Error::not_found(format!("page not found: {m} /images/{rest}")))),
    }
}

/// docker's `HistoryResponseItem`: `Created` in Unix seconds, `Tags`.
fn history_item(h: engine::images::HistoryItem) -> serde_json::Value {
    let created = engine::time::parse(&h.created)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    serde_json::json!({
        "Id": h.id, "Created": created, "CreatedBy": h.created_by, "Tags": null, "Size": h.size, "Comment": h.comment,
    })
}
