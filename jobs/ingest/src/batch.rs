//! `RecordBatcher`: records → `PutRecords` batches within the Kinesis limits.
//!
//! A batch holds at most 500 records and 5 MiB (data plus partition keys), and no
//! record is over 1 MiB (the framer refuses those). Batches are filled greedily in
//! input order, so they are as full as the input allows.

use crate::frame::Record;

/// The Kinesis `PutRecords` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KinesisLimits {
    /// Records per call (500).
    pub max_records_per_call: usize,
    /// Bytes per call, data plus partition keys (5 MiB).
    pub max_bytes_per_call: usize,
    /// Bytes per record, data plus partition key (1 MiB).
    pub max_record_bytes: usize,
}

impl Default for KinesisLimits {
    fn default() -> Self {
        Self {
            max_records_per_call: 500,
            max_bytes_per_call: 5 * 1024 * 1024,
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// A batch of records for one `PutRecords` call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The records, in input order.
    pub records: Vec<Record>,
    /// Their total size as Kinesis counts it.
    pub bytes: usize,
}

/// Groups records into batches; see the module docs.
#[derive(Debug)]
pub struct RecordBatcher {
    limits: KinesisLimits,
    current: Batch,
}

impl RecordBatcher {
    /// A batcher for `limits`.
    pub fn new(limits: KinesisLimits) -> Self {
        Self {
            limits,
            current: Batch::default(),
        }
    }

    /// Adds a record; returns the previous batch when this record does not fit in it.
    pub fn push(&mut self, record: Record) -> Option<Batch> {
        let size = record.size();
        let full = !self.current.records.is_empty()
            && (self.current.records.len() >= self.limits.max_records_per_call
                || self.current.bytes + size > self.limits.max_bytes_per_call);
        let done = full.then(|| std::mem::take(&mut self.current));
        self.current.bytes += size;
        self.current.records.push(record);
        done
    }

    /// The last, partly filled batch, if any.
    pub fn finish(self) -> Option<Batch> {
        (!self.current.records.is_empty()).then_some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(data_len: usize, key: &str) -> Record {
        Record::single(Bytes::from(vec![b'x'; data_len]), key.into(), 0)
    }

    fn batch_all(records: Vec<Record>) -> Vec<Batch> {
        let mut batcher = RecordBatcher::new(KinesisLimits::default());
        let mut out: Vec<Batch> = records
            .into_iter()
            .filter_map(|r| batcher.push(r))
            .collect();
        out.extend(batcher.finish());
        out
    }

    #[test]
    fn exactly_500_records_make_one_batch_and_501_make_two() {
        let batches = batch_all((0..500).map(|_| record(10, "k")).collect());
        assert_eq!(
            batches.iter().map(|b| b.records.len()).collect::<Vec<_>>(),
            vec![500]
        );
        let batches = batch_all((0..501).map(|_| record(10, "k")).collect());
        assert_eq!(
            batches.iter().map(|b| b.records.len()).collect::<Vec<_>>(),
            vec![500, 1]
        );
    }

    #[test]
    fn batches_never_exceed_five_mebibytes_and_fill_to_exactly_five() {
        // Five records of exactly 1 MiB (data + 1-byte key) fill 5 MiB exactly.
        let mib = 1024 * 1024;
        let batches = batch_all((0..6).map(|_| record(mib - 1, "k")).collect());
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].records.len(), 5);
        assert_eq!(batches[0].bytes, 5 * mib);
        assert_eq!(batches[1].records.len(), 1);
        // One byte more in the fifth record: it moves to the next batch.
        let mut records: Vec<_> = (0..4).map(|_| record(mib - 1, "k")).collect();
        records.push(record(mib, "k"));
        let batches = batch_all(records);
        assert_eq!(
            batches.iter().map(|b| b.records.len()).collect::<Vec<_>>(),
            vec![4, 1]
        );
        assert!(batches.iter().all(|b| b.bytes <= 5 * mib));
    }

    #[test]
    fn partition_keys_count_towards_the_size() {
        let mib = 1024 * 1024;
        let batches = batch_all((0..5).map(|_| record(mib - 4, "keyz")).collect());
        assert_eq!(batches.len(), 1);
        let batches = batch_all((0..5).map(|_| record(mib - 3, "keyz")).collect());
        assert_eq!(batches.len(), 2);
    }

    #[test]
    fn order_is_kept_and_nothing_is_lost() {
        let records: Vec<_> = (0..1234u64)
            .map(|i| Record {
                line: i,
                ..record((i as usize * 7919) % 20_000, "k")
            })
            .collect();
        let batches = batch_all(records);
        let lines: Vec<u64> = batches
            .iter()
            .flat_map(|b| b.records.iter().map(|r| r.line))
            .collect();
        assert_eq!(lines, (0..1234).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.records.len() <= 500 && b.bytes <= 5 * 1024 * 1024);
            assert_eq!(b.bytes, b.records.iter().map(Record::size).sum::<usize>());
        }
    }

    #[test]
    fn no_input_no_batch() {
        assert!(batch_all(Vec::new()).is_empty());
    }
}
