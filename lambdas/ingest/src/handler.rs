//! The handler: an S3 event in, one ingest run per created object, one summary out.
//!
//! Which records count, and how their URL-encoded keys are decoded, is
//! [`lambda_shared::s3_event`]'s one rule. Every object of the event is attempted even
//! when one fails; the invocation then fails with a `Retryable` or `Permanent` error
//! type (an alarm can filter on it), so that Lambda retries it or sends it to the
//! on-failure destination.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Diagnostic, LambdaEvent};

use feedpipe_ingest::{IngestError, IngestJob, IngestSummary, RunOptions};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::BucketResolver;
use lambda_shared::Retryable;
use lambda_shared::failure::{Failures, diagnostic, gather};
use lambda_shared::s3_event::{EventError, LocationError, ObjectRef, objects_in};

/// What the handler needs, built once at cold start.
pub struct App {
    /// The ingest core, with its sink and quarantine.
    pub job: IngestJob,
    /// Turns event bucket names into stores.
    pub buckets: Arc<dyn BucketResolver>,
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
}

impl Retryable for HandlerError {
    fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Event(e) => e.is_retryable(),
            HandlerError::Location(e) => e.is_retryable(),
            HandlerError::Ingest(e) => e.is_retryable(),
            HandlerError::Several(all) => all.is_retryable(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        diagnostic(&e)
    }
}

/// Ingests every object the event names.
pub async fn handle(event: LambdaEvent<S3Event>, app: &App) -> Result<IngestSummary, HandlerError> {
    let mut outcomes = Vec::new();
    for object in objects_in(&event.payload.records) {
        let outcome = match object {
            Ok(object) => ingest(app, &object).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = &outcome {
            tracing::error!(error = %e, retryable = e.is_retryable(), "Feed failed.");
        }
        outcomes.push(outcome);
    }
    let summaries = gather(outcomes, HandlerError::Several)?;
    Ok(summaries
        .into_iter()
        .fold(IngestSummary::default(), |mut total, summary| {
            total += summary;
            total
        }))
}

async fn ingest(app: &App, feed: &ObjectRef) -> Result<IngestSummary, HandlerError> {
    let location = match feed.locate(app.buckets.as_ref()) {
        Ok(location) => location,
        // A key that no store can address (`//`, `/./`, control characters).
        Err(e) if object_store::path::Path::parse(&feed.key).is_err() => {
            return Err(quarantine_unreadable(app, feed, e).await);
        }
        Err(e) => return Err(e.into()),
    };
    // The object the event names: its version id, else its ETag (checked by the read).
    let options = RunOptions {
        version: feed.version.clone(),
        e_tag: feed.e_tag.clone(),
        ..Default::default()
    };
    Ok(app.job.run_with(&location, options).await?)
}

/// A key the stores cannot address is never readable: one quarantine entry names the
/// file and the reason (reconcile reports it), and the invocation fails as permanent.
async fn quarantine_unreadable(app: &App, feed: &ObjectRef, e: LocationError) -> HandlerError {
    let source = SourceObject {
        uri: format!("s3://{}/{}", feed.bucket, feed.key),
        version: feed
            .version
            .clone()
            .or_else(|| feed.e_tag.clone())
            .unwrap_or_else(|| "unversioned".into()),
    };
    let reason = format!("the object cannot be read, rename it: {e}");
    match app.job.quarantine_unreadable(&source, reason).await {
        Ok(_) => HandlerError::Location(e),
        Err(q) => HandlerError::Ingest(IngestError::Quarantine(q)),
    }
}

#[cfg(test)]
mod tests;
