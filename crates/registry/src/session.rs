//! One conversation with one registry: the oci-client `Client` (it knows
//! the distribution API, the bearer-token flow and basic auth), the tokio
//! runtime it needs, the scheme to use, and retries.
//!
//! The runtime is multi-threaded so that plain threads (one per layer) can
//! drive requests with `Handle::block_on` while they unpack: a layer is
//! decompressed and extracted as its bytes arrive, on its own thread, which
//! is where the time goes. The runtime is dropped (its threads joined)
//! before the caller goes on, so a later fork (the embedded runtime needs
//! a single-threaded process) sees no leftover threads.

use std::future::Future;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use crate::{Options, RegistryError};

const USER_AGENT: &str = concat!("wharf/", env!("CARGO_PKG_VERSION"));

/// How many times a request that failed for a reason that may pass
/// (5xx, 429, a cut connection, bytes that did not match) is tried.
pub const ATTEMPTS: u32 = 4;

pub(crate) struct Session {
    rt: tokio::runtime::Runtime,
    pub client: oci_client::Client,
    pub registry: String,
    pub auth: RegistryAuth,
    /// For the requests wharf makes itself (`upload.rs`): a client set up
    /// as oci-client's is, the registry's base URL, and the bearer token
    /// oci-client got, if the registry asked for one.
    pub http: reqwest::Client,
    pub base_url: String,
    pub token: Option<String>,
}

/// Whether a registry may be spoken to over plain HTTP (and with any
/// certificate), as docker decides: localhost and 127.0.0.0/8, and
/// whatever the user listed; `--tls-verify=true` (podman's flag) insists
/// on verified HTTPS even there.
pub fn is_insecure(registry: &str, opts: &Options) -> bool {
    let host =
        registry
            .rsplit_once(':')
            .map_or(registry, |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { registry });
    if opts.tls_verify == Some(true) {
        return false;
    }
    opts.tls_verify == Some(false)
        || host == "localhost"
        || host.starts_with("127.")
        || host == "[::1]"
        || opts.insecure_registries.iter().any(|r| r == registry || r == host)
}

/// The address behind a registry name (Docker Hub's API lives elsewhere).
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

impl Session {
    pub fn open(
        reference: &oci_client::Reference,
        opts: &Options,
        op: RegistryOperation,
    ) -> Result<Session, RegistryError> {
        let registry = reference.registry().to_owned();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Io("tokio runtime".into(), e))?;
        let insecure = is_insecure(&registry, opts);
        let protocol = if insecure && rt.block_on(speaks_plain_http(reference.resolve_registry())) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let scheme = if protocol == ClientProtocol::Http { "http" } else { "https" };
        let base_url = format!("{scheme}://{}", reference.resolve_registry());
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(insecure)
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| RegistryError::Protocol(format!("HTTP client: {e}")))?;
        let config = ClientConfig {
            protocol,
            accept_invalid_certificates: insecure,
            use_monolithic_push: true,
            max_concurrent_download: opts.max_concurrent(),
            max_concurrent_upload: opts.max_concurrent(),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        let client = oci_client::Client::new(config);
        let creds = opts.credentials_for(&registry)?;
        let registry_auth = match creds {
            Some(c) if c.username.is_empty() || c.username == "<token>" => RegistryAuth::Bearer(c.secret),
            Some(c) => RegistryAuth::Basic(c.username, c.secret),
            None => RegistryAuth::Anonymous,
        };
        let mut session = Session { rt, client, registry, auth: registry_auth, http, base_url, token: None };
        session.token = session
            .retry("authenticate", || session.client.auth(reference, &session.auth, op))
            .map_err(|e| e.context(&format!("{}: authenticating", session.registry)))?;
        Ok(session)
    }

    /// Runs a future to completion on this session's runtime; callable
    /// from any plain thread.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.handle().block_on(f)
    }

    /// Runs a request, trying again with backoff while it fails for a
    /// reason that may pass.
    pub fn retry<T, F, Fut>(&self, what: &str, mut make: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 1;
        loop {
            match self.block_on(make()) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let err = RegistryError::from_oci(what, e);
                    if !err.is_transient() || attempt >= ATTEMPTS {
                        return Err(err);
                    }
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
            }
        }
    }
}

/// 0.25 s, 0.5 s, 1 s, ...
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.saturating_sub(1).min(6))
}

/// Whether a registry that may use plain HTTP does: its `/v2/` answers
/// plain HTTP as a registry does (200, or 401 asking for credentials).
/// Asking in plain HTTP first costs a loopback registry a millisecond; a
/// TLS handshake attempt first would cost ~40 ms of key generation for
/// every pull from one. A TLS server answers garbage, an error, or a 400
/// ("plain HTTP sent to an HTTPS port"), and HTTPS is used.
pub(crate) async fn speaks_plain_http(host: &str) -> bool {
    let Ok(client) =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(3)).timeout(Duration::from_secs(10)).build()
    else {
        return false;
    };
    match client.get(format!("http://{host}/v2/")).send().await {
        Ok(res) => matches!(res.status().as_u16(), 200 | 401),
        Err(_) => false,
    }
}
