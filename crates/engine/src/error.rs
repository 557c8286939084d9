//! The engine's one error type. Every failure has a kind that says what
//! went wrong in the terms both front ends need: the CLI maps kinds to
//! docker's exit codes, the Engine API to HTTP statuses (as moby's
//! `errdefs` classes do). The message is what docker would print.

use std::fmt;

/// What kind of failure this is (moby's errdefs classes, plus the two
/// start failures docker's CLI turns into exit codes 126 and 127).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such container, image, network, volume (HTTP 404).
    NotFound,
    /// A name in use, an image in use, a removal refused (HTTP 409).
    Conflict,
    /// Bad input: a malformed request or flag value (HTTP 400).
    InvalidArgument,
    /// The container is not running, or is paused, for an operation that
    /// needs it running (HTTP 409, as docker's daemon answers).
    NotRunning,
    /// Nothing to do: already started, already stopped (HTTP 304).
    NotModified,
    /// The host cannot do it (no cgroup controller, a kernel feature).
    Unsupported,
    /// A registry refused the credentials (HTTP 401).
    Unauthorized,
    /// The container's command does not exist (docker's CLI exits 127).
    CommandNotFound,
    /// The container's command cannot be executed (exit 126).
    CannotInvoke,
    /// Anything else: I/O, the runtime, the store (HTTP 500).
    Internal,
}

/// An engine failure: its kind and docker's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_running(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotRunning, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// The same error with `context: ` before its message.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error { kind: self.kind, message: format!("{context}: {}", self.message) }
    }

    /// The HTTP status the Engine API answers this error with (moby's
    /// `httpstatus.FromError`).
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::NotRunning => 409,
            ErrorKind::InvalidArgument | ErrorKind::CommandNotFound | ErrorKind::CannotInvoke => 400,
            ErrorKind::NotModified => 304,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Unsupported | ErrorKind::Internal => 500,
        }
    }
}

/// Context for a failure on the way up (`.ctx("reading X")`), keeping
/// its kind: the engine's `anyhow::Context`.
pub trait ResultExt<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T>;
    fn with_ctx<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn ctx(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_ctx<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

/// A missing value in input (an archive's manifest, a config) is bad
/// input: `.ctx("what was missing")`.
impl<T> ResultExt<T> for Option<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::invalid(context.to_string()))
    }

    fn with_ctx<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::invalid(context().to_string()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        use store::StoreError as S;
        let kind = match &e {
            S::NoSuchImage(_) | S::NoSuchContainer(_) => ErrorKind::NotFound,
            S::Conflict(_) => ErrorKind::Conflict,
            S::Ambiguous(_) | S::Reference(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<registry::RegistryError> for Error {
    fn from(e: registry::RegistryError) -> Error {
        use registry::RegistryError as R;
        let kind = match &e {
            R::NotFound(_) => ErrorKind::NotFound,
            R::Unauthorized { .. } | R::Auth(_) => ErrorKind::Unauthorized,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<network::NetError> for Error {
    fn from(e: network::NetError) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<runtime::oci::OciError> for Error {
    fn from(e: runtime::oci::OciError) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<runtime::user::UserError> for Error {
    fn from(e: runtime::user::UserError) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Error {
        Error::from(std::io::Error::from(e))
    }
}

impl From<std::ffi::NulError> for Error {
    fn from(e: std::ffi::NulError) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<image::ContentError> for Error {
    fn from(e: image::ContentError) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<image::layer::LayerError> for Error {
    fn from(e: image::layer::LayerError) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<image::digest::BadDigest> for Error {
    fn from(e: image::digest::BadDigest) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<image::BadReference> for Error {
    fn from(e: image::BadReference) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<oci_spec::OciSpecError> for Error {
    fn from(e: oci_spec::OciSpecError) -> Error {
        Error::invalid(e.to_string())
    }
}

/// A spec the runtime cannot build is bad input (an unknown capability,
/// ulimit, device, seccomp profile), but for the builder's own failures.
impl From<runtime::spec::SpecError> for Error {
    fn from(e: runtime::spec::SpecError) -> Error {
        match e {
            runtime::spec::SpecError::Build(_) => Error::internal(e.to_string()),
            _ => Error::invalid(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_kind() {
        let e: Error = store::StoreError::NoSuchContainer("web".into()).into();
        assert_eq!((e.kind(), e.message()), (ErrorKind::NotFound, "No such container: web"));
        let e: Error = store::StoreError::Conflict("name in use".into()).into();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.http_status(), 409);
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::not_running("container abc is not running").context("exec");
        assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::NotRunning, "exec: container abc is not running"));
    }
}
