//! The handler: an S3 event in, one ingest run per created object, one summary out.
//!
//! Keys in S3 events are URL-encoded (`+` is a space); they are decoded here. Every
//! object of the event is attempted even when one fails; the invocation then fails
//! with a `Retryable` or `Permanent` error type (an alarm can filter on it), so that
//! Lambda retries it or sends it to the on-failure destination.

use std::sync::Arc;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use lambda_runtime::{Diagnostic, LambdaEvent};

use feedpipe_ingest::{IngestError, IngestJob, IngestSummary};
use feedpipe_shared::s3_key::{KeyError, decode_event_key};
use feedpipe_shared::storage::{BucketResolver, StorageError};

/// What the handler needs, built once at cold start.
pub struct App {
    /// The ingest core, with its sink and quarantine.
    pub job: IngestJob,
    /// Turns event bucket names into stores.
    pub buckets: Arc<dyn BucketResolver>,
}

/// One created object named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRef {
    /// Bucket name.
    pub bucket: String,
    /// Decoded object key.
    pub key: String,
    /// Version id, when the bucket is versioned.
    pub version: Option<String>,
}

/// Why (part of) an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event itself is unusable.
    #[error("bad S3 event record {index}: {reason}")]
    Event { index: usize, reason: String },
    /// A key could not be decoded.
    #[error("bad S3 event record {index}: {source}")]
    Key { index: usize, source: KeyError },
    /// The bucket or key is not a valid location.
    #[error("s3://{bucket}/{key}: {source}")]
    Storage {
        bucket: String,
        key: String,
        source: Box<StorageError>,
    },
    /// The ingest run failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Several objects failed.
    #[error("{} of the event's objects failed: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<HandlerError>),
}

impl HandlerError {
    /// Whether Lambda retrying the event may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Event { .. }
            | HandlerError::Key { .. }
            | HandlerError::Storage { .. } => false,
            HandlerError::Ingest(e) => e.is_retryable(),
            HandlerError::Several(all) => all.iter().any(HandlerError::is_retryable),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = if e.is_retryable() {
            "Retryable"
        } else {
            "Permanent"
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// The created object a record names; `None` for records that are not `ObjectCreated`
/// or name a folder marker (a key ending in `/`).
pub fn feed_ref(index: usize, record: &S3EventRecord) -> Result<Option<FeedRef>, HandlerError> {
    let name = record.event_name.as_deref().unwrap_or_default();
    if !name.starts_with("ObjectCreated") && !name.starts_with("s3:ObjectCreated") {
        return Ok(None);
    }
    let bucket = record
        .s3
        .bucket
        .name
        .clone()
        .ok_or_else(|| HandlerError::Event {
            index,
            reason: "no bucket name".into(),
        })?;
    let raw_key = record
        .s3
        .object
        .key
        .as_deref()
        .ok_or_else(|| HandlerError::Event {
            index,
            reason: "no object key".into(),
        })?;
    let key = decode_event_key(raw_key).map_err(|source| HandlerError::Key { index, source })?;
    if key.ends_with('/') {
        return Ok(None);
    }
    let version = record
        .s3
        .object
        .version_id
        .clone()
        .filter(|v| !v.is_empty() && v != "null");
    Ok(Some(FeedRef {
        bucket,
        key,
        version,
    }))
}

/// Ingests every object the event names.
pub async fn handle(event: LambdaEvent<S3Event>, app: &App) -> Result<IngestSummary, HandlerError> {
    let mut total = IngestSummary::default();
    let mut failures = Vec::new();
    for (index, record) in event.payload.records.iter().enumerate() {
        let outcome = match feed_ref(index, record) {
            Ok(Some(feed)) => ingest(app, &feed).await,
            Ok(None) => {
                tracing::info!(
                    index,
                    event_name = record.event_name.as_deref().unwrap_or(""),
                    "Record skipped."
                );
                continue;
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(summary) => total += summary,
            Err(e) => {
                tracing::error!(error = %e, retryable = e.is_retryable(), "Feed failed.");
                failures.push(e);
            }
        }
    }
    match failures.len() {
        0 => Ok(total),
        1 => Err(failures.remove(0)),
        _ => Err(HandlerError::Several(failures)),
    }
}

async fn ingest(app: &App, feed: &FeedRef) -> Result<IngestSummary, HandlerError> {
    let location = app
        .buckets
        .object(&feed.bucket, &feed.key)
        .map_err(|source| HandlerError::Storage {
            bucket: feed.bucket.clone(),
            key: feed.key.clone(),
            source: Box::new(source),
        })?;
    Ok(app.job.run(&location, feed.version.as_deref()).await?)
}

#[cfg(test)]
mod tests;
