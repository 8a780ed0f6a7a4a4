//! The ingest Lambda's settings, read from the environment once, at cold start.
//! Terraform (`infra/`) sets exactly these variables.

use std::time::Duration;

use feedpipe_ingest::IngestConfig;
use feedpipe_ingest::sink::RetryPolicy;
pub use lambda_shared::env::ConfigError;
use lambda_shared::env::{Env, feeds_exclude, process_env};

/// The ingest Lambda's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLambdaConfig {
    /// `FEEDPIPE_STREAM_NAME`: the Kinesis data stream (name or ARN). Required.
    pub stream_name: String,
    /// `FEEDPIPE_PARTITION_KEY_FIELD`: record field used as partition key (optional).
    pub partition_key_field: Option<String>,
    /// `FEEDPIPE_QUARANTINE_URL`: where rejected records go, e.g. `s3://raw-bucket/quarantine`. Required.
    pub quarantine_url: String,
    /// `FEEDPIPE_MAX_ATTEMPTS`: attempts per record before giving up (default 8, 1..=20).
    pub max_attempts: u32,
    /// `FEEDPIPE_MAX_IN_FLIGHT`: concurrent `PutRecords` calls (default 4, 1..=64).
    pub max_in_flight: usize,
    /// `FEEDPIPE_PACK_BYTES`: largest Kinesis record framed records are packed into,
    /// data plus partition key (default 25,600; 0 turns packing off; at most 1,024,000,
    /// Firehose's record limit).
    pub pack_bytes: usize,
    /// `FEEDPIPE_CONTINUATION_QUEUE_URL`: the SQS queue a run sends the rest of a file
    /// to when it stops before the invocation's deadline (optional; without it a file
    /// is read to its end, or until Lambda's timeout).
    pub continuation_queue_url: Option<String>,
    /// `FEEDPIPE_FEEDS_URL`: the feeds file (`s3://…`), read once at cold start: each
    /// key goes to its feed (optional; without it, one feed as configured here).
    pub feeds_url: Option<String>,
    /// `FEEDPIPE_DEADLINE_MARGIN_SECONDS`: how long before the deadline a run stops
    /// reading, for the batches in flight and the hand-over (default 60, 1..=600).
    pub deadline_margin: Duration,
}

impl IngestLambdaConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Reads variables through `lookup` (tests pass a list).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let config = Self {
            stream_name: env.required("FEEDPIPE_STREAM_NAME")?,
            partition_key_field: env.optional("FEEDPIPE_PARTITION_KEY_FIELD"),
            quarantine_url: env.required("FEEDPIPE_QUARANTINE_URL")?,
            max_attempts: env.number_or("FEEDPIPE_MAX_ATTEMPTS", 8, 1..=20)?,
            max_in_flight: env.number_or("FEEDPIPE_MAX_IN_FLIGHT", 4, 1..=64)?,
            // Literals, so that tests/infra/test_handler_values.py can read them; a
            // unit test holds them to the ingest core's constants.
            pack_bytes: env.number_or("FEEDPIPE_PACK_BYTES", 25600, 0..=1024000)?,
            continuation_queue_url: env.optional("FEEDPIPE_CONTINUATION_QUEUE_URL"),
            feeds_url: env.optional("FEEDPIPE_FEEDS_URL"),
            deadline_margin: Duration::from_secs(env.number_or(
                "FEEDPIPE_DEADLINE_MARGIN_SECONDS",
                60,
                1..=600,
            )?),
        };
        feeds_exclude(
            config.feeds_url.as_deref(),
            &[(
                "FEEDPIPE_PARTITION_KEY_FIELD",
                config.partition_key_field.as_deref(),
            )],
        )?;
        Ok(config)
    }

    /// The ingest core's settings.
    pub fn ingest_config(&self) -> IngestConfig {
        IngestConfig {
            partition_key_field: self.partition_key_field.clone(),
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(5),
            },
            max_in_flight: self.max_in_flight,
            pack_bytes: self.pack_bytes,
            ..IngestConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<IngestLambdaConfig, ConfigError> {
        IngestLambdaConfig::from_lookup(|name| {
            let found = vars.iter().find(|(n, _)| *n == name);
            found.map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn required_variables_are_named_when_missing() {
        assert_eq!(
            config(&[]),
            Err(ConfigError::Missing("FEEDPIPE_STREAM_NAME"))
        );
        assert_eq!(
            config(&[("FEEDPIPE_STREAM_NAME", "s")]),
            Err(ConfigError::Missing("FEEDPIPE_QUARANTINE_URL"))
        );
        assert_eq!(
            config(&[
                ("FEEDPIPE_STREAM_NAME", "  "),
                ("FEEDPIPE_QUARANTINE_URL", "s3://q")
            ]),
            Err(ConfigError::Missing("FEEDPIPE_STREAM_NAME"))
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.max_attempts,
                c.max_in_flight,
                c.partition_key_field.as_deref()
            ),
            (8, 4, None)
        );
        assert_eq!(
            c.ingest_config().pack_bytes,
            feedpipe_ingest::pack::DEFAULT_PACK_BYTES
        );
        let most = feedpipe_ingest::pack::MAX_PACK_BYTES.to_string();
        let widest = [
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://q"),
            ("FEEDPIPE_PACK_BYTES", most.as_str()),
        ];
        assert_eq!(config(&widest).unwrap().pack_bytes, 1000 * 1024);
        let over = (feedpipe_ingest::pack::MAX_PACK_BYTES + 1).to_string();
        let widest = [widest[0], widest[1], ("FEEDPIPE_PACK_BYTES", over.as_str())];
        assert!(
            config(&widest).is_err(),
            "more than Firehose's record limit"
        );
        let c = config(&[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
            ("FEEDPIPE_PARTITION_KEY_FIELD", "customer_id"),
            ("FEEDPIPE_MAX_ATTEMPTS", "3"),
            ("FEEDPIPE_MAX_IN_FLIGHT", "16"),
            ("FEEDPIPE_PACK_BYTES", "0"),
        ])
        .unwrap();
        assert_eq!(c.ingest_config().pack_bytes, 0);
        assert_eq!(c.continuation_queue_url, None);
        assert_eq!(c.deadline_margin, Duration::from_secs(60));
        let continuing = config(&[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://q"),
            ("FEEDPIPE_CONTINUATION_QUEUE_URL", "https://sqs/q"),
            ("FEEDPIPE_DEADLINE_MARGIN_SECONDS", "5"),
        ])
        .unwrap();
        assert_eq!(
            continuing.continuation_queue_url.as_deref(),
            Some("https://sqs/q")
        );
        assert_eq!(continuing.deadline_margin, Duration::from_secs(5));
        assert_eq!(c.ingest_config().retry.max_attempts, 3);
        assert_eq!(c.ingest_config().max_in_flight, 16);
        assert_eq!(
            c.ingest_config().partition_key_field.as_deref(),
            Some("customer_id")
        );
    }

    #[test]
    fn bad_numbers_name_the_variable_and_the_range() {
        let err = config(&[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://q"),
            ("FEEDPIPE_MAX_ATTEMPTS", "0"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable FEEDPIPE_MAX_ATTEMPTS=\"0\" is invalid: expected a whole number from 1 to 20"
        );
    }
}
