//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC 3339 nanos"}`. Lines
//! longer than 16 KiB are split as docker splits them (the parts carry no
//! newline).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// docker's json-file splits lines at this size.
const MAX_LINE: usize = 16 * 1024;

/// Which output a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// Appends lines to a container's log; keeps each stream's unfinished line
/// until its newline arrives.
pub struct LogWriter {
    file: File,
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter { file, pending: [Vec::new(), Vec::new()] })
    }

    /// Adds output of `stream`; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let idx = stream as usize;
        self.pending[idx].extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let buf = &self.pending[idx];
            let cut = match buf.iter().position(|&b| b == b'\n') {
                Some(n) if n < MAX_LINE => n + 1,
                _ if buf.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = self.pending[idx].drain(..cut).collect();
            encode(&mut out, stream, &line)?;
        }
        if !out.is_empty() {
            self.file.write_all(&out)?;
        }
        Ok(())
    }

    /// Writes what is left of unfinished lines (output that ended without
    /// a newline).
    pub fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        for (idx, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.pending[idx].is_empty() {
                let line = std::mem::take(&mut self.pending[idx]);
                encode(&mut out, stream, &line)?;
            }
        }
        self.file.write_all(&out)
    }
}

fn encode(out: &mut Vec<u8>, stream: Stream, line: &[u8]) -> io::Result<()> {
    let entry = Entry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream,
        time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
    };
    serde_json::to_writer(&mut *out, &entry).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

/// Reads the entries of a log file from byte `offset`; returns them and the
/// offset after the last complete line (a line still being written is left
/// for the next read).
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<Entry>, u64)> {
    read_json_lines(path, offset)
}

/// [`read_from`] for any file of one JSON object a line (lines that do not
/// parse as `T` are skipped).
pub fn read_json_lines<T: serde::de::DeserializeOwned>(path: &Path, offset: u64) -> io::Result<(Vec<T>, u64)> {
    use std::io::Seek;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    file.seek(io::SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut pos = offset;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_slice::<T>(&line) {
            entries.push(e);
        }
    }
    Ok((entries, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_kept_per_stream() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path)?;
        w.write(Stream::Stdout, b"hel")?;
        w.write(Stream::Stderr, b"oops\n")?;
        w.write(Stream::Stdout, b"lo\nwor")?;
        w.write(Stream::Stdout, b"ld")?;
        w.flush()?;
        let (entries, end) = read_from(&path, 0)?;
        let got: Vec<(&str, Stream)> = entries.iter().map(|e| (e.log.as_str(), e.stream)).collect();
        assert_eq!(got, vec![("oops\n", Stream::Stderr), ("hello\n", Stream::Stdout), ("world", Stream::Stdout)]);
        assert_eq!(end, std::fs::metadata(&path)?.len());
        assert!(entries[0].time.ends_with('Z'));
        Ok(())
    }

    #[test]
    fn long_lines_split_at_16k() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path)?;
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.push(b'\n');
        w.write(Stream::Stdout, &big)?;
        let (entries, _) = read_from(&path, 0)?;
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].log.len(), MAX_LINE);
        assert_eq!(entries[1].log, format!("{}\n", "x".repeat(10)));
        Ok(())
    }
}
