//! `POST /build`: the classic builder API (`DOCKER_BUILDKIT=0`, compose,
//! docker-py). The body is the context as a tar; the answer streams the
//! classic builder's JSON lines (`{"stream": ...}`, `{"aux": {"ID": ...}}`,
//! `{"error": ...}`), ending with the `Successfully built` and
//! `Successfully tagged` lines that docker-py and compose look for.
//! The build runs in a child (`engine::build::BuildChild`). BuildKit's
//! session API (`/session`, `/grpc`) is not served.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use builder::{BuildError, BuildEvent, BuildInput, BuildOptions};
use engine::build::{BuildChild, BuildRequest};
use engine::Error;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use crate::http::{blocking, body_reader, json_error, streamed, truthy, ApiError, ApiResult};
use crate::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new().route("/build", post(build)).route("/session", post(session)).route("/grpc", post(session))
}

/// BuildKit's session endpoints: not served (the classic builder is).
async fn session() -> Response {
    let msg = "wharf serves the classic builder API only: BuildKit's session API is not supported \
               (set DOCKER_BUILDKIT=0 for the docker CLI and compose)";
    json_error(StatusCode::NOT_IMPLEMENTED, msg)
}

/// The query's options, as dockerd reads them (`t` may repeat).
fn request(q: &[(String, String)], dockerfile: Vec<u8>, input_dir: std::path::PathBuf) -> ApiResult<BuildRequest> {
    let get = |k: &str| q.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let map = |k: &str| -> ApiResult<BTreeMap<String, String>> {
        let Some(raw) = get(k).filter(|v| !v.is_empty()) else { return Ok(BTreeMap::new()) };
        let m: BTreeMap<String, Option<String>> =
            serde_json::from_str(raw).map_err(|e| ApiError(Error::invalid(format!("invalid {k} JSON: {e}"))))?;
        // A build arg given with no value (null) takes none, as dockerd's.
        Ok(m.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    };
    let name = get("dockerfile").filter(|d| !d.is_empty()).unwrap_or("Dockerfile");
    let options = BuildOptions {
        build_args: map("buildargs")?,
        target: get("target").filter(|t| !t.is_empty()).map(str::to_owned),
        no_cache: truthy(get("nocache")),
        pull: truthy(get("pull")),
        labels: map("labels")?,
        network_mode: get("networkmode").filter(|n| !n.is_empty()).unwrap_or("default").to_owned(),
        platform: get("platform").filter(|p| !p.is_empty()).map(str::to_owned),
        ..BuildOptions::default()
    };
    let tags = q.iter().filter(|(k, v)| k == "t" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    let dockerfile_name = std::path::Path::new(name).file_name().map_or(name.into(), |n| n.to_string_lossy().into());
    let input = BuildInput { dockerfile, dockerfile_name, context: input_dir };
    Ok(BuildRequest { input, options, tags, registry_logins: Vec::new(), cache_to: Vec::new(), cache_from: Vec::new() })
}

async fn build(
    State(ctx): State<Ctx>,
    headers: axum::http::HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult<Response> {
    let logins: Vec<engine::build::RegistryLogin> = crate::transfer::registry_config(&headers)?
        .into_iter()
        .map(|(registry, c)| engine::build::RegistryLogin { registry, username: c.username, secret: c.secret })
        .collect();
    if q.iter().any(|(k, v)| k == "remote" && !v.is_empty()) {
        return Err(ApiError(Error::invalid("remote build contexts are not supported: send the context as a tar")));
    }
    if let Some((_, p)) = q.iter().find(|(k, v)| k == "platform" && !v.is_empty()) {
        builder::config::check_platform(p).map_err(|e| ApiError(Error::invalid(e)))?;
    }
    engine::build::parse_tags(&q.iter().filter(|(k, _)| k == "t").map(|(_, v)| v.clone()).collect::<Vec<_>>())?;
    let quiet = truthy(q.iter().rev().find(|(k, _)| k == "q").map(|(_, v)| v.as_str()));
    let reader = body_reader(body);
    // The context first: a bad tar or a missing Dockerfile is a 4xx
    // answer, not a stream.
    let (dir, req) = blocking(&ctx, move |store| {
        let dir = engine::build::unpack_context(store, reader)?;
        let req = read_dockerfile(&q, &dir).map(|r| engine::build::BuildRequest { registry_logins: logins, ..r });
        match req {
            Ok(r) => Ok((dir, r)),
            Err(e) => {
                let _ = image::layer::remove_tree(&dir);
                Err(e.0)
            }
        }
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let root = ctx.root.clone();
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        run(&root, &dir, &req, quiet, &tx);
        let _ = image::layer::remove_tree(&dir);
    });
    Ok(streamed("application/json", rx))
}

/// The request, with the Dockerfile read from the context.
fn read_dockerfile(q: &[(String, String)], dir: &std::path::Path) -> ApiResult<BuildRequest> {
    let name = q.iter().rev().find(|(k, v)| k == "dockerfile" && !v.is_empty()).map_or("Dockerfile", |(_, v)| v);
    let rel = builder::context::clean_rel(name);
    let path = builder::context::resolve_in(dir, &rel, true)
        .map_err(|e| ApiError(Error::invalid(format!("the Dockerfile {name:?}: {e}"))))?;
    let dockerfile = std::fs::read(&path)
        .map_err(|_| ApiError(Error::invalid(format!("Cannot locate specified Dockerfile: {name}"))))?;
    request(q, dockerfile, dir.to_owned())
}

/// Runs the build in a child, sending its progress as the classic
/// builder's lines; the child is stopped when the client goes away.
fn run(root: &std::path::Path, dir: &std::path::Path, req: &BuildRequest, quiet: bool, tx: &Sender<Bytes>) {
    let job = dir.join("job");
    let send = |v: Value| tx.blocking_send(Bytes::from(format!("{v}\r\n"))).is_ok();
    if let Err(e) = std::fs::create_dir(&job) {
        send(error_line(&format!("making the build's job directory: {e}")));
        return;
    }
    let mut child = match BuildChild::start(root, &job, req) {
        Ok(c) => c,
        Err(e) => {
            send(error_line(e.message()));
            return;
        }
    };
    let mut lines = Lines::default();
    while let Some(ev) = child.next_event() {
        let text = lines.render(ev);
        if !quiet && !text.is_empty() && !send(json!({ "stream": text })) {
            child.kill();
        }
    }
    match child.finish() {
        Ok(id) => {
            send(json!({"aux": {"ID": id.to_string()}}));
            if quiet {
                send(json!({ "stream": format!("{id}\n") }));
                return;
            }
            send(json!({ "stream": format!("Successfully built {}\n", &id.hex()[..12]) }));
            for t in engine::build::parse_tags(&req.tags).unwrap_or_default() {
                send(json!({ "stream": format!("Successfully tagged {}\n", t.familiar()) }));
            }
        }
        Err(BuildError::Invalid(m) | BuildError::Failed(m)) => {
            send(error_line(&m));
        }
    }
}

/// docker's error line in a build stream.
fn error_line(msg: &str) -> Value {
    json!({"errorDetail": {"message": msg}, "error": msg})
}

/// The builder's events as the classic builder's text: `Step N/M : ...`
/// for each step, its output, ` ---> Using cache`.
#[derive(Default)]
struct Lines {
    /// Whether the last output ended its line.
    open_line: bool,
}

impl Lines {
    fn render(&mut self, ev: BuildEvent) -> String {
        let mut out = String::new();
        let mut line = |out: &mut String, s: &str| {
            if self.open_line {
                out.push('\n');
                self.open_line = false;
            }
            out.push_str(s);
        };
        match ev {
            BuildEvent::Begin { name, .. } => {
                if let Some(title) = step_title(&name) {
                    line(&mut out, &format!("{title}\n"));
                }
            }
            BuildEvent::Cached { .. } => line(&mut out, " ---> Using cache\n"),
            BuildEvent::Output { text, .. } => {
                let text = String::from_utf8_lossy(&text).into_owned();
                self.open_line = !text.ends_with('\n');
                out.push_str(&text);
            }
            BuildEvent::Warn { msg } => line(&mut out, &format!("[WARNING]: {msg}\n")),
            BuildEvent::Note { .. } | BuildEvent::Done { .. } | BuildEvent::Error { .. } => {}
        }
        out
    }
}

/// `[stage 2/3] RUN x` → `Step 2/3 : RUN x`; the builder's internal
/// steps (`[internal] load ...`) are not the classic builder's.
fn step_title(name: &str) -> Option<String> {
    let rest = name.strip_prefix('[')?;
    let (label, instruction) = rest.split_once("] ")?;
    let count = label.rsplit(' ').next()?;
    let (n, m) = count.split_once('/')?;
    (n.parse::<u32>().is_ok() && m.parse::<u32>().is_ok()).then(|| format!("Step {n}/{m} : {instruction}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_the_classic_builders() {
        assert_eq!(step_title("[2/3] RUN echo hi").as_deref(), Some("Step 2/3 : RUN echo hi"));
        assert_eq!(step_title("[build 1/2] FROM localhost/bb").as_deref(), Some("Step 1/2 : FROM localhost/bb"));
        assert_eq!(step_title("[internal] load build definition from Dockerfile"), None);
    }

    #[test]
    fn output_lines_are_closed_before_the_next_step() {
        let mut l = Lines::default();
        assert_eq!(l.render(BuildEvent::Output { n: 1, text: b"partial".to_vec() }), "partial");
        assert_eq!(l.render(BuildEvent::Cached { n: 2 }), "\n ---> Using cache\n");
    }

    #[test]
    fn build_args_without_a_value_are_left_out() {
        let q = vec![
            ("t".to_owned(), "a:1".to_owned()),
            ("t".to_owned(), "b".to_owned()),
            ("buildargs".to_owned(), r#"{"A":"1","B":null}"#.to_owned()),
            ("nocache".to_owned(), "1".to_owned()),
        ];
        let req = request(&q, b"FROM x".to_vec(), "/ctx".into()).expect("a request");
        assert_eq!(req.tags, ["a:1", "b"]);
        assert_eq!(req.options.build_args.get("A").map(String::as_str), Some("1"));
        assert!(!req.options.build_args.contains_key("B"));
        assert!(req.options.no_cache);
        assert_eq!(req.options.network_mode, "default");
    }
}
