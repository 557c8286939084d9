//! `attach`: a container's monitor listens on a unix socket; each client
//! that connects gets the container's output from then on, and may send
//! input, its terminal's size and signals. When the container exits, each
//! client gets the exit code and is let go.
//!
//! Frames are docker's stream framing (a kind byte, three zero bytes, a
//! big-endian u32 length, the payload), with more kinds for the control
//! messages, so that one decoder serves both directions.
//!
//! The monitor is single-threaded and must never block on a client: the
//! sockets are non-blocking, each client's unsent output is buffered, and a
//! client that falls too far behind is dropped (the log keeps everything).

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use crate::logs::Stream;

/// Largest payload accepted: more is a broken or hostile peer.
const MAX_PAYLOAD: usize = 1 << 20;
/// Output buffered for a client that does not read before it is dropped.
const MAX_BACKLOG: usize = 8 << 20;

/// One message on an attach socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client to monitor: bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// Monitor to client: the container's output.
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Client to monitor: the client's terminal size.
    Resize {
        rows: u16,
        cols: u16,
    },
    /// Client to monitor: a signal to pass to the container (`--sig-proxy`).
    Signal(i32),
    /// Monitor to client: the container exited with this code.
    Exit(i32),
    /// Client to monitor: no more input; the container's stdin is closed
    /// once what was sent is written (without a TTY).
    CloseStdin,
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Frame::Stdin(b) => (0, b.clone()),
            Frame::Stdout(b) => (1, b.clone()),
            Frame::Stderr(b) => (2, b.clone()),
            Frame::Resize { rows, cols } => (3, [rows.to_be_bytes(), cols.to_be_bytes()].concat()),
            Frame::Signal(s) => (4, s.to_be_bytes().to_vec()),
            Frame::Exit(c) => (5, c.to_be_bytes().to_vec()),
            Frame::CloseStdin => (6, Vec::new()),
        };
        let mut out = Vec::with_capacity(8 + payload.len());
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(kind: u8, payload: Vec<u8>) -> io::Result<Frame> {
        let int = |p: &[u8]| <[u8; 4]>::try_from(p).map(i32::from_be_bytes).map_err(|_| bad("a bad length"));
        Ok(match kind {
            0 => Frame::Stdin(payload),
            1 => Frame::Stdout(payload),
            2 => Frame::Stderr(payload),
            3 => match payload.as_slice() {
                [r0, r1, c0, c1] => {
                    Frame::Resize { rows: u16::from_be_bytes([*r0, *r1]), cols: u16::from_be_bytes([*c0, *c1]) }
                }
                _ => return Err(bad("a bad length")),
            },
            4 => Frame::Signal(int(&payload)?),
            5 => Frame::Exit(int(&payload)?),
            6 => Frame::CloseStdin,
            k => return Err(bad(&format!("unknown kind {k}"))),
        })
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("attach frame with {what}"))
}

/// Parses a frame header: its kind and payload length.
fn header(h: &[u8; 8]) -> io::Result<(u8, usize)> {
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(bad("an oversized payload"));
    }
    Ok((h[0], len))
}

/// Reads one frame, blocking; None at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut h = [0u8; 8];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = header(&h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Frame::decode(kind, payload).map(Some)
}

/// Takes the complete frames off the front of `buf`.
fn take_frames(buf: &mut Vec<u8>) -> io::Result<Vec<Frame>> {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(h) = buf.get(at..at + 8) {
        let (kind, len) = header(h.try_into().map_err(|_| bad("a short header"))?)?;
        let Some(payload) = buf.get(at + 8..at + 8 + len) else { break };
        frames.push(Frame::decode(kind, payload.to_vec())?);
        at += 8 + len;
    }
    buf.drain(..at);
    Ok(frames)
}

/// What clients asked of the container.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Input(Vec<u8>),
    CloseInput,
    Resize(rustix::termios::Winsize),
    Signal(i32),
}

struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    gone: bool,
}

impl Client {
    /// Writes what it can of the buffered output without blocking.
    fn flush(&mut self) {
        while !self.outbuf.is_empty() && !self.gone {
            match send(&self.sock, &self.outbuf) {
                Ok(0) => self.gone = true,
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.gone = true,
            }
        }
    }

    /// Reads what the client sent; marks it gone at EOF.
    fn receive(&mut self) -> Vec<Frame> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.gone = true;
                    break;
                }
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.gone = true;
                    break;
                }
            }
        }
        take_frames(&mut self.inbuf).unwrap_or_else(|_| {
            self.gone = true;
            Vec::new()
        })
    }
}

/// The monitor's side: the listening socket and the attached clients.
pub struct AttachServer {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
}

impl AttachServer {
    /// Listens on `path` (a stale socket there is replaced); only root may
    /// connect.
    pub fn listen(path: &Path) -> io::Result<AttachServer> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(AttachServer { listener, path: path.to_owned(), clients: Vec::new() })
    }

    /// What to poll: the listener, then one entry per client (readable
    /// only when `take_input`, so that a container that does not read its
    /// stdin pushes back on the clients).
    pub fn poll_fds(&self, take_input: bool) -> Vec<PollFd<'_>> {
        let mut fds = vec![PollFd::new(&self.listener, PollFlags::IN)];
        for c in &self.clients {
            let mut flags = PollFlags::empty();
            if take_input {
                flags |= PollFlags::IN;
            }
            if !c.outbuf.is_empty() {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.sock, flags));
        }
        fds
    }

    /// Acts on what poll reported for [`poll_fds`]' entries, in order:
    /// accepts new clients, sends pending output, and returns what the
    /// clients asked for.
    pub fn handle(&mut self, revents: &[PollFlags]) -> Vec<Request> {
        let mut requests = Vec::new();
        for (c, ev) in self.clients.iter_mut().zip(revents.iter().skip(1)) {
            if ev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                requests.extend(c.receive().into_iter().filter_map(request));
            }
            if ev.contains(PollFlags::OUT) {
                c.flush();
            }
        }
        self.clients.retain(|c| !c.gone);
        if revents.first().is_some_and(|ev| !ev.is_empty()) {
            self.accept();
        }
        requests
    }

    /// Waits up to `limit` for a first client; whether one came.
    pub fn accept_first(&mut self, limit: Duration) -> bool {
        let mut fds = [PollFd::new(&self.listener, PollFlags::IN)];
        let timeout = rustix::event::Timespec::try_from(limit).ok();
        if matches!(rustix::event::poll(&mut fds, timeout.as_ref()), Ok(n) if n > 0) {
            self.accept();
        }
        !self.clients.is_empty()
    }

    fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            if sock.set_nonblocking(true).is_ok() {
                self.clients.push(Client { sock, inbuf: Vec::new(), outbuf: Vec::new(), gone: false });
            }
        }
    }

    /// Sends output to every client.
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let frame = match stream {
            Stream::Stdout => Frame::Stdout(data.to_vec()),
            Stream::Stderr => Frame::Stderr(data.to_vec()),
        }
        .encode();
        for c in &mut self.clients {
            c.outbuf.extend_from_slice(&frame);
            c.flush();
            if c.outbuf.len() > MAX_BACKLOG {
                c.gone = true;
            }
        }
        self.clients.retain(|c| !c.gone);
    }

    /// The container exited: each client gets the rest of its output and
    /// the code (waiting a little for slow ones), then is let go. The
    /// listener stays for a restart.
    pub fn finish(&mut self, code: i32) {
        for mut c in self.clients.drain(..) {
            c.outbuf.extend_from_slice(&Frame::Exit(code).encode());
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = send_all(&c.sock, &c.outbuf);
        }
    }
}

impl Drop for AttachServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes to a socket without SIGPIPE when the peer has gone (the
/// foreground monitor keeps SIGPIPE's default for its own stdout).
fn send(sock: &UnixStream, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(sock, buf, rustix::net::SendFlags::NOSIGNAL)?)
}

/// [`send`] until all of `buf` is written.
pub fn send_all(sock: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match send(sock, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn request(frame: Frame) -> Option<Request> {
    match frame {
        Frame::Stdin(b) => Some(Request::Input(b)),
        Frame::Resize { rows, cols } => {
            Some(Request::Resize(rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }))
        }
        Frame::Signal(s) => Some(Request::Signal(s)),
        Frame::CloseStdin => Some(Request::CloseInput),
        Frame::Stdout(_) | Frame::Stderr(_) | Frame::Exit(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_at_any_byte() {
        let frames = vec![
            Frame::Stdin(b"ls\r".to_vec()),
            Frame::Stdout(Vec::new()),
            Frame::Stderr(b"x".to_vec()),
            Frame::Resize { rows: 33, cols: 101 },
            Frame::Signal(2),
            Frame::Exit(-1),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        assert_eq!(&wire[..8], &[0, 0, 0, 0, 0, 0, 0, 3]);
        for cut in 0..wire.len() {
            let mut buf = wire[..cut].to_vec();
            let mut got = take_frames(&mut buf).expect("decodes");
            buf.extend_from_slice(&wire[cut..]);
            got.extend(take_frames(&mut buf).expect("decodes"));
            assert_eq!(got, frames, "cut at {cut}");
            assert!(buf.is_empty());
        }
        let mut r = wire.as_slice();
        let mut read = Vec::new();
        while let Some(f) = read_frame(&mut r).expect("reads") {
            read.push(f);
        }
        assert_eq!(read, frames);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut unknown = vec![9, 0, 0, 0, 0, 0, 0, 0];
        assert!(take_frames(&mut unknown).is_err());
        let mut huge = vec![0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(take_frames(&mut huge).is_err());
        let mut short_signal = vec![4, 0, 0, 0, 0, 0, 0, 1, 2];
        assert!(take_frames(&mut short_signal).is_err());
        let mut truncated: &[u8] = &[1, 0, 0, 0, 0, 0, 0, 5, b'a'];
        assert!(read_frame(&mut truncated).is_err());
    }
}
