//! The ingest Lambda: S3 `ObjectCreated` events on the source bucket → the ingest
//! core → Kinesis.
//!
//! [`config`] reads the environment once at cold start; [`handler`] takes the objects
//! the event names ([`lambda_shared::s3_event`], URL-encoded keys included) and calls
//! [`feedpipe_ingest::IngestJob`] per object.
//! `main.rs` only wires the AWS clients.

pub mod config;
pub mod handler;
