//! Running another architecture's binaries: the kernel's binfmt_misc
//! hands them to a qemu user-mode emulator (Debian's `qemu-user-static`).
//! wharf registers the handler itself when it is missing, from the
//! package's own binfmt.d file, with the `F` flag: the kernel opens the
//! emulator at registration, so it runs inside containers whose rootfs
//! lacks it, as docker's `tonistiigi/binfmt` and podman's setups do.

use std::path::Path;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
/// Where Debian's qemu-user-static (and systemd-binfmt) keep the lines
/// to register.
const CONF_DIRS: &[&str] = &["/usr/lib/binfmt.d", "/etc/binfmt.d", "/run/binfmt.d"];

/// qemu's name of a docker architecture.
fn qemu_name(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "arm",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64le" => "mips64el",
        _ => return None,
    })
}

/// Why a foreign architecture cannot run here, in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EmulationError(String);

/// Makes sure binaries of docker architecture `arch` run on this host:
/// nothing for the host's own; otherwise binfmt_misc mounted and a qemu
/// handler for it registered and enabled.
pub fn ensure(arch: &str, host_arch: &str) -> Result<(), EmulationError> {
    if arch == host_arch || arch.is_empty() {
        return Ok(());
    }
    let qemu =
        qemu_name(arch).ok_or_else(|| EmulationError(format!("no emulator is known for architecture {arch}")))?;
    if !Path::new(BINFMT).join("register").exists() {
        mount_binfmt()?;
    }
    let entry = Path::new(BINFMT).join(format!("qemu-{qemu}"));
    if let Ok(state) = std::fs::read_to_string(&entry) {
        if state.lines().next() == Some("enabled") {
            return Ok(());
        }
        return Err(EmulationError(format!(
            "the binfmt_misc handler for {arch} ({}) is disabled: echo 1 > {} enables it",
            entry.display(),
            entry.display()
        )));
    }
    let line = CONF_DIRS
        .iter()
        .find_map(|d| std::fs::read_to_string(Path::new(d).join(format!("qemu-{qemu}.conf"))).ok())
        .ok_or_else(|| {
            EmulationError(format!(
                "linux/{arch} binaries cannot run on this linux/{host_arch} host: no emulator (install qemu-user-static)"
            ))
        })?;
    let line = with_fix_binary(line.trim());
    match std::fs::write(Path::new(BINFMT).join("register"), &line) {
        Ok(()) => Ok(()),
        // Registered meanwhile by another wharf process.
        Err(_) if entry.exists() => Ok(()),
        Err(e) => Err(EmulationError(format!("registering the qemu-{qemu} binfmt_misc handler: {e}"))),
    }
}

/// A binfmt.d line with the `F` (fix binary) flag among its flags.
fn with_fix_binary(line: &str) -> String {
    // :name:type:offset:magic:mask:interpreter:flags
    let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
    if fields.len() >= 8 {
        let flags = fields.last_mut().expect("eight fields");
        if !flags.contains('F') {
            flags.push('F');
        }
    }
    fields.join(":")
}

fn mount_binfmt() -> Result<(), EmulationError> {
    rustix::mount::mount("binfmt_misc", BINFMT, "binfmt_misc", rustix::mount::MountFlags::empty(), None)
        .map_err(|e| EmulationError(format!("mounting binfmt_misc on {BINFMT}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_binary_flag_is_added_once() {
        let l = ":qemu-aarch64:M::\\x7fELF:\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OP";
        assert!(with_fix_binary(l).ends_with(":OPF"));
        assert!(with_fix_binary(&with_fix_binary(l)).ends_with(":OPF"));
    }

    #[test]
    fn the_host_architecture_needs_nothing() {
        assert!(ensure("amd64", "amd64").is_ok());
        assert!(ensure("sparc", "amd64").is_err());
    }
}
