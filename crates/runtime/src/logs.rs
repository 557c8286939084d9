//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC 3339 nanos"}`. Lines
//! longer than 16 KiB are split as docker splits them (the parts carry no
//! newline). With a `max-size`, the file is rotated as docker's json-file
//! driver rotates it: `LOG.1` is the newest of the older files, up to
//! `max-file` files in all, gzipped (`LOG.1.gz`) with `compress`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
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

/// When a log is rotated: docker's `max-size`, `max-file` and
/// `compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes; None: the file grows without bound (docker's default).
    pub max_size: Option<u64>,
    /// Files kept, the one written included (at least 1).
    pub max_file: u32,
    /// Older files are gzipped.
    pub compress: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { max_size: None, max_file: 1, compress: false }
    }
}

/// Appends lines to a container's log; keeps each stream's unfinished line
/// until its newline arrives.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in `file`.
    size: u64,
    rotation: Rotation,
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        Self::open_rotated(path, Rotation::default())
    }

    pub fn open_rotated(path: &Path, rotation: Rotation) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { path: path.to_owned(), file, size, rotation, pending: [Vec::new(), Vec::new()] })
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
            self.rotate_if_full(&mut out)?;
            encode(&mut out, stream, &line)?;
        }
        self.append(&out)
    }

    /// Writes what is left of unfinished lines (output that ended without
    /// a newline).
    pub fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        for (idx, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.pending[idx].is_empty() {
                let line = std::mem::take(&mut self.pending[idx]);
                self.rotate_if_full(&mut out)?;
                encode(&mut out, stream, &line)?;
            }
        }
        self.append(&out)
    }

    fn append(&mut self, out: &[u8]) -> io::Result<()> {
        if !out.is_empty() {
            self.file.write_all(out)?;
            self.size += out.len() as u64;
        }
        Ok(())
    }

    /// As docker: before a line, a file that reached `max-size` is
    /// rotated (so a file can pass it by the one line that filled it).
    fn rotate_if_full(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let Some(cap) = self.rotation.max_size else { return Ok(()) };
        if self.size + (out.len() as u64) < cap {
            return Ok(());
        }
        self.append(out)?;
        out.clear();
        if self.rotation.max_file <= 1 {
            self.file.set_len(0)?;
        } else {
            let older = |n| older_file(&self.path, n, self.rotation.compress);
            for i in (1..self.rotation.max_file - 1).rev() {
                match std::fs::rename(older(i), older(i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            if self.rotation.compress {
                gzip_away(&rotated(&self.path, 1))?;
            }
        }
        self.size = 0;
        Ok(())
    }
}

/// `LOG.N`, or `LOG.N.gz` when older files are compressed.
fn older_file(path: &Path, n: u32, compressed: bool) -> PathBuf {
    let file = rotated(path, n);
    if compressed {
        gz_of(&file)
    } else {
        file
    }
}

/// `FILE.gz`.
fn gz_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// Replaces `file` by `file.gz`, as docker's json-file driver compresses
/// a rotated file. Done at once, not in the background as docker does: a
/// file of max-size is compressed in well under a second at the fast
/// level, and the monitor must not start threads or processes of its own
/// (it forks containers again on restart).
fn gzip_away(file: &Path) -> io::Result<()> {
    let gz = gz_of(file);
    let tmp = gz.with_extension("gz.tmp");
    let mut enc = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::fast());
    io::copy(&mut File::open(file)?, &mut enc)?;
    enc.finish()?;
    std::fs::rename(&tmp, &gz)?;
    std::fs::remove_file(file)
}

/// `LOG.N`: the Nth newest of a log's older files.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Every entry of a log, its older files first; and where the log itself
/// ended (for a [`Follower`]).
pub fn read_all(path: &Path) -> io::Result<(Vec<Entry>, u64)> {
    let kept = |n: &u32| rotated(path, *n).exists() || older_file(path, *n, true).exists();
    let older = (1..).take_while(kept).count() as u32;
    let mut entries = Vec::new();
    for n in (1..=older).rev() {
        entries.extend(read_older(path, n, 0)?);
    }
    let (now, end) = read_from(path, 0)?;
    entries.extend(now);
    Ok((entries, end))
}

/// Reads what is appended to a JSON-lines file since the last look, across
/// rotations (the rest of the renamed file first) and cuts (a new file
/// renamed over it, or the file truncated).
pub struct Follower {
    path: PathBuf,
    offset: u64,
    inode: Option<u64>,
    /// The file being read, kept open: lines written just before the
    /// file is removed (a `--rm` container's log) are still read.
    file: Option<File>,
}

impl Follower {
    /// From `offset` in the file now at `path`.
    pub fn new(path: &Path, offset: u64) -> Follower {
        let file = File::open(path).ok();
        let inode = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino());
        Follower { path: path.to_owned(), offset, inode, file }
    }

    pub fn read_new<T: serde::de::DeserializeOwned>(&mut self) -> io::Result<Vec<T>> {
        let at_path = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        let mut out = Vec::new();
        if at_path.is_some() && at_path != self.inode {
            // Rotated (or made): the rest of the file read so far first,
            // then the new one from its start.
            if let Some(old) = self.file.take() {
                out = read_open(&old, self.offset)?.0;
            }
            self.file = File::open(&self.path).ok();
            self.inode = self.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino());
            self.offset = 0;
        }
        let Some(file) = &self.file else { return Ok(out) };
        if file.metadata().is_ok_and(|m| m.len() < self.offset) {
            self.offset = 0;
        }
        let (more, next) = read_open(file, self.offset)?;
        self.offset = next;
        out.extend(more);
        Ok(out)
    }
}

/// The complete JSON lines of an open file from `offset`, and the offset
/// after them.
fn read_open<T: serde::de::DeserializeOwned>(file: &File, offset: u64) -> io::Result<(Vec<T>, u64)> {
    use std::io::Seek;
    let mut f = file;
    f.seek(io::SeekFrom::Start(offset))?;
    json_lines(BufReader::new(f), offset)
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

/// The entries of the Nth older file of a log, from byte `offset` of its
/// text: `LOG.N`, or `LOG.N.gz`.
fn read_older<T: serde::de::DeserializeOwned>(path: &Path, n: u32, offset: u64) -> io::Result<Vec<T>> {
    let gz = older_file(path, n, true);
    if gz.exists() {
        return read_gz_lines(&gz, offset);
    }
    Ok(read_json_lines(&rotated(path, n), offset)?.0)
}

/// The entries of a gzipped log file, from byte `offset` of its text.
fn read_gz_lines<T: serde::de::DeserializeOwned>(gz: &Path, offset: u64) -> io::Result<Vec<T>> {
    let mut reader = BufReader::new(flate2::read::GzDecoder::new(File::open(gz)?));
    io::copy(&mut (&mut reader).take(offset), &mut io::sink())?;
    Ok(json_lines(reader, offset)?.0)
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
    json_lines(BufReader::new(file), offset)
}

/// The complete lines of `reader` that parse as `T`, and the offset after
/// the last complete one (`start` is where `reader` begins).
fn json_lines<T: serde::de::DeserializeOwned>(mut reader: impl BufRead, start: u64) -> io::Result<(Vec<T>, u64)> {
    let mut entries = Vec::new();
    let mut pos = start;
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

    /// A `--rm` container's log is removed with it: a follower still reads
    /// the lines written before the removal.
    #[test]
    fn a_follower_reads_what_was_written_before_the_removal() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path)?;
        let mut follower = Follower::new(&path, 0);
        assert!(follower.read_new::<Entry>()?.is_empty());
        w.write(Stream::Stdout, b"last words\n")?;
        std::fs::remove_file(&path)?;
        let got: Vec<String> = follower.read_new::<Entry>()?.into_iter().map(|e| e.log).collect();
        assert_eq!(got, ["last words\n"]);
        assert!(follower.read_new::<Entry>()?.is_empty());
        Ok(())
    }

    /// Writes 20 lines into a log rotated at 200 bytes into 3 files,
    /// following it meanwhile: the newest lines are kept, in order, and the
    /// follower saw every line.
    fn rotate_three(compress: bool) -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open_rotated(&path, Rotation { max_size: Some(200), max_file: 3, compress })?;
        let mut follower = Follower::new(&path, 0);
        let mut followed: Vec<Entry> = Vec::new();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())?;
            followed.extend(follower.read_new::<Entry>()?);
        }
        let older = |n| older_file(&path, n, compress);
        assert!(older(2).exists() && !older(3).exists(), "3 files in all");
        assert_eq!(rotated(&path, 1).exists(), !compress, "LOG.1 is gzipped away with compress");
        for p in [path.clone(), older(1), older(2)] {
            assert!(std::fs::metadata(&p)?.len() < 200 + 100, "{} outgrew max-size", p.display());
        }
        let (kept, _) = read_all(&path)?;
        let kept: Vec<String> = kept.into_iter().map(|e| e.log).collect();
        assert_eq!(kept.last().map(String::as_str), Some("line 19\n"));
        let first: usize = kept[0].trim_start_matches("line ").trim().parse().expect("a number");
        assert!(first > 0, "the oldest lines went");
        let want: Vec<String> = (first..20).map(|i| format!("line {i}\n")).collect();
        assert_eq!(kept, want);
        assert_eq!(followed.len(), 20);
        Ok(())
    }

    #[test]
    fn rotation_keeps_max_file_files_and_readers_see_every_line() -> io::Result<()> {
        rotate_three(false)?;
        // max-file 1: the file is emptied instead.
        let dir = tempfile::tempdir()?;
        let one = dir.path().join("one.json");
        let mut w = LogWriter::open_rotated(&one, Rotation { max_size: Some(100), max_file: 1, compress: false })?;
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())?;
        }
        assert!(std::fs::metadata(&one)?.len() < 200 && !rotated(&one, 1).exists());
        Ok(())
    }

    #[test]
    fn compressed_rotation_keeps_gzipped_files_that_readers_read() -> io::Result<()> {
        rotate_three(true)
    }
}
