//! Lambda entry point: read the configuration and the contract once, then serve events.

use std::sync::Arc;

use feedpipe_convert::contract;
use feedpipe_convert::{Converter, FeedConverter};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::{ObjectStoreQuarantine, Quarantine};
use feedpipe_shared::storage::{S3Buckets, StorageLocation};
use lambda_runtime::{Error, service_fn};
use raw_to_parquet_lambda::config::RawToParquetConfig;
use raw_to_parquet_lambda::handler::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = RawToParquetConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "Invalid configuration."))?;
    let quarantine: Arc<dyn Quarantine> = Arc::new(ObjectStoreQuarantine::new(
        StorageLocation::parse(&config.quarantine_url)?,
    ));
    let curated = StorageLocation::parse(&config.curated_url)?;
    let converter = |contract| {
        Converter::new(
            contract,
            curated.clone(),
            Arc::clone(&quarantine),
            config.convert_config(),
        )
    };
    let converter = match &config.feeds_url {
        // Many feeds: a table per feed, each record routed by its source key.
        Some(url) => {
            let feeds = FeedsFile::load(url)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "Invalid feeds file."))?;
            let contracts = contract::load_feeds(&feeds, |_| None)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "Invalid feeds file."))?;
            FeedConverter::routed(
                &feeds,
                contracts.into_iter().map(converter).collect(),
                None,
                None,
            )?
        }
        None => {
            let mut contract = contract::load_or_sample(config.schema_url.as_deref())
                .await
                .inspect_err(|e| tracing::error!(error = %e, "Invalid schema contract."))?;
            if let Some(table) = &config.table {
                contract.table = table.clone();
            }
            if let Some(column) = &config.event_time_column {
                contract.event_time = Some(column.clone());
            }
            contract
                .validate()
                .inspect_err(|e| tracing::error!(error = %e, "Invalid schema contract."))?;
            FeedConverter::single(converter(contract))
        }
    };
    let app = App {
        converter,
        buckets: Arc::new(S3Buckets::default()),
    };
    lambda_runtime::run(service_fn(|event| handle(event, &app))).await
}
