//! Exit codes and error reporting, as docker's CLI does them.

use std::process::ExitCode;

use engine::ErrorKind;

/// docker's 125: bad flags, unknown commands, and (for `run`) any failure
/// of the engine rather than of the container.
pub const ENGINE_ERROR: u8 = 125;

/// What docker exits with when a command fails (no such image, conflict,
/// I/O): the daemon reported an error.
pub const COMMAND_ERROR: u8 = 1;

/// A failure that carries its own exit status (e.g. a Dockerfile that does
/// not parse exits 1, as `docker build` does). Printed as docker's CLI
/// prints its own errors: the message alone, or, for what the engine
/// refused, after "Error response from daemon: ".
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub message: String,
    pub code: u8,
    /// The engine's refusal, not the command line's.
    pub from_engine: bool,
    /// `run` or `create`: docker's CLI names the command and its help.
    pub command: Option<&'static str>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { message: message.into(), code, from_engine: false, command: None }
    }

    fn of_engine(code: u8, e: &engine::Error) -> Self {
        Failure { message: e.to_string(), code, from_engine: true, command: None }
    }

    /// The lines docker's CLI prints for it.
    fn render(&self) -> String {
        let msg = match self.from_engine {
            true => format!("Error response from daemon: {}", self.message),
            false => self.message.clone(),
        };
        match self.command {
            Some(cmd) => format!("wharf: {msg}\n\nRun 'wharf {cmd} --help' for more information"),
            None => msg,
        }
    }
}

/// The same error with exit 1 where it had the engine's 125: docker's
/// `create`, unlike `run`, exits 1 for what the daemon refused.
pub fn as_command_error(err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<Failure>() {
        Ok(f) if f.code == ENGINE_ERROR => Failure { code: COMMAND_ERROR, ..f }.into(),
        Ok(f) => f.into(),
        Err(e) => match e.downcast::<engine::Error>() {
            Ok(e) => Failure::of_engine(COMMAND_ERROR, &e).into(),
            Err(e) => e,
        },
    }
}

/// A failed command (exit 1), as most commands report errors.
pub fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(COMMAND_ERROR, msg).into()
}

/// The exit code docker's CLI gives an engine error outside `run`: 1,
/// but for the start failures docker's CLI names by their own codes.
fn command_code(e: &engine::Error) -> u8 {
    match e.kind() {
        ErrorKind::CommandNotFound | ErrorKind::CannotInvoke => engine::monitor::start_exit_code(e.kind()),
        _ => COMMAND_ERROR,
    }
}

/// `run`'s exit code for an error before its container ran: 125 for the
/// engine's failures, 126/127 for a command that cannot run.
pub fn as_run_error(err: anyhow::Error) -> anyhow::Error {
    let failure = match err.downcast::<engine::Error>() {
        Ok(e) => Failure::of_engine(engine::monitor::start_exit_code(e.kind()), &e),
        Err(other) => match other.downcast::<Failure>() {
            Ok(f) => f,
            Err(other) => return other,
        },
    };
    // What the container itself exits with is not an error of the CLI.
    match failure.code {
        ENGINE_ERROR | 126 | 127 => Failure { command: Some("run"), ..failure }.into(),
        _ => failure.into(),
    }
}

/// Prints `err` the way docker does and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(f) = err.downcast_ref::<Failure>() {
        eprintln!("{}", f.render());
        return ExitCode::from(f.code);
    }
    if let Some(e) = err.downcast_ref::<engine::Error>() {
        eprintln!("Error response from daemon: {e}");
        return ExitCode::from(command_code(e));
    }
    let code = COMMAND_ERROR;
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
    }
    eprintln!("Error: {msg}");
    ExitCode::from(code)
}
