//! The monthly bill of one deployment for a feed profile, hop by hop.
//!
//! Plain arithmetic over a [`Profile`] (what the feed is) and a [`Setup`] (how the
//! deployment is sized), with the [`Prices`] table. Every line says what it counts, so
//! the figure can be checked by hand; the rules each service bills by (Kinesis rounds
//! a record up to 1 KiB and counts 25 KB PUT units, Firehose rounds to 5 KB) are
//! applied per Kinesis record, which is what packing changes.

use serde::Serialize;

use super::prices::Prices;

const DAYS: f64 = 30.0;
const GB: f64 = 1e9;
const MIB: f64 = 1024.0 * 1024.0;

/// What the feed is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Feed JSON a day, decompressed, in GB (10^9 bytes).
    pub gb_per_day: f64,
    /// Average customer record, as a line of the feed, in bytes.
    pub record_bytes: f64,
    /// Feed files a day.
    pub files_per_day: f64,
    /// Bytes the framer adds to a record (its lineage fields).
    pub lineage_bytes: f64,
    /// Average partition key, in bytes (it counts towards Kinesis' record size).
    pub partition_key_bytes: f64,
    /// Curated Parquet bytes per byte of feed JSON.
    pub parquet_ratio: f64,
    /// Raw (Firehose) object bytes stored per byte of framed records (gzip < 1).
    pub raw_ratio: f64,
    /// Feed MB/s one ingest invocation reads when the stream keeps up (CPU bound).
    pub ingest_mb_per_s: f64,
    /// Raw MB/s one raw-to-parquet invocation converts.
    pub convert_mb_per_s: f64,
}

/// How the deployment is sized; the defaults are `infra/`'s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setup {
    /// Largest packed Kinesis record (0: one Kinesis record per record).
    pub pack_bytes: f64,
    /// MiB/s the stream takes from one ingest invocation (a new on-demand stream: 4).
    pub stream_mib_per_s: f64,
    /// Provisioned shards are sized for the average rate times this.
    pub peak_factor: f64,
    /// Ingest Lambda memory, MB.
    pub ingest_memory_mb: f64,
    /// Raw-to-parquet Lambda memory, MB.
    pub convert_memory_mb: f64,
    /// Ingest Lambda timeout less its deadline margin: what one invocation reads for.
    pub ingest_seconds_per_invocation: f64,
    /// Firehose buffering size, MiB.
    pub firehose_buffer_mib: f64,
    /// Days data is kept in each bucket.
    pub retention_days: f64,
    /// DPUs of the seed design's Glue job, and the MB/s one DPU converts.
    pub glue_dpus: f64,
    pub glue_mb_per_dpu_second: f64,
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The hop and what is billed.
    pub item: String,
    /// What was counted, for a reader to check.
    pub basis: String,
    /// USD a month.
    pub usd: f64,
}

/// The bill of one setup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    /// Framed records packed per Kinesis record (1 without packing).
    pub records_per_kinesis_record: f64,
    /// Kinesis records a month.
    pub kinesis_records: f64,
    /// The stream, on demand (as `infra/` deploys it by default).
    pub kinesis_on_demand: Line,
    /// The stream, provisioned, instead.
    pub kinesis_provisioned: Line,
    /// Everything else of the pipeline, hop by hop.
    pub lines: Vec<Line>,
    /// The conversion hop done another way, each instead of the raw-to-parquet lines.
    pub alternatives: Vec<Line>,
    /// The month with the on-demand stream.
    pub total_on_demand: f64,
    /// The month with the provisioned stream.
    pub total_provisioned: f64,
}

fn line(item: &str, basis: String, usd: f64) -> Line {
    Line {
        item: item.to_owned(),
        basis,
        usd,
    }
}

/// `n` rounded up to a whole number of `unit`s, times `unit`.
fn rounded(n: f64, unit: f64) -> f64 {
    (n / unit).ceil().max(1.0) * unit
}

/// The month's bill of `setup` for `profile` at `prices`.
pub fn bill(profile: &Profile, setup: &Setup, prices: &Prices) -> Bill {
    let p = profile;
    let records_day = p.gb_per_day * GB / p.record_bytes;
    let framed = p.record_bytes + p.lineage_bytes;
    let framed_day = records_day * framed;
    // How many framed records a Kinesis record holds, and how large it is.
    let per_record =
        if setup.pack_bytes <= 0.0 || framed + p.partition_key_bytes >= setup.pack_bytes {
            1.0
        } else {
            ((setup.pack_bytes - p.partition_key_bytes) / framed)
                .floor()
                .max(1.0)
        };
    let data = per_record * framed;
    let kinesis_day = records_day / per_record;
    let kinesis_month = kinesis_day * DAYS;

    // Kinesis on demand: data in rounded to 1 KiB a record (data plus key), data out
    // as read by Firehose, and the stream's hours.
    let in_gb = kinesis_month * rounded(data + p.partition_key_bytes, 1024.0) / GB;
    let out_gb = kinesis_month * data / GB;
    let hours = 24.0 * DAYS;
    let on_demand = line(
        "Kinesis on-demand",
        format!("{in_gb:.1} GB in (1 KiB units), {out_gb:.1} GB read, {hours:.0} stream-hours"),
        in_gb * prices.kinesis_on_demand_gb_in
            + out_gb * prices.kinesis_on_demand_gb_out
            + hours * prices.kinesis_on_demand_stream_hour,
    );
    // Provisioned: shards for the average rate times the peak factor, 1 MiB/s and
    // 1,000 records/s each; 25 KB PUT payload units per record.
    let seconds_day = 86_400.0;
    let bytes_s = kinesis_day * (data + p.partition_key_bytes) / seconds_day;
    let records_s = kinesis_day / seconds_day;
    let shards = (bytes_s * setup.peak_factor / MIB)
        .max(records_s * setup.peak_factor / 1000.0)
        .ceil()
        .max(1.0);
    let put_units = kinesis_month
        * ((data + p.partition_key_bytes) / (25.0 * 1024.0))
            .ceil()
            .max(1.0);
    let provisioned = line(
        "Kinesis provisioned",
        format!(
            "{shards:.0} shard(s) x {hours:.0} h, {:.1} M PUT payload units",
            put_units / 1e6
        ),
        shards * hours * prices.kinesis_shard_hour
            + put_units / 1e6 * prices.kinesis_million_put_units,
    );

    let mut lines = Vec::new();
    // Firehose: each Kinesis record rounded up to 5 KB.
    let firehose_gb = kinesis_month * rounded(data, 5120.0) / GB;
    lines.push(line(
        "Firehose ingestion",
        format!(
            "{firehose_gb:.1} GB billed (5 KB units) for {:.1} GB of records",
            framed_day * DAYS / GB
        ),
        firehose_gb * prices.firehose_gb,
    ));

    // S3 objects and requests.
    let raw_objects_day = (framed_day / (setup.firehose_buffer_mib * MIB))
        .ceil()
        .max(p.files_per_day);
    let ingest_rate = (p.ingest_mb_per_s * 1e6).min(setup.stream_mib_per_s * MIB);
    let file_bytes = p.gb_per_day * GB / p.files_per_day.max(1.0);
    let ingest_seconds_file = file_bytes / ingest_rate;
    let parts_file = (ingest_seconds_file / setup.ingest_seconds_per_invocation)
        .ceil()
        .max(1.0);
    let curated_day = p.gb_per_day * GB * p.parquet_ratio;
    let curated_object = curated_day / raw_objects_day;
    // A Parquet file per raw object (one day each), in 8 MiB parts, and a manifest.
    let puts_day = raw_objects_day * ((curated_object / (8.0 * MIB)).ceil().max(1.0) + 1.0)
        + raw_objects_day
            * (framed_day / raw_objects_day * p.raw_ratio / (8.0 * MIB))
                .ceil()
                .max(1.0)
        + p.files_per_day;
    // Ingest reads each file once per part; convert reads each raw object and looks
    // for its manifest; Snowpipe reads each curated file.
    let gets_day = p.files_per_day * parts_file + raw_objects_day * 3.0;
    lines.push(line(
        "S3 requests",
        format!(
            "{:.0} PUT and {:.0} GET a day ({raw_objects_day:.0} raw objects, {:.0} feed files)",
            puts_day, gets_day, p.files_per_day
        ),
        DAYS * (puts_day / 1000.0 * prices.s3_thousand_puts
            + gets_day / 1000.0 * prices.s3_thousand_gets),
    ));
    let stored_gb =
        setup.retention_days * (p.gb_per_day * GB + framed_day * p.raw_ratio + curated_day) / GB;
    lines.push(line(
        "S3 storage",
        format!(
            "{stored_gb:.0} GB kept: {:.0} days of feed files, raw objects and Parquet",
            setup.retention_days
        ),
        stored_gb * prices.s3_gb_month,
    ));

    // Lambdas: GB-seconds from throughput, and requests.
    let ingest_gbs = DAYS * p.gb_per_day * GB / ingest_rate * setup.ingest_memory_mb / 1024.0;
    let ingest_requests = DAYS * p.files_per_day * parts_file;
    lines.push(line(
        "Lambda ingest",
        format!(
            "{ingest_gbs:.0} GB-s at {:.1} MB/s ({} MB), {ingest_requests:.0} invocations ({parts_file:.0} a file)",
            ingest_rate / 1e6,
            setup.ingest_memory_mb
        ),
        ingest_gbs * prices.lambda_gb_second + ingest_requests / 1e6 * prices.lambda_million_requests,
    ));
    let convert_gbs =
        DAYS * framed_day / (p.convert_mb_per_s * 1e6) * setup.convert_memory_mb / 1024.0;
    let convert_requests = DAYS * raw_objects_day;
    let convert = line(
        "Lambda raw-to-parquet",
        format!(
            "{convert_gbs:.0} GB-s at {:.0} MB/s ({} MB), {convert_requests:.0} invocations",
            p.convert_mb_per_s, setup.convert_memory_mb
        ),
        convert_gbs * prices.lambda_gb_second
            + convert_requests / 1e6 * prices.lambda_million_requests,
    );
    lines.push(convert.clone());
    // SQS: each raw notification and continuation sent, received and deleted, and
    // the event source mappings' idle long polls (5 pollers, 20 s, 2 queues).
    let continuations_day = p.files_per_day * (parts_file - 1.0);
    let sqs_month =
        DAYS * (3.0 * (raw_objects_day + continuations_day) + 2.0 * 5.0 * seconds_day / 20.0);
    lines.push(line(
        "SQS",
        format!("{:.2} M requests", sqs_month / 1e6),
        sqs_month / 1e6 * prices.sqs_million_requests,
    ));
    let snowpipe_gb = DAYS * curated_day / GB;
    lines.push(line(
        "Snowpipe",
        format!(
            "{snowpipe_gb:.1} GB of Parquet x {} credits/GB",
            prices.snowpipe_credits_gb
        ),
        snowpipe_gb * prices.snowpipe_credits_gb * prices.snowflake_credit,
    ));

    // The conversion hop done otherwise: the seed design's Glue Spark job, one run a
    // raw object with a 1-minute minimum; Firehose's own conversion.
    let raw_mb_object = framed_day / raw_objects_day / 1e6;
    let run_seconds = (raw_mb_object / (setup.glue_dpus * setup.glue_mb_per_dpu_second)).max(60.0);
    let dpu_hours = DAYS * raw_objects_day * run_seconds * setup.glue_dpus / 3600.0;
    let alternatives = vec![
        line(
            "Glue Spark job (seed design)",
            format!(
                "{dpu_hours:.0} DPU-h: {:.0} runs of {run_seconds:.0} s x {} DPU (1-minute minimum)",
                DAYS * raw_objects_day,
                setup.glue_dpus
            ),
            dpu_hours * prices.glue_dpu_hour,
        ),
        line(
            "Firehose JSON->Parquet conversion",
            format!("{firehose_gb:.1} GB converted (5 KB units)"),
            firehose_gb * prices.firehose_conversion_gb,
        ),
    ];
    let rest: f64 = lines.iter().map(|l| l.usd).sum();
    Bill {
        records_per_kinesis_record: per_record,
        kinesis_records: kinesis_month,
        total_on_demand: on_demand.usd + rest,
        total_provisioned: provisioned.usd + rest,
        kinesis_on_demand: on_demand,
        kinesis_provisioned: provisioned,
        lines,
        alternatives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            gb_per_day: 100.0,
            record_bytes: 500.0,
            files_per_day: 24.0,
            lineage_bytes: 250.0,
            partition_key_bytes: 10.0,
            parquet_ratio: 0.2,
            raw_ratio: 0.13,
            ingest_mb_per_s: 100.0,
            convert_mb_per_s: 50.0,
        }
    }

    fn setup(pack_bytes: f64) -> Setup {
        Setup {
            pack_bytes,
            stream_mib_per_s: 4.0,
            peak_factor: 2.0,
            ingest_memory_mb: 512.0,
            convert_memory_mb: 2048.0,
            ingest_seconds_per_invocation: 240.0,
            firehose_buffer_mib: 64.0,
            retention_days: 30.0,
            glue_dpus: 2.0,
            glue_mb_per_dpu_second: 10.0,
        }
    }

    #[test]
    fn firehose_and_kinesis_round_each_kinesis_record_as_billed() {
        let prices = Prices::default();
        let unpacked = bill(&profile(), &setup(0.0), &prices);
        // 200 M records a day of 750 bytes framed: each billed 5,120 bytes by Firehose.
        let firehose = &unpacked.lines[0];
        let want = 30.0 * 200e6 * 5120.0 / 1e9 * 0.029;
        assert!((firehose.usd - want).abs() < 1e-6, "{firehose:?}");
        // Kinesis on demand: 1 KiB a record in, 750 bytes read, 720 stream-hours.
        let want = 30.0 * 200e6 * (1024.0 * 0.08 + 750.0 * 0.04) / 1e9 + 720.0 * 0.04;
        assert!((unpacked.kinesis_on_demand.usd - want).abs() < 1e-6);
        // Packed into 25,600 bytes: (25,600 - 10) / 750 = 34 records a Kinesis record.
        let packed = bill(&profile(), &setup(25_600.0), &prices);
        assert_eq!(packed.records_per_kinesis_record, 34.0);
        let want = 30.0 * 200e6 / 34.0 * 25_600.0 / 1e9 * 0.029;
        assert!((packed.lines[0].usd - want).abs() < 1e-6);
        assert!(
            packed.lines[0].usd * 6.0 < firehose.usd,
            "packing cuts the Firehose bill"
        );
        assert!(packed.total_on_demand < unpacked.total_on_demand);
        // Provisioned: 200 M records a day is 2,315 a second, x2 peak: 5 shards by
        // records unpacked; packed, 1.76 MB/s x2: 4 shards by bytes.
        assert!(
            unpacked.kinesis_provisioned.basis.starts_with("5 shard(s)"),
            "{:?}",
            unpacked.kinesis_provisioned
        );
        assert!(
            packed.kinesis_provisioned.basis.starts_with("4 shard(s)"),
            "{:?}",
            packed.kinesis_provisioned
        );
    }

    #[test]
    fn a_file_longer_than_an_invocation_takes_several() {
        let prices = Prices::default();
        // One 100 GB file a day at the stream's 4 MiB/s: 23,842 s, 100 invocations of 240 s.
        let mut one_file = profile();
        one_file.files_per_day = 1.0;
        let b = bill(&one_file, &setup(25_600.0), &prices);
        let ingest = b.lines.iter().find(|l| l.item == "Lambda ingest").unwrap();
        assert!(ingest.basis.contains("(100 a file)"), "{ingest:?}");
        assert!(ingest.basis.contains("at 4.2 MB/s"), "{ingest:?}");
    }
}
