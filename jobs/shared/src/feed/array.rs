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
        self.done = true;
        self.line += 1;
        Ok(Some(self.bad(
            RejectKind::Malformed,
            total > self.buf.len(),
            format!("{reason} (text line {})", self.text_line),
        )))
    }
}

/// What [`Scan::step`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The element ends at this byte (a `,` or `]` outside strings and brackets).
    End,
    /// This byte shows the element broken: look for the seam in what is kept of it.
    Broken,
    /// The element is broken, and what follows the `,` after `cut` looks like the next
    /// element: a JSON object from `next` to `end`, followed by the `,` or `]` at this
    /// byte. The reader checks it before resuming there.
    Resume { cut: usize, next: usize, end: usize },
}

/// Follows one array element byte by byte: where it ends; whether it is already
/// broken (brackets that do not match, a value right after a value: what no valid
/// JSON has); and, at each `,` `{` that may be the seam between a broken element and
/// the next one, a second, fresh follower of the object that starts there.
#[derive(Debug, Default)]
struct Scan {
    in_string: bool,
    escaped: bool,
    /// Open brackets, `{` or `[`.
    open: Vec<u8>,
    /// A value just ended: only `,` `:` `}` `]` or whitespace may come next.
    after_value: bool,
    /// Inside a number or `true`/`false`/`null`.
    in_scalar: bool,
    broken: bool,
    /// Looking for the seam after the broken element (bytes are followed twice from
    /// here on: only broken elements pay for it).
    resyncing: bool,
    /// 2 after a `,` (whitespace allowed after it).
    seam: u8,
    /// Just after the last byte before that `,` that is not whitespace.
    seam_cut: usize,
    /// Just after the last byte that is not whitespace.
    last_end: usize,
    shadow: Option<Shadow>,
}

/// The candidate next element, followed from its `{`.
#[derive(Debug)]
struct Shadow {
    cut: usize,
    start: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Just after its closing `}`, once seen.
    end: Option<usize>,
}

impl Scan {
    #[inline]
    fn step(&mut self, b: u8, at: usize, whole: bool) -> Option<Step> {
        let was_broken = self.broken;
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                self.after_value = true;
            }
        } else {
            match b {
                b',' | b']' if self.open.is_empty() => return Some(Step::End),
                b'"' => {
                    self.broken |= self.after_value || self.in_scalar;
                    self.in_string = true;
                    self.in_scalar = false;
                }
                b'{' | b'[' => {
                    self.broken |= self.after_value || self.in_scalar;
                    self.open.push(b);
                    self.after_value = false;
                    self.in_scalar = false;
                }
                b'}' | b']' => {
                    let opened = if b == b'}' { b'{' } else { b'[' };
                    self.broken |= self.open.pop() != Some(opened);
                    self.after_value = true;
                    self.in_scalar = false;
                }
                b',' | b':' => {
                    self.after_value = false;
                    self.in_scalar = false;
                }
                b' ' | b'\t' | b'\n' | b'\r' => {
                    if self.in_scalar {
                        self.in_scalar = false;
                        self.after_value = true;
                    }
                }
                _ => {
                    self.broken |= self.after_value;
                    self.in_scalar = true;
                }
            }
        }
        if !whole {
            return None;
        }
        if !self.resyncing {
            // The seam may lie before this byte: the reader looks back through the
            // element kept so far, then on from here.
            return (self.broken && !was_broken).then_some(Step::Broken);
        }
        self.look(b, at)
    }

    /// The seam and the element after it, byte by byte (see [`Step::Resume`]).
    fn look(&mut self, b: u8, at: usize) -> Option<Step> {
        if let Some(found) = self.follow_shadow(b, at) {
            return Some(found);
        }
        self.seam_step(b, at);
        None
    }

    /// The seam, by bytes alone (a broken element's strings cannot be trusted): `,`
    /// then `{`, whitespace allowed around; the cut is after the last byte before the
    /// `,` that is not whitespace.
    fn seam_step(&mut self, b: u8, at: usize) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => return,
            b',' => {
                self.seam = 2;
                self.seam_cut = self.last_end;
            }
            b'{' if self.seam == 2 => {
                self.seam = 0;
                if self.shadow.is_none() {
                    self.shadow = Some(Shadow {
                        cut: self.seam_cut,
                        start: at,
                        depth: 1,
                        in_string: false,
                        escaped: false,
                        end: None,
                    });
                }
            }
            _ => self.seam = 0,
        }
        self.last_end = at + 1;
    }

    /// Follows the candidate next element; `Resume` once it closed and a `,` or `]`
    /// follows it.
    fn follow_shadow(&mut self, b: u8, at: usize) -> Option<Step> {
        let sh = self.shadow.as_mut()?;
        if at == sh.start {
            return None;
        }
        if let Some(end) = sh.end {
            return match b {
                b' ' | b'\t' | b'\n' | b'\r' => None,
                b',' | b']' => Some(Step::Resume {
                    cut: sh.cut,
                    next: sh.start,
                    end,
                }),
                _ => {
                    self.shadow = None;
                    None
                }
            };
        }
        if sh.in_string {
            if sh.escaped {
                sh.escaped = false;
            } else if b == b'\\' {
                sh.escaped = true;
            } else if b == b'"' {
                sh.in_string = false;
            }
            return None;
        }
        match b {
            b'"' => sh.in_string = true,
            b'{' | b'[' => sh.depth += 1,
            b'}' | b']' => {
                sh.depth -= 1;
                if sh.depth == 0 {
                    sh.end = Some(at + 1);
                }
            }
            _ => {}
        }
        None
    }
}

/// The first key of a JSON object's bytes, with its quotes: `{ "order_id": …` gives
/// `"order_id"`.
fn first_key_of(object: &[u8]) -> Option<&[u8]> {
    let rest = object.strip_prefix(b"{")?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[start..];
    if rest.first() != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(&rest[..=i]);
        }
    }
    None
}

/// Whether `object` may be the element after a broken one: a valid JSON object whose
/// first key is the one good elements start with (so that an object nested in the
/// broken element is not taken for a record).
fn starts_a_record(object: &[u8], first_key: Option<&[u8]>) -> bool {
    let Some(key) = first_key else {
        return false;
    };
    first_key_of(object) == Some(key)
        && serde_json::from_slice::<serde::de::IgnoredAny>(object).is_ok()
}
