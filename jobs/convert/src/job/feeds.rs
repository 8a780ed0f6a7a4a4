//! `FeedConverter`: the conversion of a deployment with many feeds. Raw objects hold
//! the records of every feed (one stream carries them all); each record goes to its
//! feed's table by its lineage (`_source_uri`), and each table gets what converting
//! its records alone would give: its Parquet under `<table>/dt=…/`, its quarantine
//! entries, its manifest at `_manifests/<table>/…`. The object is read once.
//!
//! One feed without a feeds file is the same type over one table without routing
//! ([`FeedConverter::single`]), so the Lambda and the CLI have one code path.

use std::sync::Arc;

use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{Expected, StorageLocation};

use super::{
    ConvertError, Converter, Manifest, RawInput, RouteFn, Routes, Routing, convert_tables,
};

/// Converts raw objects for one table, or for the many tables of a feeds file.
#[derive(Clone)]
pub struct FeedConverter {
    converters: Vec<Converter>,
    routes: Option<Routes>,
}

impl From<Converter> for FeedConverter {
    fn from(converter: Converter) -> Self {
        Self::single(converter)
    }
}

/// The key of a source file's URI, as the feeds file's prefixes are written: the
/// part after `root` when given (`file:///…/source/` locally), else the key of an
/// `s3://bucket/key` URI.
pub fn source_key<'a>(uri: &'a str, root: Option<&str>) -> Option<&'a str> {
    if let Some(root) = root {
        return uri
            .strip_prefix(root)
            .map(|key| key.trim_start_matches('/'));
    }
    uri.strip_prefix("s3://")?
        .split_once('/')
        .map(|(_, key)| key)
}

impl FeedConverter {
    /// Every record to `converter`'s table, as [`Converter::convert_group`] does.
    pub fn single(converter: Converter) -> Self {
        Self {
            converters: vec![converter],
            routes: None,
        }
    }

    /// The tables of `feeds`, one converter per feed in the file's order
    /// (`converters[i]` is `feeds.feeds[i]`'s), each record routed by the longest
    /// prefix of its source key ([`source_key`] with `source_root`). With `only`,
    /// only that table is written (backfill of one table); the records of no feed
    /// are quarantined by the first feed's conversion (so once, whichever tables a
    /// run selects), with the reason.
    pub fn routed(
        feeds: &FeedsFile,
        converters: Vec<Converter>,
        source_root: Option<String>,
        only: Option<&str>,
    ) -> Result<Self, String> {
        if converters.len() != feeds.feeds.len() {
            return Err(format!(
                "{} converters for the {} feeds of {}",
                converters.len(),
                feeds.feeds.len(),
                feeds.origin
            ));
        }
        let chosen: Vec<usize> = match only {
            None => (0..converters.len()).collect(),
            Some(table) => {
                let found = feeds
                    .feeds
                    .iter()
                    .position(|f| f.table.eq_ignore_ascii_case(table))
                    .ok_or_else(|| {
                        format!(
                            "no feed has table `{table}` in {} (tables: {})",
                            feeds.origin,
                            feeds
                                .feeds
                                .iter()
                                .map(|f| f.table.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?;
                vec![found]
            }
        };
        // Feed index → the index of its converter in this conversion.
        let mut slot = vec![None; feeds.feeds.len()];
        for (i, feed) in chosen.iter().enumerate() {
            slot[*feed] = Some(i);
        }
        let routing_feeds = feeds.clone();
        let route: Arc<RouteFn> = Arc::new(move |uri: &str| {
            let Some(feed) = source_key(uri, source_root.as_deref())
                .and_then(|key| routing_feeds.route_index(key))
            else {
                return Routing::NoFeed;
            };
            slot[feed].map_or(Routing::Skip, Routing::Table)
        });
        let unrouted_to = (chosen.first() == Some(&0)).then_some(0);
        let mut converters: Vec<Option<Converter>> = converters.into_iter().map(Some).collect();
        Ok(Self {
            converters: chosen
                .iter()
                .filter_map(|i| converters[*i].take())
                .collect(),
            routes: Some(Routes { route, unrouted_to }),
        })
    }

    /// The tables written, in order.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.converters.iter().map(Converter::table)
    }

    /// The converter of each table written.
    pub fn converters(&self) -> &[Converter] {
        &self.converters
    }

    /// The same conversion, with `threads` decoder threads.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.converters = self
            .converters
            .into_iter()
            .map(|c| c.with_threads(threads))
            .collect();
        self
    }

    /// Converts a group of raw objects (see [`Converter::convert_group`]): a
    /// manifest per table written, in order.
    pub async fn convert_group(&self, inputs: &[RawInput]) -> Result<Vec<Manifest>, ConvertError> {
        convert_tables(&self.converters, self.routes.clone(), inputs).await
    }

    /// Converts the raw object at `raw` that `expected` names (see
    /// [`Converter::convert_expected`]).
    pub async fn convert_expected(
        &self,
        raw: &StorageLocation,
        expected: Expected<'_>,
    ) -> Result<Vec<Manifest>, ConvertError> {
        self.convert_group(&[RawInput::expected(raw, expected)])
            .await
    }

    /// The manifest of a finished conversion of `source` when every table written
    /// has one (the first table's; all of one group list the same inputs), so that a
    /// conversion stopped between two tables' manifests is done again.
    pub async fn manifest(&self, source: &SourceObject) -> Option<Manifest> {
        let mut first = None;
        for converter in &self.converters {
            let manifest = converter.manifest(source).await?;
            first.get_or_insert(manifest);
        }
        first
    }
}
