//! The monitor's loop: copy a container's output to a sink (the json-file
//! log, and the terminal for a foreground run), forward signals, reap, and
//! return the container's exit status. One thread, driven by poll(2):
//! container creation forks, and a monitor must stay single-threaded
//! (youki#3011).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions};

use crate::logs::Stream;

/// Signals a monitor catches: SIGCHLD to reap, the others to forward.
pub struct SignalPipes {
    chld: UnixStream,
    forwarded: Vec<(i32, UnixStream)>,
}

impl SignalPipes {
    /// Registers the handlers. Call before the container is created, so
    /// that an early exit is not missed.
    pub fn install(forward: &[i32]) -> io::Result<SignalPipes> {
        let chld = pipe_for(libc::SIGCHLD)?;
        let mut forwarded = Vec::new();
        for &s in forward {
            forwarded.push((s, pipe_for(s)?));
        }
        Ok(SignalPipes { chld, forwarded })
    }

    /// The forwarded signals that arrived since the last look, without
    /// waiting (for a caller that polls child processes itself).
    pub fn pending(&mut self) -> Vec<i32> {
        drain(&mut self.chld);
        self.forwarded.iter_mut().filter_map(|(sig, p)| drain(p).then_some(*sig)).collect()
    }
}

fn pipe_for(signal: i32) -> io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal, write)?;
    Ok(read)
}

fn drain(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    let mut any = false;
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        any = true;
    }
    any
}

/// How the container's init ended: docker's exit code (128+N for a
/// signal).
pub fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(c) = status.exit_status() {
        c
    } else if let Some(s) = status.terminating_signal() {
        128 + s
    } else {
        255
    }
}

/// Runs until `pid` (a child or, as subreaper, an adopted orphan) exits;
/// copies `outputs` to `sink` meanwhile and passes forwarded signals to
/// `forward`. Other children that exit are reaped too. Returns the exit
/// code.
pub fn supervise(
    pid: i32,
    outputs: Vec<(Stream, OwnedFd)>,
    signals: &mut SignalPipes,
    sink: &mut dyn FnMut(Stream, &[u8]),
    forward: &mut dyn FnMut(i32),
) -> io::Result<i32> {
    supervise_with_input(pid, outputs, None, signals, sink, forward)
}

/// [`supervise`], also copying `input.0` (the user's stdin) to `input.1`
/// (a pty master) as it arrives.
pub fn supervise_with_input(
    pid: i32,
    outputs: Vec<(Stream, OwnedFd)>,
    input: Option<(OwnedFd, OwnedFd)>,
    signals: &mut SignalPipes,
    sink: &mut dyn FnMut(Stream, &[u8]),
    forward: &mut dyn FnMut(i32),
) -> io::Result<i32> {
    let (mut input_src, mut input_dst) = match input {
        Some((s, d)) => (Some(File::from(s)), Some(File::from(d))),
        None => (None, None),
    };
    let mut outs: Vec<(Stream, Option<File>)> = Vec::new();
    for (s, fd) in outputs {
        rustix::io::ioctl_fionbio(&fd, true)?;
        outs.push((s, Some(File::from(fd))));
    }
    let mut status = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        status = status.or(reap(pid)?);
        if status.is_some() {
            // The init is gone: take what is left in the pipes (a
            // daemonised grandchild may still hold them open, so do not
            // wait for EOF).
            for (s, f) in outs.iter_mut() {
                read_available(*s, f, &mut buf, sink);
            }
            return Ok(status.unwrap_or(255));
        }
        let mut fds: Vec<PollFd> = Vec::new();
        for (_, f) in outs.iter().filter_map(|(s, f)| f.as_ref().map(|f| (s, f))) {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        let n_out = fds.len();
        if let Some(src) = &input_src {
            fds.push(PollFd::new(src, PollFlags::IN));
        }
        let n_in = fds.len() - n_out;
        fds.push(PollFd::new(&signals.chld, PollFlags::IN));
        for (_, p) in &signals.forwarded {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let mut i = 0;
        for (s, f) in outs.iter_mut() {
            if f.is_some() {
                if ready[i] {
                    read_available(*s, f, &mut buf, sink);
                }
                i += 1;
            }
        }
        if n_in == 1 && ready[n_out] {
            copy_input(&mut input_src, &mut input_dst, &mut buf);
        }
        drain(&mut signals.chld);
        for (k, (sig, p)) in signals.forwarded.iter_mut().enumerate() {
            if ready[n_out + n_in + 1 + k] && drain(p) {
                forward(*sig);
            }
        }
    }
}

/// Copies one read of the user's input to the pty; stops at EOF.
fn copy_input(src: &mut Option<File>, dst: &mut Option<File>, buf: &mut [u8]) {
    use std::io::Write;
    let (Some(s), Some(d)) = (src.as_mut(), dst.as_mut()) else { return };
    match s.read(buf) {
        Ok(0) | Err(_) => *src = None,
        Ok(n) => {
            if d.write_all(&buf[..n]).is_err() {
                *src = None;
            }
        }
    }
}

/// Reads what `f` has now; closes it at EOF or on error.
fn read_available(stream: Stream, f: &mut Option<File>, buf: &mut [u8], sink: &mut dyn FnMut(Stream, &[u8])) {
    while let Some(file) = f.as_mut() {
        match file.read(buf) {
            Ok(0) => *f = None,
            Ok(n) => sink(stream, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => *f = None,
        }
    }
}

/// Reaps every exited child; returns `pid`'s exit code if it was one.
fn reap(pid: i32) -> io::Result<Option<i32>> {
    let mut found = None;
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((p, st))) => {
                if p.as_raw_nonzero().get() == pid {
                    found = Some(exit_code(st));
                }
            }
            Ok(None) => return Ok(found),
            Err(rustix::io::Errno::CHILD) => return Ok(found),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends signal number `sig` to `pid`. Signals rustix does not name
/// (SIGRTMIN+n) are refused rather than sent through an unchecked
/// conversion.
pub fn send_signal(pid: i32, sig: i32) -> io::Result<()> {
    let p = Pid::from_raw(pid).ok_or_else(|| io::Error::other("no such process"))?;
    let s = rustix::process::Signal::from_named_raw(sig).ok_or_else(|| io::Error::other("unsupported signal"))?;
    Ok(rustix::process::kill_process(p, s)?)
}

/// Whether a process exists and has not exited (a zombie waiting for its
/// parent to reap it counts as gone: some inits reap only now and then).
pub fn alive(pid: i32) -> bool {
    if pid <= 0 || Pid::from_raw(pid).is_none_or(|p| rustix::process::test_kill_process(p).is_err()) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Makes the caller the reaper of orphans below it: a container's init,
/// created by a runtime that exits, becomes its child.
pub fn become_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?)
}
