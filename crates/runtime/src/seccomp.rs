//! The default seccomp profile. Docker's is an allowlist of ~370 syscalls;
//! wharf writes the equivalent denylist: everything is allowed except the
//! syscalls docker's profile leaves out (kernel modules, kexec, reboot,
//! mount and namespace creation, keyrings, ptrace, clock setting, bpf,
//! perf, userfaultfd, ...), each failing with EPERM; `clone` with
//! namespace flags is refused too, and `clone3` gets ENOSYS so libc falls
//! back to `clone`, as under docker. As in docker's profile, adding the
//! capability a syscall needs (`--cap-add SYS_PTRACE`) allows it again.
//! A denylist is kept short enough to review; its cost is that syscalls
//! newer than this list are allowed (docker's allowlist refuses them).
//!
//! Each profile is also compiled to BPF once, and the program handed to the
//! runtime with the spec (`attach_compiled`).

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscall, LinuxSyscallBuilder, Spec,
};
use sha2::{Digest, Sha256};

use crate::SpecError;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Syscalls refused unless the container has the capability.
const DENIED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "bpf",
            "fanotify_init",
            "name_to_handle_at",
            "perf_event_open",
            "swapon",
            "swapoff",
            "sysfs",
            "_sysctl",
            "ustat",
            "nfsservctl",
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "mount_setattr",
        ],
    ),
    ("CAP_SYS_PTRACE", &["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"]),
    (
        "CAP_SYS_MODULE",
        &["init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms"],
    ),
    ("CAP_SYS_TIME", &["clock_settime", "clock_adjtime", "settimeofday", "stime", "adjtimex"]),
    ("CAP_SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_SYS_NICE", &["mbind", "set_mempolicy", "move_pages", "get_mempolicy"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("", &["uselib", "vm86", "vm86old"]),
];

/// clone(2) flags that create namespaces (docker refuses them without
/// CAP_SYS_ADMIN).
const CLONE_NS_FLAGS: &[u64] =
    &[0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000];

fn errno(names: Vec<String>, ret: u32) -> Result<LinuxSyscall, SpecError> {
    Ok(LinuxSyscallBuilder::default().names(names).action(LinuxSeccompAction::ScmpActErrno).errno_ret(ret).build()?)
}

/// The profile for a container with capabilities `caps` (CAP_ names).
pub fn default_profile(caps: &[String]) -> Result<LinuxSeccomp, SpecError> {
    let has = |c: &str| !c.is_empty() && caps.iter().any(|x| x == c);
    let mut syscalls = Vec::new();
    let denied: Vec<String> =
        DENIED.iter().filter(|(cap, _)| !has(cap)).flat_map(|(_, names)| names.iter().map(|n| n.to_string())).collect();
    syscalls.push(errno(denied, EPERM)?);
    if !has("CAP_SYS_ADMIN") {
        for flag in CLONE_NS_FLAGS {
            let arg = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(*flag)
                .value_two(*flag)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()?;
            syscalls.push(
                LinuxSyscallBuilder::default()
                    .names(vec!["clone".to_string()])
                    .action(LinuxSeccompAction::ScmpActErrno)
                    .errno_ret(EPERM)
                    .args(vec![arg])
                    .build()?,
            );
        }
        syscalls.push(errno(vec!["clone3".into()], ENOSYS)?);
    }
    Ok(LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(host_architectures())
        .syscalls(syscalls)
        .build()?)
}

/// The syscall ABIs a process on this host can use, as docker's `archMap`
/// lists them: the native one and its compat ABIs. The kernel reports no
/// other, so another architecture's rules would only make the filter
/// longer to build (libseccomp compiles every rule once per architecture)
/// and to run.
fn host_architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        // libseccomp's own architecture: a host with one ABI.
        _ => vec![Arch::ScmpArchNative],
    }
}

/// Where compiled profiles are kept: per boot (in the runtime directory),
/// since libseccomp's output depends on the kernel it probes.
fn compiled_dir() -> std::path::PathBuf {
    paths::run_dir().join("seccomp")
}

/// Adds crun's `run.oci.seccomp_bpf_data` annotation to `spec`: its
/// seccomp profile compiled to BPF. The embedded runtime (libcontainer,
/// patched: third_party/README.md) and crun then load that program instead
/// of compiling the profile at every start, which took libseccomp about
/// 1 ms here; runc ignores the annotation. Each profile is compiled once and
/// kept in the runtime directory. If it cannot be compiled here nothing is added, and
/// the runtime compiles it and reports the error itself.
pub fn attach_compiled(spec: &mut Spec) {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return;
    };
    // A notify action needs libseccomp's listener fd: always compiled.
    if libcontainer::seccomp::is_notify(profile) {
        return;
    }
    let Ok(program) = compiled(profile) else {
        return;
    };
    let mut annotations = spec.annotations().clone().unwrap_or_default();
    annotations.insert(libcontainer::seccomp::BPF_DATA_ANNOTATION.to_owned(), STANDARD.encode(program));
    spec.set_annotations(Some(annotations));
}

/// The BPF program for `profile`, from [`compiled_dir`] or compiled into it.
fn compiled(profile: &LinuxSeccomp) -> std::io::Result<Vec<u8>> {
    let path = compiled_dir().join(format!("{}.bpf", cache_key(profile)?));
    if let Ok(program) = std::fs::read(&path) {
        if is_program(&program) {
            return Ok(program);
        }
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(compiled_dir())?;
    // Written aside and renamed, so a reader never sees half a program.
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let result = compile_into(profile, &tmp).and_then(|program| std::fs::rename(&tmp, &path).map(|()| program));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Compiles `profile` into the file `path` and returns the program.
fn compile_into(profile: &LinuxSeccomp, path: &Path) -> std::io::Result<Vec<u8>> {
    libcontainer::seccomp::export_bpf(profile, File::create(path)?).map_err(std::io::Error::other)?;
    let program = std::fs::read(path)?;
    if !is_program(&program) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "libseccomp wrote no BPF program"));
    }
    Ok(program)
}

/// A non-empty whole number of 8-byte BPF instructions.
fn is_program(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len().is_multiple_of(8)
}

/// What the compiled program depends on: the profile, the libseccomp
/// library that compiles it, and the wharf binary whose libcontainer
/// translates the profile for libseccomp (its inode, size and mtime, which
/// any rebuild or upgrade changes).
fn cache_key(profile: &LinuxSeccomp) -> std::io::Result<String> {
    let exe = std::fs::metadata("/proc/self/exe")?;
    let v = libseccomp::ScmpVersion::current().map_err(std::io::Error::other)?;
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(profile)?);
    let (lib, bin) = (
        format!("{}.{}.{}", v.major, v.minor, v.micro),
        format!("{}:{}:{}:{}.{}", exe.dev(), exe.ino(), exe.size(), exe.mtime(), exe.mtime_nsec()),
    );
    h.update(format!("\0{lib}\0{bin}"));
    Ok(hex::encode(h.finalize()))
}

/// A profile from a file (`--security-opt seccomp=FILE`): OCI's
/// `linux.seccomp` JSON, which docker's profile format also parses as
/// (fields wharf does not know, such as `archMap`, are ignored).
pub fn profile_from_json(text: &str) -> Result<LinuxSeccomp, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError::Seccomp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, SpecBuilder};

    fn spec_with(profile: LinuxSeccomp) -> Spec {
        let linux = LinuxBuilder::default().seccomp(profile).build().expect("linux");
        SpecBuilder::default().linux(linux).build().expect("spec")
    }

    fn attached(spec: &Spec) -> Option<Vec<u8>> {
        let annotations = spec.annotations().as_ref()?;
        let data = annotations.get(libcontainer::seccomp::BPF_DATA_ANNOTATION)?;
        Some(STANDARD.decode(data).expect("base64"))
    }

    #[test]
    fn the_compiled_profile_is_attached_and_kept_and_a_damaged_copy_is_replaced() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: writes {} (needs root)", compiled_dir().display());
            return;
        }
        let profile = default_profile(&["CAP_SYSLOG".into()]).expect("profile");
        let mut spec = spec_with(profile.clone());
        attach_compiled(&mut spec);
        let program = attached(&spec).expect("an annotation");
        assert!(is_program(&program) && program.len() > 100 * 8, "{} bytes", program.len());
        let kept = compiled_dir().join(format!("{}.bpf", cache_key(&profile).expect("key")));
        assert_eq!(std::fs::read(&kept).expect("kept"), program);
        std::fs::write(&kept, b"not bpf").expect("damage");
        let mut again = spec_with(profile);
        attach_compiled(&mut again);
        assert_eq!(attached(&again).as_ref(), Some(&program), "compiled again, not read damaged");
        assert_eq!(std::fs::read(&kept).expect("kept"), program);
    }

    #[test]
    fn notify_profiles_and_specs_without_seccomp_get_no_annotation() {
        let notify = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(vec![LinuxSyscallBuilder::default()
                .names(vec!["mkdir".to_string()])
                .action(LinuxSeccompAction::ScmpActNotify)
                .build()
                .expect("rule")])
            .build()
            .expect("profile");
        let mut spec = spec_with(notify);
        attach_compiled(&mut spec);
        assert!(attached(&spec).is_none());
        let mut plain = SpecBuilder::default().build().expect("spec");
        plain.set_linux(None);
        attach_compiled(&mut plain);
        assert!(attached(&plain).is_none());
    }

    #[test]
    fn capabilities_lift_their_syscalls() -> Result<(), SpecError> {
        let names = |p: &LinuxSeccomp| -> Vec<String> {
            p.syscalls().as_ref().map(|s| s.iter().flat_map(|c| c.names().clone()).collect()).unwrap_or_default()
        };
        let base = default_profile(&[])?;
        assert!(names(&base).contains(&"ptrace".to_string()));
        assert!(names(&base).contains(&"mount".to_string()));
        let traced = default_profile(&["CAP_SYS_PTRACE".into()])?;
        assert!(!names(&traced).contains(&"ptrace".to_string()));
        assert!(names(&traced).contains(&"mount".to_string()));
        let admin = default_profile(&["CAP_SYS_ADMIN".into()])?;
        assert!(!names(&admin).contains(&"clone3".to_string()));
        Ok(())
    }
}
