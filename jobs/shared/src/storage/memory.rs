//! Buckets held in memory: a [`BucketResolver`] over `object_store`'s [`InMemory`], one
//! store per bucket name, so that a handler's tests run the same code as on S3 with no
//! server. Locations are `s3://` ones, so lineage and quarantine URIs read as in AWS.
//!
//! ```
//! use feedpipe_shared::storage::{BucketResolver, MemoryBuckets};
//!
//! let buckets = MemoryBuckets::new(["raw", "curated"]);
//! let object = buckets.object("raw", "raw/2026/a b.gz").unwrap();
//! assert_eq!(object.uri(), "s3://raw/raw/2026/a b.gz");
//! assert!(buckets.bucket("elsewhere").is_err());
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;

use super::{BucketResolver, StorageError, StorageLocation};

/// Named buckets, each an empty [`InMemory`] store when made.
#[derive(Debug, Default, Clone)]
pub struct MemoryBuckets {
    stores: HashMap<String, Arc<dyn ObjectStore>>,
}

impl MemoryBuckets {
    /// Empty buckets with these names; any other name is unknown, as on S3.
    pub fn new<I>(names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            stores: names
                .into_iter()
                .map(|name| {
                    (
                        name.into(),
                        Arc::new(InMemory::new()) as Arc<dyn ObjectStore>,
                    )
                })
                .collect(),
        }
    }
}

impl BucketResolver for MemoryBuckets {
    fn bucket(&self, name: &str) -> Result<StorageLocation, StorageError> {
        self.stores
            .get(name)
            .map(|store| StorageLocation::s3(Arc::clone(store), name, Path::default()))
            .ok_or_else(|| StorageError::Unsupported {
                url: format!("s3://{name}"),
                reason: "no such bucket".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn each_bucket_is_its_own_store_and_keeps_what_is_put() {
        let buckets = MemoryBuckets::new(["raw", "curated"]);
        let object = buckets.object("raw", "raw/2026/x y.gz").unwrap();
        object
            .store
            .put(&object.path, PutPayload::from_static(b"data"))
            .await
            .unwrap();
        let again = buckets.object("raw", "raw/2026/x y.gz").unwrap();
        let bytes = again
            .store
            .get(&again.path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), b"data");
        let curated = buckets.object("curated", "raw/2026/x y.gz").unwrap();
        assert!(curated.store.get(&curated.path).await.is_err());
        assert_eq!(curated.uri(), "s3://curated/raw/2026/x y.gz");
    }

    #[test]
    fn an_unknown_bucket_is_an_error_naming_it() {
        let err = MemoryBuckets::new(["raw"]).bucket("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported location `s3://nope`: no such bucket"
        );
    }
}
