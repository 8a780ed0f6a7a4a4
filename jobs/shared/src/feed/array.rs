//! The JSON-array half of [`FeedReader`]: elements of a top-level array, one at a
//! time, with the array's own structure (commas, the closing `]`) checked as it goes.

use std::io::{self, BufRead};

use super::{ArrayState, FeedError, FeedItem, FeedReader, keep};
use crate::quarantine::RejectKind;

impl FeedReader {
    pub(super) fn next_element(&mut self) -> Result<Option<FeedItem<'_>>, FeedError> {
        // Skip whitespace to the next element, `,` or `]`.
        let first = match self.skip_whitespace() {
            Ok(b) => b,
            Err(e) => {
                let line = self.line + 1;
                return self.on_io_error(e, line, false);
            }
        };
        match (self.state, first) {
            (ArrayState::Closed, None) => {
                self.done = true;
                return Ok(None);
            }
            (ArrayState::Closed, Some(_)) => {
                return self.rest_is_bad("unexpected data after the closing `]` of the JSON array");
            }
            (_, None) => {
                self.done = true;
                self.buf.clear();
                return Ok(Some(FeedItem::Bad {
                    kind: RejectKind::Malformed,
                    line: self.line + 1,
                    bytes: &self.buf,
                    truncated: false,
                    reason: format!(
                        "file ends inside the JSON array (no closing `]`), on text line {}",
                        self.text_line
                    ),
                }));
            }
            (ArrayState::Start, Some(b']')) => {
                self.consume(1);
                self.state = ArrayState::Closed;
                return self.next_element();
            }
            (ArrayState::AfterComma, Some(b']')) => {
                self.consume(1);
                self.state = ArrayState::Closed;
                self.line += 1;
                self.buf.clear();
                self.buf.push(b',');
                return Ok(Some(self.bad(
                    RejectKind::Malformed,
                    false,
                    format!("trailing comma before `]` on text line {}", self.text_line),
                )));
            }
            (_, Some(b',')) => {
                self.consume(1);
                self.line += 1;
                self.state = ArrayState::AfterComma;
                self.buf.clear();
                self.buf.push(b',');
                return Ok(Some(self.bad(
                    RejectKind::Malformed,
                    false,
                    format!(
                        "empty array element (two commas) on text line {}",
                        self.text_line
                    ),
                )));
            }
            _ => {}
        }
        // Collect one element: up to a `,` or `]` outside strings and brackets.
        self.line += 1;
        let start_text_line = self.text_line;
        let start = self.bytes_read;
        self.item_begins();
        self.buf.clear();
        self.overflow = None;
        let mut total = 0usize;
        let mut scan = Scan::default();
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let line = self.line;
                    let truncated = total > self.buf.len();
                    return self.on_io_error(e, line, truncated);
                }
            };
            if chunk.is_empty() {
                self.done = true;
                self.item_ends(start + total as u64);
                return Ok(Some(self.bad(
                    RejectKind::Malformed,
                    total > self.buf.len(),
                    format!(
                        "file ends inside array element {} (started on text line {start_text_line}, no closing `]`)",
                        self.line
                    ),
                )));
            }
            // Resuming after a broken element needs all of it in `buf`, within the
            // keep limit (a longer one is kept whole in the overflow instead).
            let whole = total == self.buf.len();
            let mut stop = None;
            let mut i = 0;
            while i < chunk.len() {
                // The inside of a string, up to its next `"` or `\\`, in one step
                // (unless the seam is being looked for: that follows every byte).
                if scan.in_string && !scan.escaped && !scan.resyncing {
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        Some(k) => i += k,
                        None => {
                            i = chunk.len();
                            break;
                        }
                    }
                }
                let b = chunk[i];
                if let Some(step) = scan.step(b, total + i, whole && total + i < self.keep_limit) {
                    stop = Some((i, b, step));
                    break;
                }
                i += 1;
            }
            self.text_line += memchr::memchr_iter(b'\n', &chunk[..i]).count() as u64;
            match stop {
                Some((i, b, Step::End)) => {
                    keep(
                        &mut self.buf,
                        &mut self.overflow,
                        self.keep_limit,
                        self.spill,
                        self.line,
                        &chunk[..i],
                    )?;
                    total += i;
                    self.consume(i + 1);
                    self.state = if b == b']' {
                        ArrayState::Closed
                    } else {
                        ArrayState::AfterComma
                    };
                    break;
                }
                Some((i, _, Step::Broken)) if self.breaks.old => {
                    keep(
                        &mut self.buf,
                        &mut self.overflow,
                        self.keep_limit,
                        false,
                        self.line,
                        &chunk[..=i],
                    )?;
                    total += i + 1;
                    self.consume(i + 1);
                    return self.swallow_rest(start, total, start_text_line);
                }
                Some((i, _, Step::Broken)) => {
                    // Look back through what is kept of the element, this byte too.
                    self.buf.extend_from_slice(&chunk[..=i]);
                    total += i + 1;
                    self.consume(i + 1);
                    scan.resyncing = true;
                    let mut found = None;
                    for at in 0..self.buf.len() {
                        let b = self.buf[at];
                        if let Some(Step::Resume { cut, next, end }) = scan.look(b, at) {
                            if self.starts_a_record(next, end) {
                                found = Some((cut, next));
                                break;
                            }
                            scan.shadow = None;
                            scan.seam_step(b, at);
                        }
                    }
                    if let Some((cut, next)) = found {
                        return Ok(Some(self.resume_at(cut, next, start_text_line)));
                    }
                }
                Some((i, b, Step::Resume { cut, next, end })) => {
                    // The separator after the candidate element is read too.
                    self.buf.extend_from_slice(&chunk[..=i]);
                    total += i + 1;
                    self.consume(i + 1);
                    if !self.starts_a_record(next, end) {
                        // Not a record: look on, from this separator.
                        scan.shadow = None;
                        scan.seam_step(b, total - 1);
                        continue;
                    }
                    return Ok(Some(self.resume_at(cut, next, start_text_line)));
                }
                None => {
                    keep(
                        &mut self.buf,
                        &mut self.overflow,
                        self.keep_limit,
                        self.spill,
                        self.line,
                        chunk,
                    )?;
                    total += chunk.len();
                    let len = chunk.len();
                    self.consume(len);
                }
            }
        }
        // Trailing whitespace is not the element's (when it is whole: a cut element's
        // tail is in the overflow).
        while total == self.buf.len() && self.buf.last().is_some_and(u8::is_ascii_whitespace) {
            self.buf.pop();
            total -= 1;
        }
        self.item_ends(start + total as u64);
        if total > self.buf.len() {
            return Ok(Some(self.too_large(format!(
                "array element {} (text line {start_text_line}) of {total} bytes",
                self.line
            ))));
        }
        if let Some(key) = first_key_of(&self.buf)
            && self.first_key.as_deref() != Some(key)
        {
            self.first_key = Some(key.to_vec());
        }
        Ok(Some(FeedItem::Record {
            line: self.line,
            bytes: &self.buf,
        }))
    }

    /// Whether `buf[next..end]` may be the element after a broken one (see
    /// [`starts_a_record`]), by the first key of the good elements, else of this one.
    fn starts_a_record(&self, next: usize, end: usize) -> bool {
        let key = self
            .first_key
            .as_deref()
            .or_else(|| first_key_of(&self.buf));
        starts_a_record(&self.buf[next..end], key)
    }

    /// Ends the broken element at `cut`; what was read from `next` on is read again,
    /// as the next elements.
    fn resume_at(&mut self, cut: usize, next: usize, start_text_line: u64) -> FeedItem<'_> {
        let again = self.buf[next..].to_vec();
        self.text_line -= again.iter().filter(|b| **b == b'\n').count() as u64;
        self.bytes_read -= again.len() as u64;
        self.input.unread(&again);
        // The element began `next` bytes before where reading resumes.
        self.item_ends(self.bytes_read - next as u64 + cut as u64);
        self.buf.truncate(cut);
        self.state = ArrayState::AfterComma;
        self.bad(
            RejectKind::Malformed,
            false,
            format!(
                "array element {} (text line {start_text_line}) is not valid JSON; reading resumes at the next element, text line {}",
                self.line, self.text_line
            ),
        )
    }

    /// Skips whitespace (counting newlines); returns the next byte without consuming it.
    fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut newlines = 0;
            let pos = buf.iter().position(|b| {
                if *b == b'\n' {
                    newlines += 1;
                }
                !b.is_ascii_whitespace()
            });
            self.text_line += newlines;
            match pos {
                Some(p) => {
                    let b = buf[p];
                    self.consume(p);
                    return Ok(Some(b));
                }
                None => {
                    let len = buf.len();
                    self.consume(len);
                }
            }
        }
    }

    /// Reports everything left as one bad item and ends the feed.
    fn rest_is_bad(&mut self, reason: &str) -> Result<Option<FeedItem<'_>>, FeedError> {
        self.buf.clear();
        self.overflow = None;
        self.item_begins();
        let total = match self.keep_rest(self.spill)? {
            Ok(n) => n,
            Err(e) => {
                let line = self.line + 1;
                return self.on_io_error(e, line, true);
            }
        };
        self.done = true;
        self.item_ends(self.bytes_read);
        self.line += 1;
        Ok(Some(self.bad(
            RejectKind::Malformed,
            total > self.buf.len(),
            format!("{reason} (text line {})", self.text_line),
        )))
    }

    /// The framing before resynchronisation, for tests only ([`super::Breaks`]): the
    /// broken element and everything after it are one bad item, kept to the keep limit,
    /// and the bytes past it dropped.
    fn swallow_rest(
        &mut self,
        start: u64,
        total: usize,
        start_text_line: u64,
    ) -> Result<Option<FeedItem<'_>>, FeedError> {
        self.overflow = None;
        let total = match self.keep_rest(false)? {
            Ok(n) => total + n,
            Err(e) => {
                let line = self.line;
                return self.on_io_error(e, line, true);
            }
        };
        self.done = true;
        self.item_ends(start + total as u64);
        Ok(Some(self.bad(
            RejectKind::Malformed,
            total > self.buf.len(),
            format!(
                "array element {} (text line {start_text_line}) is not valid JSON; the rest of the file is one item",
                self.line
            ),
        )))
    }

    /// Keeps everything left of the feed in the item (to the keep limit; the rest to the
    /// overflow when `spill`): how many bytes, or the decoder's error.
    fn keep_rest(&mut self, spill: bool) -> Result<Result<usize, io::Error>, FeedError> {
        let mut total = 0;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            if chunk.is_empty() {
                return Ok(Ok(total));
            }
            keep(
                &mut self.buf,
                &mut self.overflow,
                self.keep_limit,
                spill,
                self.line,
                chunk,
            )?;
            total += chunk.len();
            let len = chunk.len();
            self.consume(len);
        }
    }
}

mod scan;
use scan::{Scan, Step, first_key_of, starts_a_record};
