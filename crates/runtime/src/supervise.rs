//! The monitor's loop: copy a container's output to a sink (the json-file
//! log, and the terminal for a foreground run) and to attached clients,
//! pass input on, forward signals, reap, and return the container's exit
//! status. One thread, driven by poll(2):
//! container creation forks, and a monitor must stay single-threaded
//! (youki#3011).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions};

use crate::attach::{AttachServer, Request};
use crate::logs::Stream;

/// Signals a monitor catches: SIGCHLD to reap, the others to forward.
pub struct SignalPipes {
    chld: UnixStream,
    forwarded: Vec<(i32, UnixStream)>,
    /// The handlers, unregistered on drop: one left behind writes to a
    /// socket whose reader is gone, and signal-hook's write does not ask
    /// for no SIGPIPE, which (default in the CLI) killed `run -it --rm`
    /// when a child exited after its session ended (exit 141).
    handlers: Vec<signal_hook::SigId>,
}

impl SignalPipes {
    /// Registers the handlers. Call before the container is created, so
    /// that an early exit is not missed.
    pub fn install(forward: &[i32]) -> io::Result<SignalPipes> {
        let mut handlers = Vec::new();
        let chld = pipe_for(libc::SIGCHLD, &mut handlers)?;
        let mut forwarded = Vec::new();
        for &s in forward {
            forwarded.push((s, pipe_for(s, &mut handlers)?));
        }
        Ok(SignalPipes { chld, forwarded, handlers })
    }

    /// Entries for poll(2) that become readable when a signal arrives.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut fds = vec![PollFd::new(&self.chld, PollFlags::IN)];
        fds.extend(self.forwarded.iter().map(|(_, p)| PollFd::new(p, PollFlags::IN)));
        fds
    }

    /// The forwarded signals that arrived since the last look, without
    /// waiting (for a caller that polls child processes itself).
    pub fn pending(&mut self) -> Vec<i32> {
        drain(&mut self.chld);
        self.forwarded.iter_mut().filter_map(|(sig, p)| drain(p).then_some(*sig)).collect()
    }
}

impl Drop for SignalPipes {
    fn drop(&mut self) {
        for id in self.handlers.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

fn pipe_for(signal: i32, handlers: &mut Vec<signal_hook::SigId>) -> io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    handlers.push(signal_hook::low_level::pipe::register(signal, write)?);
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
    let io = Io { outputs, ..Io::default() };
    supervise_io(pid, io, None, signals, sink, forward)
}

/// A container's streams as the monitor holds them.
#[derive(Default)]
pub struct Io {
    /// What the container writes: pipes, or the pty master.
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// The user's stdin, for a foreground `-it`: read as it arrives.
    pub user_input: Option<OwnedFd>,
    /// Where input goes: the pty master, or the write end of the
    /// container's stdin pipe (`run -d -i`). None: input is dropped.
    pub stdin: Option<OwnedFd>,
    /// The pty master, for window sizes sent by attach clients.
    pub terminal: Option<OwnedFd>,
}

/// Input on its way to the container. Written without blocking: a
/// container that does not read its stdin must not stall its monitor, so
/// the input waits here, and no more is read while too much waits.
struct Input {
    user: Option<File>,
    target: Option<File>,
    pending: Vec<u8>,
    /// Close the target once `pending` is written (an attach client has
    /// no more input).
    closing: bool,
}

impl Input {
    const HIGH_WATER: usize = 64 * 1024;

    fn wants_more(&self) -> bool {
        self.target.is_some() && self.pending.len() < Self::HIGH_WATER
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.target.is_some() {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// One read of the user's stdin; stops reading it at EOF.
    fn read_user(&mut self, buf: &mut [u8]) {
        let Some(user) = self.user.as_mut() else { return };
        match user.read(buf) {
            Ok(0) | Err(_) => self.user = None,
            Ok(n) => self.push(&buf[..n]),
        }
    }

    /// Writes what the target takes now; drops the input if it is closed.
    fn write_pending(&mut self) {
        use std::io::Write;
        while let (Some(target), false) = (self.target.as_mut(), self.pending.is_empty()) {
            match target.write(&self.pending) {
                Ok(0) => {
                    self.target = None;
                    self.pending.clear();
                }
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.target = None;
                    self.pending.clear();
                }
            }
        }
    }
}

/// [`supervise`] with input (the user's terminal, attach clients) and,
/// when `attach` is given, output to attached clients and their requests.
pub fn supervise_io(
    pid: i32,
    io: Io,
    mut attach: Option<&mut AttachServer>,
    signals: &mut SignalPipes,
    sink: &mut dyn FnMut(Stream, &[u8]),
    forward: &mut dyn FnMut(i32),
) -> io::Result<i32> {
    let mut outs: Vec<(Stream, Option<File>)> = Vec::new();
    for (s, fd) in io.outputs {
        rustix::io::ioctl_fionbio(&fd, true)?;
        outs.push((s, Some(File::from(fd))));
    }
    if let Some(fd) = &io.stdin {
        rustix::io::ioctl_fionbio(fd, true)?;
    }
    let mut input = Input {
        user: io.user_input.map(File::from),
        target: io.stdin.map(File::from),
        pending: Vec::new(),
        closing: false,
    };
    let mut status = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        status = status.or(reap(pid)?);
        if status.is_some() {
            // The init is gone: take what is left in the pipes (a
            // daemonised grandchild may still hold them open, so do not
            // wait for EOF).
            for (s, f) in outs.iter_mut() {
                read_available(*s, f, &mut buf, &mut |s, b| deliver(sink, &mut attach, s, b));
            }
            return Ok(status.unwrap_or(255));
        }
        let mut fds: Vec<PollFd> = Vec::new();
        for (_, f) in outs.iter().filter_map(|(s, f)| f.as_ref().map(|f| (s, f))) {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        let user_at = push_if(&mut fds, input.user.as_ref().filter(|_| input.wants_more()), PollFlags::IN);
        push_if(&mut fds, input.target.as_ref().filter(|_| !input.pending.is_empty()), PollFlags::OUT);
        let signals_at = fds.len();
        fds.push(PollFd::new(&signals.chld, PollFlags::IN));
        for (_, p) in &signals.forwarded {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        let attach_at = fds.len();
        if let Some(a) = attach.as_deref() {
            fds.extend(a.poll_fds(input.wants_more()));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        let ready = |i: Option<usize>| i.is_some_and(|i| !revents[i].is_empty());
        let mut i = 0;
        for (s, f) in outs.iter_mut() {
            if f.is_some() {
                if !revents[i].is_empty() {
                    read_available(*s, f, &mut buf, &mut |s, b| deliver(sink, &mut attach, s, b));
                }
                i += 1;
            }
        }
        if ready(user_at) {
            input.read_user(&mut buf);
        }
        if let Some(a) = attach.as_deref_mut() {
            for req in a.handle(&revents[attach_at..]) {
                match req {
                    Request::Input(b) => input.push(&b),
                    // A pty's master stays: closing it would hang up the
                    // terminal, not end the input.
                    Request::CloseInput if io.terminal.is_none() => input.closing = true,
                    Request::CloseInput => {}
                    Request::Resize(ws) => {
                        if let Some(t) = &io.terminal {
                            let _ = rustix::termios::tcsetwinsize(t, ws);
                        }
                    }
                    Request::Signal(sig) => forward(sig),
                }
            }
        }
        // Written at once when it arrives; when the target was full, as
        // soon as poll says it has room.
        if !input.pending.is_empty() {
            input.write_pending();
        }
        if input.closing && input.pending.is_empty() {
            input.target = None;
        }
        drain(&mut signals.chld);
        for (k, (sig, p)) in signals.forwarded.iter_mut().enumerate() {
            if !revents[signals_at + 1 + k].is_empty() && drain(p) {
                forward(*sig);
            }
        }
    }
}

/// Adds `fd` to the poll set if there is one; returns its index.
fn push_if<'a>(fds: &mut Vec<PollFd<'a>>, fd: Option<&'a File>, flags: PollFlags) -> Option<usize> {
    fd.map(|f| {
        fds.push(PollFd::new(f, flags));
        fds.len() - 1
    })
}

/// Output goes to the sink (the log, a terminal) and to attached clients.
fn deliver(sink: &mut dyn FnMut(Stream, &[u8]), attach: &mut Option<&mut AttachServer>, s: Stream, b: &[u8]) {
    sink(s, b);
    if let Some(a) = attach.as_deref_mut() {
        a.broadcast(s, b);
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
    // EPERM: the process exists, but is not ours to signal (another
    // user's, as PID 1 is to an unprivileged caller).
    let exists = |p| !matches!(rustix::process::test_kill_process(p), Err(e) if e != rustix::io::Errno::PERM);
    if pid <= 0 || Pid::from_raw(pid).is_none_or(|p| !exists(p)) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Makes a write to a closed pipe fail with EPIPE instead of killing the
/// caller. A handler rather than SIG_IGN: an ignored signal stays ignored
/// across exec, in the container's processes too; a handler is reset.
pub fn survive_sigpipe() -> io::Result<()> {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGPIPE, seen)?;
    Ok(())
}

/// Resets the signals the caller ignores to their default. Ignored
/// signals stay ignored across exec, so a container would start with
/// whatever its monitor was given: a shell leaves SIGINT and SIGQUIT
/// ignored for a background job, and glibc's posix_spawn (how a detached
/// monitor is started) leaves its internal signals 32 and 33 ignored.
/// docker's containers start with none ignored. The runtime calls it
/// before each container or exec'd process is made (a health probe's too).
pub fn unignore_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // The raw system call: glibc's sigaction refuses 32 and 33. The
        // buffers are larger than the kernel's struct on any architecture;
        // its first word is the handler; all zeroes is SIG_DFL.
        let mut old = [0u64; 4];
        let dfl = [0u64; 4];
        // SAFETY: a query (null new action) that writes at most 8 bytes of
        // mask plus three words into `old`, which is 32 bytes.
        let queried =
            unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, std::ptr::null::<u64>(), old.as_mut_ptr(), 8) };
        if queried == 0 && old[0] == libc::SIG_IGN as u64 {
            // SAFETY: SIG_DFL with no flags and an empty mask is a valid
            // action for any catchable signal; the old action is not asked.
            unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), std::ptr::null_mut::<u64>(), 8) };
        }
    }
}

/// Makes the caller the reaper of orphans below it: a container's init,
/// created by a runtime that exits, becomes its child.
pub fn become_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?)
}
