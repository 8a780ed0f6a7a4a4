//! `feedpipe gen`: writes the sample feed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use feedpipe_ingest::frame::RecordFramer;
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::lineage::SourceObject;
use flate2::Compression;
use flate2::write::GzEncoder;

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Good records to write.
    #[arg(long, default_value_t = 1000)]
    rows: u64,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// gzip the output.
    #[arg(long)]
    gzip: bool,
    /// Share of extra malformed lines (0.01 = about one in a hundred).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    bad_rate: f64,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day of the orders (YYYY-MM-DD).
    #[arg(long, default_value = "2026-11-01")]
    start: NaiveDate,
    /// Days the orders spread over.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Write the records as Firehose lands them in the raw bucket: framed by the
    /// ingest core, with lineage (source `s3://feedpipe-source/<file name>`);
    /// malformed lines are left out, as ingest would quarantine them.
    #[arg(long)]
    framed: bool,
}

/// Frames each complete line written through it with the ingest core's framer.
struct FramingWriter<W: Write> {
    inner: W,
    framer: RecordFramer,
    pending: Vec<u8>,
    line: u64,
    scratch: Vec<u8>,
}

impl<W: Write> FramingWriter<W> {
    fn frame_complete_lines(&mut self) -> std::io::Result<()> {
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|b| *b == b'\n') {
            self.line += 1;
            let line = &self.pending[start..start + end];
            if let Ok(record) = self.framer.frame(self.line, line, &mut self.scratch) {
                self.inner.write_all(&record.data)?;
            }
            start += end + 1;
        }
        self.pending.drain(..start);
        Ok(())
    }
}

impl<W: Write> Write for FramingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.frame_complete_lines()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a share from 0 to below 1")),
    }
}

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let options = SampleOptions {
        rows: args.rows,
        bad_rate: args.bad_rate,
        seed: args.seed,
        start: args.start,
        days: args.days,
    };
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let file = BufWriter::with_capacity(1 << 20, file);
    let file: Box<dyn Write> = if args.framed {
        let name = args
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = SourceObject {
            uri: format!("s3://feedpipe-source/{name}"),
            version: format!("gen-{}", args.seed),
        };
        let ingested_at = format!("{}T00:00:00.000000Z", args.start);
        let framer = RecordFramer::new(source, Some("customer_id".into()), &ingested_at, 1 << 20);
        Box::new(FramingWriter {
            inner: file,
            framer,
            pending: Vec::new(),
            line: 0,
            scratch: Vec::new(),
        })
    } else {
        Box::new(file)
    };
    let stats = if args.gzip {
        let mut gz = GzEncoder::new(file, Compression::default());
        let stats = write_feed(&mut gz, &options)?;
        gz.finish()?.flush()?;
        stats
    } else {
        let mut file = file;
        let stats = write_feed(&mut file, &options)?;
        file.flush()?;
        stats
    };
    println!(
        "wrote {}: {} records, {} malformed lines, {} bytes before compression",
        args.out.display(),
        stats.good,
        stats.bad,
        stats.bytes
    );
    Ok(ExitCode::SUCCESS)
}
