//! The three events this function is fed, decoded once into [`RawEvent`], and the
//! [`Answer`] it gives to each.
//!
//! - An SQS event whose message bodies are S3 notifications (the production path). S3
//!   sends an `s3:TestEvent` when the notification is set up; it is acknowledged and
//!   ignored. A body that is not a notification is that message's failure only.
//!   Answer: `{"batchItemFailures": [{"itemIdentifier": …}]}`.
//! - A direct S3 event. Answer: `{"converted": n, "rows_written": n}`.
//! - The backfill state machine's batch, `{"BatchInput": {"bucket": …}, "Items":
//!   [{"key": …}]}`, keys as listed (not URL-encoded). Answer: as for an S3 event.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_shared::Retryable;
use lambda_shared::s3_event::ObjectRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::error::Category;

use feedpipe_convert::Manifest;

/// An event, by the way it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum RawEvent {
    /// The backfill state machine's batch of listed objects.
    Backfill(BackfillBatch),
    /// SQS messages, each holding an S3 notification (or why it holds none).
    Sqs(Vec<SqsNotification>),
    /// An S3 event delivered directly.
    S3(S3Event),
}

/// A batch of the backfill state machine's Distributed Map.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackfillBatch {
    batch_input: BackfillInput,
    items: Vec<BackfillItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct BackfillInput {
    bucket: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct BackfillItem {
    #[serde(alias = "Key")]
    key: String,
    #[serde(default, alias = "Etag", alias = "ETag")]
    etag: Option<String>,
}

impl BackfillBatch {
    /// The objects of the batch, all in the batch's bucket.
    pub fn objects(&self) -> Vec<ObjectRef> {
        self.items
            .iter()
            .map(|item| ObjectRef {
                bucket: self.batch_input.bucket.clone(),
                key: item.key.clone(),
                version: None,
                e_tag: item.etag.clone(),
            })
            .collect()
    }
}

/// One SQS message and the notification its body holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsNotification {
    /// The message id, which a failure is reported by.
    pub message_id: String,
    /// What the body holds, or why it is not a notification.
    pub body: Result<Notification, DecodeError>,
}

/// What an SQS message from S3 holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// The `s3:TestEvent` S3 sends when a notification is set up.
    Test,
    /// The records of an S3 event.
    Records(Vec<S3EventRecord>),
}

/// An event or message body that is none of the shapes this function is fed. Never
/// retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The event has neither `Records` nor the backfill's `BatchInput` and `Items`.
    #[error("unrecognised event: expected an SQS event, an S3 event or a backfill batch")]
    Unrecognised,
    /// The event has the shape's marks but not its fields.
    #[error("unrecognised event: {0}")]
    Malformed(String),
    /// A message body is not JSON.
    #[error("unrecognised event: message {message_id}: body is not JSON: {reason}")]
    BodyNotJson { message_id: String, reason: String },
    /// A message body is JSON but not an S3 notification.
    #[error("unrecognised event: message {message_id}: not an S3 notification: {reason}")]
    NotANotification { message_id: String, reason: String },
}

impl Retryable for DecodeError {
    fn is_retryable(&self) -> bool {
        false
    }
}

impl TryFrom<Value> for RawEvent {
    type Error = DecodeError;

    /// Tells the shapes apart the way they are marked: `BatchInput` and `Items` for the
    /// backfill, `eventSource: "aws:sqs"` on the records for SQS, else `Records` for S3.
    fn try_from(payload: Value) -> Result<Self, DecodeError> {
        let malformed = |e: serde_json::Error| DecodeError::Malformed(e.to_string());
        if payload.get("Items").is_some() && payload.get("BatchInput").is_some() {
            return serde_json::from_value(payload)
                .map(RawEvent::Backfill)
                .map_err(malformed);
        }
        let from_sqs = payload
            .pointer("/Records/0/eventSource")
            .and_then(Value::as_str)
            == Some("aws:sqs");
        if from_sqs {
            let event: SqsEvent = serde_json::from_value(payload).map_err(malformed)?;
            return Ok(RawEvent::Sqs(
                event.records.iter().map(SqsNotification::decode).collect(),
            ));
        }
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(RawEvent::S3)
                .map_err(malformed);
        }
        Err(DecodeError::Unrecognised)
    }
}

/// The fields of a notification body that tell a test event from an S3 event.
#[derive(Deserialize)]
struct NotificationBody {
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Records")]
    records: Option<Vec<S3EventRecord>>,
}

impl SqsNotification {
    fn decode(message: &SqsMessage) -> Self {
        let message_id = message.message_id.clone().unwrap_or_default();
        let text = message.body.as_deref().unwrap_or_default();
        let body = match serde_json::from_str::<NotificationBody>(text) {
            Ok(body) if body.event.as_deref() == Some("s3:TestEvent") => Ok(Notification::Test),
            Ok(NotificationBody {
                records: Some(records),
                ..
            }) => Ok(Notification::Records(records)),
            Ok(_) => Err(DecodeError::NotANotification {
                message_id: message_id.clone(),
                reason: "no Records".into(),
            }),
            Err(e) if e.classify() == Category::Data => Err(DecodeError::NotANotification {
                message_id: message_id.clone(),
                reason: e.to_string(),
            }),
            Err(e) => Err(DecodeError::BodyNotJson {
                message_id: message_id.clone(),
                reason: e.to_string(),
            }),
        };
        Self { message_id, body }
    }
}

/// What the function answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// To SQS: the messages to retry, `{"batchItemFailures": [{"itemIdentifier": …}]}`.
    Sqs(SqsBatchResponse),
    /// To a direct S3 event or a backfill batch: what was written.
    Converted(Converted),
}

/// The objects converted and the rows they wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Converted {
    /// Objects converted.
    pub converted: usize,
    /// Rows written to curated Parquet, over all of them.
    pub rows_written: u64,
}

impl From<&[Manifest]> for Converted {
    fn from(manifests: &[Manifest]) -> Self {
        Self {
            converted: manifests.len(),
            rows_written: manifests.iter().map(|m| m.rows_written).sum(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
