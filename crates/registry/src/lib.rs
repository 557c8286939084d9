//! wharf's OCI distribution client: pull an image into the store, push a
//! stored image, check credentials. Built on the `oci-client` crate for
//! the protocol (manifests, blobs, the bearer-token flow); what is wharf's
//! own is the pipeline around it: layers are verified, decompressed and
//! extracted while they download, concurrently, and nothing reaches the
//! store under a digest its bytes do not have.

pub mod auth;
pub mod cache;
mod login;
mod pool;
mod pull;
mod push;
mod session;
mod upload;

use oci_client::errors::OciDistributionError;

pub use pull::{pull, Platform, Pulled};
pub use push::{image_manifest, push, push_image, push_index, IndexEntry, Pushed};
pub use session::is_insecure;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `Some(false)`: any registry may use plain HTTP or a bad certificate.
    pub tls_verify: Option<bool>,
    /// Registries (host or host:port) that may use plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Layers transferred at once (docker's default: 3 down, 5 up).
    pub max_concurrent: Option<usize>,
    /// Credentials given with the request (the Engine API's
    /// `X-Registry-Auth`), by registry: used instead of the stored ones.
    pub credentials: Vec<(String, auth::Credentials)>,
}

impl Options {
    /// The credentials for `registry`: the request's, else the stored ones.
    fn credentials_for(&self, registry: &str) -> Result<Option<auth::Credentials>, RegistryError> {
        let key = auth::server_key(registry);
        let given = self.credentials.iter().find(|(r, _)| *r == registry || auth::server_key(r) == key);
        match given {
            Some((_, c)) => Ok(Some(c.clone())),
            None => auth::credentials(registry),
        }
    }

    fn max_concurrent(&self) -> usize {
        self.max_concurrent.unwrap_or(3).max(1)
    }
}

/// What a transfer is doing, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A layer's transfer starts (short ID, total bytes).
    Started { id: String, total: u64 },
    /// Bytes moved so far for a layer.
    Progress { id: String, done: u64, total: u64 },
    /// A layer was already there (in the store on pull, in the registry on push).
    Exists { id: String },
    /// A layer was mounted from another repository of the same registry.
    Mounted { id: String, from: String },
    /// A layer is done ("Pull complete", "Pushed").
    Done { id: String },
    /// A transfer failed and is tried again.
    Retrying { id: String, reason: String },
}

/// Receives events; called from several threads at once.
pub trait Progress: Sync {
    fn event(&self, e: Event);
}

impl<F: Fn(Event) + Sync> Progress for F {
    fn event(&self, e: Event) {
        self(e)
    }
}

/// The 12-hex short form docker prints for a blob.
pub fn short_id(d: &image::Digest) -> String {
    d.hex()[..12].to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Content(#[from] image::content::ContentError),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Auth(String),
    #[error("{what}: unauthorized: authentication required{detail}")]
    Unauthorized { what: String, detail: String },
    #[error("{0}")]
    NotFound(String),
    /// A failure that may pass: 5xx, 429, a cut connection, wrong bytes.
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Protocol(String),
}

impl RegistryError {
    fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Transient(_))
    }

    /// The same error with what was being done in front.
    pub fn context(self, what: &str) -> RegistryError {
        match self {
            RegistryError::Transient(m) => RegistryError::Transient(format!("{what}: {m}")),
            RegistryError::Protocol(m) => RegistryError::Protocol(format!("{what}: {m}")),
            RegistryError::Auth(m) => RegistryError::Auth(format!("{what}: {m}")),
            other => other,
        }
    }

    /// Classifies an oci-client error: what may pass on a retry, what the
    /// user must fix.
    fn from_oci(what: &str, e: OciDistributionError) -> RegistryError {
        use OciDistributionError as E;
        match e {
            E::UnauthorizedError { url } => {
                RegistryError::Unauthorized { what: what.to_owned(), detail: format!(" ({url})") }
            }
            E::AuthenticationFailure(m) => {
                RegistryError::Unauthorized { what: what.to_owned(), detail: format!(": {}", m.trim()) }
            }
            E::ImageManifestNotFoundError(m) => RegistryError::NotFound(format!("{what}: not found: {m}")),
            E::ServerError { code: 404, url, message } => {
                RegistryError::NotFound(format!("{what}: not found: {url}: {message}"))
            }
            E::ServerError { code, url, message } if code == 401 || code == 403 => {
                RegistryError::Unauthorized { what: what.to_owned(), detail: format!(" ({url}: {message})") }
            }
            E::ServerError { code, url, message } if code == 429 || code >= 500 => {
                RegistryError::Transient(format!("{what}: {url}: HTTP {code} {message}"))
            }
            E::RegistryError { envelope, url } => {
                let text = envelope.to_string();
                let upper = text.to_ascii_uppercase();
                if upper.contains("UNAUTHORIZED") || upper.contains("DENIED") {
                    RegistryError::Unauthorized { what: what.to_owned(), detail: format!(" ({url}: {text})") }
                } else if upper.contains("UNKNOWN") {
                    RegistryError::NotFound(format!("{what}: not found: {text}"))
                } else {
                    RegistryError::Protocol(format!("{what}: {url}: {text}"))
                }
            }
            E::RequestError(r) => match r.status().map(|s| s.as_u16()) {
                Some(401 | 403) => RegistryError::Unauthorized { what: what.to_owned(), detail: String::new() },
                Some(404) => RegistryError::NotFound(format!("{what}: not found")),
                Some(code) if code < 500 && code != 429 => {
                    RegistryError::Protocol(format!("{what}: {}", error_chain(&r)))
                }
                _ => RegistryError::Transient(format!("{what}: {}", error_chain(&r))),
            },
            E::IoError(io) => RegistryError::Transient(format!("{what}: {io}")),
            E::DigestError(d) => RegistryError::Transient(format!("{what}: the registry sent wrong bytes: {d}")),
            other => RegistryError::Protocol(format!("{what}: {other}")),
        }
    }
}

/// An error and its causes on one line (reqwest hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// oci-client's form of a reference. Docker Hub is `docker.io` to both.
fn oci_reference(r: &image::Reference) -> oci_client::Reference {
    let repo = r.path().to_owned();
    match (r.tag(), r.digest()) {
        (Some(tag), Some(d)) => {
            oci_client::Reference::with_tag_and_digest(r.domain().to_owned(), repo, tag.to_owned(), d.to_string())
        }
        (None, Some(d)) => oci_client::Reference::with_digest(r.domain().to_owned(), repo, d.to_string()),
        (tag, None) => oci_client::Reference::with_tag(r.domain().to_owned(), repo, tag.unwrap_or("latest").to_owned()),
    }
}

/// The tags of `r`'s repository, as the registry lists them.
pub fn list_tags(r: &image::Reference, opts: &Options) -> Result<Vec<String>, RegistryError> {
    let oref = oci_reference(r);
    let sess = session::Session::open(&oref, opts, oci_client::RegistryOperation::Pull)?;
    let what = format!("tags of {}", r.repository());
    let res = sess.retry(&what, || sess.client.list_tags(&oref, &sess.auth, None, None))?;
    Ok(res.tags)
}

/// Checks credentials against a registry the way `docker login` does:
/// `GET /v2/` with them, following a bearer challenge to its token server.
pub fn login(registry: &str, creds: &auth::Credentials, opts: &Options) -> Result<(), RegistryError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RegistryError::Io("tokio runtime".into(), e))?;
    rt.block_on(login::check(registry, creds, opts))
}
