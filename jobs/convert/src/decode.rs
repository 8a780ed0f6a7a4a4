//! `RecordDecoder`: one raw JSON record → typed cells under the contract, or the
//! reason it does not fit.
//!
//! Strict where arrow-json is lenient: `"42"` is not an int64, `1.5` is not an int64,
//! a decimal with more places than its scale is refused rather than rounded, a
//! timestamp needs an offset. Fields the contract does not know are kept, with their
//! raw JSON, in `_extra` (nested ones under a dotted path, `customer.loyalty`).
//! A record that does not fit is refused whole, with the field path and the reason;
//! nothing of it reaches the Parquet.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use serde_json::value::RawValue;

use feedpipe_shared::lineage::{self, SourceObject};
use feedpipe_shared::quarantine::RejectKind;

use crate::columns::Cell;
use crate::contract::{Column, SchemaContract};
use crate::raw_json::object_fields;

const EPOCH_DAYS_CE: i32 = 719_163;

/// Why a record does not fit the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// Why, as the quarantine records it: malformed JSON, or a value that does not
    /// fit the contract.
    pub kind: RejectKind,
    /// For a human: names the field and what was wrong.
    pub reason: String,
}

/// Where a value is in its record, for messages: built as the decoder descends and
/// written out only when a message needs it (`customer.address.city`, `items[2].qty`).
#[derive(Debug, Clone, Copy)]
enum FieldPath<'p> {
    Top(&'p str),
    Field(&'p FieldPath<'p>, &'p str),
    Item(&'p FieldPath<'p>, usize),
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldPath::Top(name) => f.write_str(name),
            FieldPath::Field(parent, name) => write!(f, "{parent}.{name}"),
            FieldPath::Item(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn fail<T>(path: impl std::fmt::Display, what: impl std::fmt::Display) -> Result<T, DecodeError> {
    Err(DecodeError {
        kind: RejectKind::Contract,
        reason: format!("field `{path}`: {what}"),
    })
}

/// Where a record came from, when it carries no lineage of its own (written by
/// another producer than feedpipe's ingest): the raw object and the line in it.
#[derive(Debug, Clone)]
pub struct RawOrigin {
    /// The raw object.
    pub source: SourceObject,
    /// When the raw object was written, microseconds (stands in for `_ingested_at`).
    pub written_at_micros: i64,
}

impl RawOrigin {
    /// The lineage cells of the record at `line` of the raw object, in the order of
    /// [`lineage::COLUMNS`].
    fn lineage(&self, line: u64) -> [Cell<'static>; 5] {
        let s = &self.source;
        [
            Cell::Str(Cow::Owned(s.uri.clone())),
            Cell::Str(Cow::Owned(s.version.clone())),
            Cell::I64(line as i64),
            Cell::Str(Cow::Owned(s.record_id(line))),
            Cell::Ts(self.written_at_micros),
        ]
    }
}

/// One decoded record.
#[derive(Debug)]
pub struct DecodedRecord<'a> {
    /// One cell per column of [`SchemaContract::full_columns`].
    pub cells: Vec<Cell<'a>>,
    /// The `dt=` partition: the event-time column's UTC date, else `_ingested_at`'s.
    pub dt: NaiveDate,
}

/// Decodes records for one contract; see the module docs.
#[derive(Debug)]
pub struct RecordDecoder {
    columns: Vec<Column>,
    index: HashMap<String, usize>,
    event_time: Option<usize>,
    lineage_at: usize,
}

impl RecordDecoder {
    /// A decoder for `contract` (validated).
    pub fn new(contract: &SchemaContract) -> Self {
        let columns = contract.full_columns();
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let event_time = contract
            .event_time
            .as_ref()
            .and_then(|e| contract.columns.iter().position(|c| &c.name == e));
        Self {
            columns,
            index,
            event_time,
            lineage_at: contract.columns.len(),
        }
    }

    /// The columns cells are produced for.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Decodes the JSON object `text`, found at `line` of the raw object `origin`.
    pub fn decode<'a>(
        &self,
        text: &'a str,
        line: u64,
        origin: &RawOrigin,
    ) -> Result<DecodedRecord<'a>, DecodeError> {
        let fields = object_fields(text).map_err(|e| DecodeError {
            kind: if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                RejectKind::NotAnObject
            } else {
                RejectKind::Malformed
            },
            reason: format!("malformed JSON: {e}"),
        })?;
        self.decode_fields(fields, line, origin)
    }

    /// Like [`RecordDecoder::decode`] for a whole line that holds exactly one JSON
    /// object, which is the common case, parsed once; `None` when the line is not
    /// that (several objects back to back, or malformed), for the caller to split.
    pub fn decode_line<'a>(
        &self,
        text: &'a str,
        line: u64,
        origin: &RawOrigin,
    ) -> Option<Result<DecodedRecord<'a>, DecodeError>> {
        let fields = object_fields(text).ok()?;
        Some(self.decode_fields(fields, line, origin))
    }

    fn decode_fields<'a>(
        &self,
        fields: Vec<(Cow<'a, str>, &'a RawValue)>,
        line: u64,
        origin: &RawOrigin,
    ) -> Result<DecodedRecord<'a>, DecodeError> {
        let mut cells: Vec<Option<Cell<'a>>> = vec![None; self.columns.len()];
        let mut extra: Vec<(String, &'a RawValue)> = Vec::new();
        // Records of one producer write their fields in one order: try the column
        // after the last one found before looking the name up.
        let mut next = 0;
        for (name, raw) in fields {
            let at = match self.columns.get(next) {
                Some(c) if c.name == name => Some(next),
                _ => self.index.get(name.as_ref()).copied(),
            };
            match at {
                Some(i) if i < self.columns.len() - 1 => {
                    next = i + 1;
                    if cells[i].is_some() {
                        return fail(&name, "appears twice in the record");
                    }
                    let column = &self.columns[i];
                    cells[i] = Some(convert(
                        &column.ty,
                        column.nullable,
                        raw,
                        &FieldPath::Top(&name),
                        &mut extra,
                    )?);
                }
                _ => extra.push((name.into_owned(), raw)),
            }
        }
        self.fill_lineage(&mut cells, line, origin)?;
        for (i, column) in self.columns.iter().enumerate().take(self.lineage_at) {
            if cells[i].is_none() {
                if !column.nullable {
                    return fail(&column.name, "is required but missing");
                }
                cells[i] = Some(Cell::Null);
            }
        }
        let extra_at = self.columns.len() - 1;
        cells[extra_at] = Some(if extra.is_empty() {
            Cell::Null
        } else {
            let text = extra_json(&extra);
            snowflake::check_json_text(&text, "_extra")?;
            Cell::Str(Cow::Owned(text))
        });
        let cells: Vec<Cell<'a>> = cells.into_iter().map(|c| c.unwrap_or(Cell::Null)).collect();
        let dt = self.partition_date(&cells);
        Ok(DecodedRecord { cells, dt })
    }

    /// Lineage from the record; all of it from the raw object when the record has none.
    fn fill_lineage<'a>(
        &self,
        cells: &mut [Option<Cell<'a>>],
        line: u64,
        origin: &RawOrigin,
    ) -> Result<(), DecodeError> {
        let lineage = self.lineage_at..self.lineage_at + lineage::COLUMNS.len();
        let present = cells[lineage.clone()]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if present == lineage::COLUMNS.len() {
            return Ok(());
        }
        if present > 0 {
            let missing: Vec<&str> = lineage::COLUMNS
                .iter()
                .zip(&cells[lineage])
                .filter(|(_, c)| c.is_none())
                .map(|(n, _)| *n)
                .collect();
            return Err(DecodeError {
                kind: RejectKind::Contract,
                reason: format!("incomplete lineage: missing {}", missing.join(", ")),
            });
        }
        for (slot, value) in cells[lineage].iter_mut().zip(origin.lineage(line)) {
            *slot = Some(value);
        }
        Ok(())
    }

    fn partition_date(&self, cells: &[Cell<'_>]) -> NaiveDate {
        let from = |cell: &Cell<'_>| match cell {
            Cell::Ts(micros) => DateTime::from_timestamp_micros(*micros).map(|t| t.date_naive()),
            Cell::Date(days) => NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_CE),
            _ => None,
        };
        let ingested = self.lineage_at + 4;
        self.event_time
            .and_then(|i| from(&cells[i]))
            .or_else(|| from(&cells[ingested]))
            .unwrap_or_default()
    }
}

/// `{"name":raw,...}` from the unknown fields, raw values as written, with unique keys
/// so that every JSON reader (Snowflake's included) takes the object: a key met again (a
/// field written twice, or a top-level `c.x` beside a nested `c` → `x`) gets `#2`, `#3`,
/// … appended, the first free one. Nothing is dropped.
fn extra_json(extra: &[(String, &RawValue)]) -> String {
    let mut out = String::from("{");
    let mut keys: Vec<Cow<'_, str>> = Vec::with_capacity(extra.len());
    for (i, (name, raw)) in extra.iter().enumerate() {
        let mut key = Cow::Borrowed(name.as_str());
        let mut n = 2;
        while keys.contains(&key) {
            key = Cow::Owned(format!("{name}#{n}"));
            n += 1;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key.as_ref()).unwrap_or_default());
        out.push(':');
        out.push_str(raw.get());
        keys.push(key);
    }
    out.push('}');
    out
}

mod append;
mod snowflake;
mod value;

use value::convert;
#[cfg(test)]
use value::decimal;

#[cfg(test)]
mod tests;
