//! Which contract a feed gets when none is pinned: the built-in sample contract when
//! enough of the feed's sampled records fit it, else one inferred from them.
//!
//! A pinned contract (`--schema`, `FEEDPIPE_SCHEMA_URL`) always wins; this is the
//! rule for the rest, so that `feedpipe local` on the sample feed uses the checked-in
//! contract and on a customer's own feed proposes one to review.

use std::io::Read;

use feedpipe_shared::feed::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;

use super::{ContractError, InferError, SAMPLE_CONTRACT, SchemaContract, infer};
use crate::decode::{RawOrigin, RecordDecoder};

/// Good records sampled from each feed file to choose or infer a contract.
pub const SAMPLE_PER_FILE: usize = 1000;

/// Largest record taken into a sample.
const SAMPLE_RECORD_LIMIT: usize = 16 << 20;

/// Where a chosen contract came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The built-in sample contract (`sql/contracts/feed.json`).
    Sample,
    /// Inferred from the sample, because too few of its records fit the sample contract.
    Inferred {
        /// Records it was inferred from.
        used: u64,
        /// Sampled records that fit the sample contract.
        fit: usize,
        /// Top-level fields left out because feedpipe reserves their names (they
        /// stay in `_extra`).
        set_aside: Vec<String>,
    },
}

/// A contract and where it came from.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The contract (validated).
    pub contract: SchemaContract,
    /// Why this one.
    pub choice: Choice,
}

/// Why no contract could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    /// The records fit neither the sample contract nor any inferred one.
    #[error(
        "the feeds do not fit the sample contract, and no contract can be inferred from them: {0}"
    )]
    NoContract(InferError),
    /// The contract inferred is not valid.
    #[error(transparent)]
    Invalid(#[from] ContractError),
}

/// Up to `per_file` good records of each feed (JSON lines or array, gzip or not),
/// in order; a feed that cannot be read is skipped (ingest reports it).
pub fn sample_records<R: Read + Send + 'static>(
    feeds: impl IntoIterator<Item = R>,
    per_file: usize,
) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    for feed in feeds {
        let Ok(feed) = open_feed(feed) else { continue };
        let Ok(mut reader) = FeedReader::new(feed, SAMPLE_RECORD_LIMIT) else {
            continue;
        };
        let mut taken = 0;
        while taken < per_file {
            match reader.next_item() {
                Ok(Some(FeedItem::Record { bytes, .. })) => {
                    records.push(bytes.to_vec());
                    taken += 1;
                }
                Ok(Some(FeedItem::Bad { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    records
}

/// The sample contract if at least 90% of `records` fit it (or there are none),
/// else a contract for `table` inferred from them.
pub fn choose(table: &str, records: &[Vec<u8>]) -> Result<Chosen, ChooseError> {
    let sample = SchemaContract::from_json(SAMPLE_CONTRACT)?;
    let decoder = RecordDecoder::new(&sample);
    let origin = RawOrigin {
        source: SourceObject {
            uri: "file:///contract-check".into(),
            version: "0".into(),
        },
        written_at_micros: 0,
    };
    let fit = records
        .iter()
        .filter(|r| {
            std::str::from_utf8(r).is_ok_and(|text| decoder.decode(text, 1, &origin).is_ok())
        })
        .count();
    if records.is_empty() || fit * 10 >= records.len() * 9 {
        return Ok(Chosen {
            contract: sample,
            choice: Choice::Sample,
        });
    }
    let inferred =
        infer(table, records.iter().map(Vec::as_slice)).map_err(ChooseError::NoContract)?;
    inferred.contract.validate()?;
    Ok(Chosen {
        contract: inferred.contract,
        choice: Choice::Inferred {
            used: inferred.used,
            fit,
            set_aside: inferred.set_aside,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_feed(rows: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let options = feedpipe_sample::SampleOptions {
            rows,
            ..Default::default()
        };
        feedpipe_sample::write_feed(&mut out, &options).unwrap();
        out
    }

    #[test]
    fn the_sample_feed_gets_the_sample_contract() {
        let records = sample_records([std::io::Cursor::new(sample_feed(200))], SAMPLE_PER_FILE);
        assert_eq!(records.len(), 200);
        let chosen = choose("feed", &records).unwrap();
        assert_eq!(chosen.choice, Choice::Sample);
        assert_eq!(chosen.contract.table, "feed");
    }

    #[test]
    fn another_feed_gets_an_inferred_contract_for_the_table() {
        let feed = (1..=50)
            .map(|i| format!("{{\"sku\":\"s{i}\",\"qty\":{i}}}\n"))
            .collect::<String>();
        let records = sample_records([std::io::Cursor::new(feed.into_bytes())], 20);
        assert_eq!(records.len(), 20, "at most per_file records a file");
        let chosen = choose("stock", &records).unwrap();
        assert_eq!(
            chosen.choice,
            Choice::Inferred {
                used: 20,
                fit: 0,
                set_aside: Vec::new()
            }
        );
        assert_eq!(chosen.contract.table, "stock");
        assert!(chosen.contract.columns.iter().any(|c| c.name == "qty"));
    }

    #[test]
    fn records_that_are_no_objects_give_no_contract() {
        // The sample is framed records, as ingest reads them; inference skips what
        // is not a JSON object.
        let records = sample_records([std::io::Cursor::new(b"not json\n[1]\n".to_vec())], 10);
        assert_eq!(records, [b"not json".to_vec(), b"[1]".to_vec()]);
        let err = choose("t", &records).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no contract can be inferred")));
    }
}
