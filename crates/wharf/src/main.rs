//! `wharf`: a daemonless, Docker-compatible container engine.

mod cli;
mod commands;
mod exit;

mod format;

use std::process::ExitCode;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

/// Rust ignores SIGPIPE; a CLI piped into `head` should just stop, as
/// docker's does, instead of reporting a broken pipe.
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
