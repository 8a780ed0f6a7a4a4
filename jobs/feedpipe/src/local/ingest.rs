//! The ingest Lambda's part in the local pipeline: each source file through the
//! ingest core into the in-process stream, once per version (see [`super::ledger`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use feedpipe_ingest::{IngestJob, IngestSummary};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::object_version;
use feedpipe_standins::InProcessStream;
use object_store::ObjectStoreExt;

use super::ledger::Ledger;
use super::workdir::location;

/// What became of one source file.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Its records are in the stream or the quarantine.
    Ingested(IngestSummary),
    /// This version was ingested by an earlier run.
    AlreadyIngested,
    /// The ingest failed (its records may be partly in the stream).
    Failed(String),
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
    /// (file, version) taken in this run.
    seen: HashSet<(PathBuf, String)>,
    /// Every file taken, in order.
    pub files: Vec<IngestedFile>,
}

impl SourceIngest {
    pub fn new(job: IngestJob, stream: Arc<InProcessStream>, ledger: Ledger) -> Self {
        Self {
            job,
            stream,
            ledger,
            seen: HashSet::new(),
            files: Vec::new(),
        }
    }

    /// Ingests `file` unless this version was taken in this run or ingested by an
    /// earlier one.
    pub async fn ingest(&mut self, file: &Path, verbose: bool) -> anyhow::Result<()> {
        let location = location(file)?;
        let meta = location
            .store
            .head(&location.path)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let source = SourceObject {
            uri: location.uri(),
            version: object_version(&meta, None),
        };
        if !self
            .seen
            .insert((file.to_path_buf(), source.version.clone()))
        {
            return Ok(());
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.ledger.has(&source) {
            self.files.push(IngestedFile {
                name,
                outcome: Outcome::AlreadyIngested,
                millis: 0,
            });
            return Ok(());
        }
        let t = Instant::now();
        let outcome = match self.job.run(&location, meta.version.as_deref()).await {
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
