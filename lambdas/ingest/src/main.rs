//! Lambda entry point: build the clients once, then serve events with the handler.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use feedpipe_ingest::IngestJob;
use feedpipe_ingest::kinesis::KinesisSink;
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{S3Buckets, StorageLocation};
use ingest_lambda::config::IngestLambdaConfig;
use ingest_lambda::handler::{App, handle_event};
use ingest_lambda::handoff::Continuations;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = IngestLambdaConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "Invalid configuration."))?;
    // Retries belong to the ingest core (partial failures and throttling in one place).
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let sink = KinesisSink::new(aws_sdk_kinesis::Client::new(&aws), &config.stream_name);
    let quarantine = ObjectStoreQuarantine::new(StorageLocation::parse(&config.quarantine_url)?);
    // SQS keeps the SDK's standard retries: a hand-over is one small call.
    let continuations = config.continuation_queue_url.clone().map(|queue_url| {
        let sqs = aws_sdk_sqs::config::Builder::from(&aws)
            .retry_config(RetryConfig::standard())
            .build();
        Continuations {
            client: aws_sdk_sqs::Client::from_conf(sqs),
            queue_url,
            margin: config.deadline_margin,
        }
    });
    let feeds = match &config.feeds_url {
        Some(url) => {
            Some(Arc::new(FeedsFile::load(url).await.inspect_err(
                |e| tracing::error!(error = %e, "Invalid feeds file."),
            )?))
        }
        None => None,
    };
    let app = App {
        job: IngestJob::new(Arc::new(sink), Arc::new(quarantine), config.ingest_config()),
        buckets: Arc::new(S3Buckets::default()),
        continuations,
        feeds,
    };
    lambda_runtime::run(service_fn(|event| handle_event(event, &app))).await
}
