//! What every request and response shares: the `/v1.NN` prefix, docker's
//! headers, errors as `{"message": ...}` with the engine's status, and
//! running the engine off the async threads.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use store::Store;

use crate::Ctx;

/// The newest API version served (docker 25's; docker's 29 client and
/// testcontainers-java ask for 1.44 at least).
pub const API_VERSION: &str = "1.44";
/// The oldest accepted, as dockerd's.
pub const MIN_API_VERSION: &str = "1.24";

/// An engine error as docker's daemon answers one.
#[derive(Debug)]
pub struct ApiError(pub engine::Error);

impl<E: Into<engine::Error>> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        json_error(status, self.0.message())
    }
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Runs `f` on a store of its own, on a blocking thread (the engine is
/// synchronous: file locks, waits, child processes).
pub async fn blocking<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&mut Store) -> engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let root = ctx.root.clone();
    let _busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let mut store = Store::open(root.as_path())?;
        f(&mut store)
    })
    .await
    .map_err(|e| ApiError(engine::Error::internal(format!("the request's task failed: {e}"))))?
    .map_err(ApiError)
}

/// A JSON answer with docker's content type.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A flag in a query, as dockerd reads one (`httputils.BoolValue`): set
/// unless empty, `0`, `no`, `false` or `none`.
pub fn truthy(v: Option<&str>) -> bool {
    let v = v.unwrap_or_default().trim().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
}

/// docker's `filters` query parameter, `{"key": ["value", ...]}` (or the
/// old `{"key": {"value": true}}`), as the engine's `key=value` list.
pub fn filters(raw: Option<&str>) -> ApiResult<Vec<String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(Vec::new()) };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|e| ApiError(engine::Error::invalid(format!("invalid filter: {e}"))))?;
    let mut out = Vec::new();
    for (k, v) in map {
        let values: Vec<String> = match v {
            serde_json::Value::Array(a) => a.into_iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
            serde_json::Value::Object(o) => {
                o.into_iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(x, _)| x).collect()
            }
            _ => return Err(ApiError(engine::Error::invalid(format!("invalid filter '{k}'")))),
        };
        out.extend(values.into_iter().map(|x| format!("{k}={x}")));
    }
    Ok(out)
}

/// The router wrapped in what every request goes through: the version
/// prefix checked and removed, docker's headers added.
pub fn wrap(router: Router) -> Router {
    Router::new().fallback_service(router).layer(axum::middleware::map_request(strip_version)).layer(
        axum::middleware::map_response(|mut r: Response| async move {
            let h = r.headers_mut();
            h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
            h.insert("Ostype", HeaderValue::from_static("linux"));
            h.insert("Docker-Experimental", HeaderValue::from_static("false"));
            if let Ok(server) = HeaderValue::from_str(&format!("Wharf/{} (linux)", engine::system::VERSION)) {
                h.insert(header::SERVER, server);
            }
            r
        }),
    )
}

/// `/v1.44/containers/json` → `/containers/json`; a version outside
/// 1.24..=1.44 is refused as dockerd refuses it.
async fn strip_version(mut req: Request) -> Result<Request, Response> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else { return Ok(req) };
    let (version, tail) = rest.split_once('/').map_or((rest, ""), |(v, t)| (v, t));
    let Some(asked) = parse_version(version) else { return Ok(req) };
    if asked < parse_version(MIN_API_VERSION).unwrap_or_default() {
        let msg = format!("client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version");
        return Err(json_error(StatusCode::BAD_REQUEST, &msg));
    }
    if asked > parse_version(API_VERSION).unwrap_or_default() {
        let msg = format!("client version {version} is too new. Maximum supported API version is {API_VERSION}");
        return Err(json_error(StatusCode::BAD_REQUEST, &msg));
    }
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let uri: Uri = format!("/{tail}{query}").parse().map_err(|_| json_error(StatusCode::BAD_REQUEST, "bad path"))?;
    *req.uri_mut() = uri;
    Ok(req)
}

/// `1.44` as (1, 44).
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

pub async fn not_found(req: Request) -> Response {
    json_error(StatusCode::NOT_FOUND, &format!("page not found: {} {}", req.method(), req.uri().path()))
}

/// docker's answer to a hijack (attach, exec start): 101, the connection
/// upgraded to a raw stream (a TTY's) or docker's multiplexed one.
pub fn upgraded(tty: bool) -> Response {
    let kind = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "Upgrade"), (header::UPGRADE, "tcp"), (header::CONTENT_TYPE, kind)],
        Body::empty(),
    )
        .into_response()
}

/// A request body as a blocking `Read` for the engine's tar readers: a
/// task forwards its chunks as they arrive, so a large upload is never
/// held in memory whole.
pub fn body_reader(body: Body) -> BodyReader {
    use futures_util::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    BodyReader { rx, chunk: Bytes::new() }
}

/// See [`body_reader`]; read it on a blocking thread only.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// A streamed answer: what the blocking side sends on the channel, as it
/// comes.
pub fn streamed(content_type: &'static str, rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    }));
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A `Write` that sends what it is given to the answer's stream.
struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A tar (or any bytes) the engine writes on a blocking thread with a
/// store of its own, streamed as it is written (save, export, archive).
pub fn stream_written(
    ctx: &Ctx,
    content_type: &'static str,
    write: impl FnOnce(&mut Store, &mut dyn std::io::Write) -> engine::Result<()> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let root = ctx.root.clone();
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut store = Store::open(root.as_path())?;
        write(&mut store, &mut ChannelWriter(tx))
    });
    streamed(content_type, rx)
}

/// A header holding base64 (URL-safe or standard, padded or not) of
/// JSON, as docker's clients send credentials; None when absent or empty.
pub fn json_header(headers: &axum::http::HeaderMap, name: &str) -> ApiResult<Option<serde_json::Value>> {
    use base64::Engine;
    let Some(raw) = headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .map_err(|_| ApiError(engine::Error::invalid(format!("{name} is not base64"))))?;
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_default()))
}

/// An empty answer with `status`.
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_both_of_dockers_forms() {
        assert_eq!(
            filters(Some(r#"{"status":["running","exited"]}"#)).ok(),
            Some(vec!["status=running".into(), "status=exited".into()])
        );
        assert_eq!(filters(Some(r#"{"label":{"a=b":true}}"#)).ok(), Some(vec!["label=a=b".into()]));
        assert_eq!(filters(None).ok(), Some(vec![]));
        assert!(filters(Some("nope")).is_err());
    }

    #[test]
    fn flags_read_as_dockerds() {
        for on in ["1", "true", "True", "yes", "anything"] {
            assert!(truthy(Some(on)), "{on}");
        }
        for off in [None, Some(""), Some("0"), Some("false"), Some("FALSE"), Some("no"), Some("none")] {
            assert!(!truthy(off), "{off:?}");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(parse_version("1.9") < parse_version("1.24"));
        assert!(parse_version("1.44") > parse_version("1.41"));
        assert_eq!(parse_version("latest"), None);
    }
}
