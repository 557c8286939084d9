//! `wharf attach`: the client side of a monitor's attach socket
//! (runtime::attach). As docker's: output from the moment of attaching
//! (the log has what came before), input when the container was created
//! with `-i`, the terminal's size for a `-t` container, signals passed on
//! (`--sig-proxy`, without a terminal), the detach keys (ctrl-p,ctrl-q)
//! leave it running, and the exit code is the container's.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use clap::{ArgAction, Args};
use runtime::attach::{read_frame, Frame};
use runtime::supervise::SignalPipes;
use rustix::event::{poll, PollFd, PollFlags};
use store::Store;

use crate::exit::fail;
use engine::attach::{DetachKeys, Scan};
use engine::lifecycle::wait_code;

pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

/// docker's check before a terminal session: its input must be a
/// terminal too, or keystrokes (and the detach keys) cannot be read raw.
pub fn check_tty(stdin: bool, tty: bool) -> anyhow::Result<()> {
    if stdin && tty && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(fail("the input device is not a TTY"));
    }
    Ok(())
}

pub fn attach(root: &Path, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let keys = parse_detach_keys(args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
    let mut store = Store::open(root)?;
    // docker's CLI itself refuses a stopped or paused container (its
    // words, without the daemon's prefix).
    let attached = engine::attach::connect(&mut store, &args.container).map_err(|e| match e.kind() {
        engine::ErrorKind::Conflict => fail(e.to_string()),
        _ => e.into(),
    })?;
    check_tty(attached.open_stdin && !args.no_stdin, attached.tty)?;
    let session = Session {
        sock: attached.sock,
        stdin: attached.open_stdin && !args.no_stdin,
        tty: attached.tty,
        detach: DetachKeys::new(keys),
    };
    match session.run(args.sig_proxy)? {
        Ended::Exited(code) => Ok(exit_code(code)),
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(ExitCode::from(1))
        }
        // The monitor went without a word (killed, or between two runs).
        Ended::Closed => Ok(wait_code(&mut store, &attached.id)?.map_or(ExitCode::from(1), exit_code)),
    }
}

/// docker's detach keys, refused with exit 1 as docker's CLI does.
pub fn parse_detach_keys(spec: &str) -> anyhow::Result<Vec<u8>> {
    engine::attach::parse_detach_keys(spec).map_err(|e| fail(e.to_string()))
}

/// The CLI side of `run -it` and `start -ai` on a `-t` container: an
/// attach client of a monitor that waited for it. Detaching exits 0
/// without a word, as docker's `run` does.
pub fn run_attached(root: &Path, id: &str, sock: UnixStream, keys: Vec<u8>) -> anyhow::Result<ExitCode> {
    let session = Session { sock, stdin: true, tty: true, detach: DetachKeys::new(keys) };
    match session.run(true)? {
        Ended::Exited(code) => Ok(exit_code(code)),
        Ended::Detached => Ok(ExitCode::SUCCESS),
        Ended::Closed => Ok(wait_code(&mut Store::open(root)?, id)?.map_or(ExitCode::from(1), exit_code)),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

enum Ended {
    Exited(i32),
    Detached,
    Closed,
}

struct Session {
    sock: UnixStream,
    stdin: bool,
    tty: bool,
    detach: DetachKeys,
}

impl Session {
    fn run(mut self, sig_proxy: bool) -> anyhow::Result<Ended> {
        let forward: &[i32] = match (self.tty, sig_proxy) {
            (true, _) => &[libc::SIGWINCH],
            (false, true) => &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2],
            (false, false) => &[],
        };
        let mut signals = SignalPipes::install(forward)?;
        let _raw = (self.tty && self.stdin).then(runtime::console::RawMode::enter);
        if self.tty {
            self.send_size()?;
        }
        let mut stdin_open = self.stdin;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let stdin = std::io::stdin();
            let mut fds = vec![PollFd::new(&self.sock, PollFlags::IN)];
            if stdin_open {
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
            fds.extend(signals.poll_fds());
            match poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let sock_ready = !fds[0].revents().is_empty();
            let stdin_ready = stdin_open && !fds[1].revents().is_empty();
            drop(fds);
            for sig in signals.pending() {
                if sig == libc::SIGWINCH {
                    self.send_size()?;
                } else {
                    self.send(Frame::Signal(sig))?;
                }
            }
            if stdin_ready {
                match stdin.lock().read(&mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => match self.detach.feed(&buf[..n]) {
                        Scan::Detach => return Ok(Ended::Detached),
                        Scan::Pass(b) if b.is_empty() => {}
                        Scan::Pass(b) => self.send(Frame::Stdin(b))?,
                    },
                }
            }
            if sock_ready {
                if let Some(end) = self.receive()? {
                    return Ok(end);
                }
            }
        }
    }

    /// Takes one frame from the monitor; Some when the session is over.
    fn receive(&mut self) -> anyhow::Result<Option<Ended>> {
        match read_frame(&mut self.sock) {
            Ok(Some(Frame::Stdout(b))) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&b)?;
                out.flush()?;
            }
            Ok(Some(Frame::Stderr(b))) => std::io::stderr().write_all(&b)?,
            Ok(Some(Frame::Exit(code))) => return Ok(Some(Ended::Exited(code))),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(Some(Ended::Closed)),
        }
        Ok(None)
    }

    fn send(&mut self, frame: Frame) -> anyhow::Result<()> {
        // A monitor that went away ends the session at the next read.
        let _ = runtime::attach::send_all(&self.sock, &frame.encode());
        Ok(())
    }

    /// Passes the size of the user's terminal on (when there is one).
    fn send_size(&mut self) -> anyhow::Result<()> {
        let out = std::io::stdout();
        let size =
            rustix::termios::tcgetwinsize(out.as_fd()).or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()));
        if let Ok(ws) = size {
            self.send(Frame::Resize { rows: ws.ws_row, cols: ws.ws_col })?;
        }
        Ok(())
    }
}
