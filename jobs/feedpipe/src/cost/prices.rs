//! The one price table `feedpipe cost` uses, with where each price comes from.
//!
//! US East (N. Virginia), USD, list prices without free tiers, as recorded from the
//! public pricing pages on 2026-12-01 (this machine has no internet: they were
//! recorded from the pages as last read, not fetched at run time; check them before
//! you budget, and override any with `--prices FILE`, a JSON object with some of
//! these fields):
//!
//! | field | price | source |
//! |---|---|---|
//! | `kinesis_on_demand_gb_in` | 0.08 / GB, each record rounded up to 1 KiB | <https://aws.amazon.com/kinesis/data-streams/pricing/> |
//! | `kinesis_on_demand_gb_out` | 0.04 / GB read | same |
//! | `kinesis_on_demand_stream_hour` | 0.04 / stream-hour | same |
//! | `kinesis_shard_hour` | 0.015 / shard-hour (provisioned) | same |
//! | `kinesis_million_put_units` | 0.014 / million 25 KB PUT payload units | same |
//! | `firehose_gb` | 0.029 / GB ingested, each record rounded up to 5 KB | <https://aws.amazon.com/firehose/pricing/> |
//! | `firehose_conversion_gb` | 0.018 / GB converted JSON → Parquet (same rounding) | same |
//! | `s3_gb_month` | 0.023 / GB-month, S3 Standard | <https://aws.amazon.com/s3/pricing/> |
//! | `s3_thousand_puts` | 0.005 / 1,000 PUT, COPY, POST, LIST | same |
//! | `s3_thousand_gets` | 0.0004 / 1,000 GET | same |
//! | `sqs_million_requests` | 0.40 / million requests, standard queue | <https://aws.amazon.com/sqs/pricing/> |
//! | `lambda_gb_second` | 0.0000133334 / GB-second, arm64 | <https://aws.amazon.com/lambda/pricing/> |
//! | `lambda_million_requests` | 0.20 / million requests | same |
//! | `glue_dpu_hour` | 0.44 / DPU-hour, Spark job, per second with a 1-minute minimum | <https://aws.amazon.com/glue/pricing/> |
//! | `snowpipe_credits_gb` | 0.0037 credits / GB loaded | <https://docs.snowflake.com/en/user-guide/data-load-snowpipe-billing> |
//! | `snowflake_credit` | 3.00 / credit (Enterprise edition on AWS US East) | <https://www.snowflake.com/pricing/> |

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Prices in USD; see the module docs for each one's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    /// Where the prices come from and when they were recorded.
    pub source: String,
    pub kinesis_on_demand_gb_in: f64,
    pub kinesis_on_demand_gb_out: f64,
    pub kinesis_on_demand_stream_hour: f64,
    pub kinesis_shard_hour: f64,
    pub kinesis_million_put_units: f64,
    pub firehose_gb: f64,
    pub firehose_conversion_gb: f64,
    pub s3_gb_month: f64,
    pub s3_thousand_puts: f64,
    pub s3_thousand_gets: f64,
    pub sqs_million_requests: f64,
    pub lambda_gb_second: f64,
    pub lambda_million_requests: f64,
    pub glue_dpu_hour: f64,
    pub snowpipe_credits_gb: f64,
    pub snowflake_credit: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            source: "built-in: us-east-1 list prices recorded 2026-12-01 (jobs/feedpipe/src/cost/prices.rs)".into(),
            kinesis_on_demand_gb_in: 0.08,
            kinesis_on_demand_gb_out: 0.04,
            kinesis_on_demand_stream_hour: 0.04,
            kinesis_shard_hour: 0.015,
            kinesis_million_put_units: 0.014,
            firehose_gb: 0.029,
            firehose_conversion_gb: 0.018,
            s3_gb_month: 0.023,
            s3_thousand_puts: 0.005,
            s3_thousand_gets: 0.0004,
            sqs_million_requests: 0.40,
            lambda_gb_second: 0.000_013_333_4,
            lambda_million_requests: 0.20,
            glue_dpu_hour: 0.44,
            snowpipe_credits_gb: 0.0037,
            snowflake_credit: 3.00,
        }
    }
}

impl Prices {
    /// The built-in table with the fields `path` (JSON) sets replaced; an unknown
    /// field is an error naming the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the prices file {}", path.display()))?;
        let mut prices: Prices = serde_json::from_str(&text)
            .with_context(|| format!("bad prices file {}", path.display()))?;
        if prices.source == Prices::default().source {
            prices.source = format!(
                "{} (built-in prices for the fields it does not set)",
                path.display()
            );
        }
        for (name, value) in prices.numbers() {
            if !(value.is_finite() && value >= 0.0) {
                anyhow::bail!(
                    "bad prices file {}: `{name}` is {value}, not a price",
                    path.display()
                );
            }
        }
        Ok(prices)
    }

    fn numbers(&self) -> [(&'static str, f64); 16] {
        [
            ("kinesis_on_demand_gb_in", self.kinesis_on_demand_gb_in),
            ("kinesis_on_demand_gb_out", self.kinesis_on_demand_gb_out),
            (
                "kinesis_on_demand_stream_hour",
                self.kinesis_on_demand_stream_hour,
            ),
            ("kinesis_shard_hour", self.kinesis_shard_hour),
            ("kinesis_million_put_units", self.kinesis_million_put_units),
            ("firehose_gb", self.firehose_gb),
            ("firehose_conversion_gb", self.firehose_conversion_gb),
            ("s3_gb_month", self.s3_gb_month),
            ("s3_thousand_puts", self.s3_thousand_puts),
            ("s3_thousand_gets", self.s3_thousand_gets),
            ("sqs_million_requests", self.sqs_million_requests),
            ("lambda_gb_second", self.lambda_gb_second),
            ("lambda_million_requests", self.lambda_million_requests),
            ("glue_dpu_hour", self.glue_dpu_hour),
            ("snowpipe_credits_gb", self.snowpipe_credits_gb),
            ("snowflake_credit", self.snowflake_credit),
        ]
    }
}
