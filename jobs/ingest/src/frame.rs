//! `RecordFramer`: one record's bytes → one Kinesis record with lineage.
//!
//! The record must be a JSON object in valid UTF-8. It is parsed once, without
//! building a tree (keys are looked at, values skipped), to check it, find the
//! partition-key field, and refuse the reserved lineage names. The output is the
//! lineage fields followed by the customer's own bytes, untouched but for raw
//! newlines between tokens (in a pretty-printed array element), which become spaces
//! so that every Kinesis record is exactly one line ending in `\n`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use feedpipe_shared::lineage::{self, SourceObject};
use feedpipe_shared::quarantine::RejectKind;

/// Kinesis partition keys are 1 to 256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// One Kinesis record, ready for a `PutRecords` call: one framed record, or several
/// packed together ([`crate::pack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The JSON object with lineage, ending in `\n`; when packed, several such lines
    /// one after another.
    pub data: Bytes,
    /// The partition key chosen for it (when packed, the first record's).
    pub partition_key: String,
    /// Its line (or element) in the source, for error reports; when packed, the
    /// first record's.
    pub line: u64,
    /// When packed, the lines of the records after the first, in order; else empty.
    pub packed_lines: Vec<u64>,
}

impl Record {
    /// One framed record.
    pub fn single(data: Bytes, partition_key: String, line: u64) -> Self {
        Self {
            data,
            partition_key,
            line,
            packed_lines: Vec::new(),
        }
    }

    /// Size as Kinesis counts it against its limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    /// Framed records it holds: 1, or more when packed.
    pub fn count(&self) -> u64 {
        1 + self.packed_lines.len() as u64
    }

    /// The framed records it holds, as (line, bytes with their `\n`), in order. A
    /// packed record is split at its newlines: the framer ends every record with
    /// exactly one, and JSON has none inside a string.
    pub fn members(&self) -> impl Iterator<Item = (u64, Bytes)> + '_ {
        let lines = std::iter::once(self.line).chain(self.packed_lines.iter().copied());
        let mut rest = self.data.clone();
        let packed = !self.packed_lines.is_empty();
        lines.map(move |line| {
            let end = match packed {
                true => memchr::memchr(b'\n', &rest).map_or(rest.len(), |i| i + 1),
                false => rest.len(),
            };
            (line, rest.split_to(end))
        })
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at byte {at} of the record")]
    InvalidUtf8 { at: usize },
    /// Not valid JSON (serde_json's message has the column).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Valid JSON, but not an object.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// The record uses a lineage column name.
    #[error("field `{0}` is reserved for lineage; rename it in the feed")]
    ReservedField(String),
    /// Larger than Kinesis accepts.
    #[error(
        "record is {size} bytes with lineage and partition key; Kinesis accepts at most {limit}"
    )]
    TooLarge { size: usize, limit: usize },
}

impl Reject {
    /// The kind the quarantine records.
    pub fn kind(&self) -> RejectKind {
        match self {
            Reject::InvalidUtf8 { .. } => RejectKind::InvalidUtf8,
            Reject::Malformed(_) => RejectKind::Malformed,
            Reject::NotAnObject(_) => RejectKind::NotAnObject,
            Reject::ReservedField(_) => RejectKind::ReservedField,
            Reject::TooLarge { .. } => RejectKind::TooLarge,
        }
    }
}

/// Frames the records of one source object.
#[derive(Debug, Clone)]
pub struct RecordFramer {
    source: SourceObject,
    partition_field: Option<String>,
    /// `"_source_uri":"…","_source_version":"…","_source_line":` pre-encoded.
    prefix: Vec<u8>,
    /// `,"_ingested_at":"…"` pre-encoded.
    ingested_at: Vec<u8>,
    max_record_bytes: usize,
}

impl RecordFramer {
    /// A framer for `source`; `ingested_at` is the RFC 3339 start time of the run.
    pub fn new(
        source: SourceObject,
        partition_field: Option<String>,
        ingested_at: &str,
        max_record_bytes: usize,
    ) -> Self {
        let mut prefix = Vec::with_capacity(128 + source.uri.len());
        prefix.push(b'{');
        push_field(&mut prefix, lineage::SOURCE_URI, &source.uri);
        prefix.push(b',');
        push_field(&mut prefix, lineage::SOURCE_VERSION, &source.version);
        prefix.extend_from_slice(format!(",\"{}\":", lineage::SOURCE_LINE).as_bytes());
        let mut at = vec![b','];
        push_field(&mut at, lineage::INGESTED_AT, ingested_at);
        Self {
            source,
            partition_field,
            prefix,
            ingested_at: at,
            max_record_bytes,
        }
    }

    /// The source this framer stamps on its records.
    pub fn source(&self) -> &SourceObject {
        &self.source
    }

    /// Frames the record at `line`; `scratch` is reused between calls.
    pub fn frame(&self, line: u64, raw: &[u8], scratch: &mut Vec<u8>) -> Result<Record, Reject> {
        let text = std::str::from_utf8(raw).map_err(|e| Reject::InvalidUtf8 {
            at: e.valid_up_to(),
        })?;
        let scan = scan_object(text, self.partition_field.as_deref()).map_err(|e| match e {
            Reject::Malformed(m) if has_bare_cr(text) => Reject::Malformed(format!(
                "{m}; the line holds carriage returns without line feeds: are its line endings CR only (old Mac)? Save the file with LF or CRLF line endings"
            )),
            other => other,
        })?;
        let record_id = self.source.record_id(line);
        scratch.clear();
        scratch.extend_from_slice(&self.prefix);
        scratch.extend_from_slice(line.to_string().as_bytes());
        scratch.extend_from_slice(b",\"");
        scratch.extend_from_slice(lineage::RECORD_ID.as_bytes());
        scratch.extend_from_slice(b"\":\"");
        scratch.extend_from_slice(record_id.as_bytes());
        scratch.push(b'"');
        scratch.extend_from_slice(&self.ingested_at);
        // The customer's bytes after their opening `{`.
        let body = text.trim_start().trim_end();
        let after_brace = &body.as_bytes()[1..];
        if scan.fields > 0 {
            scratch.push(b',');
        } else {
            // `{ }`: nothing of theirs to keep but the closing brace.
            scratch.push(b'}');
            scratch.push(b'\n');
            return self.finish(line, scratch, scan.partition_key, record_id);
        }
        if memchr::memchr2(b'\n', b'\r', after_brace).is_some() {
            scratch.extend(
                after_brace
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
        } else {
            scratch.extend_from_slice(after_brace);
        }
        scratch.push(b'\n');
        self.finish(line, scratch, scan.partition_key, record_id)
    }

    fn finish(
        &self,
        line: u64,
        data: &[u8],
        key: Option<String>,
        record_id: String,
    ) -> Result<Record, Reject> {
        let partition_key = key
            .filter(|k| !k.is_empty() && k.chars().count() <= MAX_PARTITION_KEY_CHARS)
            .unwrap_or(record_id);
        let size = data.len() + partition_key.len();
        if size > self.max_record_bytes {
            return Err(Reject::TooLarge {
                size,
                limit: self.max_record_bytes,
            });
        }
        Ok(Record::single(
            Bytes::copy_from_slice(data),
            partition_key,
            line,
        ))
    }
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    // Strings serialize without error.
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
}

/// What one pass over a record found.
#[derive(Debug, Default)]
struct ObjectScan {
    fields: usize,
    partition_key: Option<String>,
}

/// Whether `text` holds a `\r` that no `\n` follows (outside what a JSON string may
/// hold, a CR-only line ending).
fn has_bare_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// Checks that `text` is exactly one JSON object, counts its fields, finds the
/// partition-key field's value, and refuses reserved names.
fn scan_object(text: &str, partition_field: Option<&str>) -> Result<ObjectScan, Reject> {
    // A refusal of the visitor's own is put here, typed; serde only sees that it failed.
    let refused = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let visitor = ScanVisitor {
        partition_field,
        refused: &refused,
    };
    let scan = de::Deserializer::deserialize_any(&mut de, visitor).map_err(|e| {
        refused
            .take()
            .unwrap_or_else(|| Reject::Malformed(e.to_string()))
    })?;
    de.end().map_err(|e| Reject::Malformed(e.to_string()))?;
    Ok(scan)
}

struct ScanVisitor<'f> {
    partition_field: Option<&'f str>,
    refused: &'f Cell<Option<Reject>>,
}

impl ScanVisitor<'_> {
    /// Records why the value is refused, and stops the parse.
    fn refuse<E: de::Error>(&self, reject: Reject) -> E {
        self.refused.set(Some(reject));
        E::custom("refused by the framer")
    }
}

impl<'de> Visitor<'de> for ScanVisitor<'_> {
    type Value = ObjectScan;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectScan, A::Error> {
        let mut scan = ObjectScan::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            scan.fields += 1;
            if key.starts_with('_') && lineage::is_lineage_column(&key) {
                return Err(self.refuse(Reject::ReservedField(key.into_owned())));
            }
            match self.partition_field {
                Some(field) if field == key => {
                    let value: &'de RawValue = map.next_value()?;
                    scan.partition_key = key_text(value.get());
                }
                // A dotted path (`customer.id`): looked up in this field's object,
                // unless a field named with the whole path gave the key already.
                Some(field)
                    if field.len() > key.len()
                        && field.starts_with(&*key)
                        && field.as_bytes()[key.len()] == b'.' =>
                {
                    let value: &'de RawValue = map.next_value()?;
                    if scan.partition_key.is_none() {
                        scan.partition_key = nested_key(value.get(), &field[key.len() + 1..]);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(scan)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<ObjectScan, A::Error> {
        Err(self.refuse(Reject::NotAnObject("an array")))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("a string")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("a number")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("a number")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("a number")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("a boolean")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<ObjectScan, E> {
        Err(self.refuse(Reject::NotAnObject("null")))
    }
}

/// The partition key at `path` (dotted) inside the JSON object `raw`: a field named
/// with the whole rest of the path first, else the first segment's object, and so on.
fn nested_key(raw: &str, path: &str) -> Option<String> {
    let fields: std::collections::HashMap<String, &RawValue> = serde_json::from_str(raw).ok()?;
    if let Some(value) = fields.get(path) {
        return key_text(value.get());
    }
    let (head, rest) = path.split_once('.')?;
    nested_key(fields.get(head)?.get(), rest)
}

/// The partition key a field value gives: a string's text, a number or boolean as
/// written; nothing for null, objects and arrays (the record id is used instead).
fn key_text(raw: &str) -> Option<String> {
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<Cow<'_, str>>(raw)
            .ok()
            .map(Cow::into_owned),
        Some(b'{' | b'[' | b'n') | None => None,
        Some(_) => Some(raw.to_owned()),
    }
}

/// Deserializes a map key, borrowing it when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(field: Option<&str>) -> RecordFramer {
        let source = SourceObject {
            uri: "s3://src/a b.jsonl".into(),
            version: "etag1".into(),
        };
        RecordFramer::new(
            source,
            field.map(str::to_owned),
            "2026-11-23T10:00:00.000000Z",
            1 << 20,
        )
    }

    fn frame(f: &RecordFramer, raw: &str) -> Result<Record, Reject> {
        f.frame(7, raw.as_bytes(), &mut Vec::new())
    }

    #[test]
    fn lineage_comes_first_and_customer_bytes_follow_untouched() {
        let f = framer(None);
        let raw = r#"{"z": 1.50, "a": 1e400, "n": {"x": [1, 2]}, "s": "é\u00e9"}"#;
        let r = frame(&f, raw).unwrap();
        let text = std::str::from_utf8(&r.data).unwrap();
        let id = lineage::record_id("s3://src/a b.jsonl", "etag1", 7);
        let expected = format!(
            r#"{{"_source_uri":"s3://src/a b.jsonl","_source_version":"etag1","_source_line":7,"_record_id":"{id}","_ingested_at":"2026-11-23T10:00:00.000000Z","z": 1.50, "a": 1e400, "n": {{"x": [1, 2]}}, "s": "é\u00e9"}}"#
        );
        assert_eq!(text, format!("{expected}\n"));
        assert_eq!(
            r.partition_key, id,
            "no partition field configured: the record id"
        );
        assert_eq!(r.line, 7);
    }

    #[test]
    fn framed_record_is_one_valid_json_line() {
        let f = framer(None);
        let r = frame(&f, "{\n  \"a\": 1,\r\n  \"b\": \"x\"\n}").unwrap();
        assert_eq!(r.data.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(r.data.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["_source_line"], 7);
    }

    #[test]
    fn empty_object_gets_lineage_only() {
        let r = frame(&framer(None), " { } ").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(v.as_object().map(|o| o.len()), Some(5));
    }

    #[test]
    fn partition_key_comes_from_the_configured_field() {
        let f = framer(Some("customer_id"));
        assert_eq!(
            frame(&f, r#"{"customer_id":"C-1\u0041","x":1}"#)
                .unwrap()
                .partition_key,
            "C-1A"
        );
        assert_eq!(
            frame(&f, r#"{"x":{"customer_id":"nested"},"customer_id":42}"#)
                .unwrap()
                .partition_key,
            "42"
        );
        let id = f.source().record_id(7);
        for raw in [
            r#"{"customer_id":null}"#,
            r#"{"customer_id":""}"#,
            r#"{"other":1}"#,
            r#"{"customer_id":{"a":1}}"#,
        ] {
            assert_eq!(frame(&f, raw).unwrap().partition_key, id, "{raw}");
        }
        let long = format!(r#"{{"customer_id":"{}"}}"#, "k".repeat(257));
        assert_eq!(frame(&f, &long).unwrap().partition_key, id);
    }

    #[test]
    fn a_dotted_partition_key_is_looked_up_in_nested_objects() {
        let f = framer(Some("customer.id"));
        let key = |raw: &str| frame(&f, raw).unwrap().partition_key;
        assert_eq!(key(r#"{"customer":{"id":"C-7","name":"x"},"n":1}"#), "C-7");
        assert_eq!(key(r#"{"n":1,"customer":{"tier":{"a":1},"id":12}}"#), "12");
        // A field named with the whole path wins, wherever it stands.
        assert_eq!(
            key(r#"{"customer":{"id":"nested"},"customer.id":"flat"}"#),
            "flat"
        );
        assert_eq!(
            key(r#"{"customer.id":"flat","customer":{"id":"nested"}}"#),
            "flat"
        );
        let id = f.source().record_id(7);
        for raw in [
            r#"{"customer":"C-7"}"#,
            r#"{"customer":{"name":"x"}}"#,
            r#"{"customer":[{"id":"C-7"}]}"#,
            r#"{"customers":{"id":"C-7"}}"#,
        ] {
            assert_eq!(key(raw), id, "{raw}: no such path, the record id");
        }
        let deep = framer(Some("a.b.c"));
        assert_eq!(
            frame(&deep, r#"{"a":{"b":{"c":true}}}"#)
                .unwrap()
                .partition_key,
            "true"
        );
    }

    #[test]
    fn bad_records_are_rejected_with_a_reason() {
        let f = framer(None);
        assert!(matches!(
            f.frame(1, b"{\"a\":\"\xff\"}", &mut Vec::new()),
            Err(Reject::InvalidUtf8 { at: 6 })
        ));
        assert!(matches!(frame(&f, r#"{"a":1"#), Err(Reject::Malformed(m)) if m.contains("EOF")));
        assert!(
            matches!(frame(&f, "{\"a\":1}\r{\"b\":2}\r"), Err(Reject::Malformed(m)) if m.contains("trailing characters") && m.contains("CR only"))
        );
        assert!(
            matches!(frame(&f, r#"{"a":1}{"b":2}"#), Err(Reject::Malformed(m)) if m.contains("trailing characters") && !m.contains("CR only"))
        );
        assert_eq!(frame(&f, "[1,2]"), Err(Reject::NotAnObject("an array")));
        assert_eq!(frame(&f, "\"s\""), Err(Reject::NotAnObject("a string")));
        assert_eq!(frame(&f, "12"), Err(Reject::NotAnObject("a number")));
        assert_eq!(frame(&f, "null"), Err(Reject::NotAnObject("null")));
        assert_eq!(
            frame(&f, r#"{"a":1,"_record_id":"x"}"#),
            Err(Reject::ReservedField("_record_id".into()))
        );
        assert!(
            frame(&f, r#"{"_custom":1}"#).is_ok(),
            "other underscore names are the customer's"
        );
    }

    #[test]
    fn deep_nesting_passes_through_without_recursion() {
        // Values are skipped, not built, so depth costs no stack: 200 levels (the
        // corpus case) and 100 000 levels both pass, byte for byte.
        for depth in [200, 100_000] {
            let deep = format!(
                "{{\"a\":{}1{}}}",
                "[{\"b\":".repeat(depth),
                "}]".repeat(depth)
            );
            let r = frame(&framer(None), &deep).unwrap();
            assert!(
                r.data
                    .ends_with(format!("{}}}\n", "}]".repeat(depth)).as_bytes())
            );
        }
        let broken = format!("{{\"a\":{}1{}}}", "[".repeat(300), "]".repeat(299));
        assert!(matches!(
            frame(&framer(None), &broken),
            Err(Reject::Malformed(_))
        ));
    }

    #[test]
    fn size_limit_counts_data_and_partition_key() {
        let source = SourceObject {
            uri: "u".into(),
            version: "v".into(),
        };
        let probe = RecordFramer::new(source.clone(), None, "t", usize::MAX);
        let raw = r#"{"a":"xxxxxxxxxx"}"#;
        let exact = probe
            .frame(1, raw.as_bytes(), &mut Vec::new())
            .unwrap()
            .size();
        let at_limit = RecordFramer::new(source.clone(), None, "t", exact);
        assert!(at_limit.frame(1, raw.as_bytes(), &mut Vec::new()).is_ok());
        let below = RecordFramer::new(source, None, "t", exact - 1);
        assert_eq!(
            below.frame(1, raw.as_bytes(), &mut Vec::new()),
            Err(Reject::TooLarge {
                size: exact,
                limit: exact - 1
            })
        );
    }
}
