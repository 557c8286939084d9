//! Build progress as BuildKit prints it. `plain`: one line per event,
//! `#N NAME`, output as `#N 0.123 text`, then `#N DONE 1.2s` or
//! `#N CACHED`. `tty`: one line per step, the running step's last output
//! lines shown live under it and collapsed when it finishes. `quiet`:
//! nothing. `auto` is `tty` on a terminal, `plain` otherwise.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::time::Instant;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Tty,
    /// A stage built in a child process: each event as a JSON line on
    /// stdout, for the parent to show with [`Progress::replay`].
    Events,
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
    next: usize,
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
            next: 1,
            started: Instant::now(),
            step_start: BTreeMap::new(),
            names: BTreeMap::new(),
            partial: BTreeMap::new(),
            live: VecDeque::new(),
            live_shown: 0,
        }
    }

    fn emit(&self, line: &str) {
        if !matches!(self.mode, Mode::Quiet | Mode::Events) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }

    /// Events mode: writes one event; returns whether it did.
    fn event(&self, ev: serde_json::Value) -> bool {
        if self.mode != Mode::Events {
            return false;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{ev}");
        let _ = out.flush();
        true
    }

    /// Shows an event a child process wrote in events mode; `ids` maps
    /// the child's step numbers to ours. Returns false for a line that
    /// is not an event.
    pub fn replay(&mut self, ids: &mut BTreeMap<usize, usize>, line: &str) -> bool {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else { return false };
        let text = |k: &str| ev.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let child = ev.get("n").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
        let kind = text("ev");
        if kind == "begin" {
            let n = self.begin(&text("name"));
            ids.insert(child, n);
            return true;
        }
        if kind == "warn" {
            self.warn(&text("msg"));
            return true;
        }
        let Some(&n) = ids.get(&child) else { return false };
        match kind.as_str() {
            "note" => self.note(n, &text("text")),
            "output" => self.output(n, text("text").as_bytes()),
            "done" => self.done(n, std::time::Duration::ZERO),
            "cached" => self.cached(n),
            "error" => self.error(n, &text("msg")),
            _ => return false,
        }
        true
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

    pub fn begin(&mut self, name: &str) -> usize {
        let n = self.next;
        self.next += 1;
        if self.event(serde_json::json!({"ev": "begin", "n": n, "name": name})) {
            return n;
        }
        self.step_start.insert(n, Instant::now());
        self.names.insert(n, name.to_owned());
        match self.mode {
            Mode::Tty => {
                self.live.clear();
                self.draw_live(n);
            }
            _ => self.emit(&format!("#{n} {name}")),
        }
        n
    }

    pub fn note(&mut self, n: usize, text: &str) {
        if self.event(serde_json::json!({"ev": "note", "n": n, "text": text})) {
            return;
        }
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
    pub fn output(&mut self, n: usize, bytes: &[u8]) {
        if self.event(serde_json::json!({"ev": "output", "n": n, "text": String::from_utf8_lossy(bytes)})) {
            return;
        }
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

    pub fn done(&mut self, n: usize, _d: std::time::Duration) {
        if self.event(serde_json::json!({"ev": "done", "n": n})) {
            return;
        }
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

    pub fn cached(&mut self, n: usize) {
        if self.event(serde_json::json!({"ev": "cached", "n": n})) {
            return;
        }
        match self.mode {
            Mode::Tty => {
                self.clear_live();
                let name = self.names.get(&n).cloned().unwrap_or_default();
                self.emit(&format!("=> CACHED {name}"));
            }
            _ => self.emit(&format!("#{n} CACHED\n")),
        }
    }

    pub fn error(&mut self, n: usize, msg: &str) {
        if self.event(serde_json::json!({"ev": "error", "n": n, "msg": msg})) {
            return;
        }
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

    pub fn warn(&mut self, msg: &str) {
        if self.event(serde_json::json!({"ev": "warn", "msg": msg})) {
            return;
        }
        self.clear_live();
        self.emit(&format!("WARNING: {msg}"));
    }

    /// tty: the closing summary line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Tty {
            self.clear_live();
            self.emit(&format!(
                "[+] Building {:.1}s ({}/{}) FINISHED",
                self.started.elapsed().as_secs_f64(),
                self.next - 1,
                self.next - 1
            ));
        }
    }
}
