//! Handing the rest of a file on: the ingest Lambda's continuation queue.
//!
//! A run that stops before the invocation's deadline (the ingest core's
//! [`Continuation`], see `feedpipe_ingest::continuation`) sends the continuation as
//! one SQS message to `FEEDPIPE_CONTINUATION_QUEUE_URL`, a queue this same function
//! consumes (batch size 1, `infra/`). The next invocation goes on from it, and may
//! hand on again. A continuation that cannot be followed fails its invocation, so the
//! message comes back and, after the queue's receive limit, lands in its dead-letter
//! queue, where an alarm sees it: a lost continuation is never silent. If the send
//! itself fails, the invocation fails and Lambda runs the part again (its records are
//! sent twice under the same ids; the `_dedup` view keeps one).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::error::DisplayErrorContext;
use feedpipe_ingest::Continuation;
use lambda_runtime::Context;

/// Where stopped runs send the rest of their file, and how early they stop.
#[derive(Debug, Clone)]
pub struct Continuations {
    /// The SQS client.
    pub client: aws_sdk_sqs::Client,
    /// The queue's URL.
    pub queue_url: String,
    /// How long before the invocation's deadline a run stops reading.
    pub margin: Duration,
}

impl Continuations {
    /// When a run of the invocation `context` must stop reading: its deadline less the
    /// margin, or now when less than that is left. `None` when the context names no
    /// deadline (0, as a context made by hand).
    pub fn stop_at(&self, context: &Context) -> Option<Instant> {
        if context.deadline == 0 {
            return None;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(context.deadline.saturating_sub(now_ms));
        Some(Instant::now() + left.saturating_sub(self.margin))
    }

    /// Sends `next` to the queue.
    pub async fn send(&self, next: &Continuation) -> Result<(), String> {
        let body = serde_json::to_string(next).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "SendMessage to {}: {}",
                    self.queue_url,
                    DisplayErrorContext(&e)
                )
            })
    }
}
