//! Resuming the files whose ingest an earlier run started and did not finish (a run
//! killed, or a file that failed half way): which of their records are already in raw
//! objects, so that only the others are sent again.
//!
//! The stream and the Firehose stand-in live in the process, so what a killed run had
//! delivered is exactly what its raw objects hold. Every raw record carries its lineage
//! (source URI, version and line), written in front of the customer's bytes by the
//! ingest framer; the raw objects written since the interrupted ingest started are
//! read back for the lineage of the files named by the ledger's markers. A record that
//! was in the stream, or in the stand-in's buffer, when the run died is in no raw
//! object, and is sent again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use feedpipe_convert::backfill;
use feedpipe_ingest::DeliveredLines;
use feedpipe_shared::feed::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::storage::{StorageLocation, open_source};
use serde::Deserialize;

use super::ledger::Interrupted;

/// The lineage at the front of a raw record.
#[derive(Deserialize)]
struct Lineage<'a> {
    #[serde(rename = "_source_uri", borrow)]
    uri: Cow<'a, str>,
    #[serde(rename = "_source_version", borrow)]
    version: Cow<'a, str>,
    #[serde(rename = "_source_line")]
    line: u64,
}

/// Slack for the clocks of the marker's file and the raw objects' (one machine, but
/// file systems round modification times).
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Raw records are at most 1 MiB (the Kinesis limit); longer lines are not ours.
const KEEP_LIMIT: usize = 2 * 1024 * 1024;

/// For each interrupted file, as (URI, version), the lines already in raw objects
/// under `raw`.
pub(super) async fn delivered_lines(
    raw: &StorageLocation,
    interrupted: &[Interrupted],
) -> anyhow::Result<HashMap<(String, String), Arc<DeliveredLines>>> {
    let Some(since) = interrupted.iter().map(|i| i.since).min() else {
        return Ok(HashMap::new());
    };
    let since: DateTime<Utc> = (since - CLOCK_SLACK).into();
    let wanted: HashMap<(String, String), DeliveredLines> = interrupted
        .iter()
        .map(|i| {
            (
                (i.source.uri.clone(), i.source.version.clone()),
                DeliveredLines::new(),
            )
        })
        .collect();
    let mut objects = backfill::list(raw).await?;
    objects.retain(|meta| meta.last_modified >= since);
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    let mut wanted = wanted;
    for meta in objects {
        let location = raw.at(meta.location.clone());
        let uri = location.uri();
        let opened = open_source(&location, None)
            .await
            .with_context(|| format!("cannot read the raw object {uri}"))?;
        wanted = tokio::task::spawn_blocking(move || {
            let mut wanted = wanted;
            scan(opened.body, &mut wanted).with_context(|| format!("cannot read {uri}"))?;
            anyhow::Ok(wanted)
        })
        .await??;
    }
    Ok(wanted
        .into_iter()
        .map(|(source, lines)| (source, Arc::new(lines)))
        .collect())
}

/// Adds the lines of the wanted sources found in one raw object.
fn scan(
    body: Box<dyn std::io::Read + Send>,
    wanted: &mut HashMap<(String, String), DeliveredLines>,
) -> anyhow::Result<()> {
    let mut reader = FeedReader::new(open_feed(body)?, KEEP_LIMIT)?;
    let mut key = (String::new(), String::new());
    while let Some(item) = reader.next_item()? {
        let FeedItem::Record { bytes, .. } = item else {
            continue;
        };
        // Records of other producers (no lineage) are not any file's.
        let Ok(lineage) = serde_json::from_slice::<Lineage>(bytes) else {
            continue;
        };
        if key.0 != lineage.uri || key.1 != lineage.version {
            key = (lineage.uri.into_owned(), lineage.version.into_owned());
        }
        if let Some(lines) = wanted.get_mut(&key) {
            lines.insert(lineage.line);
        }
    }
    Ok(())
}
