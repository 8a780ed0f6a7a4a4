//! One chain of the pipeline on the local AWS stand-in, for the end-to-end tests:
//! source, raw and curated buckets, a stream, and the queues that receive the
//! buckets' notifications; the two Lambda handlers and the Firehose stand-in run
//! over them in-process, and `sql/` loads the curated bucket into the Snowflake
//! stand-in. Also the generated feed with bad lines, and what the table must hold,
//! computed from the feed bytes alone.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use feedpipe_convert::FeedConverter;
use feedpipe_convert::contract::SchemaContract;
use feedpipe_ingest::kinesis::KinesisSink;
use feedpipe_ingest::{IngestConfig, IngestJob};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{S3Buckets, StorageLocation};
use feedpipe_standins::{Firehose, FirehoseConfig, KinesisSource};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::principals::{Principal, Recorder};
use crate::{create_stream, endpoint, kinesis_client, s3_client, snowflake_as, sqs_client, unique};

/// Buckets, stream and queues of one chain, named uniquely. The test's own clients
/// (`s3`, `kinesis`, `sqs`: set-up and checks) use the suite's keys; each component
/// signs as its own [`Principal`], at `components_endpoint`.
pub struct Chain {
    pub s3: aws_sdk_s3::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    /// The client the ingest handler puts records with (the same server, unless a
    /// test puts a fault-injecting proxy in between).
    pub sink_kinesis: aws_sdk_kinesis::Client,
    /// The ingest handler's SQS client, for its continuation queue (signs as ingest).
    pub ingest_sqs: aws_sdk_sqs::Client,
    /// The ingest function's continuation queue (URL), as `infra/` makes it.
    pub continuation_queue: String,
    /// The ingest handler's settings.
    pub ingest_config: IngestConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub source: String,
    pub raw: String,
    pub curated: String,
    pub stream: String,
    /// Receives the source bucket's notifications (stands in for the direct S3 →
    /// Lambda trigger: the handler gets the same S3 event JSON).
    pub source_queue: String,
    /// Receives the raw bucket's notifications under `raw/`, as infra/ wires it.
    pub raw_queue: (String, String),
    /// Where the components send their requests: the local server, or the recording
    /// proxy in front of it ([`Chain::recorded`]).
    pub components_endpoint: String,
    /// The recording proxy, when there is one.
    pub recorder: Option<Recorder>,
    /// Many feeds (issue 17): both handlers as deployed with `FEEDPIPE_FEEDS_URL`,
    /// with each feed's contract; `None`, one feed of the sample contract.
    pub feeds: Option<(Arc<FeedsFile>, Vec<SchemaContract>)>,
}

impl Chain {
    pub async fn new() -> Self {
        Self::with_recorder(None).await
    }

    /// A chain whose components' requests go through a recording proxy, for
    /// [`Chain::check_iam`].
    pub async fn recorded() -> Self {
        Self::with_recorder(Some(Recorder::start())).await
    }

    /// Checks every request the components made against their policies rendered
    /// from `infra/` with this chain's names ([`Recorder::check`]).
    pub fn check_iam(&self, components: &[&'static str]) -> String {
        let recorder = self
            .recorder
            .as_ref()
            .expect("a chain made with Chain::recorded()");
        recorder.check(&self.iam_names(), components)
    }

    /// As [`Chain::check_iam`] for a deployment of many feeds: the policies `infra/`
    /// renders with `feeds_dir` (a folder holding feeds.toml and its contracts) and
    /// `feeds_tables`. Only that every call is allowed: the single-feed run of
    /// `e2e_snowflake.rs` checks that every statement is used.
    pub fn check_iam_feeds(
        &self,
        feeds_dir: &std::path::Path,
        tables: &[&str],
        components: &[&'static str],
    ) -> String {
        let recorder = self
            .recorder
            .as_ref()
            .expect("a chain made with Chain::recorded()");
        let mut names = self.iam_names();
        names["feeds_dir"] = json!(feeds_dir.display().to_string());
        names["feeds_tables"] = json!(tables);
        if let Some(names) = names.as_object_mut() {
            names.remove("curated_table");
        }
        recorder.check_calls(&names, components, false)
    }

    /// This chain's names, as tests/infra/policies.py takes them.
    fn iam_names(&self) -> Value {
        let queue = self.raw_queue.0.rsplit('/').next().unwrap_or_default();
        json!({
            "source_bucket": self.source,
            "raw_bucket": self.raw,
            "curated_bucket": self.curated,
            "stream_name": self.stream,
            "raw_to_parquet_queue": queue,
            "ingest_continuation_queue": self.continuation_queue.rsplit('/').next().unwrap_or_default(),
            "raw_to_parquet_function": "raw-to-parquet",
            "curated_table": "feed",
            "raw_prefix": "raw",
            "quarantine_prefix": "quarantine",
        })
    }

    /// An S3 client signing as `component` (path-style, as local servers want).
    pub async fn s3_client_as(&self, component: &'static str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config_as(component).await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Deletes every version of `bucket`/`key`, so that a read of it answers 404 (an
    /// object deleted for good, or expired).
    pub async fn delete_for_good(&self, bucket: &str, key: &str) {
        let versions = self
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .send()
            .await
            .unwrap();
        for v in versions.versions().iter().filter(|v| v.key() == Some(key)) {
            self.s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .version_id(v.version_id().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    /// The keys `component` signs with.
    pub fn principal(&self, component: &'static str) -> Principal {
        Principal::new(component)
    }

    /// An SDK configuration signing as `component`.
    pub async fn sdk_config_as(&self, component: &'static str) -> aws_config::SdkConfig {
        self.principal(component)
            .sdk_config(&self.components_endpoint)
            .await
    }

    /// `url` as `component` opens it.
    pub fn location_as(&self, component: &'static str, url: &str) -> StorageLocation {
        let options = self
            .principal(component)
            .s3_options(&self.components_endpoint);
        StorageLocation::parse_with(url, &options).unwrap()
    }

    /// S3 buckets as `component` opens them.
    pub fn buckets_as(&self, component: &'static str) -> S3Buckets {
        S3Buckets::with_options(
            self.principal(component)
                .s3_options(&self.components_endpoint),
        )
    }

    async fn with_recorder(recorder: Option<Recorder>) -> Self {
        // Without a recorder, where the environment points clients: the fault run
        // points AWS_ENDPOINT_URL at the fault-injecting proxy.
        let components_endpoint = recorder.as_ref().map_or_else(
            || std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| endpoint()),
            |r| r.endpoint.clone(),
        );
        let ingest = Principal::new("ingest")
            .sdk_config(&components_endpoint)
            .await;
        let chain = Self {
            s3: s3_client().await,
            kinesis: kinesis_client().await,
            sink_kinesis: aws_sdk_kinesis::Client::new(&ingest),
            ingest_sqs: aws_sdk_sqs::Client::new(&ingest),
            continuation_queue: String::new(),
            // One call in flight: moto numbers a shard's records without a lock (see
            // ingest_aws.rs).
            ingest_config: IngestConfig {
                partition_key_field: Some("customer_id".into()),
                max_in_flight: 1,
                ..Default::default()
            },
            sqs: sqs_client().await,
            source: unique("source"),
            raw: unique("raw"),
            curated: unique("curated"),
            stream: unique("feed"),
            source_queue: String::new(),
            raw_queue: (String::new(), String::new()),
            components_endpoint,
            recorder,
            feeds: None,
        };
        // Versioned, as infra/modules/buckets makes every bucket: events and reads
        // then carry version ids, which listings do not.
        for bucket in [&chain.source, &chain.raw, &chain.curated] {
            chain
                .s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .unwrap();
            chain
                .s3
                .put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        create_stream(&chain.kinesis, &chain.stream, 2).await;
        let source_queue = chain.notify(&chain.source, None).await;
        let raw_queue = chain.notify(&chain.raw, Some("raw/")).await;
        let continuation_queue = chain.queue("ingest-continuations").await;
        Self {
            source_queue: source_queue.0,
            raw_queue,
            continuation_queue,
            ..chain
        }
    }

    /// A new queue named `prefix-…`: its URL.
    async fn queue(&self, prefix: &str) -> String {
        self.sqs
            .create_queue()
            .queue_name(unique(prefix))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned()
    }

    /// A queue that receives `bucket`'s ObjectCreated notifications (under
    /// `prefix`): (queue URL, queue ARN).
    pub async fn notify(&self, bucket: &str, prefix: Option<&str>) -> (String, String) {
        let url = self.queue("events").await;
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let mut queue = QueueConfiguration::builder()
            .queue_arn(&arn)
            .events(Event::S3ObjectCreated);
        if let Some(prefix) = prefix {
            queue = queue.filter(
                NotificationConfigurationFilter::builder()
                    .key(
                        S3KeyFilter::builder()
                            .filter_rules(
                                FilterRule::builder()
                                    .name(FilterRuleName::Prefix)
                                    .value(prefix)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            );
        }
        self.s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(queue.build().unwrap())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        (url, arn)
    }

    /// Every message waiting on `queue`, received and deleted, as Lambda's SQS
    /// event source hands them over (S3's `s3:TestEvent` included).
    pub async fn receive(&self, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let page = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if page.messages().is_empty() {
                return out;
            }
            for message in page.messages() {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            out.extend(page.messages().iter().cloned());
        }
    }

    /// The S3 events the source bucket sent (test events left out).
    pub async fn source_events(&self) -> Vec<S3Event> {
        self.receive(&self.source_queue)
            .await
            .iter()
            .filter_map(|m| {
                let body = as_aws_sends(serde_json::from_str(m.body().unwrap()).unwrap());
                body.get("Records")
                    .is_some()
                    .then(|| serde_json::from_value(body).unwrap())
            })
            .collect()
    }

    /// Uploads `feed` to the source bucket under `key`, then hands the notification
    /// S3 sent for it to the ingest handler `times` times (notifications are
    /// at-least-once; a handler retried after a crash reads the file again from the
    /// start). Returns that event and the last run's summary.
    pub async fn upload_and_ingest(
        &self,
        key: &str,
        feed: Vec<u8>,
        times: usize,
    ) -> (S3Event, feedpipe_ingest::IngestSummary) {
        self.s3
            .put_object()
            .bucket(&self.source)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(feed))
            .send()
            .await
            .unwrap();
        let mut events = self.source_events().await;
        assert_eq!(events.len(), 1, "one notification for one upload");
        let event = events.remove(0);
        let app = self.ingest_app();
        let mut summary = feedpipe_ingest::IngestSummary::default();
        for _ in 0..times {
            summary = ingest_lambda::handler::handle(
                LambdaEvent::new(event.clone(), Context::default()),
                &app,
            )
            .await
            .unwrap();
        }
        (event, summary)
    }

    /// Hands each message of the ingest function's continuation queue to the ingest
    /// handler as Lambda's SQS event source would (batch size 1, as `infra/` maps it),
    /// with `context` (its deadline decides whether that part stops too), until the
    /// queue is empty. Returns the summaries, one per message.
    pub async fn continue_ingest(
        &self,
        context: impl Fn() -> Context,
    ) -> Vec<feedpipe_ingest::IngestSummary> {
        let app = self.ingest_app();
        let mut summaries = Vec::new();
        loop {
            let messages = self.receive(&self.continuation_queue).await;
            if messages.is_empty() {
                return summaries;
            }
            for m in messages {
                let event = json!({ "Records": [{
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest-continuations",
                    "awsRegion": "us-east-1"
                }]});
                let summary =
                    ingest_lambda::handler::handle_event(LambdaEvent::new(event, context()), &app)
                        .await
                        .unwrap();
                summaries.push(summary);
            }
        }
    }

    pub fn ingest_app(&self) -> ingest_lambda::handler::App {
        let quarantine = self.location_as("ingest", &format!("s3://{}/quarantine", self.raw));
        ingest_lambda::handler::App {
            job: IngestJob::new(
                Arc::new(KinesisSink::new(self.sink_kinesis.clone(), &self.stream)),
                Arc::new(ObjectStoreQuarantine::new(quarantine)),
                self.ingest_config.clone(),
            ),
            buckets: Arc::new(self.buckets_as("ingest")),
            // As infra/ deploys it; a run stops only when its context has a deadline
            // (a hand-made context has none).
            continuations: Some(ingest_lambda::handoff::Continuations {
                client: self.ingest_sqs.clone(),
                queue_url: self.continuation_queue.clone(),
                margin: std::time::Duration::from_secs(60),
            }),
            feeds: self.feeds.as_ref().map(|(feeds, _)| Arc::clone(feeds)),
        }
    }

    pub fn raw_to_parquet_app(&self) -> raw_to_parquet_lambda::handler::App {
        let quarantine =
            self.location_as("raw_to_parquet", &format!("s3://{}/quarantine", self.raw));
        let quarantine: Arc<dyn feedpipe_shared::quarantine::Quarantine> =
            Arc::new(ObjectStoreQuarantine::new(quarantine));
        let converter = |contract| {
            feedpipe_convert::Converter::new(
                contract,
                self.location_as("raw_to_parquet", &format!("s3://{}", self.curated)),
                Arc::clone(&quarantine),
                feedpipe_convert::ConvertConfig::default(),
            )
        };
        let converter = match &self.feeds {
            None => converter(
                SchemaContract::from_json(feedpipe_convert::contract::SAMPLE_CONTRACT).unwrap(),
            )
            .into(),
            Some((feeds, contracts)) => FeedConverter::routed(
                feeds,
                contracts.iter().cloned().map(converter).collect(),
                None,
                None,
            )
            .unwrap(),
        };
        raw_to_parquet_lambda::handler::App {
            converter,
            buckets: Arc::new(self.buckets_as("raw_to_parquet")),
        }
    }

    /// The Firehose stand-in, reading the stream through the Kinesis API, until the
    /// stream is drained: small gzip buffers, so several raw objects.
    pub async fn firehose(&self) -> usize {
        let kinesis = aws_sdk_kinesis::Client::new(&self.sdk_config_as("firehose").await);
        let source = Arc::new(KinesisSource::new(kinesis, &self.stream));
        let raw = self.location_as("firehose", &format!("s3://{}", self.raw));
        let config = FirehoseConfig {
            buffer_bytes: 512 * 1024,
            gzip: true,
            ..Default::default()
        };
        let mut firehose = Firehose::new(source, raw, config).await.unwrap();
        let (mut written, _) = firehose.poll().await.unwrap();
        written.extend(firehose.flush().await.unwrap());
        written.len()
    }

    /// The raw bucket's notifications, in SQS events of up to 10 messages (Lambda's
    /// batch size in infra/), each handed to the raw-to-parquet handler `times`
    /// times. Returns the messages delivered (without S3's test event).
    pub async fn raw_to_parquet(&self, times: usize) -> usize {
        let app = self.raw_to_parquet_app();
        let messages = self.receive(&self.raw_queue.0).await;
        for batch in messages.chunks(10) {
            let records: Vec<Value> = batch
                .iter()
                .map(|m| {
                    json!({
                        "messageId": m.message_id(),
                        "receiptHandle": m.receipt_handle(),
                        "body": as_aws_sends(serde_json::from_str(m.body().unwrap()).unwrap()).to_string(),
                        "attributes": {},
                        "messageAttributes": {},
                        "md5OfBody": m.md5_of_body(),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.raw_queue.1,
                        "awsRegion": "us-east-1"
                    })
                })
                .collect();
            for _ in 0..times {
                let event = LambdaEvent::new(json!({ "Records": records }), Context::default());
                let answer = raw_to_parquet_lambda::handler::handle(event, &app)
                    .await
                    .unwrap();
                assert_eq!(
                    serde_json::to_value(answer).unwrap(),
                    json!({ "batchItemFailures": [] })
                );
            }
        }
        messages
            .iter()
            .filter(|m| !m.body().unwrap_or_default().contains("s3:TestEvent"))
            .count()
    }

    /// `sql/` against the Snowflake stand-in over this chain's curated bucket.
    pub fn snowflake(&self, queries: &[&str]) -> Vec<Vec<Value>> {
        let mut vars = self.sql_vars();
        vars["table"] = json!("feed");
        let (at, reader) = self.warehouse_reader();
        snowflake_as(&vars, queries, &at, Some(&reader))
    }

    /// The scripts of `sql` (as `feedpipe sql render` writes them for many feeds)
    /// against the Snowflake stand-in over this chain's curated bucket.
    pub fn snowflake_in(&self, sql: &std::path::Path, queries: &[&str]) -> Vec<Vec<Value>> {
        let (at, reader) = self.warehouse_reader();
        crate::snowflake_in(sql, &self.sql_vars(), queries, &at, Some(&reader))
    }

    /// What Terraform's `sql_vars` gives the scripts for this chain, but `table`.
    pub fn sql_vars(&self) -> Value {
        json!({
            "database": "FEEDPIPE",
            "schema": "RAW",
            "storage_integration": "FEEDPIPE_CURATED_S3",
            "curated_bucket": self.curated,
            "snowflake_role_arn": "arn:aws:iam::123456789012:role/feedpipe-snowflake",
        })
    }

    /// Where the warehouse reads the curated bucket, and as whom: the local server
    /// itself, or the recorder, never the fault proxy (the faults are the pipeline's,
    /// not the warehouse's reads); with Snowflake's keys.
    fn warehouse_reader(&self) -> (String, Principal) {
        let at = self
            .recorder
            .as_ref()
            .map_or_else(endpoint, |r| r.endpoint.clone());
        (at, self.principal("snowflake"))
    }

    pub async fn reconcile(&self, dedup: bool) -> feedpipe_warehouse::Report {
        let at = |url: String| StorageLocation::parse(&url).unwrap();
        let mut report = feedpipe_warehouse::reconcile(
            &at(format!("s3://{}/", self.source)),
            &at(format!("s3://{}", self.curated)),
            Some(&at(format!("s3://{}/quarantine", self.raw))),
        )
        .await
        .unwrap();
        report.dedup = dedup;
        report
    }
}

/// An S3 notification as AWS sends it: moto (5.2.5) leaves out `userIdentity`,
/// `requestParameters` and `responseElements`, which AWS always sends and
/// aws_lambda_events requires; they are added (the handlers read none of them).
pub fn as_aws_sends(mut body: Value) -> Value {
    if let Some(records) = body.get_mut("Records").and_then(Value::as_array_mut) {
        for record in records.iter_mut().filter_map(Value::as_object_mut) {
            record
                .entry("userIdentity")
                .or_insert_with(|| json!({ "principalId": "AWS:AIDAMOTO" }));
            record
                .entry("requestParameters")
                .or_insert_with(|| json!({ "sourceIPAddress": "127.0.0.1" }));
            record
                .entry("responseElements")
                .or_insert_with(|| json!({}));
        }
    }
    body
}

/// A generated feed with ~2% malformed lines, plus a record with a field the
/// contract does not know (kept in `_extra`) and one whose `total` is a string
/// (quarantined by the conversion).
pub fn feed(rows: u64, seed: u64) -> Vec<u8> {
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows,
            bad_rate: 0.02,
            seed,
            ..Default::default()
        },
    )
    .unwrap();
    writeln!(
        feed,
        r#"{{"order_id":"ORD-DRIFT","customer_id":"C-00001","order_ts":"2026-11-02T23:30:00-02:00","status":"paid","currency":"EUR","total":10.50,"loyalty":{{"points":7}}}}"#
    )
    .unwrap();
    writeln!(
        feed,
        r#"{{"order_id":"ORD-TYPE","customer_id":"C-00002","order_ts":"2026-11-02T10:00:00Z","status":"paid","currency":"EUR","total":"ten"}}"#
    )
    .unwrap();
    feed
}

/// What the table must hold, from the feed bytes alone: per UTC day of `order_ts`,
/// the orders and their total in cents (every line that is a JSON object with a
/// numeric `total`); and the lines that are not JSON objects at all.
pub struct Expected {
    pub days: BTreeMap<String, (u64, i64)>,
    pub rows: u64,
    pub malformed: BTreeSet<u64>,
}

pub fn expected(feed: &[u8]) -> Expected {
    let mut days = BTreeMap::new();
    let mut malformed = BTreeSet::new();
    let mut rows = 0;
    for (i, line) in feed.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(Value::Object(record)) = serde_json::from_slice(line) else {
            malformed.insert(i as u64 + 1);
            continue;
        };
        let Some(total) = record.get("total").and_then(Value::as_f64) else {
            continue;
        };
        let at = chrono::DateTime::parse_from_rfc3339(record["order_ts"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let day = days
            .entry(at.format("%Y-%m-%d").to_string())
            .or_insert((0, 0));
        day.0 += 1;
        day.1 += (total * 100.0).round() as i64;
        rows += 1;
    }
    Expected {
        days,
        rows,
        malformed,
    }
}

/// `123.45` (or `123.4`, `123`) as cents.
pub fn cents(text: &str) -> i64 {
    let (units, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let fraction = format!("{fraction:0<2}");
    units.parse::<i64>().unwrap() * 100 + fraction[..2].parse::<i64>().unwrap()
}

pub fn as_u64(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}

// `total::NUMBER(18,2)` inside SUM: fakesnow sums a bare column as DOUBLE.
pub const PER_DAY: &str = "SELECT TO_VARCHAR(order_ts::DATE) AS day, COUNT(*) AS orders, SUM(total::NUMBER(18,2)) AS total FROM FEEDPIPE.RAW.feed_dedup GROUP BY 1 ORDER BY 1";
pub const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM FEEDPIPE.RAW.feed) AS table_rows, (SELECT COUNT(DISTINCT _record_id) FROM FEEDPIPE.RAW.feed) AS ids, (SELECT COUNT(*) FROM FEEDPIPE.RAW.feed_dedup) AS view_rows";

pub fn per_day(rows: &[Value]) -> BTreeMap<String, (u64, i64)> {
    rows.iter()
        .map(|r| {
            let total = match &r["total"] {
                Value::String(s) => cents(s),
                other => cents(&other.to_string()),
            };
            (
                r["day"].as_str().unwrap().to_owned(),
                (as_u64(&r["orders"]), total),
            )
        })
        .collect()
}

/// The quarantine entries of `stage` (`ingest`, `convert`) in the raw bucket: (line,
/// reason), in order.
pub async fn quarantined_lines(chain: &Chain, stage: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> =
        crate::quarantine_entries(&chain.s3, &chain.raw, &format!("quarantine/{stage}/"))
            .await
            .iter()
            .map(|entry| {
                (
                    entry["line"].as_u64().unwrap(),
                    entry["error"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    out.sort();
    out
}
