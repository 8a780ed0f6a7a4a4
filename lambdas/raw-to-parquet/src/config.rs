//! The raw-to-parquet Lambda's settings, read from the environment once, at cold
//! start. Terraform (`infra/`) sets exactly these variables.

use feedpipe_convert::Codec;
use feedpipe_convert::ConvertConfig;
pub use lambda_shared::env::ConfigError;
use lambda_shared::env::{Env, feeds_exclude, process_env};

/// The raw-to-parquet Lambda's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawToParquetConfig {
    /// `FEEDPIPE_CURATED_URL`: the curated root, e.g. `s3://curated-bucket`. Required.
    pub curated_url: String,
    /// `FEEDPIPE_QUARANTINE_URL`: where rejected records go. Required.
    pub quarantine_url: String,
    /// `FEEDPIPE_TABLE`: the table (curated folder); overrides the contract's (default: the contract's).
    pub table: Option<String>,
    /// `FEEDPIPE_SCHEMA_URL`: the schema contract (`s3://…/feed.json`); the built-in sample contract when absent.
    pub schema_url: Option<String>,
    /// `FEEDPIPE_EVENT_TIME_COLUMN`: overrides the contract's `event_time`.
    pub event_time_column: Option<String>,
    /// `FEEDPIPE_FEEDS_URL`: the feeds file (`s3://…`), read once at cold start with
    /// the contracts it names: each record goes to its feed's table (optional; without
    /// it, one table as configured here, and the three variables above must be unset).
    pub feeds_url: Option<String>,
    /// `FEEDPIPE_COMPRESSION`: `zstd` (default) or `snappy`.
    pub codec: Codec,
}

impl RawToParquetConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Reads variables through `lookup` (tests pass a list).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let codec = env.parsed_or("FEEDPIPE_COMPRESSION", Codec::Zstd)?;
        let config = Self {
            curated_url: env.required("FEEDPIPE_CURATED_URL")?,
            quarantine_url: env.required("FEEDPIPE_QUARANTINE_URL")?,
            table: env.optional("FEEDPIPE_TABLE"),
            schema_url: env.optional("FEEDPIPE_SCHEMA_URL"),
            event_time_column: env.optional("FEEDPIPE_EVENT_TIME_COLUMN"),
            feeds_url: env.optional("FEEDPIPE_FEEDS_URL"),
            codec,
        };
        feeds_exclude(
            config.feeds_url.as_deref(),
            &[
                ("FEEDPIPE_TABLE", config.table.as_deref()),
                ("FEEDPIPE_SCHEMA_URL", config.schema_url.as_deref()),
                (
                    "FEEDPIPE_EVENT_TIME_COLUMN",
                    config.event_time_column.as_deref(),
                ),
            ],
        )?;
        Ok(config)
    }

    /// The conversion core's settings.
    pub fn convert_config(&self) -> ConvertConfig {
        ConvertConfig {
            codec: self.codec,
            ..ConvertConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<RawToParquetConfig, ConfigError> {
        RawToParquetConfig::from_lookup(|name| {
            let found = vars.iter().find(|(n, _)| *n == name);
            found.map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn required_variables_are_named_and_values_checked() {
        assert_eq!(
            config(&[]),
            Err(ConfigError::Missing("FEEDPIPE_CURATED_URL"))
        );
        assert_eq!(
            config(&[("FEEDPIPE_CURATED_URL", "s3://c")]),
            Err(ConfigError::Missing("FEEDPIPE_QUARANTINE_URL"))
        );
        let err = config(&[
            ("FEEDPIPE_CURATED_URL", "s3://c"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://r/q"),
            ("FEEDPIPE_COMPRESSION", "lz4"),
        ]);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("FEEDPIPE_COMPRESSION=\"lz4\" is invalid")
        );
        let ok = config(&[
            ("FEEDPIPE_CURATED_URL", "s3://c"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://r/q"),
            ("FEEDPIPE_TABLE", ""),
        ])
        .unwrap();
        assert_eq!(
            (ok.table, ok.codec),
            (None, Codec::Zstd),
            "an empty optional variable is unset"
        );
        let both = config(&[
            ("FEEDPIPE_CURATED_URL", "s3://c"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://r/q"),
            ("FEEDPIPE_FEEDS_URL", "s3://config/feeds.toml"),
            ("FEEDPIPE_TABLE", "orders"),
            ("FEEDPIPE_EVENT_TIME_COLUMN", "created_at"),
        ]);
        assert_eq!(
            both.unwrap_err().to_string(),
            "environment variable FEEDPIPE_FEEDS_URL=\"s3://config/feeds.toml\" is invalid: FEEDPIPE_TABLE, FEEDPIPE_EVENT_TIME_COLUMN set too: with a feeds file each feed names its own; unset them"
        );
    }
}
