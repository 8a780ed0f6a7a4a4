//! The raw-to-parquet Lambda: each new raw object → the conversion core → curated
//! Parquet, its rejects to the quarantine, and a manifest.
//!
//! It is fed three ways, decoded once into [`event::RawEvent`] and all handled by
//! [`handler::handle`]: an SQS event whose messages carry S3 notifications (the
//! production path; failed messages are reported in `batchItemFailures` so only they
//! are retried), a direct S3 event, and the backfill state machine's Distributed Map
//! batches. `main.rs` only wires.

pub mod config;
pub mod event;
pub mod handler;
