//! The OCI runtime spec (`config.json`) of a container, with docker's
//! defaults: mount, pid, uts, ipc, net and cgroup namespaces; docker's
//! capability set; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, read-only
//! /sys; docker's masked and read-only /proc paths; docker's device cgroup
//! rules. No rlimits are set by default: a host that withholds
//! CAP_SYS_RESOURCE would make raising them fail.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use crate::resources::Resources;
use crate::user::ExecUser;

/// docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths docker hides from containers (bind-mounted over with /dev/null or
/// an empty read-only tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The default PATH docker gives a container whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `run` decided about one container.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub id: String,
    /// The container's root filesystem (the mounted overlay).
    pub rootfs: PathBuf,
    /// The full argv (ENTRYPOINT + CMD after overrides).
    pub args: Vec<String>,
    /// `KEY=value`, image ENV then `-e` (later wins).
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ExecUser,
    pub hostname: String,
    pub tty: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// Cgroup limits.
    pub resources: Resources,
    /// `--oom-score-adj`, -1000 to 1000.
    pub oom_score_adj: Option<i32>,
    /// Size of /dev/shm in bytes (docker: 64 MiB).
    pub shm_size: u64,
    pub sysctls: BTreeMap<String, String>,
    /// Join this network namespace (None: a new one).
    pub netns: Option<PathBuf>,
    /// Share the host's network namespace (`--network host`).
    pub host_network: bool,
    /// Bind mounts, volumes and tmpfs mounts, after the defaults.
    pub extra_mounts: Vec<Mount>,
    pub seccomp: Seccomp,
    /// `--ulimit`s (none by default, see the module comment).
    pub rlimits: Vec<oci_spec::runtime::PosixRlimit>,
    /// `--device`s with their cgroup permissions (`rwm`).
    pub devices: Vec<(oci_spec::runtime::LinuxDevice, String)>,
    /// `--device-cgroup-rule`s: more devices the container may use.
    pub device_rules: Vec<oci_spec::runtime::LinuxDeviceCgroup>,
    /// `--pid`, `--ipc`, `--uts`: a new namespace (docker's default), the
    /// host's, or another container's.
    pub pid_ns: Share,
    pub ipc_ns: Share,
    pub uts_ns: Share,
    /// `--cgroupns`: Private (a new one) or Host.
    pub cgroup_ns: Share,
    /// `--domainname` (with a UTS namespace of its own).
    pub domainname: Option<String>,
    /// `--annotation`s, passed to the OCI runtime.
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup, from each hierarchy's root (`/wharf/ID`).
    pub cgroups_path: PathBuf,
    /// What is at /dev/shm.
    pub shm: Shm,
}

/// Whose namespace a container has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Share {
    #[default]
    Private,
    Host,
    /// Joined: `/proc/PID/ns/...` of another container.
    Join(PathBuf),
}

/// /dev/shm: its own tmpfs (of `shm_size`), a bind of another one (the
/// host's for `--ipc host`, another container's for `--ipc container:`),
/// or nothing (`--ipc none`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Shm {
    #[default]
    Tmpfs,
    Bind(PathBuf),
    None,
}

impl RunOptions {
    /// Options with docker's defaults for everything but what must be given.
    pub fn new(id: &str, rootfs: PathBuf, args: Vec<String>, user: ExecUser) -> Self {
        RunOptions {
            hostname: id.chars().take(12).collect(),
            id: id.to_owned(),
            rootfs,
            args,
            env: Vec::new(),
            cwd: "/".into(),
            user,
            tty: false,
            read_only: false,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            no_new_privileges: false,
            resources: Resources::default(),
            oom_score_adj: None,
            shm_size: 64 << 20,
            sysctls: BTreeMap::new(),
            netns: None,
            host_network: false,
            extra_mounts: Vec::new(),
            seccomp: Seccomp::Default,
            rlimits: Vec::new(),
            devices: Vec::new(),
            device_rules: Vec::new(),
            pid_ns: Share::Private,
            ipc_ns: Share::Private,
            uts_ns: Share::Private,
            cgroup_ns: Share::Private,
            domainname: None,
            annotations: BTreeMap::new(),
            cgroups_path: PathBuf::from(format!("/wharf/{id}")),
            shm: Shm::Tmpfs,
        }
    }
}

/// A spec that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unknown capability: {0:?}")]
    Capability(String),
    #[error("invalid spec: {0}")]
    Build(#[from] oci_spec::OciSpecError),
    #[error("invalid seccomp profile: {0}")]
    Seccomp(String),
    #[error("invalid ulimit argument: {0:?}")]
    Ulimit(String),
    #[error("error gathering device information while adding custom device {0}")]
    Device(String),
    #[error("invalid device cgroup format '{0}'")]
    DeviceRule(String),
}

/// Which seccomp filter a container gets.
#[derive(Debug, Clone, Default)]
pub enum Seccomp {
    /// wharf's default profile (see `seccomp`).
    #[default]
    Default,
    /// `--security-opt seccomp=unconfined`.
    Unconfined,
    /// `--security-opt seccomp=FILE`.
    Profile(Box<oci_spec::runtime::LinuxSeccomp>),
}

/// Capabilities by number (linux/capability.h).
const CAPABILITY_NUMBERS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities `--privileged` and `--cap-add ALL` give: every one in
/// wharf's own bounding set. A host may withhold some even from root (this
/// one withholds CAP_SYS_RESOURCE); asking the runtime for those fails
/// with EPERM, so they are left out.
fn all_capabilities() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_owned())))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .unwrap_or(u64::MAX);
    CAPABILITY_NUMBERS
        .iter()
        .enumerate()
        .filter(|(n, _)| bounding & (1u64 << n) != 0)
        .map(|(_, name)| format!("CAP_{name}"))
        .collect()
}

/// A capability as docker records it: `CAP_` and upper case, `ALL` as is.
pub fn normalize_cap(c: &str) -> String {
    let up = c.to_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// docker's capability arithmetic: defaults (or all, if privileged), then
/// `--cap-drop` (ALL drops everything), then `--cap-add` (ALL adds all).
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<Capability>, SpecError> {
    let mut caps: Vec<String> =
        if privileged { all_capabilities() } else { DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect() };
    let drop: Vec<String> = drop.iter().map(|c| normalize_cap(c)).collect();
    let add: Vec<String> = add.iter().map(|c| normalize_cap(c)).collect();
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    caps.retain(|c| !drop.contains(c));
    for a in &add {
        if a == "ALL" {
            caps = all_capabilities();
        } else if !caps.contains(a) {
            caps.push(a.clone());
        }
    }
    caps.iter()
        .map(|c| {
            serde_json::from_value::<Capability>(serde_json::Value::String(c.clone()))
                .map_err(|_| SpecError::Capability(c.clone()))
        })
        .collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()?)
}

fn devpts_options() -> Vec<&'static str> {
    let mut o = vec!["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"];
    if paths::gid_mapped(5) {
        o.push("gid=5");
    }
    o
}

/// docker's default mounts.
fn default_mounts(opts: &RunOptions) -> Result<Vec<Mount>, SpecError> {
    let sys = if opts.privileged { "rw" } else { "ro" };
    let shm = format!("size={}k", opts.shm_size / 1024);
    // procfs, too, mounts only for a PID namespace the user owns: the
    // host's is bound from the host (as podman's rootless --pid host).
    let proc = if paths::in_user_namespace() && opts.pid_ns == Share::Host {
        mount("/proc", "bind", "/proc", &["rbind", "nosuid", "noexec", "nodev"])?
    } else {
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?
    };
    let mut mounts = vec![
        proc,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        // gid=5 (tty) only where that group exists: a single-ID user
        // namespace (rootless without subordinate IDs) maps no group 5,
        // and devpts refuses it, as podman finds.
        mount("/dev/pts", "devpts", "devpts", &devpts_options())?,
    ];
    // In an ordinary user's namespace, sysfs can be mounted only in a
    // network namespace of that user, and mqueue only in an IPC namespace
    // of theirs: with the host's, they are bound from the host, as
    // podman's rootless containers do.
    let userns = paths::in_user_namespace();
    if userns && opts.host_network {
        mounts.push(mount("/sys", "bind", "/sys", &["rbind", "rprivate", "nosuid", "noexec", "nodev", sys])?);
    } else {
        mounts.push(mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys])?);
        mounts.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", sys])?);
    }
    if userns && opts.ipc_ns == Share::Host {
        if std::path::Path::new("/dev/mqueue").is_dir() {
            mounts.push(mount("/dev/mqueue", "bind", "/dev/mqueue", &["rbind", "nosuid", "noexec", "nodev"])?);
        }
    } else {
        mounts.push(mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?);
    }
    match &opts.shm {
        Shm::Tmpfs => {
            mounts.push(mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", &shm])?)
        }
        Shm::Bind(source) => mounts.push(bind_mount(source, "/dev/shm", false)?),
        Shm::None => {}
    }
    mounts.extend(opts.extra_mounts.iter().cloned());
    Ok(mounts)
}

/// A bind mount of host `source` at `destination` (`rbind`, as docker's
/// `-v`), read-only if asked.
pub fn bind_mount(source: &std::path::Path, destination: &str, read_only: bool) -> Result<Mount, SpecError> {
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    if read_only {
        options.push("ro".into());
    }
    Ok(MountBuilder::default().destination(destination).typ("bind").source(source).options(options).build()?)
}

/// A tmpfs at `destination` with docker's `--tmpfs` defaults
/// (noexec,nosuid,nodev) plus the given options.
pub fn tmpfs_mount(destination: &str, extra: &str) -> Result<Mount, SpecError> {
    let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    options.extend(extra.split(',').filter(|o| !o.is_empty()).map(str::to_owned));
    Ok(MountBuilder::default().destination(destination).typ("tmpfs").source("tmpfs").options(options).build()?)
}

/// Environment with docker's additions: PATH if the image has none,
/// HOSTNAME, TERM for a tty, HOME from the user.
fn environment(opts: &RunOptions) -> Vec<String> {
    let has = |k: &str| opts.env.iter().any(|e| e.split('=').next() == Some(k));
    let mut env = Vec::new();
    if !has("PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env.push(format!("HOSTNAME={}", opts.hostname));
    if opts.tty && !has("TERM") {
        env.push("TERM=xterm".into());
    }
    env.extend(opts.env.iter().cloned());
    if !has("HOME") {
        env.push(format!("HOME={}", opts.user.home));
    }
    env
}

fn device_rules() -> Result<Vec<oci_spec::runtime::LinuxDeviceCgroup>, SpecError> {
    let rule = |allow: bool, typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build()
    };
    let c = LinuxDeviceType::C;
    let mut rules = vec![
        rule(false, LinuxDeviceType::A, None, None, "rwm")?,
        rule(true, c, None, None, "m")?,
        rule(true, LinuxDeviceType::B, None, None, "m")?,
    ];
    // null, zero, full, random, urandom, tty, console, ptmx, pts, tun.
    for (major, minor) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
        (10, Some(200)),
    ] {
        rules.push(rule(true, c, Some(major), minor, "rwm")?);
    }
    Ok(rules)
}

/// The spec for one container.
pub fn container_spec(opts: &RunOptions) -> Result<Spec, SpecError> {
    let caps = capabilities(opts.privileged, &opts.cap_add, &opts.cap_drop)?;
    let capset = LinuxCapabilitiesBuilder::default()
        .bounding(caps.iter().copied().collect::<std::collections::HashSet<_>>())
        .effective(caps.iter().copied().collect::<std::collections::HashSet<_>>())
        .permitted(caps.iter().copied().collect::<std::collections::HashSet<_>>())
        // docker gives no inheritable or ambient capabilities (oci-spec's
        // builder would otherwise fill in its own defaults).
        .inheritable(std::collections::HashSet::new())
        .ambient(std::collections::HashSet::new())
        .build()?;
    // Where setgroups is denied (a single-ID user namespace: rootless
    // without subordinate IDs) no group list can be set, as podman finds.
    let setgroups_denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    let additional_gids = if setgroups_denied { Vec::new() } else { opts.user.additional_gids.clone() };
    let user = UserBuilder::default().uid(opts.user.uid).gid(opts.user.gid).additional_gids(additional_gids).build()?;
    let mut process = ProcessBuilder::default()
        .terminal(opts.tty)
        .user(user)
        .args(opts.args.clone())
        .env(environment(opts))
        .cwd(opts.cwd.clone())
        .capabilities(capset)
        .rlimits(opts.rlimits.clone())
        .build()?;
    // Left out unless set, as docker does (setuid programs such as su and
    // sudo work in a container). The builder's default is `true`, so it is
    // cleared after building; an explicit `false` would not do either:
    // libcontainer reads it as "set" and then loads seccomp after dropping
    // capabilities, which fails without no_new_privs.
    process.set_no_new_privileges(opts.no_new_privileges.then_some(true));
    process.set_oom_score_adj(opts.oom_score_adj);
    let mut namespaces = Vec::new();
    for (t, share) in [
        (LinuxNamespaceType::Pid, &opts.pid_ns),
        (LinuxNamespaceType::Ipc, &opts.ipc_ns),
        (LinuxNamespaceType::Uts, &opts.uts_ns),
        (LinuxNamespaceType::Mount, &Share::Private),
        (LinuxNamespaceType::Cgroup, &opts.cgroup_ns),
    ] {
        match share {
            Share::Private => namespaces.push(LinuxNamespaceBuilder::default().typ(t).build()?),
            Share::Join(path) => namespaces.push(LinuxNamespaceBuilder::default().typ(t).path(path.clone()).build()?),
            Share::Host => {}
        }
    }
    if !opts.host_network {
        let mut net = LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network);
        if let Some(p) = &opts.netns {
            net = net.path(p.clone());
        }
        namespaces.push(net.build()?);
    }
    let mut rules = device_rules()?;
    for (d, perms) in &opts.devices {
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(d.typ())
                .major(d.major())
                .minor(d.minor())
                .access(perms.clone())
                .build()?,
        );
    }
    rules.extend(opts.device_rules.iter().cloned());
    // An ordinary user's containers have no device cgroup (v1 is not
    // delegated; v2's device filter is a BPF program, which needs host
    // privileges): the user namespace already keeps them from making or
    // opening devices they could not open outside. runc's rootless mode
    // drops the rules the same way.
    if paths::in_user_namespace() {
        rules.clear();
    }
    let mut linux = LinuxBuilder::default()
        .devices(opts.devices.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
        .namespaces(namespaces)
        .resources(opts.resources.to_oci(rules)?)
        .sysctl(opts.sysctls.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
    // An ordinary user's container without cgroup delegation has no cgroup
    // of its own: with no path, runtime binaries (runc, crun) in their
    // rootless mode leave it in its parent's instead of failing to make one.
    if crate::delegation::own_cgroups() {
        linux = linux.cgroups_path(opts.cgroups_path.clone());
    }
    if !opts.privileged {
        let profile = match &opts.seccomp {
            Seccomp::Default => {
                let names: Vec<String> = caps
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                Some(crate::seccomp::default_profile(&names)?)
            }
            Seccomp::Unconfined => None,
            Seccomp::Profile(p) => Some((**p).clone()),
        };
        if let Some(p) = profile {
            linux = linux.seccomp(p);
        }
    }
    let (masked, readonly): (&[&str], &[&str]) =
        if opts.privileged { (&[], &[]) } else { (MASKED_PATHS, READONLY_PATHS) };
    linux = linux
        .masked_paths(masked.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .readonly_paths(readonly.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(opts.rootfs.clone()).readonly(opts.read_only).build()?)
        .mounts(default_mounts(opts)?)
        .process(process)
        .linux(linux.build()?)
        .build()?;
    // Only a UTS namespace of its own can be given a name (the host's is
    // the host's).
    spec.set_hostname((opts.uts_ns == Share::Private).then(|| opts.hostname.clone()));
    spec.set_domainname(opts.domainname.clone().filter(|_| opts.uts_ns == Share::Private));
    if !opts.annotations.is_empty() {
        spec.set_annotations(Some(opts.annotations.clone().into_iter().collect()));
    }
    Ok(spec)
}

/// `--ulimit NAME=SOFT[:HARD]` (docker's names: nofile, nproc, core, ...).
pub fn parse_ulimit(s: &str) -> Result<oci_spec::runtime::PosixRlimit, SpecError> {
    let bad = || SpecError::Ulimit(s.to_owned());
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |v: &str| -> Result<u64, SpecError> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(bad());
    }
    let v = serde_json::json!({"type": format!("RLIMIT_{}", name.to_uppercase()), "soft": soft, "hard": hard});
    serde_json::from_value(v).map_err(|_| bad())
}

/// `--device HOST[:CONTAINER[:PERMS]]`: the host node's type and numbers.
pub fn parse_device(s: &str) -> Result<(oci_spec::runtime::LinuxDevice, String), SpecError> {
    let bad = |why: String| SpecError::Device(format!("{s}: {why}"));
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(bad("invalid device specification".into())),
    };
    let st = rustix::fs::stat(host).map_err(|e| bad(e.to_string()))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let typ = match kind {
        rustix::fs::FileType::CharacterDevice => "c",
        rustix::fs::FileType::BlockDevice => "b",
        _ => return Err(bad("not a device node".into())),
    };
    let v = serde_json::json!({
        "path": ctr, "type": typ,
        "major": rustix::fs::major(st.st_rdev), "minor": rustix::fs::minor(st.st_rdev),
        "fileMode": st.st_mode & 0o777, "uid": 0, "gid": 0,
    });
    let d = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    Ok((d, perms.to_owned()))
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR PERMS'` (`c 189:* rwm`), as
/// docker reads it.
pub fn parse_device_rule(s: &str) -> Result<oci_spec::runtime::LinuxDeviceCgroup, SpecError> {
    let bad = || SpecError::DeviceRule(s.to_owned());
    let fields: Vec<&str> = s.split(' ').collect();
    let [typ, numbers, access] = fields.as_slice() else { return Err(bad()) };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let number = |n: &str| -> Result<Option<i64>, SpecError> {
        if n == "*" {
            return Ok(None);
        }
        n.parse().map(Some).map_err(|_| bad())
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let ok_access = (1..=3).contains(&access.len()) && access.chars().all(|c| "rwm".contains(c));
    if !ok_access {
        return Err(bad());
    }
    let mut rule = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ).access(access.to_string());
    if let Some(m) = number(major)? {
        rule = rule.major(m);
    }
    if let Some(m) = number(minor)? {
        rule = rule.minor(m);
    }
    Ok(rule.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        let user = ExecUser { uid: 0, gid: 0, additional_gids: vec![], home: "/root".into() };
        RunOptions::new("0123456789abcdef0123", "/rootfs".into(), vec!["sh".into()], user)
    }

    fn caps(spec: &Spec) -> Vec<String> {
        let c = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        let mut v: Vec<String> = c
            .effective()
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn docker_defaults() {
        let s = container_spec(&opts()).unwrap();
        let mut want: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(caps(&s), want);
        let c = s.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        assert!(
            c.inheritable().as_ref().is_none_or(|i| i.is_empty()) && c.ambient().as_ref().is_none_or(|a| a.is_empty())
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["hostname"], "0123456789ab");
        assert_eq!(v["linux"]["cgroupsPath"], "/wharf/0123456789abcdef0123");
        let ns: Vec<&str> =
            v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        for t in ["pid", "ipc", "uts", "mount", "cgroup", "network"] {
            assert!(ns.contains(&t), "{t} namespace");
        }
        assert!(v["linux"]["maskedPaths"].as_array().unwrap().iter().any(|p| p == "/proc/kcore"));
        assert!(v["linux"]["readonlyPaths"].as_array().unwrap().iter().any(|p| p == "/proc/sys"));
        let env: Vec<&str> = v["process"]["env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert!(env.contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        assert!(env.contains(&"HOME=/root"));
        assert!(
            v["process"].get("rlimits").is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty())),
            "no default rlimits"
        );
        let sys = v["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").unwrap();
        assert!(sys["options"].as_array().unwrap().iter().any(|o| o == "ro"));
    }

    #[test]
    fn capability_arithmetic() {
        let c = |add: &[&str], drop: &[&str]| {
            let mut o = opts();
            o.cap_add = add.iter().map(|s| s.to_string()).collect();
            o.cap_drop = drop.iter().map(|s| s.to_string()).collect();
            caps(&container_spec(&o).unwrap())
        };
        assert!(c(&["NET_ADMIN"], &[]).contains(&"CAP_NET_ADMIN".to_owned()));
        assert!(!c(&[], &["chown"]).contains(&"CAP_CHOWN".to_owned()));
        assert_eq!(c(&["KILL"], &["ALL"]), vec!["CAP_KILL"]);
        assert!(c(&["ALL"], &[]).contains(&"CAP_SYS_ADMIN".to_owned()));
        let mut o = opts();
        o.cap_add = vec!["NOT_A_CAP".into()];
        assert!(matches!(container_spec(&o), Err(SpecError::Capability(_))));
    }

    #[test]
    fn device_cgroup_rules_parse_as_docker_reads_them() {
        let r = parse_device_rule("c 189:* rwm").expect("a rule");
        assert_eq!(
            (r.typ(), r.major(), r.minor(), r.access().as_deref()),
            (Some(LinuxDeviceType::C), Some(189), None, Some("rwm"))
        );
        for bad in ["c 189:*", "x 1:2 r", "c 1:2 rwx", "c a:2 r", "c 1-2 r"] {
            assert!(parse_device_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_privileged() {
        let mut o = opts();
        o.resources.memory = Some(64 << 20);
        o.resources.cpu_period = Some(100_000);
        o.resources.cpu_quota = Some(150_000);
        o.resources.pids_limit = Some(100);
        o.oom_score_adj = Some(-500);
        o.privileged = true;
        o.tty = true;
        let v = serde_json::to_value(container_spec(&o).unwrap()).unwrap();
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 150_000);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 100);
        assert_eq!(v["process"]["oomScoreAdj"], -500);
        assert!(v["linux"]["maskedPaths"].as_array().is_none_or(|a| a.is_empty()), "privileged: nothing masked");
        assert!(v["process"]["env"].as_array().unwrap().iter().any(|e| e == "TERM=xterm"));
        assert!(v["process"]["terminal"].as_bool().unwrap());
    }
}
