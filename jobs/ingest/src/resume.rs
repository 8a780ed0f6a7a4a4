//! Resuming a file whose ingest was interrupted: the lines already delivered.
//!
//! A run killed half way through a file has sent part of its records, and some of
//! those are already in raw objects. Sending the file again whole would put those
//! records in the table twice (under one `_record_id`, but twice). Whoever knows which
//! lines are already delivered (the local pipeline reads them back from its raw
//! objects) hands them to [`crate::IngestJob::run_with`] as [`DeliveredLines`], and only
//! the others are sent. Bad records are quarantined again either way: their
//! quarantine parts have names derived from the source, so they are rewritten, not
//! added to.

/// A set of 1-based line (or element) numbers of one source file, as a bitmap: one bit
/// per line up to the largest one held, so 12.5 MB for a file of 100 million records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveredLines {
    words: Vec<u64>,
    len: u64,
}

impl DeliveredLines {
    /// Lines above this are not a line of any file this pipeline reads (2^40 records);
    /// [`DeliveredLines::insert`] refuses them rather than allocate for them.
    pub const MAX_LINE: u64 = 1 << 40;

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `line`; false when it was there already or is 0 or above [`Self::MAX_LINE`].
    pub fn insert(&mut self, line: u64) -> bool {
        if line == 0 || line > Self::MAX_LINE {
            return false;
        }
        let (word, bit) = ((line / 64) as usize, line % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let had = self.words[word] & (1 << bit) != 0;
        self.words[word] |= 1 << bit;
        if !had {
            self.len += 1;
        }
        !had
    }

    /// Whether `line` is in the set.
    pub fn contains(&self, line: u64) -> bool {
        self.words
            .get((line / 64) as usize)
            .is_some_and(|w| w & (1 << (line % 64)) != 0)
    }

    /// How many lines the set holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set holds no line.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_the_lines_inserted() {
        let mut set = DeliveredLines::new();
        assert!(set.is_empty());
        for line in [1, 63, 64, 65, 1000, 7] {
            assert!(set.insert(line));
        }
        assert!(!set.insert(64), "inserted twice");
        assert!(!set.insert(0), "lines are 1-based");
        assert!(!set.insert(DeliveredLines::MAX_LINE + 1));
        assert_eq!(set.len(), 6);
        let held: Vec<u64> = (0..1100).filter(|l| set.contains(*l)).collect();
        assert_eq!(held, vec![1, 7, 63, 64, 65, 1000]);
        assert!(!set.contains(u64::MAX));
    }
}
