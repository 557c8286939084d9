//! `/_ping`, `/version` and `/info`.

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::http::{blocking, json, ApiResult, API_VERSION, MIN_API_VERSION};
use crate::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new().route("/_ping", get(ping).head(ping)).route("/version", get(version)).route("/info", get(info))
}

/// docker's ping: `OK` (nothing for HEAD), the builder the server has
/// (`1`: the classic one; BuildKit's session API is not served).
async fn ping(method: Method) -> Response {
    let headers = [
        ("Builder-Version", "1"),
        (header::CACHE_CONTROL.as_str(), "no-cache, no-store, must-revalidate"),
        (header::PRAGMA.as_str(), "no-cache"),
    ];
    match method {
        Method::HEAD => (StatusCode::OK, headers).into_response(),
        _ => (StatusCode::OK, headers, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK").into_response(),
    }
}

async fn version() -> Response {
    let mut v = engine::system::version(option_env!("WHARF_GIT_COMMIT").unwrap_or(""));
    v["ApiVersion"] = API_VERSION.into();
    v["MinAPIVersion"] = MIN_API_VERSION.into();
    v["GitCommit"] = option_env!("WHARF_GIT_COMMIT").unwrap_or("").into();
    v["GoVersion"] = "".into();
    v["KernelVersion"] = kernel().into();
    v["BuildTime"] = "".into();
    v["Experimental"] = false.into();
    // docker's CLI prints the server's engine from its component's details.
    let details = serde_json::json!({
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": v["GitCommit"], "GoVersion": "",
        "Os": v["Os"], "Arch": v["Arch"], "KernelVersion": v["KernelVersion"], "BuildTime": "", "Experimental": "false",
    });
    if let Some(engine) = v["Components"].as_array_mut().and_then(|c| c.first_mut()) {
        if let (Some(d), Some(more)) = (engine["Details"].as_object_mut(), details.as_object()) {
            d.extend(more.clone());
        }
    }
    json(StatusCode::OK, &v)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}

async fn info(State(ctx): State<Ctx>) -> ApiResult<Response> {
    let mut v: Value = blocking(&ctx, |store| engine::system::info(store)).await?;
    v["Runtimes"] = serde_json::json!({"wharf": {"path": "wharf"}});
    v["DefaultRuntime"] = "wharf".into();
    v["ID"] = v["Name"].clone();
    Ok(json(StatusCode::OK, &v))
}
