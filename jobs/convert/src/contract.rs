//! `SchemaContract`: what the curated table holds, checked into the repository.
//!
//! A small JSON document:
//!
//! ```json
//! {
//!   "table": "feed",
//!   "event_time": "order_ts",
//!   "columns": [
//!     {"name": "order_id", "type": "string", "nullable": false, "description": "Order id"},
//!     {"name": "order_ts", "type": "timestamp"},
//!     {"name": "total", "type": "decimal(18,2)"},
//!     {"name": "customer", "type": {"struct": [{"name": "id", "type": "string"}]}},
//!     {"name": "items", "type": {"list": {"struct": [{"name": "qty", "type": "int64"}]}}},
//!     {"name": "tags", "type": {"list": "string"}}
//!   ]
//! }
//! ```
//!
//! Types: `string`, `int64`, `float64`, `bool`, `date` (`YYYY-MM-DD`), `timestamp`
//! (ISO-8601 with any offset), `timestamp(epoch_seconds)` and `timestamp(epoch_millis)`
//! (numbers), `decimal(p,s)` (p ≤ 38), `json` (any value, kept as JSON text), and the
//! nested `{"struct": [columns]}` and `{"list": type}`. `nullable` defaults to true;
//! `event_time` names the top-level timestamp or date column that picks the `dt=`
//! partition (`_ingested_at` when absent). The lineage columns and `_extra` (fields
//! the contract does not know, as JSON text) are always added and may not be declared.

use std::collections::HashSet;
use std::fmt;

use feedpipe_shared::feeds::is_plain_identifier;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The contract of the sample feed (`sql/contracts/feed.json`), built in: the default
/// of `feedpipe convert` and of the raw-to-parquet Lambda.
pub const SAMPLE_CONTRACT: &str = include_str!("../../../sql/contracts/feed.json");

/// Column of fields the contract does not know, kept as JSON text (VARIANT in Snowflake).
pub const EXTRA: &str = "_extra";

/// The partition column of the curated table (`<table>/dt=YYYY-MM-DD/`): no column of
/// a contract may have its name, which a query would see twice.
pub const PARTITION: &str = "dt";

const LINEAGE: [(&str, ColumnType, &str); 5] = [
    (
        "_source_uri",
        ColumnType::String,
        "URI of the source feed file",
    ),
    (
        "_source_version",
        ColumnType::String,
        "Version id or ETag of the source feed file",
    ),
    (
        "_source_line",
        ColumnType::Int64,
        "Line (or array element) of the record in its source file, from 1",
    ),
    (
        "_record_id",
        ColumnType::String,
        "Deterministic id from source URI, version and line",
    ),
    (
        "_ingested_at",
        ColumnType::Timestamp(TimestampFormat::Iso8601),
        "When the ingest run read the record (UTC)",
    ),
];

/// How a timestamp is written in the raw JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// An ISO-8601 / RFC 3339 string with an offset (`Z`, `+02:00`).
    Iso8601,
    /// A number of seconds since 1970-01-01 UTC.
    EpochSeconds,
    /// A number of milliseconds since 1970-01-01 UTC.
    EpochMillis,
}

/// The type of a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// true / false.
    Bool,
    /// A calendar date.
    Date,
    /// An instant, stored as UTC microseconds.
    Timestamp(TimestampFormat),
    /// Exact decimal with `precision` digits, `scale` of them after the point.
    Decimal { precision: u8, scale: u8 },
    /// Any JSON value, kept as its JSON text.
    Json,
    /// A nested object with known fields.
    Struct(Vec<Column>),
    /// A list of values of one type.
    List(Box<ColumnType>),
}

/// One column (or nested field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Field name in the JSON, column name in Parquet and Snowflake.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether it may be missing or null (a missing non-nullable field quarantines the record).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub nullable: bool,
    /// What it means, for people (becomes the Snowflake column comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// The contract of one table; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaContract {
    /// Table name: the curated folder and the Snowflake table.
    pub table: String,
    /// Top-level timestamp or date column that decides the `dt=` partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// The customer's columns, in order.
    pub columns: Vec<Column>,
}

/// What is wrong with a contract.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    /// Not valid JSON or not the contract's shape.
    #[error("invalid schema contract: {0}")]
    Parse(String),
    /// Valid shape, wrong content.
    #[error("invalid schema contract: {0}")]
    Invalid(String),
}

impl SchemaContract {
    /// Parses and validates a contract.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        let contract: Self =
            serde_json::from_str(text).map_err(|e| ContractError::Parse(e.to_string()))?;
        contract.validate()?;
        Ok(contract)
    }

    /// Pretty JSON, as checked into the repository.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Checks names, types and the event-time column.
    pub fn validate(&self) -> Result<(), ContractError> {
        let invalid = |m: String| Err(ContractError::Invalid(m));
        if !is_plain_identifier(&self.table) {
            return invalid(format!(
                "table name `{}` must be letters, digits and `_`, not starting with a digit",
                self.table
            ));
        }
        if self.columns.is_empty() {
            return invalid("no columns".into());
        }
        validate_columns(&self.columns, "")?;
        for column in &self.columns {
            if LINEAGE
                .iter()
                .any(|(n, _, _)| n.eq_ignore_ascii_case(&column.name))
                || column.name.eq_ignore_ascii_case(EXTRA)
            {
                return invalid(format!(
                    "column `{}` is added by feedpipe and may not be declared",
                    column.name
                ));
            }
        }
        if let Some(c) = self
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(PARTITION))
        {
            return invalid(format!(
                "column `{}` has the name of the `dt` partition the curated table is cut by (a query would see two); leave it out of the contract, and the decoder keeps the field in `_extra`",
                c.name
            ));
        }
        if let Some(event_time) = &self.event_time {
            match self.columns.iter().find(|c| &c.name == event_time) {
                None => {
                    return invalid(format!(
                        "event_time `{event_time}` is not a top-level column"
                    ));
                }
                Some(c) if !matches!(c.ty, ColumnType::Timestamp(_) | ColumnType::Date) => {
                    return invalid(format!(
                        "event_time `{event_time}` must be a timestamp or date column, not {}",
                        c.ty
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The columns of the curated Parquet: the contract's, then the lineage columns,
    /// then `_extra`.
    pub fn full_columns(&self) -> Vec<Column> {
        let mut all = self.columns.clone();
        all.extend(LINEAGE.iter().map(|(name, ty, description)| Column {
            name: (*name).to_owned(),
            ty: ty.clone(),
            nullable: false,
            description: Some((*description).to_owned()),
        }));
        all.push(Column {
            name: EXTRA.into(),
            ty: ColumnType::Json,
            nullable: true,
            description: Some("Fields the schema contract does not know, as a JSON object".into()),
        });
        all
    }

    /// The Snowflake `CREATE TABLE IF NOT EXISTS` matching the curated Parquet, with
    /// `{{ database }}`/`{{ schema }}` placeholders and the two columns the pipe fills
    /// (`_file_name`, `_loaded_at`). Timestamps are `TIMESTAMP_LTZ`: the Parquet holds
    /// UTC-adjusted microseconds, which Snowflake loads into LTZ without shifting.
    pub fn snowflake_table_sql(&self) -> String {
        let mut columns: Vec<(String, String, Option<String>)> = self
            .full_columns()
            .iter()
            .map(|c| {
                let not_null = if c.nullable { "" } else { " NOT NULL" };
                (
                    quote_identifier(&c.name),
                    format!("{}{not_null}", snowflake_type(&c.ty)),
                    c.description.clone(),
                )
            })
            .collect();
        columns.push((
            "_file_name".into(),
            "VARCHAR".into(),
            Some("Curated Parquet file the row was loaded from (METADATA$FILENAME)".into()),
        ));
        columns.push((
            "_loaded_at".into(),
            "TIMESTAMP_LTZ".into(),
            Some("When Snowpipe loaded the row (METADATA$START_SCAN_TIME, set per record)".into()),
        ));
        let name_width = columns.iter().map(|c| c.0.len()).max().unwrap_or(0);
        let type_width = columns.iter().map(|c| c.1.len()).max().unwrap_or(0);
        let body: Vec<String> = columns
            .iter()
            .map(|(name, ty, description)| {
                let comment = description
                    .as_ref()
                    .map(|d| format!(" COMMENT '{}'", d.replace('\'', "''")))
                    .unwrap_or_default();
                format!("  {name:<name_width$} {ty:<type_width$}{comment}")
                    .trim_end()
                    .to_owned()
            })
            .collect();
        format!(
            "-- V5: creates the table `{table}` of schema contract sql/contracts/{table}.json: its\n\
             -- columns, the lineage columns, _extra, and the two columns the pipe fills.\n\
             -- Generated by `feedpipe schema sql sql/contracts/{table}.json`; do not edit by hand\n\
             -- (a test fails when this file and the contract drift apart).\n\
             -- Placeholders: {{{{ database }}}}, {{{{ schema }}}}, {{{{ table }}}} (Terraform output sql_vars;\n\
             -- {{{{ table }}}} must be `{table}`, the contract's table).\n\
             -- Timestamps are TIMESTAMP_LTZ: the Parquet holds UTC-adjusted microseconds\n\
             -- (isAdjustedToUTC = true), which Snowflake loads into LTZ as the same instant.\n\
             -- IF NOT EXISTS, never OR REPLACE: the table holds loaded data.\n\
             CREATE TABLE IF NOT EXISTS {{{{ database }}}}.{{{{ schema }}}}.{{{{ table }}}} (\n{}\n)\n\
             COMMENT = 'feedpipe: {{{{ table }}}}, loaded by Snowpipe from curated Parquet; at-least-once, query {{{{ table }}}}_dedup';\n",
            body.join(",\n"),
            table = self.table,
        )
    }
}

fn validate_columns(columns: &[Column], path: &str) -> Result<(), ContractError> {
    let mut seen = HashSet::new();
    for c in columns {
        let full = format!("{path}{}", c.name);
        if c.name.is_empty() {
            return Err(ContractError::Invalid(format!(
                "a column under `{path}` has an empty name"
            )));
        }
        if !seen.insert(c.name.to_ascii_lowercase()) {
            return Err(ContractError::Invalid(format!(
                "column `{full}` appears twice (names are matched case-insensitively in Snowflake)"
            )));
        }
        validate_type(&c.ty, &full)?;
    }
    Ok(())
}

fn validate_type(ty: &ColumnType, path: &str) -> Result<(), ContractError> {
    match ty {
        // Snowflake's NUMBER: at most 38 digits, and a scale of at most 37.
        ColumnType::Decimal { precision, scale }
            if *precision == 0 || *precision > 38 || scale > precision || *scale > 37 =>
        {
            Err(ContractError::Invalid(format!(
                "`{path}`: decimal({precision},{scale}) needs 1 ≤ p ≤ 38 and s ≤ p, s ≤ 37 (Snowflake's NUMBER)"
            )))
        }
        ColumnType::Struct(fields) if fields.is_empty() => {
            Err(ContractError::Invalid(format!("`{path}`: empty struct")))
        }
        ColumnType::Struct(fields) => validate_columns(fields, &format!("{path}.")),
        ColumnType::List(inner) => validate_type(inner, &format!("{path}[]")),
        _ => Ok(()),
    }
}

/// Plain names stay bare (Snowflake upper-cases them, and the pipe matches names
/// case-insensitively); anything else is double-quoted.
fn quote_identifier(name: &str) -> String {
    if is_plain_identifier(name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn snowflake_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::String => "VARCHAR".into(),
        ColumnType::Int64 => "NUMBER(19, 0)".into(),
        ColumnType::Float64 => "FLOAT".into(),
        ColumnType::Bool => "BOOLEAN".into(),
        ColumnType::Date => "DATE".into(),
        ColumnType::Timestamp(_) => "TIMESTAMP_LTZ".into(),
        ColumnType::Decimal { precision, scale } => format!("NUMBER({precision}, {scale})"),
        ColumnType::Json => "VARIANT".into(),
        ColumnType::Struct(_) => "OBJECT".into(),
        ColumnType::List(_) => "ARRAY".into(),
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::String => f.write_str("string"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Bool => f.write_str("bool"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp(TimestampFormat::Iso8601) => f.write_str("timestamp"),
            ColumnType::Timestamp(TimestampFormat::EpochSeconds) => {
                f.write_str("timestamp(epoch_seconds)")
            }
            ColumnType::Timestamp(TimestampFormat::EpochMillis) => {
                f.write_str("timestamp(epoch_millis)")
            }
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Json => f.write_str("json"),
            ColumnType::Struct(_) => f.write_str("struct"),
            ColumnType::List(inner) => write!(f, "list<{inner}>"),
        }
    }
}

impl std::str::FromStr for ColumnType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        Ok(match s {
            "string" => ColumnType::String,
            "int64" => ColumnType::Int64,
            "float64" => ColumnType::Float64,
            "bool" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "json" => ColumnType::Json,
            "timestamp" => ColumnType::Timestamp(TimestampFormat::Iso8601),
            "timestamp(epoch_seconds)" => ColumnType::Timestamp(TimestampFormat::EpochSeconds),
            "timestamp(epoch_millis)" => ColumnType::Timestamp(TimestampFormat::EpochMillis),
            _ => {
                let args = s.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')).ok_or_else(|| {
                    format!("unknown type `{s}` (string, int64, float64, bool, date, timestamp, timestamp(epoch_seconds), timestamp(epoch_millis), decimal(p,s), json, {{\"struct\": [...]}}, {{\"list\": type}})")
                })?;
                let (p, sc) = args
                    .split_once(',')
                    .ok_or_else(|| format!("`{s}`: decimal needs (precision,scale)"))?;
                let precision = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{s}`: bad precision"))?;
                let scale = sc.trim().parse().map_err(|_| format!("`{s}`: bad scale"))?;
                ColumnType::Decimal { precision, scale }
            }
        })
    }
}

impl Serialize for ColumnType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ColumnType::Struct(fields) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("struct", fields)?;
                map.end()
            }
            ColumnType::List(inner) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("list", inner)?;
                map.end()
            }
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape =
            "a type is a name such as \"int64\", or {\"struct\": [columns]}, or {\"list\": type}";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(name) => name.parse().map_err(de::Error::custom),
            serde_json::Value::Object(map) if map.len() == 1 => {
                if let Some(fields) = map.get("struct") {
                    Vec::<Column>::deserialize(fields)
                        .map(ColumnType::Struct)
                        .map_err(de::Error::custom)
                } else if let Some(inner) = map.get("list") {
                    ColumnType::deserialize(inner)
                        .map(|t| ColumnType::List(Box::new(t)))
                        .map_err(de::Error::custom)
                } else {
                    Err(de::Error::custom(shape))
                }
            }
            _ => Err(de::Error::custom(shape)),
        }
    }
}

mod choose;
mod evolve;
mod load;

pub use crate::infer::{InferError, Inferred, infer};
pub use choose::{Choice, ChooseError, Chosen, SAMPLE_PER_FILE, choose, sample_records};
pub use evolve::{
    Change, Evolution, ExtraTally, Proposal, Refusal, Refused, SeenField, SuggestError, Suggestion,
    diff, read_extra,
};
pub use load::{LoadError, load, load_feeds, load_or_sample};

#[cfg(test)]
mod tests;
