//! `FeedReader`: a feed file as a stream of records, never whole in memory.
//!
//! Reads JSON lines (one value per line; blank lines skipped but counted) or a
//! top-level JSON array, either of them optionally gzip-compressed (detected by the
//! magic bytes, not the name; concatenated gzip members are read as one stream). A
//! UTF-8 byte order mark is skipped and CRLF line endings are accepted.
//!
//! The reader only splits: it hands out each record's bytes as they are in the file
//! and says where they were. Whether they are a valid JSON object is for the framer.
//! What cannot be split (a line too long to keep, an unterminated array, a trailing
//! comma, a truncated gzip stream) comes out as [`FeedItem::Bad`] with the reason, and
//! reading goes on where it can.
//!
//! ```
//! use feedpipe_shared::feed::{open_feed, FeedItem, FeedReader};
//! let file: &[u8] = b"{\"a\":1}\r\n\n{\"b\":2}\n";
//! let mut reader = FeedReader::new(open_feed(file).unwrap(), 1 << 20).unwrap();
//! let mut lines = Vec::new();
//! while let Some(item) = reader.next_item().unwrap() {
//!     if let FeedItem::Record { line, bytes } = item { lines.push((line, bytes.to_vec())); }
//! }
//! assert_eq!(lines, vec![(1, b"{\"a\":1}".to_vec()), (3, b"{\"b\":2}".to_vec())]);
//! ```

use std::io::{self, BufRead, BufReader, Read};

pub use input::Overflow;
use input::{Breaks, Input, keep};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::quarantine::RejectKind;
use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xEF\xBB\xBF";
const READ_BUFFER: usize = 256 * 1024;

/// The layout of a feed file, found from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// One JSON value per line.
    JsonLines,
    /// One top-level JSON array of values.
    JsonArray,
}

/// A decoded feed: the bytes after gzip (if any), and whether it was compressed.
pub struct OpenFeed {
    reader: Box<dyn BufRead + Send>,
    /// True when the file was gzip-compressed.
    pub gzip: bool,
    source_failed: Arc<AtomicBool>,
    audit: bool,
    breaks: Breaks,
}

impl OpenFeed {
    /// Has the reader audit every byte ([`audit`]): [`FeedReader::audit`] then says
    /// which bytes lie in no item and are not whitespace or separators.
    pub fn audited(mut self) -> Self {
        self.audit = true;
        self
    }

    /// Lets `FEEDPIPE_TEST_BREAK_FRAMING` break the framing of the reader over this
    /// feed on purpose, for the tests of what the checks downstream find (see `Breaks`
    /// in `feed/input.rs`). The readers of customer feeds (ingest, reconcile) take it,
    /// not convert's reader of raw objects. The variable is never set outside a test;
    /// without it this does nothing.
    pub fn framing_under_test(mut self) -> Self {
        self.breaks = Breaks::from_env();
        self
    }
}

/// Wraps the raw source so that its own I/O errors (network, disk) can be told apart
/// from errors of the decoder above it (a corrupt or truncated gzip stream).
struct SourceRead<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for SourceRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))
    }
}

/// Opens bytes known to be plain (not gzip) as a feed, without looking at them: the
/// rest of a plain file from a byte in its middle, which may begin with anything.
pub fn open_plain_feed<R: Read + Send + 'static>(source: R) -> OpenFeed {
    let failed = Arc::new(AtomicBool::new(false));
    let reader = BufReader::with_capacity(
        READ_BUFFER,
        SourceRead {
            inner: source,
            failed: Arc::clone(&failed),
        },
    );
    OpenFeed {
        reader: Box::new(reader),
        gzip: false,
        source_failed: failed,
        audit: false,
        breaks: Breaks::default(),
    }
}

/// Opens a feed, detecting gzip by its magic bytes.
pub fn open_feed<R: Read + Send + 'static>(source: R) -> io::Result<OpenFeed> {
    let failed = Arc::new(AtomicBool::new(false));
    let mut raw = BufReader::with_capacity(
        READ_BUFFER,
        SourceRead {
            inner: source,
            failed: Arc::clone(&failed),
        },
    );
    let gzip = peek(&mut raw, 2)? == GZIP_MAGIC;
    let reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    Ok(OpenFeed {
        reader,
        gzip,
        source_failed: failed,
        audit: false,
        breaks: Breaks::default(),
    })
}

/// Returns up to `n` leading bytes without consuming them (fewer only at end of input).
/// Whether `text` (starting at a `[`, as far as it is buffered) opens a JSON array that
/// is the whole feed, rather than a first line of JSON lines that happens to be an
/// array: it is the latter only when the first line is a complete JSON value and more
/// text follows it.
fn first_line_is_an_array(text: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', text) else {
        return true;
    };
    let complete = serde_json::from_slice::<serde::de::IgnoredAny>(&text[..end]).is_ok();
    let more = text[end..].iter().any(|b| !b.is_ascii_whitespace());
    !(complete && more)
}

fn peek<R: BufRead>(reader: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let buf = reader.fill_buf()?;
    Ok(buf[..buf.len().min(n)].to_vec())
}

/// One thing read from a feed.
#[derive(Debug, PartialEq, Eq)]
pub enum FeedItem<'a> {
    /// The bytes of one record, exactly as in the file (line ending removed).
    Record {
        /// 1-based line in JSON lines; 1-based element in a JSON array.
        line: u64,
        /// The record's bytes.
        bytes: &'a [u8],
    },
    /// Something at `line` that cannot be a record.
    Bad {
        /// 1-based line (or element) where it was.
        line: u64,
        /// What was there (cut to the reader's limit when `truncated`).
        bytes: &'a [u8],
        /// Whether `bytes` is only the start.
        truncated: bool,
        /// Why, as a kind.
        kind: RejectKind,
        /// Why it is not a record, for a human.
        reason: String,
    },
}

/// Errors that stop reading a feed: the source itself failed (retry the file).
#[derive(Debug, thiserror::Error)]
#[error("cannot read the feed after line {line}: {source}")]
pub struct FeedError {
    /// The last line read completely.
    pub line: u64,
    /// The I/O error of the source.
    pub source: io::Error,
}

/// Streams the records of a feed; see the module docs.
pub struct FeedReader {
    input: Input,
    source_failed: Arc<AtomicBool>,
    format: FeedFormat,
    gzip: bool,
    keep_limit: usize,
    buf: Vec<u8>,
    line: u64,
    text_line: u64,
    state: ArrayState,
    done: bool,
    bytes_read: u64,
    /// Whether bytes past the keep limit go to `overflow` ([`FeedReader::keep_whole`]).
    spill: bool,
    overflow: Option<Overflow>,
    /// The first key of the array's last good element (`"order_id"` with its quotes):
    /// what the element after a broken one must start with to resume there.
    first_key: Option<Vec<u8>>,
    breaks: Breaks,
    /// Where the item being read began, once it has.
    item_start: Option<u64>,
    /// The last item's bytes in the decoded feed.
    span: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Just after `[`: an element or `]` comes next.
    Start,
    /// After a `,`: an element must come next.
    AfterComma,
    /// After `]`: only whitespace may follow.
    Closed,
}

impl FeedReader {
    /// A reader over `feed` that keeps at most `keep_limit` bytes of any one record
    /// (a longer one is reported [`FeedItem::Bad`] with its first `keep_limit` bytes).
    pub fn new(feed: OpenFeed, keep_limit: usize) -> Result<Self, FeedError> {
        let mut reader = Self::bare(feed, keep_limit);
        match reader.detect() {
            Ok(format) => {
                reader.format = format;
                if let Some(audit) = reader.input.audit.as_mut() {
                    audit.set_array(format == FeedFormat::JsonArray);
                }
            }
            Err(e) if reader.is_source_error() => return Err(FeedError { line: 0, source: e }),
            // A decoder error before the first byte: reported by the first next_item.
            Err(_) => {}
        }
        Ok(reader)
    }

    /// A reader of JSON lines that goes on where another stopped: `feed` holds the
    /// decoded feed from byte `at_byte` on (a ranged read of a plain file), which is
    /// the start of line `after_line + 1`. Lines are numbered, and item spans placed,
    /// as a reader from the start would number and place them. (A gzip feed or a JSON
    /// array cannot be entered in the middle: read it from the start and skip.)
    pub fn json_lines_after(
        feed: OpenFeed,
        keep_limit: usize,
        after_line: u64,
        at_byte: u64,
    ) -> Self {
        let mut reader = Self::bare(feed, keep_limit);
        reader.line = after_line;
        reader.bytes_read = at_byte;
        reader
    }

    /// Lines (in a JSON array, elements) read so far, blank lines included: where a
    /// reader that stops after this item would go on ([`FeedReader::json_lines_after`]
    /// from [`FeedReader::bytes_read`]).
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// True when nothing is left to read (a read error counts as something left: the
    /// next item reports it).
    pub fn at_end(&mut self) -> bool {
        use std::io::BufRead;
        self.done || matches!(self.input.fill_buf(), Ok(rest) if rest.is_empty())
    }

    fn bare(feed: OpenFeed, keep_limit: usize) -> Self {
        let mut input = Input::new(feed.reader);
        if feed.audit {
            input.audit = Some(audit::Audit::new(keep_limit));
        }
        Self {
            input,
            source_failed: feed.source_failed,
            format: FeedFormat::JsonLines,
            gzip: feed.gzip,
            keep_limit,
            buf: Vec::new(),
            line: 0,
            text_line: 1,
            state: ArrayState::Start,
            done: false,
            bytes_read: 0,
            spill: false,
            overflow: None,
            first_key: None,
            breaks: feed.breaks,
            item_start: None,
            span: None,
        }
    }

    /// Keeps every byte of a record longer than the keep limit: the first
    /// `keep_limit` bytes in the item as before, the rest in a temporary file that
    /// [`FeedReader::take_overflow`] hands over after the item (for the quarantine's
    /// side object: nothing is dropped).
    pub fn keep_whole(mut self) -> Self {
        self.spill = !self.breaks.old;
        self
    }

    /// The bytes of the last item past the keep limit, if it had any and
    /// [`FeedReader::keep_whole`] is on.
    pub fn take_overflow(&mut self) -> Option<Overflow> {
        self.overflow.take()
    }

    /// JSON lines or JSON array.
    pub fn format(&self) -> FeedFormat {
        self.format
    }

    /// Whether the feed was gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes read after decompression.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// What the byte audit found, once the feed is read to its end (`None` when the
    /// feed was not [`OpenFeed::audited`], or is not read to the end).
    pub fn audit(&mut self) -> Option<audit::AuditReport> {
        if !self.done {
            return None;
        }
        self.input.audit.as_mut().map(audit::Audit::finish)
    }

    /// Where the last item lies in the decoded feed (after gzip): `start..end`, its
    /// line ending and the whitespace around it excluded. `None` for an item that is
    /// only a separator (an empty array element) or the end of the file.
    pub fn item_span(&self) -> Option<(u64, u64)> {
        self.span
    }

    /// An item begins here.
    fn item_begins(&mut self) {
        self.item_start = Some(self.bytes_read);
        if let Some(audit) = self.input.audit.as_mut() {
            audit.begin(self.bytes_read);
        }
    }

    /// The item that began last ends at `end`.
    fn item_ends(&mut self, end: u64) {
        if let Some(start) = self.item_start.take() {
            self.span = Some((start, end));
        }
        if let Some(audit) = self.input.audit.as_mut() {
            audit.end(end);
        }
    }

    fn is_source_error(&self) -> bool {
        self.source_failed.load(Ordering::Relaxed)
    }

    /// Skips a BOM, then looks at the first non-whitespace byte: `[` means an array.
    /// The format, by this rule: after a BOM and any whitespace (blank lines
    /// included), a feed is a JSON array when it starts with `[` — unless that first
    /// line is one complete JSON value and more text follows it, which makes it JSON
    /// lines whose first record is an array (quarantined as not an object). Anything
    /// else is JSON lines. The leading whitespace is consumed only for an array: in JSON
    /// lines, blank lines count in the line numbers.
    fn detect(&mut self) -> io::Result<FeedFormat> {
        let head = peek(&mut self.input, 3)?;
        if head == BOM {
            self.consume(3);
        }
        let buf = self.input.fill_buf()?;
        let Some(pos) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Ok(FeedFormat::JsonLines);
        };
        if buf[pos] != b'[' || !(self.breaks.old || first_line_is_an_array(&buf[pos..])) {
            return Ok(FeedFormat::JsonLines);
        }
        self.text_line += buf[..pos].iter().filter(|b| **b == b'\n').count() as u64;
        self.consume(pos + 1);
        Ok(FeedFormat::JsonArray)
    }

    /// What the framing refused, at the current line, with the bytes buffered.
    fn bad(&self, kind: RejectKind, truncated: bool, reason: String) -> FeedItem<'_> {
        FeedItem::Bad {
            line: self.line,
            bytes: &self.buf,
            truncated,
            reason,
            kind,
        }
    }

    /// A record longer than the keep limit, kept cut to it; `what` names it.
    fn too_large(&self, what: String) -> FeedItem<'_> {
        let reason = format!(
            "{what} is longer than the {} bytes a record may have",
            self.keep_limit
        );
        self.bad(RejectKind::TooLarge, true, reason)
    }

    fn consume(&mut self, n: usize) {
        self.input.consume(n);
        self.bytes_read += n as u64;
    }

    /// The next record or bad item; `None` at the end of the feed.
    pub fn next_item(&mut self) -> Result<Option<FeedItem<'_>>, FeedError> {
        self.span = None;
        if self.done {
            return Ok(None);
        }
        match self.format {
            FeedFormat::JsonLines => self.next_line(),
            FeedFormat::JsonArray => self.next_element(),
        }
    }

    /// Turns an I/O error into either a [`FeedError`] (source failed) or a final bad
    /// item (the compressed stream is corrupt: what was read before still counts).
    fn on_io_error(
        &mut self,
        e: io::Error,
        line: u64,
        truncated: bool,
    ) -> Result<Option<FeedItem<'_>>, FeedError> {
        self.done = true;
        self.item_ends(self.bytes_read);
        if self.is_source_error() {
            return Err(FeedError {
                line: self.line,
                source: e,
            });
        }
        let what = if self.gzip {
            "gzip stream is corrupt or truncated"
        } else {
            "feed cannot be decoded"
        };
        Ok(Some(FeedItem::Bad {
            kind: RejectKind::Unreadable,
            line,
            bytes: &self.buf,
            truncated,
            reason: format!("{what} ({e}); nothing after this point could be read"),
        }))
    }

    fn next_line(&mut self) -> Result<Option<FeedItem<'_>>, FeedError> {
        loop {
            self.buf.clear();
            self.overflow = None;
            let start = self.bytes_read;
            self.item_begins();
            let mut total = 0usize;
            let mut ended = false;
            let mut saw_newline = false;
            loop {
                let chunk = match self.input.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let line = self.line + 1;
                        let truncated = total > self.buf.len();
                        return self.on_io_error(e, line, truncated);
                    }
                };
                if chunk.is_empty() {
                    ended = true;
                    break;
                }
                let (take, used, found) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i, i + 1, true),
                    None => (chunk.len(), chunk.len(), false),
                };
                keep(
                    &mut self.buf,
                    &mut self.overflow,
                    self.keep_limit,
                    self.spill,
                    self.line,
                    &chunk[..take],
                )?;
                total += take;
                self.consume(used);
                if found {
                    saw_newline = true;
                    break;
                }
            }
            if ended && total == 0 && !saw_newline {
                self.done = true;
                return Ok(None);
            }
            self.line += 1;
            if self.buf.last() == Some(&b'\r') && total == self.buf.len() {
                self.buf.pop();
                total -= 1;
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) && total == self.buf.len() {
                continue;
            }
            if self.breaks.skip_line == Some(self.line) {
                continue;
            }
            self.item_ends(start + total as u64);
            if total > self.buf.len() {
                return Ok(Some(self.too_large(format!("line of {total} bytes"))));
            }
            return Ok(Some(FeedItem::Record {
                line: self.line,
                bytes: &self.buf,
            }));
        }
    }
}

mod array;
pub mod audit;
mod input;
pub mod listing;

#[cfg(test)]
mod tests;
