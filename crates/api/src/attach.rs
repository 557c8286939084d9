//! `POST /containers/{id}/attach`: the container's output and input on a
//! hijacked connection (101 UPGRADED), relayed to and from its monitor's
//! attach socket; docker's frames without a TTY. Attaching comes before
//! the start in docker's `run` and `start -a`: a created container is
//! started by a monitor that waits for this attach (engine::attach).

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::{ContainerState, Error};
use runtime::attach::{read_frame, send_all, Frame};
use store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::http::{blocking, truthy, ApiResult};
use crate::Ctx;

/// Attaches waiting for the start, by container ID: the start hands each
/// the monitor's socket.
pub type Pending = Arc<Mutex<HashMap<String, Vec<oneshot::Sender<UnixStream>>>>>;

pub async fn attach(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> ApiResult<Response> {
    let flag = |k: &str| truthy(q.get(k).map(String::as_str));
    let (stdin, stdout, stderr) = (flag("stdin"), flag("stdout"), flag("stderr"));
    // A running container's monitor now; any other's once it is started.
    let (id, running, tty, open_stdin) = blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &id)?;
        let cfg = engine::container::load_config(&rec);
        match rec.state {
            ContainerState::Paused => Err(Error::conflict("You cannot attach to a paused container, unpause it first")),
            s => Ok((rec.id.clone(), s == ContainerState::Running, cfg.tty, cfg.open_stdin)),
        }
    })
    .await?;
    let sock = if running {
        let key = id.clone();
        Some(blocking(&ctx, move |store| Ok(engine::attach::connect(store, &key)?.sock)).await?)
    } else {
        None
    };
    let waiting = match sock {
        Some(_) => None,
        None => {
            let (tx, rx) = oneshot::channel();
            ctx.pending.lock().unwrap_or_else(|e| e.into_inner()).entry(id.clone()).or_default().push(tx);
            Some(rx)
        }
    };
    let upgrade = hyper::upgrade::on(&mut req);
    let busy = ctx.busy();
    tokio::spawn(async move {
        let sock = match (sock, waiting) {
            (Some(s), _) => Some(s),
            (None, Some(rx)) => rx.await.ok(),
            (None, None) => None,
        };
        if let (Ok(conn), Some(sock)) = (upgrade.await, sock) {
            relay(hyper_util::rt::TokioIo::new(conn), sock, tty, stdin && open_stdin, (stdout, stderr)).await;
        }
        drop(busy);
    });
    Ok(crate::http::upgraded(tty))
}

/// Starts container `id` for the attaches waiting on it: its monitor
/// starts it once the first is connected; the others connect after.
pub fn start_for_waiting(store: &mut Store, id: &str, waiting: Vec<oneshot::Sender<UnixStream>>) -> engine::Result<()> {
    let mut waiting = waiting.into_iter();
    let Some(first) = waiting.next() else { return engine::lifecycle::start(store, id) };
    let attached = engine::attach::start_attached(store, id)?;
    let _ = first.send(attached.sock);
    for w in waiting {
        if let Ok(more) = engine::attach::connect(store, id) {
            let _ = w.send(more.sock);
        }
    }
    Ok(())
}

/// Monitor → client: the output frames as docker's, until the exit.
/// Client → monitor: its bytes as input, and its half-close as the end
/// of the container's stdin.
async fn relay<C>(conn: C, sock: UnixStream, tty: bool, take_input: bool, wanted: (bool, bool))
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut from_client, mut to_client) = tokio::io::split(conn);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let Ok(mut reader) = sock.try_clone() else { return };
    // The monitor's socket is blocking: a thread reads it.
    std::thread::spawn(move || {
        while let Ok(Some(frame)) = read_frame(&mut reader) {
            let chunk = match frame {
                Frame::Stdout(b) if wanted.0 => crate::logs::framed(&b, 1, tty),
                Frame::Stderr(b) if wanted.1 => crate::logs::framed(&b, 2, tty),
                Frame::Exit(_) => break,
                _ => continue,
            };
            if tx.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    if take_input {
        let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
        let writer = sock;
        std::thread::spawn(move || {
            for chunk in in_rx {
                let frame = match chunk {
                    Some(b) => Frame::Stdin(b),
                    None => Frame::CloseStdin,
                };
                if send_all(&writer, &frame.encode()).is_err() {
                    break;
                }
            }
            let _ = (&writer).flush();
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from_client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if in_tx.send(Some(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = in_tx.send(None);
        });
    }
    while let Some(chunk) = rx.recv().await {
        if to_client.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = to_client.shutdown().await;
}

/// `?h=&w=`: the size of a TTY container's terminal, passed to its
/// monitor.
pub async fn resize(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let size = |k: &str| q.get(k).and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
    let (rows, cols) = (size("h"), size("w"));
    blocking(&ctx, move |store| {
        let attached = engine::attach::connect(store, &id)?;
        send_all(&attached.sock, &Frame::Resize { rows, cols }.encode())?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}
