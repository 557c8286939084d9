//! Exec: `POST /containers/{id}/exec` makes an exec instance (kept in the
//! server's memory, as dockerd keeps them), `POST /exec/{id}/start`
//! runs it and, unless detached, hijacks the connection (101 UPGRADED)
//! to stream its output in docker's frames (raw with a TTY) and take its
//! input; `GET /exec/{id}/json` says how it went.
//!
//! The process runs in a child of this server (`wharf internal` exec
//! job): the embedded runtime forks, which a multi-threaded server must
//! not do itself.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use engine::exec::ExecConfig;
use engine::{ContainerState, Error};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{blocking, json, ApiError, ApiResult};
use crate::Ctx;

/// The exec instances this server made, by ID.
pub type Execs = Arc<Mutex<HashMap<String, Instance>>>;

#[derive(Debug, Clone)]
pub struct Instance {
    container: String,
    config: ExecConfig,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
}

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// A container that is not running takes no exec (docker's 409).
async fn create(State(ctx): State<Ctx>, Path(key): Path<String>, body: Bytes) -> ApiResult<Response> {
    let config: ExecConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError(Error::invalid("No exec command specified")));
    }
    let container = blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &key)?;
        match rec.state {
            ContainerState::Running => Ok(rec.id),
            ContainerState::Paused => {
                Err(Error::conflict(format!("Container {} is paused, unpause the container before exec", rec.id)))
            }
            _ => Err(Error::conflict(format!("Container {} is not running", rec.id))),
        }
    })
    .await?;
    let id = engine::files::random_hex(32).map_err(|e| ApiError(e.into()))?;
    let instance = Instance { container, config, running: false, exit_code: None, pid: 0 };
    ctx.execs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), instance);
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
    console_size: Option<Vec<u16>>,
}

async fn start(State(ctx): State<Ctx>, Path(id): Path<String>, mut req: Request) -> ApiResult<Response> {
    let bytes = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError(Error::invalid(e.to_string())))?;
    let body: StartBody = if bytes.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))?
    };
    let instance = {
        let mut execs = ctx.execs.lock().unwrap_or_else(|e| e.into_inner());
        let i = execs.get_mut(&id).ok_or_else(|| ApiError(Error::not_found(format!("No such exec instance: {id}"))))?;
        if i.running || i.exit_code.is_some() {
            return Err(ApiError(Error::conflict(format!("Error: Exec command {id} has already run"))));
        }
        i.running = true;
        i.clone()
    };
    let tty = body.tty || instance.config.tty.unwrap_or(false);
    let mut config = instance.config.clone();
    config.tty = Some(tty);
    let size = body.console_size.filter(|s| s.len() == 2).map(|s| (s[0], s[1]));
    let job = engine::internal::Job::Exec {
        container: instance.container.clone(),
        config: config.clone(),
        console_size: size,
        size_file: tty.then(|| size_file(&ctx, &id)),
    };
    let stdin = config.attach_stdin.unwrap_or(false) && !body.detach;
    let mut cmd = tokio::process::Command::from(job.command(&ctx.root));
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
    let (out, err) = if body.detach { (Stdio::null(), Stdio::null()) } else { (Stdio::piped(), Stdio::piped()) };
    cmd.stdout(out).stderr(err).kill_on_drop(false);
    let mut child = cmd.spawn().map_err(|e| ApiError(Error::internal(format!("starting the exec: {e}"))))?;
    set(&ctx.execs, &id, |i| i.pid = child.id().unwrap_or(0));
    if body.detach {
        let (execs, busy) = (ctx.execs.clone(), ctx.busy());
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
            finish(&execs, &id, code);
            drop(busy);
        });
        return Ok(StatusCode::OK.into_response());
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let (execs, busy) = (ctx.execs.clone(), ctx.busy());
    tokio::spawn(async move {
        let done = |code| finish(&execs, &id, code);
        match upgrade.await {
            Ok(conn) => relay(hyper_util::rt::TokioIo::new(conn), &mut child, tty, done).await,
            Err(_) => {
                let _ = child.start_kill();
                done(child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1));
            }
        }
        drop(busy);
    });
    Ok(crate::http::upgraded(tty))
}

fn set(execs: &Execs, id: &str, f: impl FnOnce(&mut Instance)) {
    if let Some(i) = execs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
        f(i);
    }
}

/// Where a TTY exec's job reads its size on SIGWINCH.
fn size_file(ctx: &Ctx, id: &str) -> std::path::PathBuf {
    ctx.root.join("tmp").join(format!("exec-{id}.size"))
}

fn finish(execs: &Execs, id: &str, code: i32) {
    set(execs, id, |i| {
        i.running = false;
        i.exit_code = Some(code);
    });
}

/// The exec's output to the connection (framed without a TTY), the
/// connection's input to its stdin (closed when the client half-closes);
/// the connection closes once the exec has exited and its output is sent,
/// after `done` has its exit code (a client asks for it at once).
async fn relay<C>(conn: C, child: &mut tokio::process::Child, tty: bool, done: impl FnOnce(i32))
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut from_client, mut to_client) = tokio::io::split(conn);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let pump = |mut out: Box<dyn tokio::io::AsyncRead + Unpin + Send>, stream: u8| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = out.read(&mut buf).await {
                if n == 0 || tx.send(crate::logs::framed(&buf[..n], stream, tty)).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(pump(Box::new(out), 1));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(pump(Box::new(err), 2));
    }
    // `tx` lives until the exit code is recorded: the writer closes the
    // connection only then, when the client may ask for it.
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
    }
    let writer = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if to_client.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    });
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
    for p in pumps {
        let _ = p.await;
    }
    done(code);
    drop(tx);
    let _ = writer.await;
}

/// docker's `ExecInspectResponse`.
async fn inspect(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Response> {
    let i = ctx
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError(Error::not_found(format!("No such exec instance: {id}"))))?;
    let argv = i.config.cmd.clone().unwrap_or_default();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "ID": id, "Running": i.running, "ExitCode": i.exit_code, "CanRemove": false,
            "ContainerID": i.container, "DetachKeys": "", "Pid": i.pid,
            "OpenStdin": i.config.attach_stdin.unwrap_or(false),
            "OpenStdout": i.config.attach_stdout.unwrap_or(true),
            "OpenStderr": i.config.attach_stderr.unwrap_or(true),
            "ProcessConfig": {
                "tty": i.config.tty.unwrap_or(false), "entrypoint": argv.first(),
                "arguments": argv.get(1..).unwrap_or_default(), "privileged": i.config.privileged.unwrap_or(false),
                "user": i.config.user.clone().unwrap_or_default(),
            },
        }),
    ))
}

/// `?h=ROWS&w=COLS`: a running TTY exec's job gets the size in its size
/// file and SIGWINCH; before the start, `ConsoleSize` is what counts.
async fn resize(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let Some(i) = ctx.execs.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned() else {
        return Err(ApiError(Error::not_found(format!("No such exec instance: {id}"))));
    };
    let dim = |k: &str| q.get(k).and_then(|v| v.parse::<u16>().ok());
    let (Some(rows), Some(cols)) = (dim("h"), dim("w")) else {
        return Err(ApiError(Error::invalid("h and w must be numbers")));
    };
    if i.running && i.pid > 0 && i.config.tty.unwrap_or(false) {
        std::fs::write(size_file(&ctx, &id), format!("{rows} {cols}"))?;
        let _ = runtime::supervise::send_signal(i.pid as i32, libc::SIGWINCH);
    }
    Ok(StatusCode::OK.into_response())
}
