//! The raw-to-parquet "Lambda" of the local pipeline: one conversion per raw object,
//! and what they did in all.

use std::time::{Duration, Instant};

use feedpipe_convert::{FeedConverter, Manifest, RawInput};

/// What the conversion side did.
#[derive(Debug, Default)]
pub(super) struct ConvertStats {
    pub objects: u64,
    pub records_read: u64,
    pub rows_written: u64,
    pub quarantined: u64,
    pub parquet_files: u64,
    pub quarantine_objects: u64,
    pub busy: Duration,
    pub failures: Vec<String>,
}

impl ConvertStats {
    /// One table's part of a conversion (an object of several feeds has several).
    fn add(&mut self, m: &Manifest) {
        self.records_read += m.records_read;
        self.rows_written += m.rows_written;
        self.quarantined += m.records_quarantined;
        self.parquet_files += m.outputs.len() as u64;
        self.quarantine_objects += m.quarantine_objects.len() as u64;
    }
}

/// Converts one raw object (a group of one) as the raw-to-parquet Lambda would.
pub(super) async fn convert_one(
    converter: &FeedConverter,
    inputs: &[RawInput],
    stats: &mut ConvertStats,
    verbose: bool,
) {
    let Some(object) = inputs.first().map(|i| &i.location) else {
        return;
    };
    let t = Instant::now();
    let result = converter.convert_group(inputs).await;
    stats.busy += t.elapsed();
    let several = converter.converters().len() > 1;
    match result {
        Ok(manifests) => {
            stats.objects += 1;
            for m in &manifests {
                if verbose && (!several || m.records_read > 0) {
                    let outputs: Vec<String> = m
                        .outputs
                        .iter()
                        .map(|o| {
                            o.uri
                                .rsplit('/')
                                .take(3)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .collect::<Vec<_>>()
                                .join("/")
                        })
                        .collect();
                    println!(
                        "  convert  {}{} → {} row(s) in {}{}",
                        object.path.filename().unwrap_or_default(),
                        match several {
                            true => format!(" [{}]", m.table),
                            false => String::new(),
                        },
                        m.rows_written,
                        outputs.join(", "),
                        if m.records_quarantined > 0 {
                            format!(", {} quarantined", m.records_quarantined)
                        } else {
                            String::new()
                        }
                    );
                }
                stats.add(m);
            }
        }
        Err(e) => {
            eprintln!("  convert  {}: failed: {e}", object.uri());
            stats.failures.push(format!("{}: {e}", object.uri()));
        }
    }
}
