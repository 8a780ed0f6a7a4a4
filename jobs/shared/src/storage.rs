//! Storage URLs: the one place where a user's location string becomes an
//! `object_store` store and a path inside it.
//!
//! Accepted: `s3://bucket/prefix` (the standard AWS environment: region, credentials,
//! and `AWS_ENDPOINT_URL` for S3-compatible servers; `http://` endpoints are allowed
//! automatically), `file:///absolute/path`, and plain local paths (relative paths
//! are made absolute against the current directory).
//!
//! ```
//! use feedpipe_shared::storage::StorageLocation;
//! let loc = StorageLocation::parse("/tmp/feedpipe-doc/raw").unwrap();
//! assert_eq!(loc.uri(), "file:///tmp/feedpipe-doc/raw");
//! assert_eq!(loc.uri_of(&loc.join("a b.jsonl")), "file:///tmp/feedpipe-doc/raw/a b.jsonl");
//! ```

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

mod memory;
pub use memory::MemoryBuckets;

/// Why a location string could not be turned into a store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The string is not a location feedpipe understands.
    #[error("unsupported location `{url}`: {reason}")]
    Unsupported { url: String, reason: String },
    /// The S3 client could not be configured from the environment.
    #[error("cannot configure S3 access for `{url}`: {source}")]
    S3Config {
        url: String,
        source: object_store::Error,
    },
    /// A local path could not be made absolute or is not a valid object path.
    #[error("invalid local path `{url}`: {reason}")]
    LocalPath { url: String, reason: String },
}

/// Where objects live: a bucket (or the local file system) and a path inside it.
#[derive(Debug, Clone)]
pub struct StorageLocation {
    /// The store holding the objects.
    pub store: Arc<dyn ObjectStore>,
    /// The path of this location inside `store` (a prefix or a single object).
    pub path: Path,
    scheme: Scheme,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    S3 { bucket: String },
    Local,
}

/// Settings for S3 stores over the environment's: credentials of their own (each
/// component of the end-to-end tests signs as its own principal, as on AWS), or
/// another endpoint.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    settings: Vec<(object_store::aws::AmazonS3ConfigKey, String)>,
}

impl S3Options {
    /// These credentials rather than the environment's.
    pub fn credentials(access_key_id: &str, secret_access_key: &str, token: Option<&str>) -> Self {
        use object_store::aws::AmazonS3ConfigKey as Key;
        let mut settings = vec![
            (Key::AccessKeyId, access_key_id.to_owned()),
            (Key::SecretAccessKey, secret_access_key.to_owned()),
        ];
        settings.extend(token.map(|t| (Key::Token, t.to_owned())));
        Self { settings }
    }

    /// This endpoint (`http://` ones allowed) rather than the environment's.
    pub fn endpoint(mut self, url: &str) -> Self {
        self.settings.push((
            object_store::aws::AmazonS3ConfigKey::Endpoint,
            url.to_owned(),
        ));
        self
    }
}

impl StorageLocation {
    /// Parses `s3://…`, `file://…` or a plain path.
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        Self::parse_with(url, &S3Options::default())
    }

    /// As [`StorageLocation::parse`], an S3 store with `options` over the environment.
    pub fn parse_with(url: &str, options: &S3Options) -> Result<Self, StorageError> {
        if let Some((bucket, key)) = s3_bucket_and_key(url) {
            if bucket.is_empty() {
                return Err(StorageError::Unsupported {
                    url: url.to_owned(),
                    reason: "no bucket name after s3://".into(),
                });
            }
            let store = s3_store(bucket, options).map_err(|source| StorageError::S3Config {
                url: url.to_owned(),
                source,
            })?;
            let path = Path::parse(key).map_err(|e| StorageError::Unsupported {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            return Ok(Self {
                store,
                path,
                scheme: Scheme::S3 {
                    bucket: bucket.to_owned(),
                },
            });
        }
        let local = match url.strip_prefix("file://") {
            Some(p) => p,
            None if url.contains("://") => {
                return Err(StorageError::Unsupported {
                    url: url.to_owned(),
                    reason: "only s3://, file:// and local paths are supported".into(),
                });
            }
            None => url,
        };
        let absolute = std::path::absolute(local).map_err(|e| StorageError::LocalPath {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let path = Path::from_absolute_path(&absolute).map_err(|e| StorageError::LocalPath {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            path,
            scheme: Scheme::Local,
        })
    }

    /// A location in an S3 bucket served by an already-built store (tests, custom clients).
    pub fn s3(store: Arc<dyn ObjectStore>, bucket: &str, prefix: Path) -> Self {
        Self {
            store,
            path: prefix,
            scheme: Scheme::S3 {
                bucket: bucket.to_owned(),
            },
        }
    }

    /// The URI of this location itself.
    pub fn uri(&self) -> String {
        self.uri_of(&self.path)
    }

    /// [`StorageLocation::uri`] as a folder, ending in one `/`: what the URIs of the
    /// objects under it start with.
    pub fn folder_uri(&self) -> String {
        format!("{}/", self.uri().trim_end_matches('/'))
    }

    /// The URI of `path` (a path in this location's store): `s3://bucket/key` or `file:///key`.
    pub fn uri_of(&self, path: &Path) -> String {
        match &self.scheme {
            Scheme::S3 { bucket } => format!("s3://{bucket}/{path}"),
            Scheme::Local => format!("file:///{path}"),
        }
    }

    /// `self.path` joined with a relative `a/b/c` path (segments are taken as they are).
    pub fn join(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|s| !s.is_empty())
            .fold(self.path.clone(), |p, segment| p.clone().join(segment))
    }

    /// The same store at another path.
    pub fn at(&self, path: Path) -> Self {
        Self {
            store: Arc::clone(&self.store),
            path,
            scheme: self.scheme.clone(),
        }
    }

    /// True for `s3://` locations.
    pub fn is_s3(&self) -> bool {
        matches!(self.scheme, Scheme::S3 { .. })
    }
}

/// `s3://bucket/key` (or `s3a://`) → (bucket, key), the key as written (a trailing
/// `/` kept); the bucket may be empty. `None` for other URLs.
pub fn s3_bucket_and_key(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("s3://")
        .or_else(|| url.strip_prefix("s3a://"))?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// An S3 store for `bucket` from the standard AWS environment (object_store's
/// `from_env`: region, credentials, `AWS_ENDPOINT_URL[_S3]`), with plain HTTP allowed
/// when the endpoint is an `http://` one (a local S3-compatible server).
fn s3_store(
    bucket: &str,
    options: &S3Options,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let endpoint = options
        .settings
        .iter()
        .rev()
        .find(|(k, _)| *k == Key::Endpoint)
        .map(|(_, v)| v.clone())
        .or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                .iter()
                .find_map(|k| std::env::var(k).ok())
        });
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in &options.settings {
        builder = builder.with_config(*key, value);
    }
    if endpoint.is_some_and(|e| e.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        let loc = StorageLocation::parse("s3://feeds/incoming/2026/").ok();
        let loc = loc.as_ref();
        assert_eq!(loc.map(|l| l.path.as_ref()), Some("incoming/2026"));
        assert_eq!(
            loc.map(StorageLocation::uri).as_deref(),
            Some("s3://feeds/incoming/2026")
        );
        assert!(loc.is_some_and(StorageLocation::is_s3));
    }

    #[test]
    fn relative_paths_become_absolute_file_uris() {
        let loc = StorageLocation::parse("some/dir").ok();
        let cwd = std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string());
        assert_eq!(
            loc.map(|l| l.uri()),
            cwd.map(|c| format!("file://{c}/some/dir"))
        );
    }

    #[test]
    fn event_keys_become_objects_or_clear_errors() {
        let buckets = S3Buckets::default();
        let found = buckets
            .object("raw", "raw/2026/x y ü.json")
            .map(|l| l.uri())
            .ok();
        assert_eq!(found.as_deref(), Some("s3://raw/raw/2026/x y ü.json"));
        let err = buckets
            .object("raw", "a/../b")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("s3://raw/a/../b"), "{err}");
    }

    #[test]
    fn unknown_schemes_and_empty_buckets_are_rejected() {
        let err = StorageLocation::parse("gs://x/y")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("gs://x/y")));
        assert!(StorageLocation::parse("s3:///key").is_err());
    }
}

/// Gives the location of a bucket by name: how handlers turn event bucket names into
/// stores. [`S3Buckets`] builds S3 stores from the environment and keeps them, so that
/// connections are reused across invocations; [`MemoryBuckets`] holds them in memory
/// for tests.
pub trait BucketResolver: Send + Sync {
    /// The root of bucket `name`.
    fn bucket(&self, name: &str) -> Result<StorageLocation, StorageError>;

    /// The object `key` (decoded) of bucket `bucket`.
    fn object(&self, bucket: &str, key: &str) -> Result<StorageLocation, StorageError> {
        let path = Path::parse(key).map_err(|e| StorageError::Unsupported {
            url: format!("s3://{bucket}/{key}"),
            reason: e.to_string(),
        })?;
        Ok(self.bucket(bucket)?.at(path))
    }
}

/// S3 buckets configured from the standard AWS environment, built once per bucket.
#[derive(Debug, Default)]
pub struct S3Buckets {
    cache: std::sync::Mutex<std::collections::HashMap<String, StorageLocation>>,
    options: S3Options,
}

impl S3Buckets {
    /// Buckets whose stores take `options` over the environment.
    pub fn with_options(options: S3Options) -> Self {
        Self {
            cache: Default::default(),
            options,
        }
    }
}

impl BucketResolver for S3Buckets {
    fn bucket(&self, name: &str) -> Result<StorageLocation, StorageError> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(found);
        }
        let location = StorageLocation::parse_with(&format!("s3://{name}"), &self.options)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name.to_owned(), location.clone());
        }
        Ok(location)
    }
}

/// An object opened for reading: what the store says of it, the identity its
/// records' lineage carries, and its bytes as a synchronous stream.
pub struct OpenedObject {
    /// The object's metadata.
    pub meta: object_store::ObjectMeta,
    /// Its URI and version, as lineage records them.
    pub source: crate::lineage::SourceObject,
    /// Its bytes.
    pub body: Box<dyn std::io::Read + Send>,
}

/// Why an object could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// There is no such object (or version): a retry will not help.
    #[error("`{uri}` not found")]
    NotFound {
        uri: String,
        source: object_store::Error,
    },
    /// The store failed.
    #[error("cannot read `{uri}`")]
    Read {
        uri: String,
        source: object_store::Error,
    },
    /// The object is not the one expected: its ETag is no longer `e_tag` (an
    /// unversioned bucket's object overwritten since the event or listing named it). A
    /// retry will not help.
    #[error(
        "`{uri}` is not the object expected: its ETag is no longer {e_tag} (overwritten since it was named; on an unversioned bucket, only the newest object can be read)"
    )]
    Changed { uri: String, e_tag: String },
}

/// Which object a read must get, as an event or a listing named it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected<'a> {
    /// An S3 version id: the read gets that version (a versioned bucket).
    pub version: Option<&'a str>,
    /// The ETag (with or without quotes): without a version id, the read gets this
    /// object or fails with [`OpenError::Changed`] (the response's ETag is checked,
    /// as `If-Match` would).
    pub e_tag: Option<&'a str>,
}

impl<'a> Expected<'a> {
    /// A version id, or none (the current object).
    pub fn version(version: Option<&'a str>) -> Self {
        Self {
            version,
            e_tag: None,
        }
    }
}

/// Opens `location` (`version` pins an S3 version id) as [`open_object`] does, and
/// names it as lineage does ([`object_version`]).
pub async fn open_source(
    location: &StorageLocation,
    version: Option<&str>,
) -> Result<OpenedObject, OpenError> {
    open_expected(location, Expected::version(version)).await
}

/// Opens the object at `location` that `expected` names (see [`Expected`]), and names
/// it as lineage does ([`object_version`]).
pub async fn open_expected(
    location: &StorageLocation,
    expected: Expected<'_>,
) -> Result<OpenedObject, OpenError> {
    open_expected_from(location, expected, 0).await
}

/// [`open_expected`] from byte `from` of the object on (a ranged GET): the body
/// starts there, the metadata is the whole object's. A continued ingest reads the rest
/// of a plain feed this way.
pub async fn open_expected_from(
    location: &StorageLocation,
    expected: Expected<'_>,
    from: u64,
) -> Result<OpenedObject, OpenError> {
    let uri = location.uri();
    let version = expected.version;
    match get_object(location, expected, from).await {
        Ok((meta, body)) => Ok(OpenedObject {
            source: crate::lineage::SourceObject {
                version: object_version(&meta, version),
                uri,
            },
            meta,
            body,
        }),
        Err(source @ object_store::Error::NotFound { .. }) => {
            Err(OpenError::NotFound { uri, source })
        }
        Err(object_store::Error::Precondition { .. }) => Err(OpenError::Changed {
            uri,
            e_tag: expected
                .e_tag
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        }),
        Err(source) => Err(OpenError::Read { uri, source }),
    }
}

/// Opens the object at `location` for reading as a synchronous stream (for a blocking
/// thread): a local file directly, a remote object through its byte stream. `version`
/// pins an S3 version id. Returns the object's metadata too.
pub async fn open_object(
    location: &StorageLocation,
    version: Option<&str>,
) -> Result<(object_store::ObjectMeta, Box<dyn std::io::Read + Send>), object_store::Error> {
    get_object(location, Expected::version(version), 0).await
}

async fn get_object(
    location: &StorageLocation,
    expected: Expected<'_>,
    from: u64,
) -> Result<(object_store::ObjectMeta, Box<dyn std::io::Read + Send>), object_store::Error> {
    use futures::TryStreamExt;
    let options = object_store::GetOptions {
        version: expected.version.map(str::to_owned),
        range: (from > 0).then_some(object_store::GetRange::Offset(from)),
        ..Default::default()
    };
    let object = location.store.get_opts(&location.path, options).await?;
    // A version id names one object for good. Without one, the ETag the response
    // carries is that of the bytes it holds: the check `If-Match` would make, made
    // here so that it does not depend on how a store quotes its ETags.
    let unquoted = |t: &str| t.trim_matches('"').to_owned();
    if expected.version.is_none()
        && let Some(want) = expected.e_tag.filter(|t| !t.is_empty())
        && object.meta.e_tag.as_deref().map(unquoted) != Some(unquoted(want))
    {
        return Err(object_store::Error::Precondition {
            path: location.path.to_string(),
            source: format!(
                "ETag {} expected, {} now",
                unquoted(want),
                object
                    .meta
                    .e_tag
                    .as_deref()
                    .map(unquoted)
                    .unwrap_or_default()
            )
            .into(),
        });
    }
    let range = object.range.clone();
    let reader: Box<dyn std::io::Read + Send> = match object.payload {
        // A local file comes whole: the range is for the reader to keep to.
        object_store::GetResultPayload::File(mut file, _) => {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(range.start))
                .map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?;
            Box::new(file.take(range.end - range.start))
        }
        object_store::GetResultPayload::Stream(stream) => {
            Box::new(tokio_util::io::SyncIoBridge::new(
                tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other)),
            ))
        }
    };
    Ok((object.meta, reader))
}

/// The version lineage records for a feed file. For an object in a bucket, its
/// version id or ETag ([`object_version`]). For a local file, a digest of its bytes,
/// `sha256-<32 hex digits>`: a local file system's ETag changes with the modification
/// time, so a `touch` or a copy would give the same records new ids; the content does
/// not. (Reading a local feed thus costs one more pass over it.)
pub async fn feed_version(
    location: &StorageLocation,
    meta: &object_store::ObjectMeta,
    requested: Option<&str>,
) -> Result<String, OpenError> {
    if location.is_s3() {
        return Ok(object_version(meta, requested));
    }
    let OpenedObject { mut body, .. } = open_source(location, requested).await?;
    let uri = location.uri();
    let digest = tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut body, &mut hasher).map(|_| hasher.finalize())
    })
    .await
    .map_err(|e| OpenError::Read {
        uri: uri.clone(),
        source: object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        },
    })?
    .map_err(|e| OpenError::Read {
        uri,
        source: object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        },
    })?;
    Ok(format!("sha256-{}", hex::encode(&digest[..16])))
}

/// Listed objects read once more, one HEAD each (at most 16 at once), so that each
/// carries its version id on a versioned bucket. A listing (ListObjectsV2) gives no
/// version ids, while S3 events and reads do; without this, a listed object would be
/// named by its ETag where its records and manifests carry its version id. Objects of
/// a local folder are returned as they are. An object deleted since it was listed is
/// left out.
pub async fn with_versions(
    location: &StorageLocation,
    listed: Vec<object_store::ObjectMeta>,
) -> Result<Vec<object_store::ObjectMeta>, object_store::Error> {
    use futures::{StreamExt, TryStreamExt};
    use object_store::ObjectStoreExt;
    if !location.is_s3() {
        return Ok(listed);
    }
    let store = &location.store;
    let heads: Vec<Option<object_store::ObjectMeta>> = futures::stream::iter(listed)
        .map(|meta| async move {
            match store.head(&meta.location).await {
                Ok(head) => Ok(Some(head)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffered(16)
        .try_collect()
        .await?;
    Ok(heads.into_iter().flatten().collect())
}

/// The version string lineage records for an object: its version id, else its ETag
/// without quotes, else `unversioned`.
pub fn object_version(meta: &object_store::ObjectMeta, requested: Option<&str>) -> String {
    meta.version
        .clone()
        .or_else(|| requested.map(str::to_owned))
        .or_else(|| meta.e_tag.as_ref().map(|t| t.trim_matches('"').to_owned()))
        .unwrap_or_else(|| "unversioned".into())
}
