//! `wharf`: a daemonless, Docker-compatible container engine.

mod cli;
mod commands;
mod exit;

mod format;
mod usage;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == userns::PAUSE_ARG) {
        userns::pause_main();
    }
    let cli = match cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // An ordinary user's wharf works in the user's own user namespace;
    // joined before anything else, while this process has one thread
    // (help, version and usage errors need none).
    match userns::join() {
        Ok(Some(warning)) => eprintln!("{warning}"),
        Ok(None) => {}
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(125);
        }
    }
    if !serves(&cli) {
        restore_sigpipe();
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

/// Whether the process is the API server: it keeps Rust's ignored
/// SIGPIPE, as a client that hangs up mid-answer is an error to handle
/// (with the default action it silently killed the server). The engine's
/// own processes restore the default: a container's init inherits it
/// from its monitor, and docker's containers start with it.
fn serves(cli: &cli::Cli) -> bool {
    use cli::{Command, SystemCommand};
    matches!(cli.command, Some(Command::System(SystemCommand::Service(_))))
}

/// Rust ignores SIGPIPE; a CLI piped into `head` should just stop, as
/// docker's does, instead of reporting a broken pipe.
fn restore_sigpipe() {
    // SAFETY: called in main once the arguments are parsed, before any
    // thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
