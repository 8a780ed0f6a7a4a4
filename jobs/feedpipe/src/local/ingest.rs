//! The ingest Lambda's part in the local pipeline: each source file through the
//! ingest core into the in-process stream, once per version (see [`super::ledger`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use feedpipe_ingest::{DeliveredLines, IngestJob, IngestSummary, RunOptions};
use feedpipe_shared::feed::listing::{FeedListing, SkippedFile};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{StorageLocation, feed_version};
use feedpipe_standins::InProcessStream;
use object_store::ObjectMeta;

use super::ledger::Ledger;

/// What became of one source file.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Its records are in the stream or the quarantine.
    Ingested(IngestSummary),
    /// This version was ingested by an earlier run.
    AlreadyIngested,
    /// The ingest failed (its records may be partly in the stream).
    Failed(String),
    /// No feed of the feeds file has its key: quarantined whole, not sent.
    Unrouted(String),
}

/// One source file's ingest, as reported.
#[derive(Debug)]
pub(super) struct IngestedFile {
    pub name: String,
    pub outcome: Outcome,
    pub millis: u128,
}

/// The source side of a run: the ingest core, its stream, the ledger, and what it did.
pub(super) struct SourceIngest {
    job: IngestJob,
    stream: Arc<InProcessStream>,
    pub ledger: Ledger,
    /// The source folder's URI, which names are shown relative to.
    root: String,
    /// (URI, version) taken in this run.
    seen: HashSet<(String, String)>,
    /// Every file taken, in order.
    pub files: Vec<IngestedFile>,
    /// Every file the listing skipped, once each, in order.
    pub skipped: Vec<SkippedFile>,
    /// Files an interrupted run started, by (URI, version): the lines already in raw
    /// objects ([`super::resume`]).
    resume: HashMap<(String, String), Arc<DeliveredLines>>,
    /// With a feeds file, each file's feed (by its path under the source folder).
    feeds: Option<Arc<FeedsFile>>,
}

impl SourceIngest {
    pub fn new(
        job: IngestJob,
        stream: Arc<InProcessStream>,
        ledger: Ledger,
        source: &StorageLocation,
        resume: HashMap<(String, String), Arc<DeliveredLines>>,
        feeds: Option<Arc<FeedsFile>>,
    ) -> Self {
        Self {
            feeds,
            job,
            stream,
            ledger,
            root: source.folder_uri(),
            seen: HashSet::new(),
            files: Vec::new(),
            skipped: Vec::new(),
            resume,
        }
    }

    /// Notes the files a listing skipped, saying so for those not seen before.
    pub fn skipped(&mut self, listing: &FeedListing) {
        for skipped in &listing.skipped {
            if !self.skipped.contains(skipped) {
                eprintln!("  skipped  {skipped}");
                self.skipped.push(skipped.clone());
            }
        }
    }

    /// Ingests the feed at `location` unless this version was taken in this run or
    /// ingested by an earlier one.
    pub async fn ingest(
        &mut self,
        location: &StorageLocation,
        meta: &ObjectMeta,
        verbose: bool,
    ) -> anyhow::Result<()> {
        let source = SourceObject {
            uri: location.uri(),
            version: feed_version(location, meta, None)
                .await
                .with_context(|| format!("cannot read {}", location.uri()))?,
        };
        if !self
            .seen
            .insert((source.uri.clone(), source.version.clone()))
        {
            return Ok(());
        }
        let name = source
            .uri
            .strip_prefix(&self.root)
            .unwrap_or(&source.uri)
            .to_owned();
        // The feed's own partition key; a file of no feed is one quarantine entry.
        let job = match &self.feeds {
            None => self.job.clone(),
            Some(feeds) => match feeds.route(&name) {
                Some(feed) => self.job.with_partition_key(feed.partition_key.clone()),
                None => {
                    let written = self
                        .job
                        .quarantine_unrouted(&source, &name, &feeds.origin)
                        .await
                        .with_context(|| format!("cannot quarantine {}", source.uri))?;
                    let reason = format!(
                        "no feed for key `{name}` in {}; quarantined whole ({})",
                        feeds.origin,
                        written.join(", ")
                    );
                    eprintln!("  unrouted {name}: {reason}");
                    self.files.push(IngestedFile {
                        name,
                        outcome: Outcome::Unrouted(reason),
                        millis: 0,
                    });
                    return Ok(());
                }
            },
        };
        if self.ledger.has(&source) {
            self.files.push(IngestedFile {
                name,
                outcome: Outcome::AlreadyIngested,
                millis: 0,
            });
            return Ok(());
        }
        let t = Instant::now();
        self.ledger.begin(&source).await?;
        let delivered = self
            .resume
            .remove(&(source.uri.clone(), source.version.clone()));
        if let Some(delivered) = &delivered {
            println!(
                "  resume   {name}: an earlier run was interrupted; {} record(s) already in raw objects are not sent again",
                delivered.len()
            );
        }
        let options = RunOptions {
            version: meta.version.clone(),
            delivered,
            // Hashed above: the file is read once more, not twice.
            content_version: Some(source.version.clone()),
            ..Default::default()
        };
        let run = job.run_with(location, options).await;
        let outcome = match run {
            Ok(summary) => {
                self.ledger
                    .ingested(&source, &summary, self.stream.positions());
                if verbose {
                    println!(
                        "  ingest   {name}: {} read, {} delivered to the stream, {} quarantined",
                        summary.records_read, summary.records_sent, summary.records_quarantined
                    );
                }
                Outcome::Ingested(summary)
            }
            Err(e) => {
                eprintln!("  ingest   {name}: failed: {e}");
                Outcome::Failed(e.to_string())
            }
        };
        self.files.push(IngestedFile {
            name,
            outcome,
            millis: t.elapsed().as_millis(),
        });
        Ok(())
    }
}
