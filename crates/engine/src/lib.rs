//! wharf's engine: the one seam under every front end (the CLI, and the
//! Docker Engine API). It owns the operations on containers, images,
//! builds, networks and volumes; takes requests and returns results in
//! the Engine API's model; reports failures as one typed [`Error`]; and
//! never prints. See docs/ARCHITECTURE.md.

pub mod api;
pub mod archive;
pub mod attach;
pub mod build;
pub mod buildcache;
pub mod container;
pub mod containers;
pub mod cp;
pub mod create;
pub mod error;
pub mod events;
pub mod exec;
pub mod files;
pub mod freeze;
pub mod health;
pub mod host;
pub mod image_list;
pub mod images;
pub mod inspect;
pub mod internal;
pub mod layout;
pub mod lifecycle;
pub mod links;
pub mod logging;
pub mod manifests;
pub mod monitor;
pub mod names;
pub mod netglue;
pub mod networks;
pub mod registry;
pub mod resources;
pub mod rootfs;
pub mod stats;
pub mod system;
pub mod time;
pub mod update;
pub mod volumes;

pub use error::{Error, ErrorKind, Result};
pub use layout::Layout;
pub use store::ContainerState;
