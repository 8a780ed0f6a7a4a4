//! Lambda entry point: read the configuration and the contract once, then serve events.

use std::sync::Arc;

use feedpipe_convert::Converter;
use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{S3Buckets, StorageLocation};
use lambda_runtime::{Error, service_fn};
use object_store::ObjectStoreExt;
use raw_to_parquet_lambda::config::RawToParquetConfig;
use raw_to_parquet_lambda::handler::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = RawToParquetConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "Invalid configuration."))?;
    let text = match &config.schema_url {
        Some(url) => {
            let location = StorageLocation::parse(url)?;
            let bytes = location.store.get(&location.path).await?.bytes().await?;
            String::from_utf8(bytes.to_vec())?
        }
        None => SAMPLE_CONTRACT.to_owned(),
    };
    let mut contract = SchemaContract::from_json(&text)?;
    if let Some(table) = &config.table {
        contract.table = table.clone();
    }
    if let Some(column) = &config.event_time_column {
        contract.event_time = Some(column.clone());
    }
    contract
        .validate()
        .inspect_err(|e| tracing::error!(error = %e, "Invalid schema contract."))?;
    let quarantine = ObjectStoreQuarantine::new(StorageLocation::parse(&config.quarantine_url)?);
    let curated = StorageLocation::parse(&config.curated_url)?;
    let app = App {
        converter: Converter::new(
            contract,
            curated,
            Arc::new(quarantine),
            config.convert_config(),
        ),
        buckets: Arc::new(S3Buckets::default()),
    };
    lambda_runtime::run(service_fn(|event| handle(event, &app))).await
}
