//! The handler: whichever way raw objects arrive, convert each one.
//!
//! - SQS messages whose bodies are S3 notifications (keys URL-encoded; the
//!   `s3:TestEvent` S3 sends when a notification is set up is acknowledged and
//!   ignored). A message whose objects fail is listed in `batchItemFailures`, so SQS
//!   retries only it, and after `maxReceiveCount` moves it to the DLQ.
//! - A direct S3 event (keys URL-encoded): any failure fails the invocation.
//! - The backfill state machine's batch, `{"BatchInput": {"bucket": …}, "Items":
//!   [{"key": …}]}` (keys as listed, not encoded): any failure fails the batch.
//!
//! Converting an object again produces the same files (same names, same bytes), so
//! every retry is safe.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::{Value, json};

use feedpipe_convert::{ConvertError, Converter, Manifest};
use feedpipe_shared::s3_key::{KeyError, decode_event_key};
use feedpipe_shared::storage::{BucketResolver, StorageError};

/// What the handler needs, built once at cold start.
pub struct App {
    /// The conversion core, with its contract, curated root and quarantine.
    pub converter: Converter,
    /// Turns bucket names into stores.
    pub buckets: Arc<dyn BucketResolver>,
}

/// Why (part of) an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is none of the shapes this function is fed.
    #[error("unrecognised event: {0}")]
    Event(String),
    /// A key could not be decoded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The bucket or key is not a valid location.
    #[error("s3://{bucket}/{key}: {source}")]
    Storage {
        bucket: String,
        key: String,
        source: Box<StorageError>,
    },
    /// The conversion failed.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// Several objects failed.
    #[error("{} object(s) failed: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<HandlerError>),
}

impl HandlerError {
    /// Whether a retry may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Event(_) | HandlerError::Key(_) | HandlerError::Storage { .. } => false,
            HandlerError::Convert(e) => e.is_retryable(),
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

/// One raw object to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRef {
    /// Bucket name.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Version id, when versioned.
    pub version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BackfillBatch {
    batch_input: BackfillInput,
    items: Vec<BackfillItem>,
}

#[derive(Deserialize)]
struct BackfillInput {
    bucket: String,
}

#[derive(Deserialize)]
struct BackfillItem {
    #[serde(alias = "Key")]
    key: String,
}

/// The created objects an S3 event names (folder markers and other events skipped).
pub fn raw_refs(event: &S3Event) -> Result<Vec<RawRef>, HandlerError> {
    let mut refs = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        if !record
            .event_name
            .as_deref()
            .unwrap_or_default()
            .contains("ObjectCreated")
        {
            continue;
        }
        let bucket = record
            .s3
            .bucket
            .name
            .clone()
            .ok_or_else(|| HandlerError::Event(format!("record {i}: no bucket")))?;
        let raw_key = record
            .s3
            .object
            .key
            .as_deref()
            .ok_or_else(|| HandlerError::Event(format!("record {i}: no key")))?;
        let key = decode_event_key(raw_key)?;
        if key.ends_with('/') {
            continue;
        }
        let version = record
            .s3
            .object
            .version_id
            .clone()
            .filter(|v| !v.is_empty() && v != "null");
        refs.push(RawRef {
            bucket,
            key,
            version,
        });
    }
    Ok(refs)
}

/// Converts what the event names; see the module docs for the three shapes.
pub async fn handle(event: LambdaEvent<Value>, app: &App) -> Result<Value, HandlerError> {
    let payload = event.payload;
    if payload.get("Items").is_some() && payload.get("BatchInput").is_some() {
        let batch: BackfillBatch =
            serde_json::from_value(payload).map_err(|e| HandlerError::Event(e.to_string()))?;
        let refs: Vec<RawRef> = batch
            .items
            .into_iter()
            .map(|item| RawRef {
                bucket: batch.batch_input.bucket.clone(),
                key: item.key,
                version: None,
            })
            .collect();
        let manifests = convert_all(app, &refs).await?;
        return Ok(
            json!({ "converted": manifests.len(), "rows_written": manifests.iter().map(|m| m.rows_written).sum::<u64>() }),
        );
    }
    let from_sqs = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .is_some_and(|s| s == "aws:sqs");
    if from_sqs {
        let event: SqsEvent =
            serde_json::from_value(payload).map_err(|e| HandlerError::Event(e.to_string()))?;
        let mut failures = Vec::new();
        for message in &event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let body = message.body.as_deref().unwrap_or_default();
            let outcome = match serde_json::from_str::<Value>(body) {
                Ok(v) if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") => continue,
                Ok(v) if v.get("Records").is_none() => Err(HandlerError::Event(format!(
                    "message {id}: body is not an S3 notification (no Records)"
                ))),
                Ok(v) => match serde_json::from_value::<S3Event>(v) {
                    Ok(s3) => match raw_refs(&s3) {
                        Ok(refs) => convert_all(app, &refs).await.map(|_| ()),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(HandlerError::Event(format!(
                        "message {id}: not an S3 notification: {e}"
                    ))),
                },
                Err(e) => Err(HandlerError::Event(format!(
                    "message {id}: body is not JSON: {e}"
                ))),
            };
            if let Err(e) = outcome {
                tracing::error!(message_id = %id, error = %e, retryable = e.is_retryable(), "Message failed.");
                failures.push(json!({ "itemIdentifier": id }));
            }
        }
        return Ok(json!({ "batchItemFailures": failures }));
    }
    if payload.get("Records").is_some() {
        let event: S3Event =
            serde_json::from_value(payload).map_err(|e| HandlerError::Event(e.to_string()))?;
        let manifests = convert_all(app, &raw_refs(&event)?).await?;
        return Ok(
            json!({ "converted": manifests.len(), "rows_written": manifests.iter().map(|m| m.rows_written).sum::<u64>() }),
        );
    }
    Err(HandlerError::Event(
        "expected an SQS event, an S3 event or a backfill batch".into(),
    ))
}

/// Converts every object; all are attempted, and the failures returned together.
async fn convert_all(app: &App, refs: &[RawRef]) -> Result<Vec<Manifest>, HandlerError> {
    let mut manifests = Vec::new();
    let mut failures = Vec::new();
    for raw in refs {
        match convert_one(app, raw).await {
            Ok(m) => manifests.push(m),
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(manifests),
        1 => Err(failures.remove(0)),
        _ => Err(HandlerError::Several(failures)),
    }
}

async fn convert_one(app: &App, raw: &RawRef) -> Result<Manifest, HandlerError> {
    let location = app
        .buckets
        .object(&raw.bucket, &raw.key)
        .map_err(|source| HandlerError::Storage {
            bucket: raw.bucket.clone(),
            key: raw.key.clone(),
            source: Box::new(source),
        })?;
    Ok(app
        .converter
        .convert_object(&location, raw.version.as_deref())
        .await?)
}

#[cfg(test)]
mod tests;
