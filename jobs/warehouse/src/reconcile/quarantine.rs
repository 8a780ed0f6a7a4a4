//! Step 3: every quarantine entry, read as the [`QuarantineRecord`] it was written
//! as, and matched to the source record it stands for.

use std::collections::HashMap;

use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::{QuarantineRecord, RejectKind, Stage};
use feedpipe_shared::storage::StorageLocation;
use object_store::ObjectStoreExt;

use super::report::Report;
use super::{Index, ReconcileError, list, parse_id, read_whole};

/// Enters every entry of the quarantine under `quarantine` in `index`, for the
/// record it names; entries that name no source record end in
/// `report.unattributed` (in the tally), lines that are no quarantine record go to
/// `report.unreadable`. Returns the files quarantined whole as unrouted, by
/// (URI, version), with the reason: their records are not matched.
pub(super) async fn read_quarantine(
    quarantine: &StorageLocation,
    index: &mut Index,
    report: &mut Report,
) -> Result<Unrouted, ReconcileError> {
    let mut unrouted = Unrouted::new();
    for meta in list(quarantine).await? {
        if !meta.location.as_ref().ends_with(".jsonl") {
            continue;
        }
        let (uri, bytes) = read_whole(quarantine, &meta.location).await?;
        for (n, text) in bytes.split(|b| *b == b'\n').enumerate() {
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            report.quarantine_entries += 1;
            let entry = match QuarantineRecord::parse(text) {
                Ok(e) => e,
                Err(e) => {
                    report.unreadable.push((
                        uri.clone(),
                        n as u64 + 1,
                        format!("not a quarantine record: {e}"),
                    ));
                    continue;
                }
            };
            if entry.kind == RejectKind::Unrouted {
                let file = (entry.source.into_owned(), entry.source_version.into_owned());
                unrouted.insert(file, entry.error.into_owned());
                continue;
            }
            if let Some(lost) = kept_nowhere(quarantine, &entry).await {
                report.lost_bytes.push((uri.clone(), n as u64 + 1, lost));
            }
            let reason = format!(
                "names no source record ({} line {}: {})",
                entry.source, entry.line, entry.error
            );
            let bad = entry.kind.is_bad_data();
            index.add_quarantine(record_id(&entry), bad, &uri, n as u64 + 1, reason);
            index.spill_if_full().await?;
        }
    }
    Ok(unrouted)
}

/// Files no feed takes, by (URI, version): why.
pub(super) type Unrouted = HashMap<(String, String), String>;

/// For an entry that keeps its record cut: what of it is kept nowhere, unless its side
/// object (checked when it lies under `quarantine`) holds the whole record. With the
/// record's place in its source (ingest entries), the bytes lost are named, and a side
/// object must hold exactly that many.
async fn kept_nowhere(
    quarantine: &StorageLocation,
    entry: &QuarantineRecord<'_>,
) -> Option<String> {
    let kept = entry.raw_bytes().map_or(0, |b| b.len()) as u64;
    let record = format!("{} line {}", entry.source, entry.line);
    let lost = |held: u64| match entry.source_bytes {
        Some([start, end]) => format!(
            "bytes {}..{end} ({} bytes)",
            start + held,
            end - start - held
        ),
        None => "the rest".to_owned(),
    };
    if !entry.truncated {
        // Whole: the bytes kept are the record's.
        return match entry.source_bytes {
            Some([start, end]) if end - start != kept => Some(format!(
                "{record}: the entry keeps {kept} bytes of a record of {}: {} are kept nowhere",
                end - start,
                lost(kept.min(end - start))
            )),
            _ => None,
        };
    }
    let Some(side) = entry.side_object.as_deref() else {
        return Some(format!(
            "{record}: only its first {kept} bytes are kept and no side object holds {}",
            lost(kept)
        ));
    };
    let whole = entry.source_bytes.map(|[start, end]| end - start);
    let root = quarantine.folder_uri();
    let rel = side.strip_prefix(&root)?;
    let full = match quarantine.path.as_ref() {
        "" => rel.to_owned(),
        prefix => format!("{prefix}/{rel}"),
    };
    let path = object_store::path::Path::parse(full).ok()?;
    match quarantine.store.head(&path).await {
        Ok(meta) if whole.map_or(meta.size >= kept, |w| meta.size == w) => None,
        Ok(meta) => Some(format!(
            "{record}: its side object {side} holds {} bytes, not the {} of the record: {} are kept nowhere",
            meta.size,
            whole.unwrap_or(kept),
            lost(meta.size.min(whole.unwrap_or(kept)))
        )),
        Err(e) => Some(format!(
            "{record}: its side object {side} cannot be read: {e}; {} are kept nowhere",
            lost(kept)
        )),
    }
}

/// The `_record_id` of the source record an entry stands for.
pub(super) fn record_id(entry: &QuarantineRecord<'_>) -> Option<u128> {
    if entry.stage == Stage::Ingest {
        let source = SourceObject {
            uri: entry.source.clone().into_owned(),
            version: entry.source_version.clone().into_owned(),
        };
        return parse_id(&source.record_id(entry.line));
    }
    // Convert: the raw record carries its lineage first; read the id even when the
    // rest of the record is malformed or cut.
    let raw = entry.raw_bytes()?;
    const KEY: &[u8] = b"\"_record_id\":\"";
    let at = raw.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    parse_id(std::str::from_utf8(raw.get(at..at + 32)?).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use feedpipe_shared::quarantine::{QuarantineEntry, RejectKind, encode_entry};

    fn written(stage: Stage, source: &SourceObject, raw: &[u8], kind: RejectKind) -> Vec<u8> {
        let entry = QuarantineEntry {
            kind,
            error: "reworded at will".into(),
            line: 7,
            raw: Bytes::copy_from_slice(raw),
            truncated: false,
            span: None,
        };
        let mut out = Vec::new();
        encode_entry(&mut out, stage, source, &entry);
        out
    }

    #[test]
    fn entries_as_the_writers_write_them_name_their_source_record() {
        let feed = SourceObject {
            uri: "s3://src/orders.jsonl".into(),
            version: "v1".into(),
        };
        let line = written(Stage::Ingest, &feed, b"{\"a\":", RejectKind::Malformed);
        let entry = QuarantineRecord::parse(line.trim_ascii_end()).unwrap();
        assert_eq!(record_id(&entry), parse_id(&feed.record_id(7)));

        // A convert entry names the raw object; its record's own lineage names the feed.
        let raw = SourceObject {
            uri: "s3://raw/2026/11/23/10/x.gz".into(),
            version: "r1".into(),
        };
        let record = format!(
            "{{\"_source_uri\":\"{}\",\"_record_id\":\"{}\",\"total\":\"x\"",
            feed.uri,
            feed.record_id(3)
        );
        for kind in [RejectKind::Contract, RejectKind::Malformed] {
            let line = written(Stage::Convert, &raw, record.as_bytes(), kind);
            let entry = QuarantineRecord::parse(line.trim_ascii_end()).unwrap();
            assert_eq!(record_id(&entry), parse_id(&feed.record_id(3)));
        }
        // Not UTF-8: kept as base64, and still found.
        let mut bytes = record.into_bytes();
        bytes.push(0xff);
        let line = written(Stage::Convert, &raw, &bytes, RejectKind::InvalidUtf8);
        let entry = QuarantineRecord::parse(line.trim_ascii_end()).unwrap();
        assert!(entry.raw.is_none() && entry.raw_base64.is_some());
        assert_eq!(record_id(&entry), parse_id(&feed.record_id(3)));
    }
}
