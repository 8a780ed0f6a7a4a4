//! Decoding one chunk of records: each record parsed once, straight into the
//! column buffers ([`RecordDecoder::append`]); a record that does not fit is taken
//! out again and decoded by the exact path, which says why. The chunk's rows are cut
//! per `dt` at the end (most chunks hold one).

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;

use feedpipe_shared::quarantine::{QuarantineEntry, RejectKind};

use super::ConvertError;
use super::pipeline::Message;
use crate::columns::ColumnBuf;
use crate::decode::{RawOrigin, RecordDecoder};

/// Consecutive records of one raw object and one table, copied out of the
/// reader's buffer.
pub(super) struct Chunk {
    pub origin: Arc<RawOrigin>,
    /// The table's index in the conversion.
    pub table: usize,
    /// The records' bytes, back to back.
    pub text: Vec<u8>,
    /// One per record, in order; each ends where the next starts.
    pub items: Vec<ChunkItem>,
}

pub(super) struct ChunkItem {
    pub line: u64,
    pub end: usize,
    /// For what the framing refused: why, and whether it is cut short.
    pub bad: Option<Refused>,
}

/// What the framing refused.
pub(super) struct Refused {
    pub kind: RejectKind,
    pub reason: String,
    pub truncated: bool,
}

/// What a decoder made of one piece of work.
pub(super) struct Decoded {
    pub messages: Vec<Message>,
    /// The table the records are of.
    pub table: usize,
    pub records: u64,
}

/// `reason`, naming the customer's file and line when the raw record carries
/// lineage (ingest frames every record with it): a convert quarantine entry's own
/// `source` and `line` are the raw object's.
fn with_origin(reason: String, record: &str) -> String {
    #[derive(Deserialize)]
    struct Lineage {
        #[serde(rename = "_source_uri")]
        uri: Option<String>,
        #[serde(rename = "_source_line")]
        line: Option<u64>,
    }
    match serde_json::from_str::<Lineage>(record) {
        Ok(Lineage {
            uri: Some(uri),
            line: Some(line),
        }) => format!("{reason} (source {uri}, line {line})"),
        _ => reason,
    }
}

/// Decodes one chunk: a batch per `dt` (in date order), then its rejects (in line
/// order), and the records counted (a line may hold several, `{..}{..}`).
///
/// Records are appended to the thread's column buffers (empty between chunks) in line order,
/// with their `dt` beside; the batch is cut per `dt` at the end (most chunks hold one).
pub(super) fn decode_chunk(
    chunk: &Chunk,
    decoder: &RecordDecoder,
    schema: &SchemaRef,
    buffers: &mut [ColumnBuf],
) -> Result<Decoded, ConvertError> {
    let mut dts: Vec<NaiveDate> = Vec::with_capacity(chunk.items.len());
    let mut rejected = Vec::new();
    let mut records = 0u64;
    let mut start = 0;
    for item in &chunk.items {
        let bytes = &chunk.text[start..item.end];
        start = item.end;
        let line = item.line;
        let mut reject = |raw: &[u8], kind: RejectKind, error: String, truncated: bool| {
            rejected.push(Message::Rejected(
                chunk.table,
                QuarantineEntry {
                    kind,
                    error,
                    line,
                    raw: Bytes::copy_from_slice(raw),
                    truncated,
                    span: None,
                },
            ));
        };
        if let Some(bad) = &item.bad {
            records += 1;
            reject(bytes, bad.kind, bad.reason.clone(), bad.truncated);
            continue;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                records += 1;
                reject(
                    bytes,
                    RejectKind::InvalidUtf8,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    false,
                );
                continue;
            }
        };
        // The common case: one object on the line, parsed once into the buffers.
        if let Some(dt) = decoder.append(text, line, &chunk.origin, buffers) {
            records += 1;
            dts.push(dt);
            continue;
        }
        let mut keep = |decoded: crate::decode::DecodedRecord<'_>| {
            for (buf, cell) in buffers.iter_mut().zip(decoded.cells) {
                buf.push(cell);
            }
            dts.push(decoded.dt);
        };
        // Otherwise the exact path decides, and says why a record does not fit.
        if let Some(decoded) = decoder.decode_line(text, line, &chunk.origin) {
            records += 1;
            match decoded {
                Ok(decoded) => keep(decoded),
                Err(e) => reject(text.as_bytes(), e.kind, with_origin(e.reason, text), false),
            }
            continue;
        }
        // One line may hold several objects written back to back (`{..}{..}`).
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        loop {
            let at = values.byte_offset();
            match values.next() {
                None => break,
                Some(Ok(value)) => {
                    records += 1;
                    match decoder.decode(value.get(), line, &chunk.origin) {
                        Ok(decoded) => keep(decoded),
                        Err(e) => reject(
                            value.get().as_bytes(),
                            e.kind,
                            with_origin(e.reason, value.get()),
                            false,
                        ),
                    }
                }
                Some(Err(e)) => {
                    records += 1;
                    reject(
                        &text.as_bytes()[at..],
                        RejectKind::Malformed,
                        format!("malformed JSON: {e}"),
                        false,
                    );
                    break;
                }
            }
        }
    }
    let mut messages = Vec::with_capacity(rejected.len() + 1);
    if !dts.is_empty() {
        let failed = |e: arrow_schema::ArrowError| ConvertError::Read {
            uri: chunk.origin.source.uri.clone(),
            source: io::Error::other(format!(
                "building an Arrow batch (lines {}..={}): {e}",
                chunk.items.first().map_or(0, |i| i.line),
                chunk.items.last().map_or(0, |i| i.line)
            )),
        };
        let batch = buffers
            .iter_mut()
            .map(ColumnBuf::finish)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|arrays| RecordBatch::try_new(Arc::clone(schema), arrays))
            .map_err(failed)?;
        if dts.iter().all(|dt| *dt == dts[0]) {
            messages.push(Message::Batch(chunk.table, dts[0], batch));
        } else {
            let mut rows: BTreeMap<NaiveDate, Vec<u32>> = BTreeMap::new();
            for (row, dt) in dts.iter().enumerate() {
                rows.entry(*dt).or_default().push(row as u32);
            }
            for (dt, rows) in rows {
                let part = arrow_select::take::take_record_batch(
                    &batch,
                    &arrow_array::UInt32Array::from(rows),
                )
                .map_err(failed)?;
                messages.push(Message::Batch(chunk.table, dt, part));
            }
        }
    }
    messages.extend(rejected);
    Ok(Decoded {
        messages,
        table: chunk.table,
        records,
    })
}
