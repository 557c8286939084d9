//! `GET /events`: the engine's event log, streamed as dockerd streams it
//! (one JSON object a line), in `since..until` (Unix seconds, with a
//! fraction) and through docker's `filters`; without `until` it follows
//! until the client goes away.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use engine::events::{EventReader, Filters};
use engine::Error;

use crate::http::{filters, streamed, ApiError, ApiResult};
use crate::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new().route("/events", get(events))
}

/// docker's `since`/`until`: Unix seconds, maybe with a fraction, as
/// nanoseconds.
fn nanos(k: &str, v: Option<&String>) -> ApiResult<Option<i64>> {
    let Some(v) = v.filter(|v| !v.is_empty()) else { return Ok(None) };
    let secs: f64 = v.parse().map_err(|_| ApiError(Error::invalid(format!("invalid value for {k}: {v}"))))?;
    Ok(Some((secs * 1e9) as i64))
}

async fn events(State(ctx): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let since = nanos("since", q.get("since"))?;
    let until = nanos("until", q.get("until"))?;
    let filters = Filters::parse(&filters(q.get("filters").map(String::as_str))?)?;
    let reader = EventReader::open(&ctx.root, since, until, filters);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let busy = ctx.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        follow(reader, &tx);
    });
    Ok(streamed("application/json", rx))
}

/// Sends the events as they come until `until` passes or the client
/// goes away.
fn follow(mut reader: EventReader, tx: &tokio::sync::mpsc::Sender<Bytes>) {
    loop {
        let Ok(batch) = reader.next_batch() else { return };
        for e in batch {
            let Ok(mut line) = serde_json::to_vec(&e) else { continue };
            line.push(b'\n');
            if tx.blocking_send(line.into()).is_err() {
                return;
            }
        }
        if reader.finished() || tx.is_closed() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds() {
        assert_eq!(nanos("since", Some(&"1.5".to_owned())).ok(), Some(Some(1_500_000_000)));
        assert_eq!(nanos("since", None).ok(), Some(None));
        assert!(nanos("until", Some(&"soon".to_owned())).is_err());
    }
}
