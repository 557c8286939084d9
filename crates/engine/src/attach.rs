//! Attaching to a running container: the monitor's attach socket
//! (runtime::attach frames: output, input, resize, signals, the exit), and
//! docker's detach keys. The CLI relays a session to its terminal; the
//! Engine API will relay one to a hijacked connection.

use std::os::unix::net::UnixStream;

use store::{ContainerState, Store};

use crate::container::load_config;
use crate::{Error, Result};

/// A connection to a container's monitor, and what the container was
/// created with that an attach session needs.
pub struct Attached {
    pub id: String,
    pub sock: UnixStream,
    /// Created with `-i`: input is passed on.
    pub open_stdin: bool,
    /// Created with `-t`: one output stream, and a size to keep.
    pub tty: bool,
}

/// Starts container `key` with a monitor that waits for an attach client
/// first, and connects to it: an attach that came before the start (the
/// Engine API's, for docker's `run` and `start -a`) gets all the output.
pub fn start_attached(store: &mut Store, key: &str) -> Result<Attached> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let cfg = load_config(&rec);
    let sock = crate::monitor::spawn_monitor_attached(store.root(), &rec.id)?;
    Ok(Attached { id: rec.id, sock, open_stdin: cfg.open_stdin, tty: cfg.tty })
}

/// Connects to container `key`'s monitor, as docker's attach does: a
/// running container only.
pub fn connect(store: &mut Store, key: &str) -> Result<Attached> {
    let rec = crate::lifecycle::lookup(store, key)?;
    let refuse = |state: ContainerState| match state {
        ContainerState::Running => Ok(()),
        ContainerState::Paused => Err(Error::conflict("You cannot attach to a paused container, unpause it first")),
        _ => Err(Error::conflict("You cannot attach to a stopped container, start it first")),
    };
    refuse(rec.state)?;
    let cfg = load_config(&rec);
    let sock = match UnixStream::connect(crate::monitor::attach_path(&rec.id)) {
        Ok(s) => s,
        Err(e) => {
            // It may have stopped since it was looked up.
            refuse(crate::lifecycle::lookup(store, &rec.id)?.state)?;
            return Err(Error::internal(format!("attaching to {key}: {e}")));
        }
    };
    Ok(Attached { id: rec.id, sock, open_stdin: cfg.open_stdin, tty: cfg.tty })
}

/// docker's detach-key syntax: comma-separated `ctrl-X` or single
/// characters.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let invalid = |k: &str| Error::invalid(format!("Invalid detach keys ({spec}) provided: unknown key {k:?}"));
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
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

pub enum Scan {
    Pass(Vec<u8>),
    Detach,
}

impl DetachKeys {
    pub fn new(keys: Vec<u8>) -> DetachKeys {
        DetachKeys { keys, matched: 0 }
    }

    /// What of `input` passes on, or that the keys were typed.
    pub fn feed(&mut self, input: &[u8]) -> Scan {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(m: &mut DetachKeys, input: &[u8]) -> Option<Vec<u8>> {
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
        let mut m = DetachKeys::new(vec![16, 17]);
        assert_eq!(passed(&mut m, b"ls\x10"), Some(b"ls".to_vec()));
        assert_eq!(passed(&mut m, b"x"), Some(b"\x10x".to_vec()));
        assert_eq!(passed(&mut m, b"\x10\x10"), Some(b"\x10".to_vec()));
        assert_eq!(passed(&mut m, b"\x11"), None);
        let mut split = DetachKeys::new(vec![16, 17]);
        assert_eq!(passed(&mut split, b"a\x10"), Some(b"a".to_vec()));
        assert_eq!(passed(&mut split, b"\x11tail"), None);
    }
}
