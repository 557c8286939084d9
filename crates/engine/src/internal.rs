//! The engine's own processes, started as internal jobs of the wharf
//! binary: a container's monitor (podman's conmon), its health checker,
//! a child building one stage of a build, and an exec for the API server
//! (the embedded runtime forks, which a multi-threaded server must not). Each is started with its
//! job serialized as JSON on the command line (`wharf --root ROOT
//! internal JOB`), never by replaying the user's command line, and the
//! binary hands the job back to [`run`].

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The name of the binary's hidden entry point.
pub const ENTRY: &str = "internal";

/// One internal job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "kebab-case")]
pub enum Job {
    /// Run a container and stay with it until it is finished for good.
    Monitor {
        id: String,
        /// Start it once an attach client is connected (`run -it`).
        wait_attach: bool,
    },
    /// Probe a container's health until its init is gone.
    Health { id: String },
    /// Build one stage of a build whose job is in `dir`.
    BuildStage { dir: PathBuf },
    /// Build the request in `dir` for the API server (`build::build_job`).
    Build { dir: PathBuf },
    /// Run an exec in a container with this process's stdio (pipes of the
    /// API server): its exit code is the job's.
    Exec {
        container: String,
        config: crate::exec::ExecConfig,
        /// The pty's rows and columns, for a TTY exec.
        console_size: Option<(u16, u16)>,
        /// A file holding `ROWS COLS` that replaces `console_size` when
        /// the job gets SIGWINCH (the API's exec resize writes it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size_file: Option<PathBuf>,
    },
}

impl Job {
    /// The command that runs this job: this very binary, through
    /// `/proc/self/exe` so that a long-running API server whose binary
    /// was replaced (an upgrade, a rebuild) still starts its own jobs;
    /// argv[0] keeps the binary's name for `ps`.
    pub fn command(&self, root: &Path) -> Command {
        use std::os::unix::process::CommandExt;
        let name = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("wharf"));
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0(name.to_string_lossy().trim_end_matches(" (deleted)"));
        let json = serde_json::to_string(self).unwrap_or_default();
        cmd.arg("--root").arg(root).arg(ENTRY).arg(json);
        cmd
    }

    pub fn parse(json: &str) -> Result<Job> {
        serde_json::from_str(json).map_err(|e| Error::invalid(format!("not an internal job: {e}")))
    }
}

/// Runs a job; returns the process's exit code.
pub fn run(root: &Path, job: &Job) -> Result<i32> {
    match job {
        Job::Monitor { id, wait_attach } => crate::monitor::monitor_main(root, id, *wait_attach),
        Job::Health { id } => crate::health::checker_main(root, id).map(|()| 0),
        Job::BuildStage { dir } => {
            crate::build::stage_job(root, dir).map(|()| 0).map_err(|e| Error::internal(e.to_string()))
        }
        Job::Build { dir } => crate::build::build_job(root, dir),
        Job::Exec { container, config, console_size, size_file } => {
            exec_main(root, container, config, *console_size, size_file.as_deref())
        }
    }
}

/// An exec with this process's stdio; on a pty, relayed to stdout, sized
/// as asked (and as `size_file` says, on each SIGWINCH).
fn exec_main(
    root: &Path,
    container: &str,
    config: &crate::exec::ExecConfig,
    size: Option<(u16, u16)>,
    size_file: Option<&Path>,
) -> Result<i32> {
    let mut store = store::Store::open(root)?;
    let exec = crate::exec::prepare(&mut store, container, config, false)?;
    drop(store);
    if !exec.wants_terminal() {
        return exec.run_inherited();
    }
    let mut output = |b: &[u8]| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b).and_then(|_| out.flush());
    };
    let mut resize = |master: &std::os::fd::OwnedFd| {
        let asked = size_file.and_then(|f| std::fs::read_to_string(f).ok()).and_then(|t| {
            let (rows, cols) = t.trim().split_once(' ')?;
            Some((rows.parse().ok()?, cols.parse().ok()?))
        });
        if let Some((rows, cols)) = asked.or(size) {
            let ws = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
            let _ = rustix::termios::tcsetwinsize(master, ws);
        }
    };
    let input = config.attach_stdin.unwrap_or(false).then(|| runtime::oci::dup_stdio(0)).transpose()?;
    let code = exec.run_terminal(crate::exec::TerminalIo { input, output: &mut output, resize: &mut resize });
    if let Some(f) = size_file {
        let _ = std::fs::remove_file(f);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_the_command_line() {
        let jobs = [
            Job::Monitor { id: "abc".into(), wait_attach: true },
            Job::Health { id: "abc".into() },
            Job::BuildStage { dir: "/var/lib/wharf/tmp/stage-1".into() },
            Job::Build { dir: "/var/lib/wharf/tmp/build-1".into() },
        ];
        for job in jobs {
            let cmd = job.command(Path::new("/r"));
            let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            assert_eq!(&args[..3], ["--root", "/r", ENTRY]);
            assert_eq!(Job::parse(&args[3]).expect("parses"), job);
        }
        assert_eq!(Job::parse(r#"{"job":"health","id":"x"}"#), Ok(Job::Health { id: "x".into() }));
        assert!(Job::parse("container-monitor").is_err());
    }
}
