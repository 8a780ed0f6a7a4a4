//! Quarantine: where a record that cannot go on is kept, with the reason.
//!
//! Nothing is dropped silently (rule 3 of `docs/DESIGN.md`). Each rejected record
//! becomes one JSON line, a [`QuarantineRecord`]: `error` (for a human), `kind` (a
//! [`RejectKind`], for machines), `stage`, `source`, `source_version`, `line` and the
//! record's bytes in `raw` (or `raw_base64` when they are not UTF-8), written under
//! `<quarantine>/<stage>/dt=YYYY-MM-DD/<file>-<digest>-<part>.jsonl`. Names are
//! deterministic for a source object, so a re-run overwrites rather than adds.
//!
//! A record longer than the keep limit is kept whole too: its entry holds the first
//! bytes (`truncated`) and names a side object, `side_object`, beside the parts
//! (`<file>-<digest>-line<N>.raw`), that holds every byte of it.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::feed::Overflow;
use crate::lineage::SourceObject;
use crate::storage::StorageLocation;

/// The pipeline stage that rejected a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// Why a record was rejected: what `reconcile` and alarms match on. The `error`
/// text beside it is for a human and may be reworded freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// Not valid JSON, or a JSON array broken around the record.
    Malformed,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Larger than a record may be (the reader's keep limit, or Kinesis's 1 MiB).
    TooLarge,
    /// The record uses a lineage field name.
    ReservedField,
    /// The file cannot be read past this point (a corrupt or truncated gzip stream).
    Unreadable,
    /// A record that does not fit the schema contract.
    Contract,
    /// The stream never accepted the record (retries exhausted); not bad data:
    /// ingesting the file again may deliver it.
    Undelivered,
    /// The whole file belongs to no feed: its key starts with no prefix of the feeds
    /// file. One entry for the file (line 0, no bytes); `reconcile` reports the file
    /// as unrouted instead of matching its records.
    Unrouted,
}

impl RejectKind {
    /// True for records rejected for what they are (a re-run rejects them again);
    /// false for [`RejectKind::Undelivered`].
    pub fn is_bad_data(self) -> bool {
        self != RejectKind::Undelivered
    }
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// Why, as a kind.
    pub kind: RejectKind,
    /// Why the record was rejected, for a human.
    pub error: String,
    /// 1-based line (or array element) of the record in its source.
    pub line: u64,
    /// The record's bytes as read (possibly cut, see `truncated`).
    pub raw: Bytes,
    /// True when `raw` holds only the start of a record too large to keep whole.
    pub truncated: bool,
    /// Where the record lies in its source, `start..end` in bytes after gzip, when the
    /// reader knows (ingest): so that reconcile can name the bytes a cut entry lost.
    pub span: Option<(u64, u64)>,
}

/// One line of a quarantine object, as written and as `reconcile` reads it back:
/// the one shape both sides share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRecord<'a> {
    /// Why, for a human.
    #[serde(borrow)]
    pub error: Cow<'a, str>,
    /// Why, as a kind.
    pub kind: RejectKind,
    /// The stage that rejected it.
    pub stage: Stage,
    /// The URI of the object it was read from (the feed file for ingest, the raw
    /// object for convert).
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// That object's version.
    #[serde(borrow)]
    pub source_version: Cow<'a, str>,
    /// 1-based line (or array element) in `source`.
    pub line: u64,
    /// The record's bytes, when they are UTF-8.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Cow<'a, str>>,
    /// The record's bytes in standard base64, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// True when the bytes are only the start of the record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// When `truncated`: the URI of the object holding the whole record.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub side_object: Option<Cow<'a, str>>,
    /// `[start, end)`: where the record lies in `source`, in bytes after gzip (ingest
    /// entries; a side object holds exactly `end - start` bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_bytes: Option<[u64; 2]>,
}

impl<'a> QuarantineRecord<'a> {
    /// The record of `entry`, rejected at `stage` while reading `source`.
    pub fn new(stage: Stage, source: &'a SourceObject, entry: &'a QuarantineEntry) -> Self {
        // As text when it is UTF-8 and JSON escapes at most double it (quotes do); else
        // as base64, 4 bytes for every 3: a run of NUL bytes is 6 bytes each as `\u0000`.
        let text = std::str::from_utf8(&entry.raw)
            .ok()
            .filter(|t| escaped_len(t) <= 2 * t.len());
        Self {
            error: Cow::Borrowed(&entry.error),
            kind: entry.kind,
            stage,
            source: Cow::Borrowed(&source.uri),
            source_version: Cow::Borrowed(&source.version),
            line: entry.line,
            raw: text.map(Cow::Borrowed),
            raw_base64: text.is_none().then(|| BASE64.encode(&entry.raw)),
            truncated: entry.truncated,
            side_object: None,
            source_bytes: entry.span.map(|(a, b)| [a, b]),
        }
    }

    /// Reads one line of a quarantine object.
    pub fn parse(line: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(line)
    }

    /// The record's bytes as kept (`None` when `raw_base64` is not base64).
    pub fn raw_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match (&self.raw, &self.raw_base64) {
            (Some(text), _) => Some(Cow::Borrowed(text.as_bytes())),
            (None, Some(b64)) => BASE64.decode(b64).ok().map(Cow::Owned),
            (None, None) => Some(Cow::Borrowed(&[])),
        }
    }
}

/// The length of `text` as a JSON string's contents: control characters take six
/// bytes (`\u0000`) or two (`\n`), quotes and backslashes two.
fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

/// Appends the JSON line for `entry` (with its trailing `\n`) to `out`.
pub fn encode_entry(
    out: &mut Vec<u8>,
    stage: Stage,
    source: &SourceObject,
    entry: &QuarantineEntry,
) {
    encode_with_side(out, stage, source, entry, None);
}

fn encode_with_side(
    out: &mut Vec<u8>,
    stage: Stage,
    source: &SourceObject,
    entry: &QuarantineEntry,
    side_object: Option<&str>,
) {
    let mut record = QuarantineRecord::new(stage, source, entry);
    record.side_object = side_object.map(Cow::Borrowed);
    // Serializing plain strings and numbers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &record).is_ok() {
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

    /// Stores every byte of the record at `line` that was too long to keep in its
    /// entry (`head`, then the bytes of `rest`) as that entry's side object; returns
    /// the URI written. The name is deterministic, so a re-run overwrites it.
    async fn put_side(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        line: u64,
        head: Bytes,
        rest: Overflow,
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
        self.object_path(stage, source, dt, &format!("{part}.jsonl"))
    }

    /// The object path of the side object of the record at `line`.
    pub fn side_path(&self, stage: Stage, source: &SourceObject, dt: NaiveDate, line: u64) -> Path {
        self.object_path(stage, source, dt, &format!("line{line}.raw"))
    }

    /// `<stage>/dt=<dt>/<file>-<digest>-<suffix>` under the quarantine.
    fn object_path(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        suffix: &str,
    ) -> Path {
        let name = format!(
            "{}-{}-{suffix}",
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

    async fn put_side(
        &self,
        stage: Stage,
        source: &SourceObject,
        dt: NaiveDate,
        line: u64,
        head: Bytes,
        rest: Overflow,
    ) -> Result<String, QuarantineError> {
        let path = self.side_path(stage, source, dt, line);
        let uri = self.location.uri_of(&path);
        let failed = |source| QuarantineError {
            uri: uri.clone(),
            source,
        };
        let upload = self
            .location
            .store
            .put_multipart(&path)
            .await
            .map_err(failed)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, SIDE_PART_BYTES);
        writer.put(head);
        // The rest from its temporary file, a part at a time (memory stays bounded).
        let mut file = rest.file;
        let io_failed = |e: std::io::Error| {
            failed(object_store::Error::Generic {
                store: "quarantine",
                source: Box::new(e),
            })
        };
        std::io::Seek::rewind(&mut file).map_err(io_failed)?;
        loop {
            let (back, chunk) = tokio::task::spawn_blocking(move || {
                let mut chunk = vec![0u8; SIDE_PART_BYTES];
                let n = std::io::Read::read(&mut file, &mut chunk);
                (
                    file,
                    n.map(|n| {
                        chunk.truncate(n);
                        chunk
                    }),
                )
            })
            .await
            .map_err(|e| {
                failed(object_store::Error::Generic {
                    store: "quarantine",
                    source: Box::new(e),
                })
            })?;
            file = back;
            let chunk = chunk.map_err(io_failed)?;
            if chunk.is_empty() {
                break;
            }
            writer.wait_for_capacity(4).await.map_err(failed)?;
            writer.put(Bytes::from(chunk));
        }
        writer.finish().await.map_err(failed)?;
        Ok(uri)
    }
}

/// Size of the parts a side object is uploaded in.
const SIDE_PART_BYTES: usize = 8 * 1024 * 1024;

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

    /// Adds one rejected record whose bytes past the keep limit are in `rest`: they
    /// go, with the entry's, to a side object that the entry names.
    pub async fn push_whole(
        &mut self,
        entry: &QuarantineEntry,
        rest: Overflow,
    ) -> Result<(), QuarantineError> {
        let side = self
            .target
            .put_side(
                self.stage,
                &self.source,
                self.dt,
                entry.line,
                entry.raw.clone(),
                rest,
            )
            .await?;
        encode_with_side(&mut self.buf, self.stage, &self.source, entry, Some(&side));
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
    fn every_kind_and_stage_reads_back_as_written() {
        let kinds = [
            RejectKind::Malformed,
            RejectKind::NotAnObject,
            RejectKind::InvalidUtf8,
            RejectKind::TooLarge,
            RejectKind::ReservedField,
            RejectKind::Unreadable,
            RejectKind::Contract,
            RejectKind::Undelivered,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            for stage in [Stage::Ingest, Stage::Convert] {
                let entry = QuarantineEntry {
                    kind,
                    error: format!("reason \"{i}\"\n"),
                    line: i as u64 + 1,
                    raw: Bytes::from(if i % 2 == 0 {
                        b"{\"a\":\"\\u00e9\"}".to_vec()
                    } else {
                        vec![0xff, 0, b'{', 0xfe]
                    }),
                    truncated: i % 3 == 0,
                    span: None,
                };
                let mut out = Vec::new();
                encode_entry(&mut out, stage, &source(), &entry);
                assert_eq!(out.last(), Some(&b'\n'));
                let read = QuarantineRecord::parse(&out[..out.len() - 1]).unwrap();
                assert_eq!(read, QuarantineRecord::new(stage, &source(), &entry));
                assert_eq!(read.kind, kind);
                assert_eq!(read.stage, stage);
                assert_eq!(read.raw_bytes().as_deref(), Some(&entry.raw[..]));
                assert_eq!(read.truncated, entry.truncated);
            }
        }
        assert!(!RejectKind::Undelivered.is_bad_data());
        assert!(RejectKind::Contract.is_bad_data());
    }

    #[test]
    fn bytes_that_escape_badly_are_kept_as_base64() {
        let mut raw = b"{\"a\":\"".to_vec();
        raw.extend(std::iter::repeat_n(0u8, 10_000));
        raw.extend_from_slice(b"\"}");
        let entry = QuarantineEntry {
            kind: RejectKind::Malformed,
            error: "e".into(),
            line: 1,
            raw: Bytes::from(raw.clone()),
            truncated: false,
            span: None,
        };
        let mut out = Vec::new();
        encode_entry(&mut out, Stage::Ingest, &source(), &entry);
        assert!(
            out.len() < raw.len() * 14 / 10,
            "{} bytes for {}",
            out.len(),
            raw.len()
        );
        let read = QuarantineRecord::parse(out.trim_ascii_end()).unwrap();
        assert!(read.raw.is_none());
        assert_eq!(read.raw_bytes().as_deref(), Some(&raw[..]));
        // Ordinary JSON stays readable text.
        let plain = QuarantineEntry {
            raw: Bytes::from_static(b"{\"a\": \"line\\nbreak \\\"q\\\"\"}"),
            ..entry
        };
        let mut out = Vec::new();
        encode_entry(&mut out, Stage::Ingest, &source(), &plain);
        let read = QuarantineRecord::parse(out.trim_ascii_end()).unwrap();
        assert!(read.raw.is_some());
    }

    #[test]
    fn a_line_of_another_shape_is_refused() {
        assert!(QuarantineRecord::parse(b"{\"error\":\"x\"}").is_err());
        let mut out = Vec::new();
        let entry = QuarantineEntry {
            kind: RejectKind::Malformed,
            error: "e".into(),
            line: 1,
            raw: Bytes::from_static(b"x"),
            truncated: false,
            span: None,
        };
        encode_entry(&mut out, Stage::Ingest, &source(), &entry);
        let mut value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        value["surprise"] = serde_json::json!(1);
        let changed = serde_json::to_vec(&value).unwrap();
        assert!(
            QuarantineRecord::parse(&changed).is_err(),
            "unknown fields are refused"
        );
        value["kind"] = serde_json::json!("reworded");
        assert!(QuarantineRecord::parse(&serde_json::to_vec(&value).unwrap()).is_err());
    }

    #[test]
    fn entries_keep_text_as_text_and_bytes_as_base64() {
        let mut out = Vec::new();
        let ok = QuarantineEntry {
            kind: RejectKind::Malformed,
            error: "bad".into(),
            line: 3,
            raw: Bytes::from_static(b"{\"a\":"),
            truncated: false,
            span: None,
        };
        let bin = QuarantineEntry {
            kind: RejectKind::InvalidUtf8,
            error: "utf8".into(),
            line: 4,
            raw: Bytes::from_static(&[0xff, b'{']),
            truncated: true,
            span: None,
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
                kind: RejectKind::Contract,
                error: "e".into(),
                line,
                raw: Bytes::from_static(b"x"),
                truncated: false,
                span: None,
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
