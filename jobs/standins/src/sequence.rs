//! `SequenceNumber`: a record's place in its shard, as Kinesis writes it.
//!
//! Kinesis sequence numbers are decimal strings (AWS's are 56 digits and more) that
//! order as numbers, not as text: `10` comes after `9`. The in-process stream's are
//! the record's 1-based position in its shard, zero-padded to 20 digits; moto's are
//! the position without padding. A `SequenceNumber` keeps the text it was given (so
//! it goes back to Kinesis unchanged, as `StartingSequenceNumber`) and compares by
//! value, so `0010 == 10` and `10 > 9`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A Kinesis sequence number; see the module docs.
#[derive(Debug, Clone)]
pub struct SequenceNumber(String);

/// Text that is not a sequence number (empty, or not only ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Kinesis sequence number (decimal digits)")]
pub struct NotASequenceNumber(pub String);

impl SequenceNumber {
    /// The in-process stream's sequence number of the record at `position` (1-based)
    /// in its shard.
    pub(crate) fn at_position(position: usize) -> Self {
        Self(format!("{position:020}"))
    }

    /// The position (1-based) this sequence number stands for in an in-process stream;
    /// `None` when it is too large to be one.
    pub(crate) fn position(&self) -> Option<usize> {
        match self.digits() {
            "" => Some(0),
            digits => digits.parse().ok(),
        }
    }

    /// The text, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without leading zeros (empty for zero).
    fn digits(&self) -> &str {
        self.0.trim_start_matches('0')
    }
}

impl FromStr for SequenceNumber {
    type Err = NotASequenceNumber;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotASequenceNumber(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for SequenceNumber {
    /// By value: more digits (leading zeros aside) is larger, equal lengths compare as text.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.digits(), other.digits());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.digits() == other.digits()
    }
}

impl Eq for SequenceNumber {}

impl Hash for SequenceNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.digits().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(text: &str) -> SequenceNumber {
        text.parse().unwrap()
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(seq("00000000000000000010") > seq("9"));
        assert_eq!(seq("10"), seq("10"));
        assert_eq!(seq("0010"), seq("10"));
        assert!(seq("9") < seq("10"));
        assert!(
            seq("49590338271490256608559692538361571095921575989136588898")
                > seq("49590338271490256608559692538361571095921575989136588897")
        );
        assert!(seq("0") < seq("1"));
        assert_eq!(seq("000"), seq("0"));
    }

    #[test]
    fn the_text_is_kept_as_given() {
        assert_eq!(seq("0007").to_string(), "0007");
        assert_eq!(
            SequenceNumber::at_position(7).as_str(),
            "00000000000000000007"
        );
    }

    #[test]
    fn only_decimal_digits_are_sequence_numbers() {
        for bad in ["", "-1", "1e3", " 1", "0x10", "１"] {
            assert_eq!(
                bad.parse::<SequenceNumber>(),
                Err(NotASequenceNumber(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn in_process_positions_round_trip() {
        for n in [0, 1, 9, 10, 123_456] {
            assert_eq!(SequenceNumber::at_position(n).position(), Some(n));
        }
        let aws = seq("49590338271490256608559692538361571095921575989136588898");
        assert_eq!(aws.position(), None);
    }
}
