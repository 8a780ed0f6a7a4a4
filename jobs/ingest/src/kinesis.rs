//! `KinesisSink`: [`RecordSink`] over the real `PutRecords` API.
//!
//! The client is built by the caller (Lambda `main`, CLI) and handed in. Build it with
//! the SDK's own retries off (`RetryConfig::disabled()`): [`crate::sink::deliver`]
//! owns retrying, so partial failures and throttling are retried in one place, with
//! one budget.

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::frame::Record;
use crate::sink::{RecordResult, RecordSink, SinkError};

/// Sends to one Kinesis data stream, named by name or ARN.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    client: Client,
    stream: String,
}

impl KinesisSink {
    /// A sink for `stream` (a stream name, or an ARN starting with `arn:`).
    pub fn new(client: Client, stream: impl Into<String>) -> Self {
        Self {
            client,
            stream: stream.into(),
        }
    }
}

#[async_trait]
impl RecordSink for KinesisSink {
    async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.to_vec()))
                    .partition_key(&r.partition_key)
                    .build()
                    .map_err(|e| {
                        SinkError::Permanent(format!("cannot build PutRecords entry: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let call = self.client.put_records().set_records(Some(entries));
        let call = if self.stream.starts_with("arn:") {
            call.stream_arn(&self.stream)
        } else {
            call.stream_name(&self.stream)
        };
        let output = call.send().await.map_err(classify)?;
        Ok(output
            .records()
            .iter()
            .map(|entry| match entry.error_code() {
                Some(code) => RecordResult::Rejected {
                    code: code.to_owned(),
                    message: entry.error_message().unwrap_or_default().to_owned(),
                },
                None => RecordResult::Accepted {
                    shard_id: entry.shard_id().unwrap_or_default().to_owned(),
                    sequence_number: entry.sequence_number().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }
}

/// Retryable: throttling, internal failures, 5xx and 429, timeouts, connection and
/// response errors. Permanent: everything a retry cannot fix (missing stream, access
/// denied, invalid arguments, KMS key disabled, a request that cannot be built).
fn classify(err: SdkError<PutRecordsError, HttpResponse>) -> SinkError {
    let text = DisplayErrorContext(&err).to_string();
    let retryable = match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            matches!(
                e,
                PutRecordsError::ProvisionedThroughputExceededException(_)
                    | PutRecordsError::KmsThrottlingException(_)
                    | PutRecordsError::InternalFailureException(_)
            ) || matches!(
                e.code(),
                Some(
                    "ThrottlingException"
                        | "LimitExceededException"
                        | "ServiceUnavailable"
                        | "ServiceUnavailableException"
                        | "InternalFailure"
                        | "InternalServerError"
                        | "RequestTimeout"
                )
            ) || matches!(ctx.raw().status().as_u16(), 429 | 500..=599)
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    if retryable {
        SinkError::Retryable(text)
    } else {
        SinkError::Permanent(text)
    }
}
