//! Quarantine: where a record that cannot go on is kept, with the reason.
//!
//! Nothing is dropped silently (rule 3 of the design). Each rejected record becomes one
//! JSON line with `error`, `source`, `source_version`, `line`, `stage` and the record's
//! bytes in `raw` (or `raw_base64` when they are not UTF-8), written under
//! `<quarantine>/<stage>/dt=YYYY-MM-DD/<file>-<digest>-<part>.jsonl`. Names are
//! deterministic for a source object, so a re-run overwrites rather than adds.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::PutPayload;
use object_store::path::Path;
use serde::Serialize;

use crate::lineage::SourceObject;
use crate::storage::StorageLocation;

/// The pipeline stage that rejected a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading a feed file and sending it to the stream.
    Ingest,
    /// Converting raw JSON to Parquet.
    Convert,
}

impl Stage {
    /// The folder name of the stage under the quarantine prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Convert => "convert",
        }
    }
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// Why the record was rejected, for a human.
    pub error: String,
    /// 1-based line (or array element) of the record in its source.
    pub line: u64,
    /// The record's bytes as read (possibly cut, see `truncated`).
    pub raw: Bytes,
    /// True when `raw` holds only the start of a record too large to keep whole.
    pub truncated: bool,
}

#[derive(Serialize)]
struct EntryLine<'a> {
    error: &'a str,
    stage: Stage,
    source: &'a str,
    source_version: &'a str,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

/// Appends the JSON line for `entry` (with its trailing `\n`) to `out`.
pub fn encode_entry(
    out: &mut Vec<u8>,
    stage: Stage,
    source: &SourceObject,
    entry: &QuarantineEntry,
) {
    let text = std::str::from_utf8(&entry.raw).ok();
    let line = EntryLine {
        error: &entry.error,
        stage,
        source: &source.uri,
        source_version: &source.version,
        line: entry.line,
        raw: text,
        raw_base64: if text.is_none() {
            Some(base64(&entry.raw))
        } else {
            None
        },
        truncated: entry.truncated,
    };
    // Serializing plain strings and numbers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

/// Why quarantined records could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write quarantine object `{uri}`: {source}")]
pub struct QuarantineError {
    /// Where the write went.
    pub uri: String,
    /// What the store said.
    pub source: object_store::Error,
}

/// A place that keeps rejected records.
#[async_trait]
pub trait Quarantine: Send + Sync + std::fmt::Debug {
    /// Stores `body` (JSON lines made with [`encode_entry`]) as the part named `part`
    /// of the quarantine of `source` at `stage`; returns the URI written.
    async fn put_part(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        part: &str,
        body: Bytes,
    ) -> Result<String, QuarantineError>;
}

/// Quarantine objects under a prefix of a bucket or local folder.
#[derive(Debug, Clone)]
pub struct ObjectStoreQuarantine {
    location: StorageLocation,
}

impl ObjectStoreQuarantine {
    /// Quarantine under `location` (for example `s3://raw-bucket/quarantine`).
    pub fn new(location: StorageLocation) -> Self {
        Self { location }
    }

    /// The object path of a part (deterministic for source, stage, date and part).
    pub fn part_path(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        part: &str,
    ) -> Path {
        let name = format!(
            "{}-{}-{part}.jsonl",
            safe_name(source.file_name()),
            source.digest()
        );
        self.location
            .path
            .clone()
            .join(stage.as_str())
            .join(format!("dt={}", dt.format("%Y-%m-%d")))
            .join(name)
    }
}

#[async_trait]
impl Quarantine for ObjectStoreQuarantine {
    async fn put_part(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        part: &str,
        body: Bytes,
    ) -> Result<String, QuarantineError> {
        let path = self.part_path(stage, source, dt, part);
        let uri = self.location.uri_of(&path);
        self.location
            .store
            .put_opts(&path, PutPayload::from_bytes(body), Default::default())
            .await
            .map_err(|source| QuarantineError {
                uri: uri.clone(),
                source,
            })?;
        Ok(uri)
    }
}

/// Collects the rejected records of one source and writes them in parts of bounded size.
#[derive(Debug)]
pub struct QuarantineBuffer {
    target: Arc<dyn Quarantine>,
    stage: Stage,
    source: SourceObject,
    dt: NaiveDate,
    label: String,
    part_bytes: usize,
    buf: Vec<u8>,
    next_part: u32,
    records: u64,
    written: Vec<String>,
}

impl QuarantineBuffer {
    /// Parts are flushed when they pass `part_bytes` (8 MiB is a good size) and named
    /// `<label><part number>`; the label tells kinds of entries apart (`""` for
    /// records rejected as data, which a re-run rejects again under the same names).
    pub fn new(
        target: Arc<dyn Quarantine>,
        stage: Stage,
        source: SourceObject,
        dt: NaiveDate,
        label: &str,
        part_bytes: usize,
    ) -> Self {
        Self {
            target,
            stage,
            source,
            dt,
            label: label.to_owned(),
            part_bytes,
            buf: Vec::new(),
            next_part: 0,
            records: 0,
            written: Vec::new(),
        }
    }

    /// Adds one rejected record, writing a part when the buffer is full.
    pub async fn push(&mut self, entry: &QuarantineEntry) -> Result<(), QuarantineError> {
        encode_entry(&mut self.buf, self.stage, &self.source, entry);
        self.records += 1;
        if self.buf.len() >= self.part_bytes {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is buffered as the next part (nothing when empty).
    pub async fn flush(&mut self) -> Result<(), QuarantineError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(std::mem::take(&mut self.buf));
        let part = format!("{}{:05}", self.label, self.next_part);
        let uri = self
            .target
            .put_part(self.stage, &self.source, self.dt, &part, body)
            .await?;
        self.next_part += 1;
        self.written.push(uri);
        Ok(())
    }

    /// Records pushed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the URIs of every part written.
    pub async fn finish(mut self) -> Result<Vec<String>, QuarantineError> {
        self.flush().await?;
        Ok(self.written)
    }
}

/// Keeps ASCII letters, digits, `.`, `-` and `_`; everything else becomes `_`.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if cleaned.is_empty() {
        "source".into()
    } else {
        cleaned
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes the `raw_base64` of an entry (standard alphabet, padded); `None` when it is not base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt};

    fn source() -> SourceObject {
        SourceObject {
            uri: "s3://src/in/my feed.jsonl".into(),
            version: "v1".into(),
        }
    }

    #[test]
    fn base64_round_trips() {
        for input in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"\xff\x00\xfe{\"a\":1}",
        ] {
            assert_eq!(decode_base64(&base64(input)).as_deref(), Some(input));
        }
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x41]), "//4AQQ==");
    }

    #[test]
    fn entries_keep_text_as_text_and_bytes_as_base64() {
        let mut out = Vec::new();
        let ok = QuarantineEntry {
            error: "bad".into(),
            line: 3,
            raw: Bytes::from_static(b"{\"a\":"),
            truncated: false,
        };
        let bin = QuarantineEntry {
            error: "utf8".into(),
            line: 4,
            raw: Bytes::from_static(&[0xff, b'{']),
            truncated: true,
        };
        encode_entry(&mut out, Stage::Ingest, &source(), &ok);
        encode_entry(&mut out, Stage::Ingest, &source(), &bin);
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["raw"], "{\"a\":");
        assert_eq!(lines[0]["line"], 3);
        assert_eq!(lines[0]["source"], "s3://src/in/my feed.jsonl");
        assert_eq!(lines[0]["stage"], "ingest");
        assert!(lines[0].get("truncated").is_none());
        assert_eq!(lines[1]["raw_base64"], "/3s=");
        assert_eq!(lines[1]["truncated"], true);
    }

    #[tokio::test]
    async fn parts_are_written_under_stage_and_date_with_deterministic_names() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let location = StorageLocation::s3(Arc::clone(&store), "raw", Path::from("quarantine"));
        let target: Arc<dyn Quarantine> = Arc::new(ObjectStoreQuarantine::new(location));
        let dt = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let mut buf = QuarantineBuffer::new(target, Stage::Ingest, source(), dt, "", 10);
        for line in 1..=3 {
            let entry = QuarantineEntry {
                error: "e".into(),
                line,
                raw: Bytes::from_static(b"x"),
                truncated: false,
            };
            assert!(buf.push(&entry).await.is_ok());
        }
        let written = buf.finish().await.unwrap_or_default();
        assert_eq!(
            written.len(),
            3,
            "each entry passes 10 bytes, so each is its own part"
        );
        let digest = source().digest();
        assert_eq!(
            written[0],
            format!("s3://raw/quarantine/ingest/dt=2026-11-23/my_feed.jsonl-{digest}-00000.jsonl")
        );
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap_or_default();
        assert_eq!(listed.len(), 3);
        let body = store.get(&listed[0].location).await.ok();
        let body = match body {
            Some(b) => b.bytes().await.ok(),
            None => None,
        };
        assert!(body.is_some_and(|b| b.ends_with(b"\n")));
    }
}
