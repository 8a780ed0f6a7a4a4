//! What the ingest and raw-to-parquet Lambdas both do at their edge, written once.
//!
//! - [`s3_event`]: the objects an S3 event names ([`s3_event::ObjectRef`], keys
//!   URL-decoded), with one rule for which records count and typed reasons for the
//!   records that are skipped.
//! - [`failure`]: the stable `error_type` ("Retryable" or "Permanent") of a handler's
//!   [`lambda_runtime::Diagnostic`], and the failures of several objects gathered into one.
//! - [`env`]: reading a Lambda's environment once, at cold start, with errors that
//!   name the variable. The variable names themselves stay in each Lambda's
//!   `config.rs`, where Terraform's wiring test reads them.
//!
//! It holds no AWS client, builds no store and does not link the cores: a handler
//! decodes its event with it, calls its core, and maps the result with it.
//!
//! ```
//! use aws_lambda_events::event::s3::S3Event;
//! use lambda_shared::s3_event::objects_in;
//!
//! let event: S3Event = serde_json::from_str(r#"{"Records": [{
//!     "eventTime": "2026-11-23T12:00:00Z", "eventName": "ObjectCreated:Put",
//!     "userIdentity": {}, "requestParameters": {}, "responseElements": {},
//!     "s3": {"bucket": {"name": "feeds"}, "object": {"key": "in/orders+1.jsonl", "eTag": "e1"}}
//! }]}"#).unwrap();
//! let objects: Vec<_> = objects_in(&event.records).collect::<Result<_, _>>().unwrap();
//! assert_eq!(objects[0].key, "in/orders 1.jsonl");
//! assert_eq!(objects[0].e_tag.as_deref(), Some("e1"));
//! ```

pub mod env;
pub mod failure;
pub mod s3_event;

pub use failure::Retryable;
