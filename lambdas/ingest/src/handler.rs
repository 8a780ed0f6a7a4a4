//! The handler: an S3 event in, one ingest run per created object, one summary out;
//! or a message of the continuation queue in, the next part of a file out.
//!
//! Which records count, and how their URL-encoded keys are decoded, is
//! [`lambda_shared::s3_event`]'s one rule. Every object of the event is attempted even
//! when one fails; the invocation then fails with a `Retryable` or `Permanent` error
//! type (an alarm can filter on it), so that Lambda retries it or sends it to the
//! on-failure destination. With a continuation queue ([`App::continuations`]) each run
//! stops before the invocation's deadline and hands the rest of its file on
//! ([`crate::handoff`]); [`handle_event`] takes both kinds of event.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;

use feedpipe_ingest::{Continuation, IngestError, IngestJob, IngestSummary, Part, RunOptions};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{BucketResolver, object_version};
use lambda_shared::Retryable;
use lambda_shared::failure::{Failures, diagnostic, gather};
use lambda_shared::s3_event::{EventError, LocationError, ObjectRef, objects_in};
use object_store::ObjectStoreExt;

use crate::handoff::Continuations;

/// What the handler needs, built once at cold start.
pub struct App {
    /// The ingest core, with its sink and quarantine.
    pub job: IngestJob,
    /// Turns event bucket names into stores.
    pub buckets: Arc<dyn BucketResolver>,
    /// Where a run that stops before the deadline sends the rest of its file; `None`
    /// reads every file to its end.
    pub continuations: Option<Continuations>,
    /// The deployment's feeds (`FEEDPIPE_FEEDS_URL`): each key goes to the feed of its
    /// longest prefix, with that feed's partition key; a key of no feed is quarantined
    /// as unrouted. `None`: one feed, as the job is configured.
    pub feeds: Option<Arc<FeedsFile>>,
}

/// Why (part of) an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A record of the event names no usable object.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The bucket or key is not a valid location.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// The ingest run failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Several objects failed.
    #[error(transparent)]
    Several(Failures<HandlerError>),
    /// The event is neither an S3 event nor SQS messages.
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    /// A message of the continuation queue that is not a continuation.
    #[error("message {message_id} of the continuation queue is not a continuation: {reason}")]
    NotAContinuation { message_id: String, reason: String },
    /// The key belongs to no feed of the feeds file: quarantined whole, not sent.
    #[error("{0}")]
    Unrouted(String),
    /// A run stopped at its deadline could not send the rest of its file on; the run
    /// is retried.
    #[error("cannot hand the rest of `{uri}` on (from line {line}): {reason}")]
    HandOff {
        uri: String,
        line: u64,
        reason: String,
    },
}

impl Retryable for HandlerError {
    fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Event(e) => e.is_retryable(),
            HandlerError::Location(e) => e.is_retryable(),
            HandlerError::Ingest(e) => e.is_retryable(),
            HandlerError::Several(all) => all.is_retryable(),
            HandlerError::Unrecognised(_)
            | HandlerError::NotAContinuation { .. }
            | HandlerError::Unrouted(_) => false,
            HandlerError::HandOff { .. } => true,
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        diagnostic(&e)
    }
}

/// Takes what the function is fed: an S3 event (records with `eventSource`
/// `aws:s3`), or SQS messages of the continuation queue (`aws:sqs`), each the rest
/// of a file to go on with.
pub async fn handle_event(
    event: LambdaEvent<Value>,
    app: &App,
) -> Result<IngestSummary, HandlerError> {
    let LambdaEvent { payload, context } = event;
    let from_sqs = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs");
    if from_sqs {
        let event: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| HandlerError::Unrecognised(e.to_string()))?;
        let mut outcomes = Vec::new();
        for message in &event.records {
            outcomes.push(logged(continue_file(app, message, &context).await));
        }
        return total(outcomes);
    }
    let event: S3Event =
        serde_json::from_value(payload).map_err(|e| HandlerError::Unrecognised(e.to_string()))?;
    handle(LambdaEvent::new(event, context), app).await
}

/// Ingests every object the event names.
pub async fn handle(event: LambdaEvent<S3Event>, app: &App) -> Result<IngestSummary, HandlerError> {
    let mut outcomes = Vec::new();
    for object in objects_in(&event.payload.records) {
        let outcome = match object {
            Ok(object) => ingest(app, &object, &event.context).await,
            Err(e) => Err(e.into()),
        };
        outcomes.push(logged(outcome));
    }
    total(outcomes)
}

fn logged(outcome: Result<IngestSummary, HandlerError>) -> Result<IngestSummary, HandlerError> {
    if let Err(e) = &outcome {
        tracing::error!(error = %e, retryable = e.is_retryable(), "Feed failed.");
    }
    outcome
}

fn total(
    outcomes: Vec<Result<IngestSummary, HandlerError>>,
) -> Result<IngestSummary, HandlerError> {
    let summaries = gather(outcomes, HandlerError::Several)?;
    Ok(summaries
        .into_iter()
        .fold(IngestSummary::default(), |mut total, summary| {
            total += summary;
            total
        }))
}

/// The file's summary when the run ended it; else the rest of it is sent on and the
/// summary is the file's so far, marked `continued`.
async fn finish(app: &App, part: Part) -> Result<IngestSummary, HandlerError> {
    let next = match part {
        Part::Done(summary) => return Ok(summary),
        Part::Stopped(next) => next,
    };
    let hand_off = |reason: String| HandlerError::HandOff {
        uri: next.uri.clone(),
        line: next.lines_done + 1,
        reason,
    };
    let queue = app
        .continuations
        .as_ref()
        .ok_or_else(|| hand_off("no continuation queue".into()))?;
    queue.send(&next).await.map_err(hand_off)?;
    tracing::info!(
        source = %next.uri,
        parts = next.parts,
        next_line = next.lines_done + 1,
        "Feed handed on."
    );
    Ok(IngestSummary {
        continued: 1,
        ..next.so_far
    })
}

/// The next part of the file a continuation names.
async fn continue_file(
    app: &App,
    message: &SqsMessage,
    context: &Context,
) -> Result<IngestSummary, HandlerError> {
    let not_one = |reason: String| HandlerError::NotAContinuation {
        message_id: message.message_id.clone().unwrap_or_default(),
        reason,
    };
    let body = message.body.as_deref().unwrap_or_default();
    let next: Continuation = serde_json::from_str(body).map_err(|e| not_one(e.to_string()))?;
    let Some((bucket, key)) = next
        .uri
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
    else {
        return Err(not_one(format!("`{}` is not an s3:// URI", next.uri)));
    };
    let object = ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: None,
        e_tag: None,
    };
    let location = object.locate(app.buckets.as_ref())?;
    let job = feed_job(app, &object).await?;
    let options = RunOptions {
        deadline: app.continuations.as_ref().and_then(|c| c.stop_at(context)),
        continuation: Some(next),
        ..Default::default()
    };
    finish(app, job.run_part(&location, options).await?).await
}

/// The job for `object`'s feed: with a feeds file, its feed's partition key, or, for a
/// key of no feed, the one quarantine entry of an unrouted file and a permanent error.
async fn feed_job(app: &App, object: &ObjectRef) -> Result<IngestJob, HandlerError> {
    let Some(feeds) = &app.feeds else {
        return Ok(app.job.clone());
    };
    if let Some(feed) = feeds.route(&object.key) {
        return Ok(app.job.with_partition_key(feed.partition_key.clone()));
    }
    // Named as a run would name it, so that reconcile finds the file: the version id
    // the event gives, else the object's own (an event may carry only the ETag).
    let mut source = source_of(object);
    if object.version.is_none()
        && let Ok(location) = object.locate(app.buckets.as_ref())
        && let Ok(meta) = location.store.head(&location.path).await
    {
        source.version = object_version(&meta, None);
    }
    let written = app
        .job
        .quarantine_unrouted(&source, &object.key, &feeds.origin)
        .await
        .map_err(|q| HandlerError::Ingest(IngestError::Quarantine(q)))?;
    Err(HandlerError::Unrouted(format!(
        "`{}`: no feed for key `{}` in {}; quarantined whole ({})",
        source.uri,
        object.key,
        feeds.origin,
        written.join(", ")
    )))
}

/// The lineage name of the object an event names (as reconcile names it).
fn source_of(object: &ObjectRef) -> SourceObject {
    SourceObject {
        uri: format!("s3://{}/{}", object.bucket, object.key),
        version: object
            .version
            .clone()
            .or_else(|| object.e_tag.clone())
            .unwrap_or_else(|| "unversioned".into()),
    }
}

async fn ingest(
    app: &App,
    feed: &ObjectRef,
    context: &Context,
) -> Result<IngestSummary, HandlerError> {
    let location = match feed.locate(app.buckets.as_ref()) {
        Ok(location) => location,
        // A key that no store can address (`//`, `/./`, control characters).
        Err(e) if object_store::path::Path::parse(&feed.key).is_err() => {
            return Err(quarantine_unreadable(app, feed, e).await);
        }
        Err(e) => return Err(e.into()),
    };
    let job = feed_job(app, feed).await?;
    // The object the event names: its version id, else its ETag (checked by the read).
    let options = RunOptions {
        version: feed.version.clone(),
        e_tag: feed.e_tag.clone(),
        deadline: app.continuations.as_ref().and_then(|c| c.stop_at(context)),
        ..Default::default()
    };
    finish(app, job.run_part(&location, options).await?).await
}

/// A key the stores cannot address is never readable: one quarantine entry names the
/// file and the reason (reconcile reports it), and the invocation fails as permanent.
async fn quarantine_unreadable(app: &App, feed: &ObjectRef, e: LocationError) -> HandlerError {
    let source = source_of(feed);
    let reason = format!("the object cannot be read, rename it: {e}");
    match app.job.quarantine_unreadable(&source, reason).await {
        Ok(_) => HandlerError::Location(e),
        Err(q) => HandlerError::Ingest(IngestError::Quarantine(q)),
    }
}

#[cfg(test)]
mod tests;
