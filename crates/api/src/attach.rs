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
    let keys = q.get("detachKeys").filter(|k| !k.is_empty()).map_or("ctrl-p,ctrl-q", String::as_str);
    let detach = engine::attach::parse_detach_keys(keys)?;
    let with_logs = flag("logs");
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
    let past = if with_logs {
        let key = id.clone();
        blocking(&ctx, move |store| past_output(store, &key, tty, (stdout, stderr))).await?
    } else {
        Vec::new()
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
            let input = (stdin && open_stdin).then(|| engine::attach::DetachKeys::new(detach));
            let session = Session { tty, input, wanted: (stdout, stderr), past };
            relay(hyper_util::rt::TokioIo::new(conn), sock, session).await;
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

/// `logs=1`: what the container wrote so far, framed as the stream is.
fn past_output(store: &mut Store, id: &str, tty: bool, wanted: (bool, bool)) -> engine::Result<Vec<u8>> {
    let (_, entries) = engine::logging::LogReader::open(store, id, Default::default())?;
    let mut out = Vec::new();
    for e in entries {
        let (stream, on) = match e.stream {
            runtime::logs::Stream::Stdout => (1, wanted.0),
            runtime::logs::Stream::Stderr => (2, wanted.1),
        };
        if on {
            out.extend(crate::logs::framed(e.log.as_bytes(), stream, tty));
        }
    }
    Ok(out)
}

/// What an attach relays: its output streams (and the log so far), and
/// the client's input with docker's detach keys watched for.
struct Session {
    tty: bool,
    input: Option<engine::attach::DetachKeys>,
    wanted: (bool, bool),
    past: Vec<u8>,
}

/// Monitor → client: the output frames as docker's, until the exit.
/// Client → monitor: its bytes as input, and its half-close as the end
/// of the container's stdin; the detach keys end the attach alone (the
/// container goes on).
async fn relay<C>(conn: C, sock: UnixStream, session: Session)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Session { tty, input, wanted, past } = session;
    let (mut from_client, mut to_client) = tokio::io::split(conn);
    // None: the output ended, or the client typed the detach keys.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    let had_past = !past.is_empty();
    if had_past && tx.send(Some(past)).await.is_err() {
        return;
    }
    let Ok(mut reader) = sock.try_clone() else { return };
    // The monitor's socket is blocking: a thread reads it.
    let output = tx.clone();
    std::thread::spawn(move || {
        while let Ok(Some(frame)) = read_frame(&mut reader) {
            let chunk = match frame {
                Frame::Stdout(b) if wanted.0 => crate::logs::framed(&b, 1, tty),
                Frame::Stderr(b) if wanted.1 => crate::logs::framed(&b, 2, tty),
                Frame::Exit(_) => break,
                _ => continue,
            };
            if output.blocking_send(Some(chunk)).is_err() {
                break;
            }
        }
        // The output is over: the connection ends even while the input
        // side still holds a sender for the detach keys.
        let _ = output.blocking_send(None);
    });
    if let Some(mut keys) = input {
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
        let detached = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from_client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => match keys.feed(&buf[..n]) {
                        engine::attach::Scan::Pass(b) => {
                            if in_tx.send(Some(b)).is_err() {
                                return;
                            }
                        }
                        engine::attach::Scan::Detach => {
                            let _ = detached.send(None).await;
                            return;
                        }
                    },
                }
            }
            let _ = in_tx.send(None);
        });
    }
    drop(tx);
    // docker-py reads the 101's headers through a buffer, then the raw
    // socket: output that arrives with the headers (the log so far, sent
    // at once) is lost to it. That output waits a moment.
    if had_past {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    while let Some(Some(chunk)) = rx.recv().await {
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
