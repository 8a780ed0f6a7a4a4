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
use feedpipe_shared::quarantine::QuarantineEntry;
use feedpipe_shared::storage::{Expected, OpenedObject, open_expected};

use super::chunk::{Chunk, ChunkItem, Decoded, Refused, decode_chunk};
use super::{ConvertConfig, ConvertError, RawInput};
use crate::columns::ColumnBuf;
use crate::decode::{RawOrigin, RecordDecoder};

/// What the pipeline hands to the writers, in input order.
pub(super) enum Message {
    /// The next input object is being read (its rejects follow).
    Start(SourceObject, object_store::ObjectMeta),
    /// Rows of one `dt`.
    Batch(NaiveDate, RecordBatch),
    /// A record that does not fit, with the reason.
    Rejected(QuarantineEntry),
}

/// Bytes of raw records in one [`Chunk`] (at most, past the record that crosses it).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Work for the decoder threads, handed out round-robin in input order.
enum Work {
    /// The next input object starts: passed through as [`Message::Start`].
    Start(SourceObject, object_store::ObjectMeta),
    /// Consecutive records of one object.
    Chunk(Chunk),
}

/// The blocking half over a group, returning the records read. Three kinds of
/// thread: this one opens each object in turn and cuts it into chunks of records
/// (framing only); `decode_threads` decoders turn chunks into Arrow batches per
/// `dt` and quarantine entries; a collector takes their results back in chunk
/// order and hands them to the writers. Work goes round-robin and comes back the
/// same way, so the output's order, and so its bytes, do not depend on timing.
/// Channels of one slot bound the chunks in flight.
pub(super) fn read_objects(
    handle: &tokio::runtime::Handle,
    inputs: &[RawInput],
    decoder: &RecordDecoder,
    schema: &SchemaRef,
    config: &ConvertConfig,
    tx: &mpsc::Sender<Vec<Message>>,
) -> Result<u64, ConvertError> {
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
                let mut buffers = ColumnBuf::for_columns(decoder.columns());
                for work in work_rx {
                    let done = match work {
                        Work::Start(source, meta) => Ok(Decoded {
                            messages: vec![Message::Start(source, meta)],
                            records: 0,
                        }),
                        Work::Chunk(chunk) => {
                            let done = decode_chunk(&chunk, decoder, schema, &mut buffers);
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
        let collect = move || -> Result<u64, ConvertError> {
            let mut records = 0;
            // A decoder's channel closes only after its last work, and work went
            // round-robin: the first closed channel in turn is the end.
            for turn in 0.. {
                let Ok(done) = done_rxs[turn % done_rxs.len()].recv() else {
                    break;
                };
                let done = done?;
                records += done.records;
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
        let read = read_into(handle, inputs, config, &work_txs, &spare_rx);
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
        match chunk_object(body, config, &origin, spare, &mut send) {
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
/// about [`CHUNK_BYTES`]) and sends them. `Ok(false)` when the decoders have gone.
fn chunk_object(
    body: Box<dyn io::Read + Send>,
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
    let new_chunk = || Chunk {
        origin: Arc::clone(origin),
        text: spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_BYTES + 64 * 1024)),
        items: Vec::with_capacity(rows.min(8192)),
    };
    let mut chunk = new_chunk();
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
        chunk.text.extend_from_slice(bytes);
        chunk.items.push(ChunkItem {
            line,
            end: chunk.text.len(),
            bad,
        });
        if (chunk.items.len() >= rows || chunk.text.len() >= CHUNK_BYTES)
            && !send(Work::Chunk(std::mem::replace(&mut chunk, new_chunk())))
        {
            return Ok(false);
        }
    }
    Ok(chunk.items.is_empty() || send(Work::Chunk(chunk)))
}
