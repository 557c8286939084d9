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

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscall, LinuxSyscallBuilder,
};

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

/// A profile from a file (`--security-opt seccomp=FILE`): OCI's
/// `linux.seccomp` JSON, which docker's profile format also parses as
/// (fields wharf does not know, such as `archMap`, are ignored).
pub fn profile_from_json(text: &str) -> Result<LinuxSeccomp, SpecError> {
    serde_json::from_str(text).map_err(|e| SpecError::Seccomp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
