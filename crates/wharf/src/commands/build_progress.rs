//! The builder's progress events rendered as BuildKit prints them. `plain`: one line per event,
//! `#N NAME`, output as `#N 0.123 text`, then `#N DONE 1.2s` or
//! `#N CACHED`. `tty`: one line per step, the running step's last output
//! lines shown live under it and collapsed when it finishes. `quiet`:
//! nothing. `auto` is `tty` on a terminal, `plain` otherwise.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::time::Instant;

use builder::BuildEvent;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Tty,
}

impl Mode {
    pub fn pick(quiet: bool, flag: &str) -> Mode {
        use std::io::IsTerminal;
        match flag {
            _ if quiet => Mode::Quiet,
            "quiet" => Mode::Quiet,
            "plain" | "rawjson" => Mode::Plain,
            "tty" => Mode::Tty,
            _ if std::io::stderr().is_terminal() => Mode::Tty,
            _ => Mode::Plain,
        }
    }
}

/// Lines of a running step's output kept on screen in tty mode.
const LIVE_LINES: usize = 6;

pub struct Progress {
    mode: Mode,
    started: Instant,
    step_start: BTreeMap<usize, Instant>,
    names: BTreeMap<usize, String>,
    partial: BTreeMap<usize, Vec<u8>>,
    /// tty: the last output lines of the running step, and how many lines
    /// the live area takes on screen.
    live: VecDeque<String>,
    live_shown: usize,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        Progress {
            mode,
            started: Instant::now(),
            step_start: BTreeMap::new(),
            names: BTreeMap::new(),
            partial: BTreeMap::new(),
            live: VecDeque::new(),
            live_shown: 0,
        }
    }

    fn emit(&self, line: &str) {
        if self.mode != Mode::Quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }

    /// Shows one event of the build.
    pub fn show(&mut self, ev: BuildEvent) {
        match ev {
            BuildEvent::Begin { n, name } => self.begin(n, &name),
            BuildEvent::Note { n, text } => self.note(n, &text),
            BuildEvent::Output { n, text } => self.output(n, &text),
            BuildEvent::Done { n } => self.done(n),
            BuildEvent::Cached { n } => self.cached(n),
            BuildEvent::Error { n, msg } => self.error(n, &msg),
            BuildEvent::Warn { msg } => self.warn(&msg),
        }
    }

    fn secs(&self, n: usize) -> f64 {
        self.step_start.get(&n).map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// tty: erases the live area.
    fn clear_live(&mut self) {
        if self.live_shown > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\x1b[{}F\x1b[J", self.live_shown);
            let _ = err.flush();
            self.live_shown = 0;
        }
    }

    /// tty: draws the running step and its last lines.
    fn draw_live(&mut self, n: usize) {
        self.clear_live();
        let mut err = std::io::stderr().lock();
        let name = self.names.get(&n).cloned().unwrap_or_default();
        let _ = writeln!(err, "\x1b[1m=> {name}\x1b[0m {:.1}s", self.secs(n));
        for l in &self.live {
            let _ = writeln!(err, "\x1b[2m => {l}\x1b[0m");
        }
        let _ = err.flush();
        self.live_shown = 1 + self.live.len();
    }

    fn begin(&mut self, n: usize, name: &str) {
        self.step_start.insert(n, Instant::now());
        self.names.insert(n, name.to_owned());
        match self.mode {
            Mode::Tty => {
                self.live.clear();
                self.draw_live(n);
            }
            _ => self.emit(&format!("#{n} {name}")),
        }
    }

    fn note(&mut self, n: usize, text: &str) {
        match self.mode {
            Mode::Tty => {
                self.clear_live();
                self.emit(&format!("=> {text}"));
                self.draw_live(n);
            }
            _ => self.emit(&format!("#{n} {text}")),
        }
    }

    fn lines(&mut self, n: usize, bytes: &[u8]) -> Vec<String> {
        let buf = self.partial.entry(n).or_default();
        buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r').to_owned());
        }
        lines
    }

    /// Output of a running step.
    fn output(&mut self, n: usize, bytes: &[u8]) {
        let lines = self.lines(n, bytes);
        match self.mode {
            Mode::Tty => {
                for l in lines {
                    if self.live.len() == LIVE_LINES {
                        self.live.pop_front();
                    }
                    self.live.push_back(l);
                }
                self.draw_live(n);
            }
            _ => {
                let t = self.secs(n);
                for l in lines {
                    self.emit(&format!("#{n} {t:.3} {l}"));
                }
            }
        }
    }

    /// Shows an unfinished last line of output.
    fn flush(&mut self, n: usize) {
        if self.partial.get(&n).is_some_and(|r| !r.is_empty()) {
            self.output(n, b"\n");
        }
        self.partial.remove(&n);
    }

    fn done(&mut self, n: usize) {
        self.flush(n);
        let t = self.secs(n);
        match self.mode {
            Mode::Tty => {
                self.clear_live();
                let name = self.names.get(&n).cloned().unwrap_or_default();
                self.emit(&format!("=> {name} {t:.1}s"));
            }
            _ => self.emit(&format!("#{n} DONE {t:.1}s\n")),
        }
    }

    fn cached(&mut self, n: usize) {
        match self.mode {
            Mode::Tty => {
                self.clear_live();
                let name = self.names.get(&n).cloned().unwrap_or_default();
                self.emit(&format!("=> CACHED {name}"));
            }
            _ => self.emit(&format!("#{n} CACHED\n")),
        }
    }

    fn error(&mut self, n: usize, msg: &str) {
        self.flush(n);
        match self.mode {
            Mode::Tty => {
                // Keep the failing step's output on screen.
                self.clear_live();
                let name = self.names.get(&n).cloned().unwrap_or_default();
                self.emit(&format!("=> ERROR {name}"));
                let lines: Vec<String> = self.live.iter().cloned().collect();
                for l in lines {
                    self.emit(&format!(" => {l}"));
                }
                self.emit(&format!("ERROR: {msg}"));
            }
            _ => self.emit(&format!("#{n} ERROR: {msg}\n")),
        }
    }

    fn warn(&mut self, msg: &str) {
        self.clear_live();
        self.emit(&format!("WARNING: {msg}"));
    }

    /// tty: the closing summary line, after `steps` steps.
    pub fn finish(&mut self, steps: usize) {
        if self.mode == Mode::Tty {
            self.clear_live();
            self.emit(&format!("[+] Building {:.1}s ({steps}/{steps}) FINISHED", self.started.elapsed().as_secs_f64()));
        }
    }
}
