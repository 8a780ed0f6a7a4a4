//! The threads of one conversion: a reader that frames raw objects into chunks of
//! records, `decode_threads` decoders that turn chunks into Arrow batches per `dt`
//! and quarantine entries ([`super::chunk`]), and a collector that hands their
//! results to the async writers in input order.
//!
//! Work goes round-robin and comes back the same way, so the output's order, and so
//! its bytes, do not depend on timing. Channels of one slot bound the chunks in
//! flight, so memory is bounded whatever the object's size.

use std::io;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::NaiveDate;
use tokio::sync::mpsc;

use feedpipe_shared::feed::{FeedError, FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::{QuarantineEntry, RejectKind};
use feedpipe_shared::storage::{Expected, OpenedObject, open_expected};

use super::chunk::{Chunk, ChunkItem, Decoded, Refused, decode_chunk};
use super::{ConvertConfig, ConvertError, RawInput};
use crate::columns::ColumnBuf;
use crate::decode::{RawOrigin, RecordDecoder};

/// What the pipeline hands to the writers, in input order.
pub(super) enum Message {
    /// The next input object is being read (its rejects follow), for every table.
    Start(SourceObject, object_store::ObjectMeta),
    /// Rows of one `dt` of one table (its index in the conversion's tables).
    Batch(usize, NaiveDate, RecordBatch),
    /// A record of one table that does not fit, with the reason.
    Rejected(usize, QuarantineEntry),
}

/// One table of a conversion: how its records are decoded.
pub(super) struct TableDecoder {
    pub decoder: Arc<RecordDecoder>,
    pub schema: SchemaRef,
}

/// Which table a record goes to, from its source file's URI (`_source_uri`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// The table of this index.
    Table(usize),
    /// A table this conversion does not write (`--table` chose others).
    Skip,
    /// No feed has it.
    NoFeed,
}

/// A conversion's routing rule: source URI → table.
pub type RouteFn = dyn Fn(&str) -> Routing + Send + Sync;

/// How the records of a raw object holding several feeds are split between tables.
#[derive(Clone)]
pub(crate) struct Routes {
    pub route: Arc<RouteFn>,
    /// The table whose quarantine takes the records of no feed (`None`: not this
    /// conversion's, another one takes them).
    pub unrouted_to: Option<usize>,
}

/// The URI in a raw record's `_source_uri`. Ingest frames it first
/// (`{"_source_uri":"…",`), read straight off the bytes when it has no escape; any
/// other record is parsed for it.
fn source_uri_of(record: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    const LEAD: &[u8] = b"{\"_source_uri\":\"";
    if let Some(rest) = record.strip_prefix(LEAD)
        && let Some(end) = rest.iter().position(|b| *b == b'"' || *b == b'\\')
        && rest[end] == b'"'
    {
        return std::str::from_utf8(&rest[..end]).ok().map(Into::into);
    }
    #[derive(serde::Deserialize)]
    struct Lineage {
        #[serde(rename = "_source_uri")]
        uri: Option<String>,
    }
    serde_json::from_slice::<Lineage>(record)
        .ok()
        .and_then(|l| l.uri)
        .map(Into::into)
}

impl Routes {
    /// The table of `record` and, for a record of no feed, why it is refused;
    /// `None` when no table of this conversion takes it. `last` caches the last
    /// URI's routing: a raw object holds long runs of one source file.
    fn target(
        &self,
        record: &[u8],
        last: &mut Option<(String, Routing)>,
    ) -> Option<(usize, Option<Refused>)> {
        let Some(uri) = source_uri_of(record) else {
            return self.unrouted_to.map(|t| {
                (
                    t,
                    Some(Refused {
                        kind: RejectKind::Unrouted,
                        reason: "the record has no `_source_uri`, so no feed can be told for it"
                            .into(),
                        truncated: false,
                    }),
                )
            });
        };
        let routing = match last {
            Some((seen, routing)) if *seen == *uri => *routing,
            _ => {
                let routing = (self.route)(&uri);
                *last = Some((uri.to_string(), routing));
                routing
            }
        };
        match routing {
            Routing::Table(t) => Some((t, None)),
            Routing::Skip => None,
            Routing::NoFeed => self.unrouted_to.map(|t| {
                (
                    t,
                    Some(Refused {
                        kind: RejectKind::Unrouted,
                        reason: format!("no feed for key of `{uri}` in the feeds file"),
                        truncated: false,
                    }),
                )
            }),
        }
    }
}

/// Bytes of raw records in one [`Chunk`] (at most, past the record that crosses it).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Work for the decoder threads, handed out round-robin in input order.
enum Work {
    /// The next input object starts: passed through as [`Message::Start`].
    Start(SourceObject, object_store::ObjectMeta),
    /// Consecutive records of one object and table.
    Chunk(Chunk),
}

/// The blocking half over a group, returning the records read. Three kinds of
/// thread: this one opens each object in turn and cuts it into chunks of records
/// (framing only); `decode_threads` decoders turn chunks into Arrow batches per
/// `dt` and quarantine entries; a collector takes their results back in chunk
/// order and hands them to the writers. Work goes round-robin and comes back the
/// same way, so the output's order, and so its bytes, do not depend on timing.
/// Channels of one slot bound the chunks in flight.
///
/// With `routes`, each record goes to its table's chunks (a raw object may hold
/// several feeds); without, every record is table 0's. Returns the records read per
/// table.
pub(super) fn read_objects(
    handle: &tokio::runtime::Handle,
    inputs: &[RawInput],
    tables: &[TableDecoder],
    routes: Option<&Routes>,
    config: &ConvertConfig,
    tx: &mpsc::Sender<Vec<Message>>,
) -> Result<Vec<u64>, ConvertError> {
    let threads = config.decode_threads.max(1);
    let group_uri = || inputs.first().map(|i| i.location.uri()).unwrap_or_default();
    std::thread::scope(|scope| {
        let mut work_txs = Vec::with_capacity(threads);
        let mut done_rxs = Vec::with_capacity(threads);
        // Chunk buffers go back to the reader once decoded, to be filled again.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..threads {
            let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Work>(1);
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            let spare_tx = spare_tx.clone();
            let decode = move || {
                // Each table's column buffers, made when its first chunk comes.
                let mut buffers: Vec<Option<Vec<ColumnBuf>>> =
                    tables.iter().map(|_| None).collect();
                for work in work_rx {
                    let done = match work {
                        Work::Start(source, meta) => Ok(Decoded {
                            messages: vec![Message::Start(source, meta)],
                            table: 0,
                            records: 0,
                        }),
                        Work::Chunk(chunk) => {
                            let table = &tables[chunk.table];
                            let buffers = buffers[chunk.table].get_or_insert_with(|| {
                                ColumnBuf::for_columns(table.decoder.columns())
                            });
                            let done = decode_chunk(&chunk, &table.decoder, &table.schema, buffers);
                            let mut text = chunk.text;
                            text.clear();
                            let _ = spare_tx.send(text);
                            done
                        }
                    };
                    let failed = done.is_err();
                    if done_tx.send(done).is_err() || failed {
                        break;
                    }
                }
            };
            spawn_named(scope, "feedpipe-decode", decode).map_err(|e| ConvertError::Internal {
                uri: group_uri(),
                reason: format!("cannot start a decoder thread: {e}"),
            })?;
            work_txs.push(work_tx);
            done_rxs.push(done_rx);
        }
        let collect = move || -> Result<Vec<u64>, ConvertError> {
            let mut records = vec![0; tables.len()];
            // A decoder's channel closes only after its last work, and work went
            // round-robin: the first closed channel in turn is the end.
            for turn in 0.. {
                let Ok(done) = done_rxs[turn % done_rxs.len()].recv() else {
                    break;
                };
                let done = done?;
                records[done.table] += done.records;
                if tx.blocking_send(done.messages).is_err() {
                    return Ok(records);
                }
            }
            Ok(records)
        };
        let collector = spawn_named(scope, "feedpipe-collect", collect).map_err(|e| {
            ConvertError::Internal {
                uri: group_uri(),
                reason: format!("cannot start the collector thread: {e}"),
            }
        })?;
        drop(spare_tx);
        let read = read_into(
            handle,
            inputs,
            tables.len(),
            routes,
            config,
            &work_txs,
            &spare_rx,
        );
        drop(work_txs);
        let collected = collector.join().map_err(|_| ConvertError::Internal {
            uri: group_uri(),
            reason: "the collector thread panicked".into(),
        })?;
        read.and(collected)
    })
}

/// A scoped thread named `name` (named for profilers and debuggers).
fn spawn_named<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f)
}

/// Opens each input in turn and hands its records to the decoders, chunk by chunk.
/// Returns early (`Ok`) when the decoders have gone (an error they report, or the
/// writers gone).
fn read_into(
    handle: &tokio::runtime::Handle,
    inputs: &[RawInput],
    tables: usize,
    routes: Option<&Routes>,
    config: &ConvertConfig,
    work: &[std::sync::mpsc::SyncSender<Work>],
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<(), ConvertError> {
    let mut turn = 0usize;
    let mut send = |w: Work| {
        let sent = work[turn % work.len()].send(w).is_ok();
        turn += 1;
        sent
    };
    for input in inputs {
        let OpenedObject { meta, source, body } = handle
            .block_on(open_expected(
                &input.location,
                Expected {
                    version: input.version_id.as_deref(),
                    e_tag: input.e_tag.as_deref(),
                },
            ))
            .map_err(ConvertError::from)?;
        let uri = source.uri.clone();
        if let Some(listed) = &input.listed_version
            && *listed != source.version
        {
            return Err(ConvertError::Read {
                uri,
                source: io::Error::other(format!(
                    "changed since it was listed (version {listed} listed, {} now); list again",
                    source.version
                )),
            });
        }
        let origin = Arc::new(RawOrigin {
            source: source.clone(),
            written_at_micros: meta.last_modified.timestamp_micros(),
        });
        if !send(Work::Start(source, meta)) {
            return Ok(());
        }
        match chunk_object(body, tables, routes, config, &origin, spare, &mut send) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                return Err(ConvertError::Read {
                    uri,
                    source: io::Error::new(e.source.kind(), e.to_string()),
                });
            }
        }
    }
    Ok(())
}

/// Frames one object's records into chunks of at most `batch_rows` records (or
/// about [`CHUNK_BYTES`]) of one table each, and sends them: a table's chunk goes
/// when it is full, and at the end of the object every table's rest, in table
/// order, so each table's chunks depend only on its own records.
/// `Ok(false)` when the decoders have gone.
fn chunk_object(
    body: Box<dyn io::Read + Send>,
    tables: usize,
    routes: Option<&Routes>,
    config: &ConvertConfig,
    origin: &Arc<RawOrigin>,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    send: &mut impl FnMut(Work) -> bool,
) -> Result<bool, FeedError> {
    let feed = open_feed(body).map_err(|source| FeedError { line: 0, source })?;
    let mut reader = FeedReader::new(feed, config.keep_limit)?;
    let rows = config.batch_rows.max(1);
    // A decoded chunk's buffer when there is one, else one sized once: growing by
    // doubling would copy and fault in each chunk twice.
    let new_chunk = |table: usize| Chunk {
        origin: Arc::clone(origin),
        table,
        text: spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_BYTES + 64 * 1024)),
        items: Vec::with_capacity(rows.min(8192)),
    };
    let mut chunks: Vec<Option<Chunk>> = (0..tables).map(|_| None).collect();
    let mut last_route = None;
    while let Some(item) = reader.next_item()? {
        let (line, bytes, bad) = match item {
            FeedItem::Record { line, bytes } => (line, bytes, None),
            FeedItem::Bad {
                line,
                bytes,
                truncated,
                reason,
                kind,
            } => (
                line,
                bytes,
                Some(Refused {
                    kind,
                    reason,
                    truncated,
                }),
            ),
        };
        let (table, bad) = match routes {
            None => (0, bad),
            Some(routes) => match routes.target(bytes, &mut last_route) {
                None => continue,
                // Refused by the framing already: that reason stands.
                Some((table, unrouted)) => (table, bad.or(unrouted)),
            },
        };
        let chunk = chunks[table].get_or_insert_with(|| new_chunk(table));
        chunk.text.extend_from_slice(bytes);
        chunk.items.push(ChunkItem {
            line,
            end: chunk.text.len(),
            bad,
        });
        if (chunk.items.len() >= rows || chunk.text.len() >= CHUNK_BYTES)
            && let Some(full) = chunks[table].take()
            && !send(Work::Chunk(full))
        {
            return Ok(false);
        }
    }
    for chunk in chunks.into_iter().flatten() {
        if !chunk.items.is_empty() && !send(Work::Chunk(chunk)) {
            return Ok(false);
        }
    }
    Ok(true)
}
