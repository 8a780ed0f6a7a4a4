//! From the records of an S3 event to the objects they name.
//!
//! One rule for both Lambdas: a record counts when its event is one of S3's
//! `ObjectCreated:*` events (named with or without the `s3:` prefix of the notification
//! configuration), and names an object rather than a folder marker (a key ending in
//! `/`). Keys are decoded from the URL encoding S3 events use (`+` is a space).
//! Reading the object is not done here: [`ObjectRef::locate`] gives its location, and
//! the core reads it.

use aws_lambda_events::event::s3::S3EventRecord;
use feedpipe_shared::s3_key::{KeyError, decode_event_key};
use feedpipe_shared::storage::{BucketResolver, StorageError, StorageLocation};

use crate::failure::Retryable;

/// One object an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// Version id, when the bucket is versioned (`None` for an empty or `"null"` id).
    pub version: Option<String>,
    /// The ETag as the event gives it, when it gives one. Not used to read yet.
    pub e_tag: Option<String>,
}

/// Why a record of an event names no object to work on. Not an error: the record is
/// acknowledged and left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// The event is not an `ObjectCreated` one (a removal, a restore, a replication...).
    #[error("not an ObjectCreated event (`{event_name}`)")]
    NotObjectCreated {
        /// The record's `eventName` (empty when it has none).
        event_name: String,
    },
    /// The key ends in `/`: a folder marker, not a feed.
    #[error("a folder marker")]
    FolderMarker,
}

/// What one record of an event comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// An object to work on.
    Object(ObjectRef),
    /// Nothing to do, and why.
    Skipped(Skip),
}

/// A record that should name an object but cannot be read. Never retryable: the same
/// event will be as bad next time.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The record has no bucket name.
    #[error("bad S3 event record {index}: no bucket name")]
    NoBucket {
        /// The record's position in the event.
        index: usize,
    },
    /// The record has no object key.
    #[error("bad S3 event record {index}: no object key")]
    NoKey {
        /// The record's position in the event.
        index: usize,
    },
    /// The key is not validly URL-encoded.
    #[error("bad S3 event record {index}: {source}")]
    Key {
        /// The record's position in the event.
        index: usize,
        /// What is wrong with the key.
        source: KeyError,
    },
}

impl Retryable for EventError {
    fn is_retryable(&self) -> bool {
        false
    }
}

/// Whether `event_name` is an `ObjectCreated` event: `ObjectCreated:Put`,
/// `s3:ObjectCreated:CompleteMultipartUpload` and the like.
pub fn is_object_created(event_name: &str) -> bool {
    event_name
        .strip_prefix("s3:")
        .unwrap_or(event_name)
        .starts_with("ObjectCreated")
}

/// What record `index` of an event names.
pub fn read_record(index: usize, record: &S3EventRecord) -> Result<Named, EventError> {
    let event_name = record.event_name.as_deref().unwrap_or_default();
    if !is_object_created(event_name) {
        return Ok(Named::Skipped(Skip::NotObjectCreated {
            event_name: event_name.to_owned(),
        }));
    }
    let bucket = present(&record.s3.bucket.name).ok_or(EventError::NoBucket { index })?;
    let object = &record.s3.object;
    let raw_key = present(&object.key).ok_or(EventError::NoKey { index })?;
    let key = decode_event_key(raw_key).map_err(|source| EventError::Key { index, source })?;
    if key.ends_with('/') {
        return Ok(Named::Skipped(Skip::FolderMarker));
    }
    Ok(Named::Object(ObjectRef {
        bucket: bucket.to_owned(),
        key,
        version: present(&object.version_id)
            .filter(|v| *v != "null")
            .map(str::to_owned),
        e_tag: present(&object.e_tag).map(str::to_owned),
    }))
}

/// The objects `records` name, in order, with the records that cannot be read as
/// errors in their place; skipped records are logged and left out.
pub fn objects_in(
    records: &[S3EventRecord],
) -> impl Iterator<Item = Result<ObjectRef, EventError>> + '_ {
    records
        .iter()
        .enumerate()
        .filter_map(|(index, record)| match read_record(index, record) {
            Ok(Named::Object(object)) => Some(Ok(object)),
            Ok(Named::Skipped(skip)) => {
                tracing::info!(index, reason = %skip, "Record skipped.");
                None
            }
            Err(e) => Some(Err(e)),
        })
}

/// An object whose bucket or key is not a valid location. Never retryable.
#[derive(Debug, thiserror::Error)]
#[error("s3://{bucket}/{key}: {source}")]
pub struct LocationError {
    /// Bucket name.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Why it is not a location.
    pub source: Box<StorageError>,
}

impl Retryable for LocationError {
    fn is_retryable(&self) -> bool {
        false
    }
}

impl ObjectRef {
    /// The object's location, through `buckets` (S3 in Lambda, memory in tests).
    pub fn locate(&self, buckets: &dyn BucketResolver) -> Result<StorageLocation, LocationError> {
        buckets
            .object(&self.bucket, &self.key)
            .map_err(|source| LocationError {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                source: Box::new(source),
            })
    }
}

/// The field's value unless it is absent or empty.
fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests;
