//! wharf's container runtime. So far: the OCI runtime spec a container
//! runs with (docker's defaults: namespaces, capabilities, mounts, masked
//! and read-only paths, device cgroup rules) and `--user` resolution
//! against the image's /etc/passwd and /etc/group.

pub mod attach;
pub mod console;
pub mod delegation;
pub mod embedded;
pub mod emulation;
pub mod logs;
pub mod oci;
pub mod resources;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod supervise;
pub mod user;
pub mod warmup;

pub use oci::{ExecOptions, OciError, OciRuntime, Runtime};
pub use rootfs::Overlay;
pub use spec::{
    bind_mount, container_spec, tmpfs_mount, RunOptions, Seccomp, Share, Shm, SpecError, DEFAULT_CAPABILITIES,
};
pub use user::{resolve_user, ExecUser, UserError};
