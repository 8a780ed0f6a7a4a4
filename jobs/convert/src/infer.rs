//! `infer`: a schema contract from sample records, so nobody writes one from scratch.
//!
//! Every field seen in any record becomes a column (in order of first appearance),
//! nullable (a contract is pinned by people; inference stays on the side that loses
//! nothing). Types are read from the JSON text itself: `1.50` is a decimal with
//! scale 2 (never a float that prints as 1.5), integers past int64 are decimals,
//! RFC 3339 strings are timestamps, `YYYY-MM-DD` strings are dates, and fields whose
//! values disagree (a number here, a string there) become `json`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::contract::{Column, ColumnType, EXTRA, PARTITION, SchemaContract, TimestampFormat};

/// Why no contract could be inferred.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InferError {
    /// The sample holds no JSON object to learn from.
    #[error(
        "no JSON object in the sample ({skipped} record(s) were not objects or not valid JSON)"
    )]
    NoRecords { skipped: u64 },
}

const LINEAGE: [&str; 5] = [
    "_source_uri",
    "_source_version",
    "_source_line",
    "_record_id",
    "_ingested_at",
];

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Null,
    Bool,
    Int,
    Decimal { int_digits: u8, scale: u8 },
    Float,
    Date,
    Timestamp,
    String,
    Object(Vec<(String, Seen)>),
    Array(Box<Seen>),
    Mixed,
}

impl Seen {
    fn merge(self, other: Seen) -> Seen {
        use Seen::*;
        match (self, other) {
            (Null, x) | (x, Null) => x,
            (Int, Int) => Int,
            (Int, Decimal { int_digits, scale }) | (Decimal { int_digits, scale }, Int) => {
                Decimal {
                    int_digits: int_digits.max(19),
                    scale,
                }
            }
            (
                Decimal {
                    int_digits: a,
                    scale: s,
                },
                Decimal {
                    int_digits: b,
                    scale: t,
                },
            ) => Decimal {
                int_digits: a.max(b),
                scale: s.max(t),
            },
            (Int | Decimal { .. } | Float, Int | Decimal { .. } | Float) => Float,
            (Object(mut a), Object(b)) => {
                for (name, seen) in b {
                    match a.iter_mut().find(|(n, _)| *n == name) {
                        Some(slot) => slot.1 = std::mem::replace(&mut slot.1, Null).merge(seen),
                        None => a.push((name, seen)),
                    }
                }
                Object(a)
            }
            (Array(a), Array(b)) => Array(Box::new(a.merge(*b))),
            (a, b) if a == b => a,
            (Date | Timestamp | String, Date | Timestamp | String) => String,
            _ => Mixed,
        }
    }

    fn column_type(&self) -> ColumnType {
        match self {
            Seen::Null | Seen::String => ColumnType::String,
            Seen::Bool => ColumnType::Bool,
            Seen::Int => ColumnType::Int64,
            Seen::Decimal { int_digits, scale } => {
                let precision = (int_digits + scale).clamp(18, 38);
                ColumnType::Decimal {
                    precision,
                    scale: (*scale).min(precision),
                }
            }
            Seen::Float => ColumnType::Float64,
            Seen::Date => ColumnType::Date,
            Seen::Timestamp => ColumnType::Timestamp(TimestampFormat::Iso8601),
            Seen::Mixed => ColumnType::Json,
            Seen::Array(inner) => ColumnType::List(Box::new(inner.column_type())),
            Seen::Object(fields) if fields.is_empty() => ColumnType::Json,
            Seen::Object(fields) => ColumnType::Struct(columns(fields, false)),
        }
    }
}

/// Columns from merged fields; at the top level, the names feedpipe reserves
/// ([`reserved`]) are left out, and so are names that would clash case-insensitively.
fn columns(fields: &[(String, Seen)], top: bool) -> Vec<Column> {
    let mut seen = std::collections::HashSet::new();
    fields
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .filter(|(name, _)| !top || !reserved(name))
        .filter(|(name, _)| seen.insert(name.to_ascii_lowercase()))
        .map(|(name, s)| Column {
            name: name.clone(),
            ty: s.column_type(),
            nullable: true,
            description: None,
        })
        .collect()
}

/// Whether a top-level field name is feedpipe's: a lineage column or `_extra` (feedpipe
/// adds them), or the `dt` partition column (case-insensitively, as Snowflake compares
/// names). A customer field of such a name stays out of the contract; the decoder
/// keeps it in `_extra`, so it is not lost.
fn reserved(name: &str) -> bool {
    LINEAGE.contains(&name) || name == EXTRA || name.eq_ignore_ascii_case(PARTITION)
}

/// A contract inferred from a sample, and how much of the sample it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    /// The contract (validate it before use).
    pub contract: SchemaContract,
    /// Records that were JSON objects and were learned from.
    pub used: u64,
    /// Records skipped: not valid JSON, or not objects.
    pub skipped: u64,
    /// Top-level fields left out of the contract because feedpipe reserves their
    /// names (`dt`, `_extra`): the decoder keeps them in `_extra`.
    pub set_aside: Vec<String>,
}

/// Infers the contract of table `table` from sample records (each the bytes of one
/// JSON value; values that are not objects or not valid JSON are skipped).
pub fn infer<'a>(
    table: &str,
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Inferred, InferError> {
    let mut merged: Option<Seen> = None;
    let mut skipped = 0;
    let mut used = 0;
    for raw in records {
        match serde_json::from_slice::<&RawValue>(raw).map(shape) {
            Ok(Ok(seen @ Seen::Object(_))) => {
                used += 1;
                merged = Some(merged.map_or(seen.clone(), |m| m.merge(seen)));
            }
            _ => skipped += 1,
        }
    }
    let Some(Seen::Object(fields)) = merged else {
        return Err(InferError::NoRecords { skipped });
    };
    let columns = columns(&fields, true);
    let set_aside = fields
        .iter()
        .map(|(name, _)| name)
        .filter(|name| reserved(name) && !LINEAGE.contains(&name.as_str()))
        .cloned()
        .collect();
    let is_time = |c: &&Column| matches!(c.ty, ColumnType::Timestamp(_));
    let event_time = columns
        .iter()
        .filter(is_time)
        .find(|c| {
            let n = c.name.to_ascii_lowercase();
            n.ends_with("_ts") || n.ends_with("_at") || n.contains("time")
        })
        .or_else(|| columns.iter().find(is_time))
        .map(|c| c.name.clone());
    Ok(Inferred {
        contract: SchemaContract {
            table: table.to_owned(),
            event_time,
            columns,
        },
        used,
        skipped,
        set_aside,
    })
}

/// The shape of one JSON value, from its text.
fn shape(raw: &RawValue) -> Result<Seen, serde_json::Error> {
    shape_at(raw, 0)
}

/// Objects and lists nested deeper than this become one `json` column: a contract
/// stays small, and no step (inference, merging, decoding) recurses without bound.
const MAX_NESTING: usize = 32;

/// [`shape`] of a value `depth` levels down.
fn shape_at(raw: &RawValue, depth: usize) -> Result<Seen, serde_json::Error> {
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        Some(b'{' | b'[') if depth >= MAX_NESTING => Seen::Mixed,
        Some(b'{') => {
            let fields = crate::raw_json::object_fields(text)?;
            let mut out: Vec<(String, Seen)> = Vec::with_capacity(fields.len());
            for (name, value) in fields {
                let seen = shape_at(value, depth + 1)?;
                match out.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = std::mem::replace(&mut slot.1, Seen::Null).merge(seen),
                    None => out.push((name.into_owned(), seen)),
                }
            }
            Seen::Object(out)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            let mut inner = Seen::Null;
            for item in items {
                inner = inner.merge(shape_at(item, depth + 1)?);
            }
            Seen::Array(Box::new(inner))
        }
        Some(b'"') => {
            let s: Cow<'_, str> = serde_json::from_str(text)?;
            if chrono::DateTime::parse_from_rfc3339(&s).is_ok() {
                Seen::Timestamp
            } else if s.len() == 10 && chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok() {
                Seen::Date
            } else {
                Seen::String
            }
        }
        Some(b't' | b'f') => Seen::Bool,
        Some(b'n') => Seen::Null,
        _ => number(text),
    })
}

/// Integer, decimal (scale from the digits written) or float, from a number's text.
fn number(text: &str) -> Seen {
    if text.contains(['e', 'E']) {
        return Seen::Float;
    }
    let digits = text.trim_start_matches('-');
    match digits.split_once('.') {
        None if text.parse::<i64>().is_ok() => Seen::Int,
        None => Seen::Decimal {
            int_digits: digits.len().min(38) as u8,
            scale: 0,
        },
        Some((int, frac)) if frac.len() <= 9 && int.len() + frac.len() <= 38 => Seen::Decimal {
            int_digits: int.len() as u8,
            scale: frac.len() as u8,
        },
        Some(_) => Seen::Float,
    }
}
