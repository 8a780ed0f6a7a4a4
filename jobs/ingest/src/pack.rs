//! `RecordPacker`: several framed records in one Kinesis record, to stop paying for
//! rounding.
//!
//! Every hop after ingest bills per record, rounded up: Firehose ingestion to the next
//! 5 KB, Kinesis on-demand to the next 1 KB, provisioned Kinesis in 25 KB PUT payload
//! units; and a shard takes 1,000 records/s, which binds long before its 1 MiB/s with
//! records of a few hundred bytes. So framed records (each one JSON line ending in
//! `\n`) are concatenated into one Kinesis record up to `pack_bytes` (data plus
//! partition key). Firehose concatenates Kinesis records as they are, without a
//! delimiter, into its S3 objects ("By default, Firehose concatenates data without any
//! delimiters", <https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html>),
//! so the raw objects are the same JSON lines, every record whole, as without packing.
//!
//! [`DEFAULT_PACK_BYTES`] is 25 KiB: one provisioned PUT payload unit (25 KB), five
//! Firehose 5 KB units and 25 on-demand 1 KB units, so a full pack is billed for what it
//! holds, and what rounding remains is less than one customer record per pack (on the
//! sample feed Firehose bills 1.01 bytes per byte of records packed, 7.17 unpacked:
//! `jobs/ingest/benches/stream_cost.rs`). Larger packs would save little more and
//! make a rejected entry resend more records.
//!
//! A record at least `pack_bytes` long goes alone; records are packed in input order
//! within one file, and a pack takes its first record's partition key (Firehose to S3
//! keeps no per-key order, so nothing downstream depends on the key). `pack_bytes = 0`
//! turns packing off: every framed record is its own Kinesis record.

use bytes::BytesMut;

use crate::frame::Record;

/// The default largest packed record, data plus partition key; see the module docs.
pub const DEFAULT_PACK_BYTES: usize = 25 * 1024;

/// The largest `pack_bytes` accepted: Firehose's own record limit (its `Record.Data`
/// is at most 1,000 KiB), below Kinesis' 1 MiB.
pub const MAX_PACK_BYTES: usize = 1000 * 1024;

/// Packs framed records; see the module docs.
#[derive(Debug)]
pub struct RecordPacker {
    pack_bytes: usize,
    current: Option<Open>,
}

#[derive(Debug)]
struct Open {
    data: BytesMut,
    partition_key: String,
    line: u64,
    packed_lines: Vec<u64>,
}

impl Open {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    fn close(self) -> Record {
        Record {
            data: self.data.freeze(),
            partition_key: self.partition_key,
            line: self.line,
            packed_lines: self.packed_lines,
        }
    }
}

impl RecordPacker {
    /// A packer filling Kinesis records up to `pack_bytes`; 0 packs nothing.
    pub fn new(pack_bytes: usize) -> Self {
        Self {
            pack_bytes,
            current: None,
        }
    }

    /// Adds a framed record; returns the Kinesis records that are complete now (none,
    /// one or two, in input order).
    pub fn push(&mut self, record: Record) -> impl Iterator<Item = Record> + use<> {
        let mut done = [None, None];
        if self.pack_bytes == 0 || record.size() >= self.pack_bytes {
            done[0] = self.current.take().map(Open::close);
            done[1] = Some(record);
        } else {
            let fits = self
                .current
                .as_ref()
                .is_some_and(|open| open.size() + record.data.len() <= self.pack_bytes);
            if fits {
                let open = self.current.as_mut().expect("checked above");
                open.data.extend_from_slice(&record.data);
                open.packed_lines.push(record.line);
            } else {
                done[0] = self.current.take().map(Open::close);
                let mut data = BytesMut::with_capacity(self.pack_bytes);
                data.extend_from_slice(&record.data);
                self.current = Some(Open {
                    data,
                    partition_key: record.partition_key,
                    line: record.line,
                    packed_lines: Vec::new(),
                });
            }
        }
        done.into_iter().flatten()
    }

    /// The last, partly filled record, if any.
    pub fn finish(&mut self) -> Option<Record> {
        self.current.take().map(Open::close)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn framed(line: u64, len: usize) -> Record {
        let mut data = format!("{{\"l\":{line},\"p\":\"");
        data.push_str(&"x".repeat(len.saturating_sub(data.len() + 3)));
        data.push_str("\"}\n");
        Record::single(Bytes::from(data), format!("key-{line}"), line)
    }

    fn pack_all(pack_bytes: usize, records: &[Record]) -> Vec<Record> {
        let mut packer = RecordPacker::new(pack_bytes);
        let mut out: Vec<Record> = records
            .iter()
            .flat_map(|r| packer.push(r.clone()).collect::<Vec<_>>())
            .collect();
        out.extend(packer.finish());
        out
    }

    #[test]
    fn packs_fill_up_to_the_limit_and_split_back_into_the_same_records() {
        let records: Vec<Record> = (0..1000)
            .map(|i| framed(i, 50 + (i as usize * 37) % 900))
            .collect();
        let packed = pack_all(DEFAULT_PACK_BYTES, &records);
        assert!(packed.len() < records.len() / 20, "{} packs", packed.len());
        for (i, pack) in packed.iter().enumerate() {
            assert!(
                pack.size() <= DEFAULT_PACK_BYTES,
                "pack {i} is {}",
                pack.size()
            );
            if let Some(next) = packed.get(i + 1) {
                let first = next.members().next().unwrap().1;
                assert!(
                    pack.size() + first.len() > DEFAULT_PACK_BYTES,
                    "pack {i} had room for the next record"
                );
            }
        }
        let members: Vec<(u64, Bytes)> = packed
            .iter()
            .flat_map(|p| p.members().collect::<Vec<_>>())
            .collect();
        let expected: Vec<(u64, Bytes)> =
            records.iter().map(|r| (r.line, r.data.clone())).collect();
        assert_eq!(members, expected);
        assert_eq!(packed.iter().map(Record::count).sum::<u64>(), 1000);
        assert_eq!(packed[0].partition_key, "key-0");
    }

    #[test]
    fn a_record_at_the_limit_goes_alone_and_order_is_kept() {
        let records = vec![
            framed(1, 100),
            framed(2, 200),
            framed(3, 1000),
            framed(4, 100),
        ];
        let packed = pack_all(1000, &records);
        let lines: Vec<Vec<u64>> = packed
            .iter()
            .map(|p| p.members().map(|(l, _)| l).collect())
            .collect();
        assert_eq!(lines, vec![vec![1, 2], vec![3], vec![4]]);
        assert_eq!(
            packed[1], records[2],
            "a record that fills a pack is sent as it is"
        );
    }

    #[test]
    fn pack_bytes_zero_sends_every_record_alone() {
        let records: Vec<Record> = (0..10).map(|i| framed(i, 60)).collect();
        assert_eq!(pack_all(0, &records), records);
    }

    #[test]
    fn the_partition_key_counts_towards_the_limit() {
        // 2 records of 40 bytes with a 5-byte key: 85 bytes packed.
        let records = vec![framed(1, 40), framed(2, 40)];
        assert_eq!(records[0].partition_key.len(), 5);
        assert_eq!(pack_all(85, &records).len(), 1);
        assert_eq!(pack_all(84, &records).len(), 2);
    }
}
