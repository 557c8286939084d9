//! OCI images for wharf: digests, docker-style references, the content
//! store of immutable blobs, safe layer extraction and deterministic layer
//! creation, and image archives (docker-archive, OCI layout).

pub mod content;
pub mod digest;
pub mod layer;
pub mod reference;

pub use content::{ContentError, ContentStore};
pub use digest::Digest;
pub use reference::{BadReference, Reference};
