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
use store::{ContainerState, Store};

use super::container::{attach_path, load_config};
use crate::exit::fail;
use engine::lifecycle::{lookup, wait_code};

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
    let rec = lookup(&mut store, &args.container)?;
    let refuse = |state: &ContainerState| match state {
        ContainerState::Running => Ok(()),
        ContainerState::Paused => Err(fail("You cannot attach to a paused container, unpause it first")),
        _ => Err(fail("You cannot attach to a stopped container, start it first")),
    };
    refuse(&rec.state)?;
    let cfg = load_config(&rec);
    let sock = match UnixStream::connect(attach_path(&rec.id)) {
        Ok(s) => s,
        Err(e) => {
            // It may have stopped since it was looked up.
            refuse(&lookup(&mut store, &rec.id)?.state)?;
            return Err(fail(format!("attaching to {}: {e}", args.container)));
        }
    };
    check_tty(cfg.open_stdin && !args.no_stdin, cfg.tty)?;
    let session = Session { sock, stdin: cfg.open_stdin && !args.no_stdin, tty: cfg.tty, detach: Matcher::new(keys) };
    match session.run(args.sig_proxy)? {
        Ended::Exited(code) => Ok(exit_code(code)),
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(ExitCode::from(1))
        }
        // The monitor went without a word (killed, or between two runs).
        Ended::Closed => Ok(wait_code(&mut store, &rec.id)?.map_or(ExitCode::from(1), exit_code)),
    }
}

/// The CLI side of `run -it` and `start -ai` on a `-t` container: an
/// attach client of a monitor that waited for it. Detaching exits 0
/// without a word, as docker's `run` does.
pub fn run_attached(root: &Path, id: &str, sock: UnixStream, keys: Vec<u8>) -> anyhow::Result<ExitCode> {
    let session = Session { sock, stdin: true, tty: true, detach: Matcher::new(keys) };
    match session.run(true)? {
        Ended::Exited(code) => Ok(exit_code(code)),
        Ended::Detached => Ok(ExitCode::SUCCESS),
        Ended::Closed => Ok(wait_code(&mut Store::open(root)?, id)?.map_or(ExitCode::from(1), exit_code)),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// docker's detach-key syntax: comma-separated `ctrl-X` or single
/// characters.
pub fn parse_detach_keys(spec: &str) -> anyhow::Result<Vec<u8>> {
    let invalid = |k: &str| fail(format!("Invalid detach keys ({spec}) provided: unknown key {k:?}"));
    let mut keys = Vec::new();
    for key in spec.split(',') {
        let byte = match key.strip_prefix("ctrl-").map(str::as_bytes) {
            Some([c @ b'a'..=b'z']) | Some([c @ b'A'..=b'Z']) => c.to_ascii_lowercase() - b'a' + 1,
            Some([b'@']) => 0,
            Some([c @ (b'[' | b'\\' | b']' | b'^' | b'_')]) => c - b'[' + 27,
            Some(_) => return Err(invalid(key)),
            None => match key.as_bytes() {
                [c] => *c,
                _ => return Err(invalid(key)),
            },
        };
        keys.push(byte);
    }
    Ok(keys)
}

/// Finds the detach keys in the input. Bytes that may begin them are
/// held back until it is clear they do not (as docker's escape proxy).
struct Matcher {
    keys: Vec<u8>,
    matched: usize,
}

enum Scan {
    Pass(Vec<u8>),
    Detach,
}

impl Matcher {
    fn new(keys: Vec<u8>) -> Matcher {
        Matcher { keys, matched: 0 }
    }

    fn feed(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.get(self.matched) != Some(&b) {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if self.keys.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Scan::Detach;
                }
            } else {
                out.push(b);
            }
        }
        Scan::Pass(out)
    }
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
    detach: Matcher,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(m: &mut Matcher, input: &[u8]) -> Option<Vec<u8>> {
        match m.feed(input) {
            Scan::Pass(b) => Some(b),
            Scan::Detach => None,
        }
    }

    #[test]
    fn detach_keys_parse_as_docker_spells_them() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").expect("parses"), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[,ctrl-_,a,ctrl-Z").expect("parses"), vec![0, 27, 31, b'a', 26]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn detach_keys_are_held_back_until_they_match_or_not() {
        let mut m = Matcher::new(vec![16, 17]);
        assert_eq!(passed(&mut m, b"ls\x10"), Some(b"ls".to_vec()));
        assert_eq!(passed(&mut m, b"x"), Some(b"\x10x".to_vec()));
        assert_eq!(passed(&mut m, b"\x10\x10"), Some(b"\x10".to_vec()));
        assert_eq!(passed(&mut m, b"\x11"), None);
        let mut split = Matcher::new(vec![16, 17]);
        assert_eq!(passed(&mut split, b"a\x10"), Some(b"a".to_vec()));
        assert_eq!(passed(&mut split, b"\x11tail"), None);
    }
}
