//! The ingest Lambda: S3 `ObjectCreated` events on the source bucket → the ingest
//! core → Kinesis.
//!
//! [`config`] reads the environment once at cold start; [`handler`] takes the objects
//! the event names ([`lambda_shared::s3_event`], URL-encoded keys included) and calls
//! [`feedpipe_ingest::IngestJob`] per object; [`handoff`] sends the rest of a file
//! that a run stopped before the deadline to the continuation queue, which this
//! function also consumes.
//! `main.rs` only wires the AWS clients.

pub mod config;
pub mod handler;
pub mod handoff;
