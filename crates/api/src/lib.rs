//! wharf's Docker Engine API server (`wharf system service`): one more
//! front end of the engine, as dockerd is to docker's CLI. HTTP/1.1 on a
//! unix socket (or loopback TCP when asked), served by axum on tokio;
//! every request runs the engine in a blocking task on its own store
//! connection, so the server holds no state of its own: containers keep
//! their monitors, and the server can stop or restart while they run.
//!
//! axum (on hyper and tokio) because it is the maintained, minimal router
//! over hyper that the issue asks for; tokio, hyper and tower were in the
//! dependency tree already.

mod attach;
mod build;
mod containers;
mod events;
mod exec;
mod files;
mod http;
mod images;
mod logs;
mod resources;
mod system;
mod transfer;
mod usage;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;

pub use http::{API_VERSION, MIN_API_VERSION};

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl Listen {
    /// `unix:///path` or `tcp://HOST:PORT`, as podman's `system service`.
    pub fn parse(uri: &str) -> Result<Listen, ServeError> {
        if let Some(path) = uri.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(ServeError::Uri(format!("{uri}: a unix socket path must be absolute")));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = uri.strip_prefix("tcp://") {
            let addr = addr.parse().map_err(|_| ServeError::Uri(format!("{uri}: expected tcp://HOST:PORT")))?;
            return Ok(Listen::Tcp(addr));
        }
        Err(ServeError::Uri(format!("{uri}: expected unix:///PATH or tcp://HOST:PORT")))
    }
}

/// What `serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The store's root.
    pub root: PathBuf,
    pub listen: Listen,
    /// Exit after this long without a request (None: never).
    pub idle: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid listen address {0}")]
    Uri(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// What every handler shares: the store's root, and the activity that
/// the idle timer watches.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub root: Arc<PathBuf>,
    activity: Arc<Activity>,
    /// Exec instances, as dockerd keeps them: in memory.
    pub execs: exec::Execs,
    /// Attaches that came before their container's start.
    pub pending: attach::Pending,
}

/// Requests in flight and when the last one ended.
struct Activity {
    active: AtomicUsize,
    last: Mutex<Instant>,
}

/// Counts a request in flight for the idle timer while it lives.
pub(crate) struct Busy(Arc<Activity>);

impl Ctx {
    pub fn busy(&self) -> Busy {
        self.activity.active.fetch_add(1, Ordering::SeqCst);
        Busy(self.activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The API's routes, over the store at `root`.
fn router(ctx: Ctx) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(images::routes())
        .merge(build::routes())
        .merge(events::routes())
        .merge(resources::routes())
        .merge(exec::routes())
        .merge(files::routes())
        .merge(usage::routes())
        .fallback(http::not_found)
        .with_state(ctx)
}

/// Serves the API until the idle time passes (or SIGINT/SIGTERM).
pub fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io("starting the runtime".into(), e))?;
    let served = rt.block_on(run(opts));
    // Blocking tasks still waiting (a container's exit, a log to follow)
    // are not waited for: their clients are gone with the service.
    rt.shutdown_timeout(Duration::from_millis(500));
    served
}

async fn run(opts: ServeOptions) -> Result<(), ServeError> {
    let activity = Arc::new(Activity { active: AtomicUsize::new(0), last: Mutex::new(Instant::now()) });
    let ctx = Ctx {
        root: Arc::new(opts.root.clone()),
        activity: activity.clone(),
        execs: Default::default(),
        pending: Default::default(),
    };
    let app = http::wrap(router(ctx));
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown_signal(activity, opts.idle).await;
        let _ = stopping_tx.send(true);
    };
    tokio::select! {
        served = serve_on(&opts.listen, app, shutdown) => served,
        () = grace(stopping) => {
            if let Listen::Unix(path) = &opts.listen {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
    }
}

/// Once the service is stopping, what is still streaming (a follow, an
/// attach) gets a few seconds, not forever: the containers do not need
/// the service, and a client sees its stream end.
async fn grace(mut stopping: tokio::sync::watch::Receiver<bool>) {
    while !*stopping.borrow() {
        if stopping.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

async fn serve_on(
    listen: &Listen,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if let Some(listener) = activated_socket() {
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(|e| ServeError::Io("the socket systemd passed".into(), e))?;
        return axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ServeError::Io("the socket systemd passed".into(), e));
    }
    match listen {
        Listen::Unix(path) => {
            let listener = bind_unix(path)?;
            let served = axum::serve(listener, app.into_make_service()).with_graceful_shutdown(shutdown).await;
            let _ = std::fs::remove_file(path);
            served.map_err(|e| ServeError::Io(path.display().to_string(), e))
        }
        Listen::Tcp(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError::Io(addr.to_string(), e))?;
            axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| ServeError::Io(addr.to_string(), e))
        }
    }
}

/// The socket systemd passed (socket activation, `wharf.socket`): fd 3,
/// when `LISTEN_PID` names this process.
fn activated_socket() -> Option<std::os::unix::net::UnixListener> {
    use std::os::fd::FromRawFd;
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: i32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: systemd passed fd 3 to this process (LISTEN_PID is ours) as
    // its listening socket, and nothing else in the process owns it.
    let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) };
    listener.set_nonblocking(true).ok()?;
    Some(listener)
}

/// The socket, 0660 and owned by the `wharf` group when there is one (as
/// docker's by `docker`): access to it is root.
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, ServeError> {
    let err = |e| ServeError::Io(path.display().to_string(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // A socket left by a server that died: nothing answers on it.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(err)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    if let Some(gid) = group_id("wharf") {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(err)?;
    }
    Ok(listener)
}

/// The ID of group `name`, from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name)).then(|| f.nth(1).and_then(|g| g.parse().ok())).flatten()
    })
}

/// Resolves on SIGINT or SIGTERM, or once nothing has been asked for
/// `idle`.
async fn shutdown_signal(activity: Arc<Activity>, idle: Option<Duration>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    let idle_for = |limit: Duration| {
        let activity = activity.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let last = *activity.last.lock().unwrap_or_else(|e| e.into_inner());
                if activity.active.load(Ordering::SeqCst) == 0 && last.elapsed() >= limit {
                    return;
                }
            }
        }
    };
    let never = || std::future::pending::<()>();
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = async { match idle { Some(limit) => idle_for(limit).await, None => never().await } } => "idle",
    };
    // As dockerd logs the signal it stops on: a service that went away
    // says why.
    eprintln!("wharf system service: stopping ({why})");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_as_podmans() {
        assert_eq!(
            Listen::parse("unix:///run/wharf/wharf.sock").ok(),
            Some(Listen::Unix("/run/wharf/wharf.sock".into()))
        );
        assert_eq!(Listen::parse("tcp://127.0.0.1:2375").ok(), Some(Listen::Tcp(([127, 0, 0, 1], 2375).into())));
        assert!(Listen::parse("unix://relative.sock").is_err());
        assert!(Listen::parse("http://x").is_err());
    }
}
