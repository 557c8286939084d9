//! Terminals for `-t`: the runtime creates the container's pty and sends
//! its master over a unix socket (the OCI console-socket protocol); the
//! monitor receives it, copies between it and the user's terminal (put in
//! raw mode), and passes window size changes on.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// Listens on `path` for the runtime to connect and send the pty master.
pub fn listen(path: &Path) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}

/// Accepts the runtime's connection and takes the pty master it sends.
pub fn receive_master(listener: &UnixListener) -> io::Result<OwnedFd> {
    let (conn, _) = listener.accept()?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    rustix::net::recvmsg(&conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(io::Error::other("the runtime sent no terminal"))
}

/// The user's terminal in raw mode until dropped (nothing when stdin is
/// not a terminal).
pub struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if !rustix::termios::isatty(fd) {
            return RawMode { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(fd) else { return RawMode { saved: None } };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(io::stdin().as_fd(), rustix::termios::OptionalActions::Now, t);
        }
    }
}

/// Gives the pty the size of the user's terminal (when stdin is one).
pub fn copy_window_size(master: impl AsFd) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(io::stdin().as_fd()) {
        let _ = rustix::termios::tcsetwinsize(master, ws);
    }
}
