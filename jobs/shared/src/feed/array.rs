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
        self.buf.clear();
        self.overflow = None;
        let mut total = 0usize;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
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
                return Ok(Some(self.bad(
                    RejectKind::Malformed,
                    total > self.buf.len(),
                    format!(
                        "file ends inside array element {} (started on text line {start_text_line}, no closing `]`)",
                        self.line
                    ),
                )));
            }
            let mut end = None;
            let mut newlines = 0;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => {
                        end = Some((i, b));
                        break;
                    }
                    b'\n' => newlines += 1,
                    _ => {}
                }
            }
            let take = end.map_or(chunk.len(), |(i, _)| i);
            if let Err(e) = keep(
                &mut self.buf,
                &mut self.overflow,
                self.keep_limit,
                self.spill,
                &chunk[..take],
            ) {
                return Err(FeedError {
                    line: self.line,
                    source: e,
                });
            }
            total += take;
            self.text_line += newlines;
            match end {
                Some((i, b)) => {
                    self.consume(i + 1);
                    self.state = if b == b']' {
                        ArrayState::Closed
                    } else {
                        ArrayState::AfterComma
                    };
                    break;
                }
                None => {
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
        if total > self.buf.len() {
            return Ok(Some(self.too_large(format!(
                "array element {} (text line {start_text_line}) of {total} bytes",
                self.line
            ))));
        }
        Ok(Some(FeedItem::Record {
            line: self.line,
            bytes: &self.buf,
        }))
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
        let mut total = 0usize;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) => {
                    let line = self.line + 1;
                    return self.on_io_error(e, line, true);
                }
            };
            if chunk.is_empty() {
                break;
            }
            if let Err(e) = keep(
                &mut self.buf,
                &mut self.overflow,
                self.keep_limit,
                self.spill,
                chunk,
            ) {
                return Err(FeedError {
                    line: self.line,
                    source: e,
                });
            }
            total += chunk.len();
            let len = chunk.len();
            self.consume(len);
        }
        self.done = true;
        self.line += 1;
        Ok(Some(self.bad(
            RejectKind::Malformed,
            total > self.buf.len(),
            format!("{reason} (text line {})", self.text_line),
        )))
    }
}
