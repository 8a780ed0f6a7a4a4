//! The decoded bytes under [`super::FeedReader`] (with the byte audit's tap on them),
//! what the reader keeps of a record, and the framing's test-only breakage.

use std::io::{self, BufRead, Read, Write};

use super::FeedError;
use super::audit::Audit;

/// The decoded bytes, with room to put back bytes already read: after a broken array
/// element, reading resumes at the next element, which was read as part of it.
pub(super) struct Input {
    front: Vec<u8>,
    at: usize,
    inner: Box<dyn BufRead + Send>,
    /// Sees every byte taken from `inner`, once (not the ones put back).
    pub(super) audit: Option<Audit>,
}

impl Input {
    pub(super) fn new(inner: Box<dyn BufRead + Send>) -> Self {
        Self {
            front: Vec::new(),
            at: 0,
            inner,
            audit: None,
        }
    }

    /// Puts `bytes` back in front of what is left to read.
    pub(super) fn unread(&mut self, bytes: &[u8]) {
        let mut front = bytes.to_vec();
        front.extend_from_slice(&self.front[self.at..]);
        self.front = front;
        self.at = 0;
    }
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at < self.front.len() {
            return Ok(&self.front[self.at..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.at < self.front.len() {
            self.at += n;
            if self.at >= self.front.len() {
                self.front.clear();
                self.at = 0;
            }
        } else {
            if let Some(audit) = self.audit.as_mut() {
                // The bytes being consumed are the ones fill_buf just returned (a
                // second call returns the same buffer without reading).
                if let Ok(buf) = self.inner.fill_buf() {
                    audit.see(&buf[..n.min(buf.len())]);
                }
            }
            self.inner.consume(n);
        }
    }
}

/// The bytes of a record past the keep limit, when the reader keeps them
/// ([`FeedReader::keep_whole`]): in an anonymous temporary file, removed when this is
/// dropped, positioned at its end.
#[derive(Debug)]
pub struct Overflow {
    /// The bytes after the first `keep_limit` ones.
    pub file: std::fs::File,
    /// How many.
    pub len: u64,
}

/// Appends `bytes` to the record being kept: to `buf` up to `limit` bytes, the rest
/// to `overflow` when `spill` (else they are counted, not kept).
/// A failure to spill is a [`FeedError`] after `line` (the file is retried).
pub(super) fn keep(
    buf: &mut Vec<u8>,
    overflow: &mut Option<Overflow>,
    limit: usize,
    spill: bool,
    line: u64,
    bytes: &[u8],
) -> Result<(), FeedError> {
    spill_rest(buf, overflow, limit, spill, bytes).map_err(|source| FeedError { line, source })
}

fn spill_rest(
    buf: &mut Vec<u8>,
    overflow: &mut Option<Overflow>,
    limit: usize,
    spill: bool,
    bytes: &[u8],
) -> io::Result<()> {
    let room = limit.saturating_sub(buf.len());
    let (head, rest) = bytes.split_at(bytes.len().min(room));
    buf.extend_from_slice(head);
    if spill && !rest.is_empty() {
        let o = match overflow {
            Some(o) => o,
            None => overflow.insert(Overflow {
                file: tempfile::tempfile()?,
                len: 0,
            }),
        };
        o.file.write_all(rest)?;
        o.len += rest.len() as u64;
    }
    Ok(())
}

/// Test-only breakage of the framing, from `FEEDPIPE_TEST_BREAK_FRAMING`, so that the
/// tests can show what the checks downstream (reconcile's byte audit and its check of
/// the quarantine) do with a reader that loses bytes. Never set it outside a test.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Breaks {
    /// `skip-line=N`: line N of a JSON-lines feed is skipped without a word.
    pub(super) skip_line: Option<u64>,
    /// `old-framing`: the framing before the reliability fixes. The format is an
    /// array whenever the first byte is `[` (case 1); from a broken array element on,
    /// the rest of the feed is one bad item (case 2); and an item past the keep limit
    /// is cut, the bytes past the cut dropped (no side object).
    pub(super) old: bool,
}

impl Breaks {
    pub(super) fn from_env() -> Self {
        let value = std::env::var("FEEDPIPE_TEST_BREAK_FRAMING").unwrap_or_default();
        Self {
            skip_line: value
                .strip_prefix("skip-line=")
                .and_then(|n| n.parse().ok()),
            old: value == "old-framing",
        }
    }
}
