//! The feeds file: the one place that names the feeds of a deployment (issue 17).
//!
//! ```toml
//! [[feeds]]
//! table = "orders"                    # Snowflake table and curated folder
//! prefix = "orders/"                  # source keys under this prefix belong to this feed
//! contract = "contracts/orders.json"  # relative to this file, or a URL; optional in local mode
//! event_time = "created_at"           # optional: the dt column, else _ingested_at
//! partition_key = "customer.id"       # optional: Kinesis partition key field (a dotted path)
//! ```
//!
//! [`FeedsFile::parse`] checks what can be checked without reading contracts, and
//! names the file and the entry: an unknown field, a table name that is not a plain
//! identifier, a table given twice, a prefix given twice. Prefixes may nest
//! (`orders/` and `orders/eu/`): a key belongs to the feed with the longest prefix it
//! starts with ([`FeedsFile::route`]), so a sub-folder can go to a table of its own.
//! A key that starts with no prefix belongs to no feed: the caller quarantines the file
//! as unrouted rather than skip it. Contracts are read and parsed by the conversion
//! (`feedpipe-convert`), which names this file and the entry when one does not parse.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One feed: a table, the source keys that belong to it, and how to read them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// The Snowflake table and curated folder.
    pub table: String,
    /// Source keys starting with this belong to the feed.
    pub prefix: String,
    /// The contract: a path relative to the feeds file, or a URL (`s3://…`).
    #[serde(default)]
    pub contract: Option<String>,
    /// The contract field that gives `dt`, else `_ingested_at`.
    #[serde(default)]
    pub event_time: Option<String>,
    /// The field (a dotted path) whose value is the Kinesis partition key.
    #[serde(default)]
    pub partition_key: Option<String>,
}

/// A parsed, checked feeds file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedsFile {
    /// Where it was read from (for errors and relative contract paths).
    pub origin: String,
    /// The feeds, in the file's order.
    pub feeds: Vec<FeedSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    feeds: Vec<FeedSpec>,
}

/// Why a feeds file cannot be used; the message names the file and the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feeds file {origin}: {reason}")]
pub struct FeedsError {
    /// The file.
    pub origin: String,
    /// What is wrong, naming the entry.
    pub reason: String,
}

/// Whether `name` is a plain identifier: ASCII letters, digits and `_`, not starting
/// with a digit (what Snowflake takes unquoted, and a safe folder name).
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl FeedsFile {
    /// Parses and checks the TOML `text` of the file at `origin`.
    pub fn parse(origin: &str, text: &str) -> Result<Self, FeedsError> {
        let fail = |reason: String| FeedsError {
            origin: origin.to_owned(),
            reason,
        };
        let doc: Document = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if doc.feeds.is_empty() {
            return Err(fail("no [[feeds]] entry".into()));
        }
        for (i, feed) in doc.feeds.iter().enumerate() {
            let entry = format!("entry {} (table `{}`)", i + 1, feed.table);
            if !is_plain_identifier(&feed.table) {
                return Err(fail(format!(
                    "{entry}: the table name must be letters, digits and `_`, not starting with a digit"
                )));
            }
            if feed.table.starts_with('_') {
                return Err(fail(format!(
                    "{entry}: a table name may not start with `_`: the curated bucket's `_` folders are feedpipe's own (`_manifests/`, `_feedpipe/`), and `query` and `reconcile` skip them"
                )));
            }
            if feed.prefix.starts_with('/') {
                return Err(fail(format!(
                    "{entry}: prefix `{}` starts with `/`; keys do not",
                    feed.prefix
                )));
            }
            for field in [&feed.event_time, &feed.partition_key]
                .into_iter()
                .flatten()
            {
                if field.is_empty() || field.split('.').any(str::is_empty) {
                    return Err(fail(format!("{entry}: `{field}` is not a field path")));
                }
            }
            if let Some((j, other)) = doc.feeds[..i]
                .iter()
                .enumerate()
                .find(|(_, o)| o.table.eq_ignore_ascii_case(&feed.table))
            {
                return Err(fail(format!(
                    "{entry}: table `{}` is entry {} already (Snowflake names are not case-sensitive)",
                    other.table,
                    j + 1
                )));
            }
            if let Some((j, other)) = doc.feeds[..i]
                .iter()
                .enumerate()
                .find(|(_, o)| o.prefix == feed.prefix)
            {
                return Err(fail(format!(
                    "{entry}: prefix `{}` is entry {}'s (table `{}`) already: a key would belong to two feeds",
                    feed.prefix,
                    j + 1,
                    other.table
                )));
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            feeds: doc.feeds,
        })
    }

    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<Self, FeedsError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FeedsError {
            origin: origin.clone(),
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(&origin, &text)
    }

    /// The feed `key` (a source object key, or a path under the source folder) belongs
    /// to: the one with the longest prefix `key` starts with; `None` for no feed.
    pub fn route(&self, key: &str) -> Option<&FeedSpec> {
        self.route_index(key).map(|i| &self.feeds[i])
    }

    /// The index in [`FeedsFile::feeds`] of the feed `key` belongs to.
    pub fn route_index(&self, key: &str) -> Option<usize> {
        self.feeds
            .iter()
            .enumerate()
            .filter(|(_, f)| key.starts_with(&f.prefix))
            .max_by_key(|(_, f)| f.prefix.len())
            .map(|(i, _)| i)
    }

    /// Reads and checks the file at `url`: an `s3://…` object, or a local path
    /// (`file://…` too). Its contracts' relative paths are relative to `url`.
    pub async fn load(url: &str) -> Result<Self, FeedsError> {
        let fail = |reason: String| FeedsError {
            origin: url.to_owned(),
            reason,
        };
        if !url.contains("://") || url.starts_with("file://") {
            let path = url.strip_prefix("file://").unwrap_or(url);
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| fail(format!("cannot read it: {e}")))?;
            return Self::parse(url, &text);
        }
        let location =
            crate::storage::StorageLocation::parse(url).map_err(|e| fail(e.to_string()))?;
        let bytes = object_store::ObjectStoreExt::get(location.store.as_ref(), &location.path)
            .await
            .map_err(|e| fail(format!("cannot read it: {e}")))?
            .bytes()
            .await
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| fail("it is not UTF-8 text".into()))?;
        Self::parse(url, text)
    }

    /// Where `feed`'s contract is: a URL as given, or a path relative to this file's
    /// folder (`None` when the entry names none).
    pub fn contract_location(&self, feed: &FeedSpec) -> Option<String> {
        let contract = feed.contract.as_deref()?;
        if contract.contains("://") || Path::new(contract).is_absolute() {
            return Some(contract.to_owned());
        }
        let base = match self.origin.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/"),
            None => String::new(),
        };
        Some(match base.is_empty() {
            true => PathBuf::from(contract).display().to_string(),
            false => format!("{base}{contract}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = r#"
[[feeds]]
table = "orders"
prefix = "orders/"
contract = "contracts/orders.json"
event_time = "created_at"
partition_key = "customer.id"

[[feeds]]
table = "orders_eu"
prefix = "orders/eu/"

[[feeds]]
table = "customers"
prefix = "customers/"
contract = "s3://config/contracts/customers.json"
"#;

    #[test]
    fn a_key_goes_to_the_feed_with_its_longest_prefix_or_to_none() {
        let feeds = FeedsFile::parse("deploy/feeds.toml", THREE).unwrap();
        let table = |key: &str| feeds.route(key).map(|f| f.table.as_str());
        assert_eq!(table("orders/2026-11-23.jsonl"), Some("orders"));
        assert_eq!(table("orders/eu/2026-11-23.jsonl"), Some("orders_eu"));
        assert_eq!(table("customers/all.json.gz"), Some("customers"));
        assert_eq!(table("loyalty/points.jsonl"), None);
        assert_eq!(
            table("ordersx/a.jsonl"),
            None,
            "a prefix is matched as written"
        );
        let orders = &feeds.feeds[0];
        assert_eq!(orders.partition_key.as_deref(), Some("customer.id"));
        assert_eq!(
            feeds.contract_location(orders).as_deref(),
            Some("deploy/contracts/orders.json"),
            "relative to the feeds file"
        );
        assert_eq!(
            feeds.contract_location(&feeds.feeds[2]).as_deref(),
            Some("s3://config/contracts/customers.json")
        );
        assert_eq!(feeds.contract_location(&feeds.feeds[1]), None);
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_the_entry() {
        let cases = [
            ("", "missing field `feeds`"),
            ("feeds = []", "no [[feeds]] entry"),
            (
                "[[feeds]]\ntable = \"9lives\"\nprefix = \"a/\"",
                "entry 1 (table `9lives`): the table name must be letters",
            ),
            (
                "[[feeds]]\ntable = \"a\"\nprefix = \"a/\"\n[[feeds]]\ntable = \"A\"\nprefix = \"b/\"",
                "entry 2 (table `A`): table `a` is entry 1 already",
            ),
            (
                "[[feeds]]\ntable = \"a\"\nprefix = \"x/\"\n[[feeds]]\ntable = \"b\"\nprefix = \"x/\"",
                "entry 2 (table `b`): prefix `x/` is entry 1's (table `a`) already",
            ),
            (
                "[[feeds]]\ntable = \"a\"\nprefix = \"x/\"\ncontracts = \"c.json\"",
                "unknown field `contracts`",
            ),
            (
                "[[feeds]]\ntable = \"_manifests\"\nprefix = \"x/\"",
                "entry 1 (table `_manifests`): a table name may not start with `_`",
            ),
            (
                "[[feeds]]\ntable = \"a\"\nprefix = \"/x/\"",
                "prefix `/x/` starts with `/`",
            ),
            (
                "[[feeds]]\ntable = \"a\"\nprefix = \"x/\"\npartition_key = \"customer..id\"",
                "`customer..id` is not a field path",
            ),
        ];
        for (text, want) in cases {
            let err = FeedsFile::parse("feeds.toml", text)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("feeds file feeds.toml: "), "{err}");
            assert!(err.contains(want), "{want:?} in {err:?}");
        }
    }
}
