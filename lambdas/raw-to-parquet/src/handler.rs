//! The handler: whichever way raw objects arrive ([`crate::event`]), convert each one.
//!
//! - SQS: a message whose objects fail is listed in `batchItemFailures`, so SQS
//!   retries only it, and after `maxReceiveCount` moves it to the DLQ.
//! - A direct S3 event or a backfill batch: every object is attempted, and any failure
//!   fails the invocation, with a `Retryable` or `Permanent` error type. A backfill
//!   batch skips the objects already converted (the backfill plan's resume rule).
//!
//! Which records of an S3 notification count, and how their URL-encoded keys are
//! decoded, is [`lambda_shared::s3_event`]'s one rule. A notification with a record
//! that cannot be read converts nothing. Converting an object again produces the
//! same files (same names, same bytes), so every retry is safe.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3EventRecord;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

use feedpipe_convert::backfill::{self, BackfillError, PlanOptions};
use feedpipe_convert::{ConvertError, FeedConverter, Manifest};
use feedpipe_shared::storage::{BucketResolver, Expected};
use lambda_shared::Retryable;
use lambda_shared::failure::{Failures, diagnostic, gather};
use lambda_shared::s3_event::{EventError, LocationError, ObjectRef, objects_in};

use crate::event::{
    Answer, BackfillBatch, Converted, DecodeError, Notification, RawEvent, SqsNotification,
};

/// What the handler needs, built once at cold start.
pub struct App {
    /// The conversion core: each table's contract, curated root and quarantine, and
    /// with a feeds file the routing of records to their tables.
    pub converter: FeedConverter,
    /// Turns bucket names into stores.
    pub buckets: Arc<dyn BucketResolver>,
}

/// Why (part of) an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event, or a message's body, is none of the shapes this function is fed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A record of an S3 notification names no usable object.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The bucket or key is not a valid location.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// The conversion failed.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// A backfill batch could not be planned.
    #[error(transparent)]
    Backfill(#[from] BackfillError),
    /// Several objects failed.
    #[error(transparent)]
    Several(Failures<HandlerError>),
}

impl Retryable for HandlerError {
    fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Decode(e) => e.is_retryable(),
            HandlerError::Event(e) => e.is_retryable(),
            HandlerError::Location(e) => e.is_retryable(),
            HandlerError::Convert(e) => e.is_retryable(),
            HandlerError::Backfill(e) => e.is_retryable(),
            HandlerError::Several(all) => all.is_retryable(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        diagnostic(&e)
    }
}

/// Converts what the event names; see [`crate::event`] for the three shapes.
pub async fn handle(event: LambdaEvent<Value>, app: &App) -> Result<Answer, HandlerError> {
    match RawEvent::try_from(event.payload)? {
        RawEvent::Backfill(batch) => {
            let manifests = backfill(app, &batch).await?;
            Ok(Answer::Converted(Converted::from(manifests.as_slice())))
        }
        RawEvent::S3(event) => {
            let manifests = convert_records(app, &event.records).await?;
            Ok(Answer::Converted(Converted::from(manifests.as_slice())))
        }
        RawEvent::Sqs(messages) => {
            let mut answer = SqsBatchResponse::default();
            for SqsNotification { message_id, body } in messages {
                if let Err(e) = convert_message(app, body).await {
                    tracing::error!(message_id = %message_id, error = %e, retryable = e.is_retryable(), "Message failed.");
                    answer.add_failure(message_id);
                }
            }
            Ok(Answer::Sqs(answer))
        }
    }
}

async fn convert_message(
    app: &App,
    body: Result<Notification, DecodeError>,
) -> Result<(), HandlerError> {
    match body? {
        Notification::Test => Ok(()),
        Notification::Records(records) => convert_records(app, &records).await.map(drop),
    }
}

/// Converts the objects the records name, none if any record cannot be read.
async fn convert_records(
    app: &App,
    records: &[S3EventRecord],
) -> Result<Vec<Manifest>, HandlerError> {
    let objects = objects_in(records).collect::<Result<Vec<_>, _>>()?;
    convert_all(app, &objects).await
}

/// A batch of the backfill state machine, planned by the rules `feedpipe convert`
/// follows ([`feedpipe_convert::backfill`]), one object per file as this function
/// writes them: an object whose manifest exists is done and skipped, so an object the
/// CLI compacted into a group file is never written again under a second name.
async fn backfill(app: &App, batch: &BackfillBatch) -> Result<Vec<Manifest>, HandlerError> {
    let objects = batch.objects();
    let Some(first) = objects.first() else {
        return Ok(Vec::new());
    };
    let root = ObjectRef {
        key: String::new(),
        ..first.clone()
    }
    .locate(app.buckets.as_ref())?;
    let keys = objects
        .iter()
        .map(|o| o.locate(app.buckets.as_ref()).map(|l| l.path))
        .collect::<Result<Vec<_>, _>>()?;
    let plan =
        backfill::prepare_named(&app.converter, &root, &keys, &PlanOptions::default()).await?;
    tracing::info!(
        bucket = %first.bucket,
        objects = plan.listed,
        skipped = plan.skipped,
        "Backfill batch planned."
    );
    let mut outcomes = Vec::with_capacity(plan.groups.len());
    for group in &plan.groups {
        let inputs = backfill::inputs(&root, group);
        outcomes.push(
            app.converter
                .convert_group(&inputs)
                .await
                .map_err(HandlerError::from),
        );
    }
    Ok(gather(outcomes, HandlerError::Several)?.concat())
}

/// Converts every object; all are attempted, and the failures returned together.
async fn convert_all(app: &App, objects: &[ObjectRef]) -> Result<Vec<Manifest>, HandlerError> {
    let mut outcomes = Vec::with_capacity(objects.len());
    for object in objects {
        outcomes.push(convert_one(app, object).await);
    }
    Ok(gather(outcomes, HandlerError::Several)?.concat())
}

/// A manifest per table written.
async fn convert_one(app: &App, raw: &ObjectRef) -> Result<Vec<Manifest>, HandlerError> {
    let location = raw.locate(app.buckets.as_ref())?;
    Ok(app
        .converter
        .convert_expected(
            &location,
            Expected {
                version: raw.version.as_deref(),
                e_tag: raw.e_tag.as_deref(),
            },
        )
        .await?)
}

#[cfg(test)]
mod tests;
