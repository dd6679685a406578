//! Reading the log: lines in, requests out.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use plugbus_access_log::{ParseError, Request};

use crate::error::Error;

/// How many malformed lines the final report quotes.
const QUOTED: usize = 3;

/// Reads a log `repeat` times, parsing each line. Line numbers and the
/// log's clock continue from one pass to the next, so the plugins see one
/// longer log.
#[derive(Debug)]
pub(crate) struct LogReader {
    path: PathBuf,
    reader: BufReader<File>,
    buffer: Vec<u8>,
    repeat: u64,
    pass: u64,
    /// Seconds added to each time in this pass.
    shift: i64,
    /// The first pass's earliest and latest time.
    span: Option<(i64, i64)>,
    /// Bytes in one pass, if known.
    pub(crate) pass_bytes: u64,
    /// Bytes read so far, over all passes.
    pub(crate) bytes: u64,
    /// Lines read so far.
    pub(crate) lines: u64,
    /// Lines that were not requests.
    pub(crate) malformed: u64,
    /// The first few of them, with their line numbers.
    pub(crate) first_malformed: Vec<(u64, ParseError)>,
}

impl LogReader {
    /// Opens the log.
    pub(crate) fn open(path: &Path, repeat: u64) -> Result<Self, Error> {
        let io = |source| Error::Io {
            what: "read",
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        if metadata.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory",
            )));
        }
        Ok(LogReader {
            path: path.to_owned(),
            reader: BufReader::with_capacity(64 * 1024, file),
            buffer: Vec::with_capacity(512),
            repeat,
            pass: 0,
            shift: 0,
            span: None,
            pass_bytes: metadata.len(),
            bytes: 0,
            lines: 0,
            malformed: 0,
            first_malformed: Vec::new(),
        })
    }

    /// The path it reads.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// All bytes it will read, if known.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.pass_bytes.saturating_mul(self.repeat)
    }

    /// The next request; malformed lines are counted and skipped. `None` at
    /// the end of the last pass.
    pub(crate) fn next_request(&mut self) -> Result<Option<Request>, Error> {
        loop {
            self.buffer.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| self.io(source))?;
            if read == 0 {
                if !self.next_pass()? {
                    return Ok(None);
                }
                continue;
            }
            self.bytes += read as u64;
            self.lines += 1;
            let text = String::from_utf8_lossy(&self.buffer);
            match Request::parse(self.lines, &text) {
                Ok(mut request) => {
                    if self.pass == 0 {
                        let t = request.time.unix;
                        let (first, last) = self.span.get_or_insert((t, t));
                        *first = (*first).min(t);
                        *last = (*last).max(t);
                    }
                    request.time = request.time.plus(self.shift);
                    return Ok(Some(request));
                }
                Err(error) => {
                    self.malformed += 1;
                    if self.first_malformed.len() < QUOTED {
                        self.first_malformed.push((self.lines, error));
                    }
                }
            }
        }
    }

    /// Starts the next pass, if there is one.
    fn next_pass(&mut self) -> Result<bool, Error> {
        if self.pass + 1 >= self.repeat {
            return Ok(false);
        }
        if self.pass == 0 {
            // Known only now: a file that grows or is a pipe has no length.
            self.pass_bytes = self.bytes;
        }
        self.pass += 1;
        let span = self.span.map_or(0, |(first, last)| last - first + 1);
        self.shift = span.saturating_mul(i64::try_from(self.pass).unwrap_or(i64::MAX));
        self.reader
            .seek(SeekFrom::Start(0))
            .map_err(|source| self.io(source))?;
        Ok(true)
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            what: "read",
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_log(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("plugbus-demo-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn passes_continue_lines_and_clock() {
        let path = temp_log(
            "passes.log",
            "h - - [22/Apr/2009:18:52:51 +1200] \"GET /a HTTP/1.1\" 200 1\n\
             not a request\n\
             h - - [22/Apr/2009:18:52:55 +1200] \"GET /b HTTP/1.1\" 404 1\n",
        );
        let mut reader = LogReader::open(&path, 2).unwrap();
        let mut seen = Vec::new();
        while let Some(request) = reader.next_request().unwrap() {
            seen.push((request.line, request.path.clone(), request.time.clock()));
        }
        std::fs::remove_file(&path).unwrap();
        let expected = [
            (1, "/a", "18:52:51"),
            (3, "/b", "18:52:55"),
            (4, "/a", "18:52:56"),
            (6, "/b", "18:53:00"),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(l, p, t)| (l, p.to_string(), t.to_string()))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!((reader.lines, reader.malformed), (6, 2));
        assert_eq!(reader.first_malformed[0].0, 2);
        assert_eq!(reader.bytes, reader.total_bytes());
    }

    #[test]
    fn missing_and_directory_inputs_are_errors() {
        let missing = LogReader::open(Path::new("/nonexistent/plugbus.log"), 1).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read /nonexistent/plugbus.log: "),
            "{missing}"
        );
        let dir = LogReader::open(&std::env::temp_dir(), 1).unwrap_err();
        assert!(dir.to_string().ends_with("it is a directory"), "{dir}");
    }
}
