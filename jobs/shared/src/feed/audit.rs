//! The byte audit: a check of the framing that does not share the reader's view.
//!
//! The audit sees every decoded byte of a feed once, as the reader takes it from the
//! source (bytes the array reader puts back to read again are not seen twice), and is
//! told where each item the reader hands out begins and ends. Every byte must lie in
//! an item, or be one that the format allows between items:
//! - ASCII whitespace (blank lines, line endings, indentation), and a UTF-8 byte order
//!   mark at the very start;
//! - in a JSON array, also its opening `[` (the first byte after the mark and any
//!   whitespace), the commas between elements, and one closing `]`, after which only
//!   whitespace may come.
//!
//! Any other byte outside every item is one that no record and no quarantine entry
//! holds: the reader skipped it. The audit reports those as byte ranges of the decoded
//! feed. It knows nothing of how the reader splits: a reader that silently drops a
//! line, or stops early and says nothing, fails it.
//!
//! Memory is bounded: bytes are held until they are known to be inside an item or
//! checked, at most `2 × hold` of them (`hold` is the reader's keep limit plus some
//! room, so that the array reader's look-ahead after a broken element is still held
//! when it is read again). Bytes of an item longer than that are not held: of them,
//! only the range from the first to the last one that is not whitespace is kept, and
//! it is dropped when the item ends past it.

/// How many ranges a report lists (the count and the bytes are always whole).
const LISTED: usize = 20;

/// What the audit found: bytes outside every item that the format does not allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// The first few ranges, `start..end` in the decoded feed (after gzip).
    pub ranges: Vec<(u64, u64)>,
    /// How many ranges in all.
    pub range_count: u64,
    /// How many bytes the ranges hold that are not whitespace or separators (at most
    /// the sum of their lengths).
    pub bytes: u64,
    /// Bytes of the decoded feed seen.
    pub seen: u64,
}

impl AuditReport {
    /// True when every byte is in an item or allowed between them.
    pub fn ok(&self) -> bool {
        self.range_count == 0
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .map(|(a, b)| format!("{a}..{b}"))
            .collect();
        let more = self.range_count.saturating_sub(self.ranges.len() as u64);
        write!(
            f,
            "{} bytes in no record and no quarantine entry, at bytes {}{}",
            self.bytes,
            ranges.join(", "),
            if more > 0 {
                format!(" and {more} more ranges")
            } else {
                String::new()
            }
        )
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Audit {
    array: bool,
    hold: usize,
    /// Bytes from offset `held_from` to `seen`.
    held: Vec<u8>,
    held_from: u64,
    seen: u64,
    /// Every byte before this is checked.
    resolved: u64,
    /// Where the item being read began.
    open: Option<u64>,
    /// Bytes not held any more and not yet checked, from the first to the last one
    /// that is not whitespace (only while an item is open).
    unheld: Option<(u64, u64)>,
    /// The first three bytes, for the byte order mark.
    head: Vec<u8>,
    /// The first byte that is neither whitespace nor the byte order mark.
    first_text: Option<u64>,
    /// Where the array's closing `]` was.
    closed_at: Option<u64>,
    /// The bytes found so far in the gap being checked: the range and how many.
    gap: Option<(u64, u64, u64)>,
    report: AuditReport,
}

impl Audit {
    /// An audit of a feed read with this keep limit.
    pub(crate) fn new(keep_limit: usize) -> Self {
        Self {
            array: false,
            hold: keep_limit.saturating_add(64 * 1024),
            held: Vec::new(),
            held_from: 0,
            seen: 0,
            resolved: 0,
            open: None,
            unheld: None,
            head: Vec::with_capacity(3),
            first_text: None,
            closed_at: None,
            gap: None,
            report: AuditReport::default(),
        }
    }

    /// The feed is a JSON array (known once its start is read; nothing is checked
    /// before that).
    pub(crate) fn set_array(&mut self, array: bool) {
        self.array = array;
    }

    /// Bytes the reader takes from the source, in order, each once.
    pub(crate) fn see(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = self.seen + i as u64;
            if self.head.len() < 3 && at < 3 {
                self.head.push(b);
            }
            if self.first_text.is_none() && !b.is_ascii_whitespace() && !self.in_bom(at) {
                self.first_text = Some(at);
            }
            if self.first_text.is_some() && self.head.len() == 3 {
                break;
            }
        }
        self.held.extend_from_slice(bytes);
        self.seen += bytes.len() as u64;
        if self.held.len() > 2 * self.hold {
            let excess = self.held.len() - self.hold;
            self.let_go(excess);
        }
    }

    /// An item begins at `start`: what lies between the last item and it is checked.
    pub(crate) fn begin(&mut self, start: u64) {
        self.check_gap(start);
        self.flush_gap();
        self.open = Some(start);
    }

    /// The item that began last ends at `end` (exclusive): its bytes are accounted for.
    pub(crate) fn end(&mut self, end: u64) {
        if let Some((_, last)) = self.unheld
            && last <= end
        {
            self.unheld = None;
        }
        if let Some((first, last)) = self.unheld.as_mut() {
            *first = (*first).max(end);
            debug_assert!(*first < *last);
        }
        self.resolved = self.resolved.max(end);
        self.open = None;
        self.drop_resolved();
    }

    /// The feed has ended: everything after the last item is checked.
    pub(crate) fn finish(&mut self) -> AuditReport {
        self.check_gap(self.seen);
        self.flush_gap();
        let mut report = std::mem::take(&mut self.report);
        report.seen = self.seen;
        report
    }

    fn in_bom(&self, at: u64) -> bool {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        at < 3
            && self
                .head
                .get(at as usize)
                .is_some_and(|b| *b == BOM[at as usize])
            && (self.head.len() < 3 || self.head == BOM)
    }

    /// Whether `b` at `at`, outside every item, is one the format allows there.
    fn allowed(&mut self, b: u8, at: u64) -> bool {
        if b.is_ascii_whitespace() || self.in_bom(at) {
            return true;
        }
        if !self.array || self.closed_at.is_some() {
            return false;
        }
        match b {
            b',' => true,
            b'[' => self.first_text == Some(at),
            b']' => {
                self.closed_at = Some(at);
                true
            }
            _ => false,
        }
    }

    /// Checks the bytes from the last checked one up to `upto` as bytes between items.
    fn check_gap(&mut self, upto: u64) {
        let from = self.resolved;
        if upto <= from {
            return;
        }
        let mut first_bad: Option<u64> = None;
        let mut last_bad = 0;
        let mut bad = 0u64;
        if let Some((a, b)) = self.unheld.take() {
            let (a, b) = (a.max(from), b);
            if a < b.min(upto) {
                first_bad = Some(a);
                last_bad = b.min(upto) - 1;
                bad += b.min(upto) - a;
            }
            // What lies past `upto` is checked with what comes after it.
            if b > upto {
                self.unheld = Some((a.max(upto), b));
            }
        }
        let start = from.max(self.held_from);
        for at in start..upto.min(self.seen) {
            let byte = self.held[(at - self.held_from) as usize];
            if !self.allowed(byte, at) {
                first_bad.get_or_insert(at);
                last_bad = last_bad.max(at);
                bad += 1;
            }
        }
        if let Some(first) = first_bad {
            self.gap = Some(match self.gap {
                Some((a, _, n)) => (a, last_bad + 1, n + bad),
                None => (first, last_bad + 1, bad),
            });
        }
        self.resolved = upto;
        self.drop_resolved();
    }

    /// Reports what the gap just checked holds, as one range.
    fn flush_gap(&mut self) {
        if let Some((a, b, bad)) = self.gap.take() {
            self.report.range_count += 1;
            self.report.bytes += bad;
            if self.report.ranges.len() < LISTED {
                self.report.ranges.push((a, b));
            }
        }
    }

    /// Lets go of the first `n` held bytes: those already checked are dropped; of an
    /// open item's, only where its text begins and ends is kept; others are checked
    /// now.
    fn let_go(&mut self, n: usize) {
        let until = self.held_from + n as u64;
        match self.open {
            Some(start) => {
                let from = self.resolved.max(self.held_from).max(start);
                if from < until {
                    let slice = &self.held
                        [(from - self.held_from) as usize..(until - self.held_from) as usize];
                    let first = slice.iter().position(|b| !b.is_ascii_whitespace());
                    let last = slice.iter().rposition(|b| !b.is_ascii_whitespace());
                    if let (Some(f), Some(l)) = (first, last) {
                        let (f, l) = (from + f as u64, from + l as u64 + 1);
                        self.unheld = Some(match self.unheld {
                            Some((a, _)) => (a, l),
                            None => (f, l),
                        });
                    }
                }
            }
            None => self.check_gap(until),
        }
        let cut = (until.saturating_sub(self.held_from) as usize).min(self.held.len());
        self.held.drain(..cut);
        self.held_from += cut as u64;
    }

    /// Drops held bytes that are checked, once they are half of what is held.
    fn drop_resolved(&mut self) {
        let dead = (self.resolved.saturating_sub(self.held_from) as usize).min(self.held.len());
        if dead > 0 && dead >= self.held.len() / 2 {
            self.held.drain(..dead);
            self.held_from += dead as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Audits `text` with items at `spans`, `array` or lines.
    fn audit(text: &[u8], array: bool, spans: &[(u64, u64)], hold: usize) -> AuditReport {
        let mut a = Audit::new(hold);
        a.hold = hold;
        a.set_array(array);
        let mut fed = 0usize;
        for &(s, e) in spans {
            if s as usize > fed {
                a.see(&text[fed..s as usize]);
                fed = s as usize;
            }
            a.begin(s);
            // In small pieces, up to a little past the item, as a reader reads.
            let upto = (e as usize + 2).min(text.len()).max(fed);
            for chunk in text[fed..upto].chunks(3) {
                a.see(chunk);
            }
            fed = upto;
            a.end(e);
        }
        a.see(&text[fed..]);
        a.finish()
    }

    #[test]
    fn whitespace_and_separators_between_items_pass() {
        let lines = b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \n{\"b\":2}\n";
        assert!(audit(lines, false, &[(3, 10), (16, 23)], 8).ok());
        let array = b" [ {\"a\":1} ,\n{\"b\":2} ]\n ";
        let r = audit(array, true, &[(3, 10), (13, 20)], 8);
        assert!(r.ok(), "{r}");
        assert_eq!(r.seen, array.len() as u64);
    }

    #[test]
    fn a_skipped_line_is_reported_with_its_byte_range() {
        let lines = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        // The reader handed out lines 1 and 3: line 2 (bytes 8..15) is in neither.
        let r = audit(lines, false, &[(0, 7), (16, 23)], 8);
        assert_eq!(
            (r.ranges.clone(), r.range_count, r.bytes),
            (vec![(8, 15)], 1, 7)
        );
        assert_eq!(
            r.to_string(),
            "7 bytes in no record and no quarantine entry, at bytes 8..15"
        );
        // Nothing after the last item, too.
        let r = audit(lines, false, &[(0, 7)], 8);
        assert_eq!(r.ranges, vec![(8, 23)]);
        // And the separators of a JSON array are not allowed between lines.
        assert!(!audit(b"{\"a\":1},\n", false, &[(0, 7)], 8).ok());
    }

    #[test]
    fn in_an_array_only_one_opening_and_one_closing_bracket_pass() {
        // A second `[` between elements, a `]` before an element, text after the end.
        assert!(!audit(b"[1,[2]", true, &[(1, 2), (5, 6)], 8).ok());
        assert!(!audit(b"[1],2]", true, &[(1, 2), (4, 5)], 8).ok());
        let r = audit(b"[1] ,", true, &[(1, 2)], 8);
        assert_eq!(r.ranges, vec![(4, 5)]);
        // Everything after the end in an item (quarantined as such) is fine.
        assert!(audit(b"[1] x", true, &[(1, 2), (4, 5)], 8).ok());
    }

    #[test]
    fn items_longer_than_what_is_held_are_followed_by_their_ends() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        let text = format!("{big}\n{big}\nskipped and lost\n{big}\n");
        let n = big.len() as u64;
        let spans = [(0, n), (n + 1, 2 * n + 1), (2 * n + 19, 3 * n + 19)];
        let r = audit(text.as_bytes(), false, &spans, 16);
        assert_eq!(r.ranges, vec![(2 * n + 2, 2 * n + 18)], "{r}");
        assert_eq!(r.bytes, 14, "whitespace is not counted");
        // The reader stopping inside a long item and saying nothing of its end.
        let mut a = Audit::new(16);
        a.hold = 16;
        a.begin(0);
        a.see(text.as_bytes());
        let r = a.finish();
        assert_eq!(r.ranges, vec![(0, text.len() as u64 - 1)]);
    }
}
