//! Images that cross the socket or a registry: `POST /images/create`
//! (pull, or import with `fromSrc`), `POST /images/{name}/push`,
//! `POST /auth`, `GET /images/get` and `/images/{name}/get` (save),
//! `POST /images/load`. Progress streams as dockerd's JSON lines; an
//! error before the first line is the answer's status, after it an
//! `{"error": ...}` line, as dockerd does.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use engine::Error;
use image::Reference;
use registry::{auth::Credentials, Event, Options, Platform};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;
use tokio::sync::oneshot;

use crate::http::{blocking, body_reader, json, json_header, streamed, ApiError, ApiResult};
use crate::Ctx;

type Params = Query<HashMap<String, String>>;

/// The credentials of `X-Registry-Auth` (base64url of docker's
/// `AuthConfig` JSON); none when absent or empty.
fn registry_auth(headers: &HeaderMap) -> ApiResult<Vec<(String, Credentials)>> {
    Ok(json_header(headers, "X-Registry-Auth")?.as_ref().and_then(credentials_of).into_iter().collect())
}

/// The credentials of `X-Registry-Config` (a build's: base64url of a map
/// of docker's `AuthConfig` by registry).
pub fn registry_config(headers: &HeaderMap) -> ApiResult<Vec<(String, Credentials)>> {
    let Some(Value::Object(map)) = json_header(headers, "X-Registry-Config")? else { return Ok(Vec::new()) };
    let named = |(server, cfg): (&String, &Value)| credentials_of(cfg).map(|(_, c)| (registry_name(server), c));
    Ok(map.iter().filter_map(named).collect())
}

/// A registry and its credentials from docker's `AuthConfig`.
fn credentials_of(v: &Value) -> Option<(String, Credentials)> {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let server = field("serveraddress");
    let token = field("identitytoken");
    let creds = if !token.is_empty() {
        Credentials { username: "<token>".into(), secret: token }
    } else if !field("username").is_empty() {
        Credentials { username: field("username"), secret: field("password") }
    } else {
        return None;
    };
    Some((registry_name(&server), creds))
}

/// docker's registry key for a server address (`https://host/v1/` → host).
fn registry_name(server: &str) -> String {
    let s = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://")).unwrap_or(server);
    let s = s.trim_end_matches('/').trim_end_matches("/v1").trim_end_matches("/v2");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// A JSON line of a progress stream.
fn line(v: Value) -> Bytes {
    Bytes::from(format!("{v}\r\n"))
}

fn error_line(msg: &str) -> Bytes {
    line(json!({"errorDetail": {"message": msg}, "error": msg}))
}

/// A transfer's progress as dockerd's lines, sent on `tx`; the first
/// event (or the end) answers `started`.
struct Lines<'a> {
    tx: &'a Sender<Bytes>,
    started: Mutex<Option<oneshot::Sender<engine::Result<()>>>>,
    words: [&'static str; 4],
}

impl Lines<'_> {
    fn start(&self) {
        if let Some(s) = self.started.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = s.send(Ok(()));
        }
    }

    /// The failure before anything was sent: the answer's status.
    fn fail_early(&self, e: Error) -> bool {
        match self.started.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(s) => s.send(Err(e)).is_ok(),
            None => false,
        }
    }

    fn send(&self, v: Value) {
        self.start();
        let _ = self.tx.blocking_send(line(v));
    }
}

impl registry::Progress for Lines<'_> {
    fn event(&self, e: Event) {
        let [start, moving, done, exists] = self.words;
        let v = match e {
            Event::Started { id, .. } => json!({"status": start, "progressDetail": {}, "id": id}),
            Event::Progress { id, done: n, total } => {
                json!({"status": moving, "progressDetail": {"current": n, "total": total}, "id": id})
            }
            Event::Exists { id } => json!({"status": exists, "progressDetail": {}, "id": id}),
            Event::Mounted { id, from } => {
                json!({"status": format!("Mounted from {from}"), "progressDetail": {}, "id": id})
            }
            Event::Done { id } => json!({"status": done, "progressDetail": {}, "id": id}),
            Event::Retrying { id, reason } => json!({"status": format!("Retrying ({reason})"), "id": id}),
        };
        self.send(v);
    }
}

/// Runs `work` on a blocking thread with a progress stream: its error
/// before the first line is the answer, later ones end the stream.
async fn stream_progress(
    ctx: &Ctx,
    words: [&'static str; 4],
    work: impl FnOnce(&Lines) -> engine::Result<()> + Send + 'static,
) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let (started_tx, started_rx) = oneshot::channel();
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let lines = Lines { tx: &tx, started: Mutex::new(Some(started_tx)), words };
        if let Err(e) = work(&lines) {
            if !lines.fail_early(e.clone()) {
                let _ = tx.blocking_send(error_line(e.message()));
            }
        }
        lines.start();
    });
    started_rx.await.unwrap_or(Ok(()))?;
    Ok(streamed("application/json", rx))
}

/// `POST /images/create`: `fromImage` (+ `tag`, `platform`) pulls;
/// `fromSrc=-` imports the body as a rootfs tarball.
pub async fn create(State(ctx): State<Ctx>, headers: HeaderMap, Query(q): Params, body: Body) -> ApiResult<Response> {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    if let Some(src) = get("fromSrc") {
        return import(ctx, &q, src, body).await;
    }
    let image = get("fromImage").ok_or_else(|| ApiError(Error::invalid("fromImage or fromSrc is required")))?;
    let name = match get("tag") {
        Some(t) if t.contains(':') => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image,
    };
    let r = Reference::parse(&name).map_err(|e| ApiError(Error::invalid(format!("invalid reference format: {e}"))))?;
    let platform = match get("platform") {
        Some(p) => Platform::parse(&p).map_err(|e| ApiError(Error::invalid(e.to_string())))?,
        None => Platform::host(),
    };
    let opts = Options { credentials: registry_auth(&headers)?, ..engine::registry::options(None) };
    let root = ctx.root.clone();
    stream_progress(&ctx, ["Pulling fs layer", "Downloading", "Pull complete", "Already exists"], move |lines| {
        let what = r.tag().map_or_else(|| r.digest().map(|d| d.to_string()).unwrap_or_default(), str::to_owned);
        let first = line(json!({"status": format!("Pulling from {}", r.path()), "id": what}));
        let _ = lines.tx.blocking_send(first);
        let pulled = engine::registry::pull(&root, &r, &platform, &opts, lines)?;
        lines.send(json!({"status": format!("Digest: {}", pulled.digest)}));
        let status = if pulled.fetched == 0 { "Image is up to date for" } else { "Downloaded newer image for" };
        lines.send(json!({"status": format!("Status: {status} {}", r.familiar())}));
        Ok(())
    })
    .await
}

/// `fromSrc=-`: the body is a rootfs tarball; `repo`, `tag`, `message`,
/// `changes` as `docker import`'s flags.
async fn import(ctx: Ctx, q: &HashMap<String, String>, src: String, body: Body) -> ApiResult<Response> {
    if src != "-" {
        return Err(ApiError(Error::invalid("importing from a URL is not supported: send the tarball (fromSrc=-)")));
    }
    let reference = q.get("repo").filter(|r| !r.is_empty()).map(|r| match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{r}:{t}"),
        None => r.clone(),
    });
    let changes: Vec<String> = q.get("changes").map(|c| vec![c.clone()]).unwrap_or_default();
    let opts = engine::images::ImportOptions {
        reference,
        changes,
        message: q.get("message").filter(|m| !m.is_empty()).cloned(),
        source: "-".into(),
        platform: q.get("platform").filter(|p| !p.is_empty()).cloned(),
    };
    let reader = body_reader(body);
    let id = blocking(&ctx, move |store| engine::images::import(store, reader, &opts)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.send(line(json!({ "status": id.to_string() }))).await;
    Ok(streamed("application/json", rx))
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(ctx: Ctx, name: String, headers: &HeaderMap, q: &HashMap<String, String>) -> ApiResult<Response> {
    // No tag: every tag of the repository, as dockerd pushes them.
    let (target, all_tags) = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => (format!("{name}:{t}"), false),
        None => (name.clone(), Reference::parse_named(&name).is_ok_and(|n| n.tag().is_none() && n.digest().is_none())),
    };
    let targets = blocking(&ctx, move |store| engine::registry::push_targets(store, &target, all_tags)).await?;
    let opts = Options { credentials: registry_auth(headers)?, ..engine::registry::options(None) };
    let root = ctx.root.clone();
    stream_progress(&ctx, ["Preparing", "Pushing", "Pushed", "Layer already exists"], move |lines| {
        let repo = targets.first().map(|t| t.repository()).unwrap_or_default();
        let _ = lines.tx.blocking_send(line(json!({ "status": format!("The push refers to repository [{repo}]") })));
        for t in &targets {
            let pushed = engine::registry::push(&root, t, store::Codec::Gzip, &opts, lines)?;
            let tag = t.tag().unwrap_or("latest");
            lines.send(json!({"status": format!("{tag}: digest: {} size: {}", pushed.digest, pushed.size)}));
            lines.send(json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": pushed.digest.to_string(), "Size": pushed.size}}));
        }
        Ok(())
    })
    .await
}

/// `POST /auth`: checks the credentials against the registry (docker's
/// CLI stores them itself).
pub async fn auth(State(ctx): State<Ctx>, body: Bytes) -> ApiResult<Response> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))?;
    let (server, creds) = credentials_of(&v).ok_or_else(|| ApiError(Error::invalid("a username is required")))?;
    let opts = engine::registry::options(None);
    blocking(&ctx, move |_| {
        registry::login(&server, &creds, &opts).map_err(|e| {
            let e = Error::from(e);
            Error::new(engine::ErrorKind::Unauthorized, e.message())
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &json!({"Status": "Login Succeeded", "IdentityToken": ""})))
}

/// `GET /images/get?names=...` and `GET /images/{name}/get`: a docker
/// archive of the images, streamed.
pub async fn save(ctx: Ctx, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError(Error::invalid("no image names given")));
    }
    let check = names.clone();
    blocking(&ctx, move |store| {
        for n in &check {
            store.resolve(n).map_err(|_| Error::not_found(format!("No such image: {n}")))?;
        }
        Ok(())
    })
    .await?;
    Ok(crate::http::stream_written(&ctx, "application/x-tar", move |store, out| {
        let target = engine::archive::SaveTarget::Stream(out);
        engine::archive::save(store, &names, engine::archive::SaveFormat::DockerArchive, store::Codec::Gzip, target)
    }))
}

/// `POST /images/load`: the body is an image archive. `quiet` only
/// silences progress, which a load here has none of: the `Loaded image`
/// lines come either way, as dockerd's.
pub async fn load(State(ctx): State<Ctx>, body: Body) -> ApiResult<Response> {
    let reader = body_reader(body);
    let loaded = blocking(&ctx, move |store| engine::archive::load(store, reader)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(loaded.len().max(1) * 2);
    for l in &loaded {
        if l.names.is_empty() {
            let _ = tx.send(line(json!({ "stream": format!("Loaded image ID: {}\n", l.id) }))).await;
        }
        for n in &l.names {
            let _ = tx.send(line(json!({ "stream": format!("Loaded image: {}\n", n.familiar()) }))).await;
        }
    }
    drop(tx);
    Ok(streamed("application/json", rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn registry_auth_reads_dockers_header() {
        let cfg = json!({"username": "u", "password": "p", "serveraddress": "https://127.0.0.1:5000/v1/"});
        let enc = base64::engine::general_purpose::URL_SAFE.encode(cfg.to_string());
        let mut h = HeaderMap::new();
        h.insert("X-Registry-Auth", enc.parse().expect("a header"));
        let got = registry_auth(&h).expect("decodes");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "127.0.0.1:5000");
        assert_eq!(got[0].1.username, "u");
        assert!(registry_auth(&HeaderMap::new()).expect("none").is_empty());
        let empty = base64::engine::general_purpose::URL_SAFE.encode("{}");
        h.insert("X-Registry-Auth", empty.parse().expect("a header"));
        assert!(registry_auth(&h).expect("anonymous").is_empty());
    }

    #[test]
    fn docker_hub_has_one_name() {
        assert_eq!(registry_name("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_name("localhost:5000"), "localhost:5000");
    }
}
