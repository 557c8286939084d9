//! `GET /containers/{id}/logs`: the json-file log, streamed as docker's
//! daemon streams it: raw for a TTY container, otherwise in docker's
//! multiplexed frames (an 8-byte header naming the stream and the length).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::logging::{Entry, LogReader, LogsOptions};
use runtime::logs::Stream;
use store::Store;

use crate::http::{blocking, truthy, ApiError, ApiResult};
use crate::Ctx;

/// What the query asks for.
struct Wanted {
    stdout: bool,
    stderr: bool,
    follow: bool,
    timestamps: bool,
    opts: LogsOptions,
}

pub async fn logs(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let flag = |k: &str| truthy(q.get(k).map(String::as_str));
    let wanted = Wanted {
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        follow: flag("follow"),
        timestamps: flag("timestamps"),
        opts: LogsOptions {
            tail: q.get("tail").filter(|t| t.as_str() != "all").and_then(|t| t.parse().ok()),
            since: q.get("since").and_then(|s| unix_time(s)),
            until: q.get("until").and_then(|s| unix_time(s)),
            details: flag("details"),
        },
    };
    if !wanted.stdout && !wanted.stderr {
        return Err(ApiError(engine::Error::invalid("Bad parameters: you must choose at least one stream")));
    }
    let key = id.clone();
    let (id, tty) = blocking(&ctx, move |store| {
        let rec = engine::lifecycle::lookup(store, &key)?;
        Ok((rec.id.clone(), engine::container::load_config(&rec).tty))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let root = ctx.root.clone();
    let busy = ctx.busy();
    // The first read's error is the answer; later ones end the stream.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<engine::Result<()>>();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut first = Some(first_tx);
        let result = stream(&root, &id, &wanted, tty, &tx, &mut first);
        if let (Some(f), Err(e)) = (first, result) {
            let _ = f.send(Err(e));
        }
    });
    first_rx.await.unwrap_or(Ok(()))?;
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    }));
    let kind = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response())
}

/// Reads the log (and follows it) into `tx`, saying on `first` whether
/// the log could be opened.
fn stream(
    root: &std::path::Path,
    id: &str,
    wanted: &Wanted,
    tty: bool,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    first: &mut Option<tokio::sync::oneshot::Sender<engine::Result<()>>>,
) -> engine::Result<()> {
    let mut store = Store::open(root)?;
    let (mut reader, entries) = LogReader::open(&mut store, id, wanted.opts.clone())?;
    if let Some(f) = first.take() {
        let _ = f.send(Ok(()));
    }
    let send =
        |entries: Vec<Entry>| entries.iter().filter_map(|e| frame(e, wanted, tty)).all(|b| tx.blocking_send(b).is_ok());
    if !send(entries) {
        return Ok(());
    }
    while wanted.follow && !reader.finished() && !tx.is_closed() {
        std::thread::sleep(Duration::from_millis(50));
        if !send(reader.next_batch(&mut store)?) {
            break;
        }
    }
    Ok(())
}

/// One entry as docker sends it: its line (after its time, with
/// `timestamps`), framed unless the container has a TTY.
fn frame(e: &Entry, wanted: &Wanted, tty: bool) -> Option<Bytes> {
    let (kind, on) = match e.stream {
        Stream::Stdout => (1u8, wanted.stdout),
        Stream::Stderr => (2u8, wanted.stderr),
    };
    if !on {
        return None;
    }
    let mut line = Vec::new();
    if wanted.timestamps {
        line.extend_from_slice(e.time.as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(e.log.as_bytes());
    Some(framed(&line, kind, tty).into())
}

/// `bytes` of `stream` (1 stdout, 2 stderr) as docker sends them: as they
/// are for a TTY, else after the 8-byte header (stream, three zeros, the
/// length in big-endian).
pub fn framed(bytes: &[u8], stream: u8, tty: bool) -> Vec<u8> {
    if tty {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// docker's `since`/`until`: Unix seconds, with a fraction.
fn unix_time(s: &str) -> Option<SystemTime> {
    let secs: f64 = s.parse().ok().filter(|v: &f64| *v > 0.0)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_length() {
        let wanted =
            Wanted { stdout: true, stderr: false, follow: false, timestamps: false, opts: LogsOptions::default() };
        let e = Entry { stream: Stream::Stdout, log: "hi\n".into(), time: "2024-01-01T00:00:00Z".into() };
        assert_eq!(frame(&e, &wanted, false).expect("a frame").as_ref(), b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n");
        assert_eq!(frame(&e, &wanted, true).expect("a frame").as_ref(), b"hi\n");
        let err = Entry { stream: Stream::Stderr, ..e };
        assert!(frame(&err, &wanted, false).is_none(), "stderr was not asked for");
    }
}
