//! One JSON value under its column type: strict scalars (no `"42"` for an integer,
//! no rounding of decimals, timestamps with an offset), nested structs and lists
//! where they stand, and the reason when a value does not fit.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use serde_json::value::RawValue;

use feedpipe_shared::quarantine::RejectKind;

use super::snowflake::{check_json_text, check_string};
use super::{DecodeError, EPOCH_DAYS_CE, FieldPath, fail};
use crate::columns::Cell;
use crate::contract::{ColumnType, TimestampFormat};
use crate::raw_json::{JsonKind, kind, object_fields};

/// One value under its column type.
pub(super) fn convert<'a>(
    ty: &ColumnType,
    nullable: bool,
    raw: &'a RawValue,
    path: &FieldPath<'_>,
    extra: &mut Vec<(String, &'a RawValue)>,
) -> Result<Cell<'a>, DecodeError> {
    let text = raw.get();
    if text == "null" {
        return if nullable {
            Ok(Cell::Null)
        } else {
            fail(path, "is required but null")
        };
    }
    let expected = |what: &str| {
        fail(
            path,
            format!("expected {what}, found {} `{}`", kind(text), shorten(text)),
        )
    };
    match ty {
        ColumnType::String => match text.as_bytes()[0] {
            b'"' => {
                let s = string(text, path)?;
                check_string(&s, path)?;
                Ok(Cell::Str(s))
            }
            _ => expected("a string"),
        },
        ColumnType::Json => {
            check_json_text(text, path)?;
            Ok(Cell::Str(Cow::Borrowed(text)))
        }
        ColumnType::Bool => match text {
            "true" => Ok(Cell::Bool(true)),
            "false" => Ok(Cell::Bool(false)),
            _ => expected("a boolean"),
        },
        ColumnType::Int64 => {
            if kind(text) != JsonKind::Number {
                return expected("an integer");
            }
            match text.parse::<i64>() {
                Ok(v) => Ok(Cell::I64(v)),
                Err(_) if text.contains(['.', 'e', 'E']) => expected("an integer"),
                Err(_) => fail(path, format!("{text} does not fit in int64")),
            }
        }
        ColumnType::Float64 => {
            if kind(text) != JsonKind::Number {
                return expected("a number");
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Cell::F64(v)),
                _ => fail(
                    path,
                    format!("{} is out of the float64 range", shorten(text)),
                ),
            }
        }
        ColumnType::Decimal { precision, scale } => {
            if kind(text) != JsonKind::Number {
                return expected("a number");
            }
            decimal(text, *precision, *scale)
                .map(Cell::Dec)
                .or_else(|why| fail(path, why))
        }
        ColumnType::Date => {
            if kind(text) != JsonKind::String {
                return expected("a date string (YYYY-MM-DD)");
            }
            let s = string(text, path)?;
            match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
                Ok(d) if !(1..=9999).contains(&d.year()) => fail(
                    path,
                    format!(
                        "date `{s}` is out of range (years 1 to 9999, as Snowflake holds them)"
                    ),
                ),
                Ok(d) => Ok(Cell::Date(d.num_days_from_ce() - EPOCH_DAYS_CE)),
                Err(e) => fail(path, format!("`{s}` is not a date (YYYY-MM-DD): {e}")),
            }
        }
        ColumnType::Timestamp(TimestampFormat::Iso8601) => {
            if kind(text) != JsonKind::String {
                return expected("an ISO-8601 timestamp string");
            }
            let s = string(text, path)?;
            match DateTime::parse_from_rfc3339(&s) {
                // chrono keeps a leap second as a nanosecond count past 1e9; Parquet and
                // Snowflake timestamps have no 60th second, and moving it silently to
                // the next one could change its `dt`.
                Ok(t) if t.nanosecond() >= 1_000_000_000 => fail(
                    path,
                    format!(
                        "`{s}` is a leap second (`:60`), which Parquet and Snowflake timestamps cannot hold; write `:59.999999` or the next second"
                    ),
                ),
                Ok(t) => in_range(t.timestamp_micros(), path, &s),
                Err(e) => fail(
                    path,
                    format!("`{s}` is not an ISO-8601 timestamp with offset: {e}"),
                ),
            }
        }
        ColumnType::Timestamp(format) => {
            if kind(text) != JsonKind::Number {
                return expected("a number of seconds or milliseconds since 1970");
            }
            let unit = if *format == TimestampFormat::EpochSeconds {
                1_000_000
            } else {
                1_000
            };
            let micros = match text.parse::<i64>() {
                Ok(v) => v.checked_mul(unit),
                Err(_) => match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && (v * unit as f64).abs() < 9.0e18 => {
                        Some((v * unit as f64).round() as i64)
                    }
                    _ => None,
                },
            };
            match micros {
                Some(micros) => in_range(micros, path, text),
                None => fail(
                    path,
                    format!("epoch value {} is out of range", shorten(text)),
                ),
            }
        }
        ColumnType::Struct(fields) => {
            if kind(text) != JsonKind::Object {
                return expected("an object");
            }
            let values = object_fields(text).map_err(|e| DecodeError {
                kind: RejectKind::Contract,
                reason: format!("field `{path}`: {e}"),
            })?;
            let mut cells: Vec<Option<Cell<'a>>> = vec![None; fields.len()];
            let mut next = 0;
            for (name, value) in values {
                let at = match fields.get(next) {
                    Some(f) if f.name == name => Some(next),
                    _ => fields.iter().position(|f| f.name == name),
                };
                match at {
                    Some(i) => {
                        next = i + 1;
                        let child = FieldPath::Field(path, &name);
                        if cells[i].is_some() {
                            return fail(child, "appears twice in the record");
                        }
                        cells[i] = Some(convert(
                            &fields[i].ty,
                            fields[i].nullable,
                            value,
                            &child,
                            extra,
                        )?);
                    }
                    None => extra.push((format!("{path}.{name}"), value)),
                }
            }
            let mut out = Vec::with_capacity(fields.len());
            for (field, cell) in fields.iter().zip(cells) {
                match cell {
                    Some(c) => out.push(c),
                    None if field.nullable => out.push(Cell::Null),
                    None => {
                        return fail(
                            FieldPath::Field(path, &field.name),
                            "is required but missing",
                        );
                    }
                }
            }
            Ok(Cell::Struct(out))
        }
        ColumnType::List(inner) => {
            if kind(text) != JsonKind::Array {
                return expected("an array");
            }
            let items: Vec<&'a RawValue> = serde_json::from_str(text).map_err(|e| DecodeError {
                kind: RejectKind::Contract,
                reason: format!("field `{path}`: {e}"),
            })?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(inner, true, item, &FieldPath::Item(path, i), extra))
                .collect::<Result<Vec<_>, _>>()
                .map(Cell::List)
        }
    }
}

fn string<'a>(text: &'a str, path: &FieldPath<'_>) -> Result<Cow<'a, str>, DecodeError> {
    // Borrowed when the string has no escapes.
    if !text[1..text.len() - 1].contains('\\') {
        return Ok(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text)
        .map(Cow::Owned)
        .map_err(|e| DecodeError {
            kind: RejectKind::Contract,
            reason: format!("field `{path}`: {e}"),
        })
}

/// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in microseconds since 1970: the
/// years a Snowflake timestamp (and a date partition `dt=YYYY-MM-DD`) can hold.
const TS_MIN_MICROS: i64 = -62_135_596_800_000_000;
const TS_END_MICROS: i64 = 253_402_300_800_000_000;

/// A timestamp cell, if it lies in the years 1 to 9999; else why not.
fn in_range<'a>(micros: i64, path: &FieldPath<'_>, written: &str) -> Result<Cell<'a>, DecodeError> {
    if (TS_MIN_MICROS..TS_END_MICROS).contains(&micros) {
        Ok(Cell::Ts(micros))
    } else {
        fail(
            path,
            format!(
                "timestamp {} is out of range (years 1 to 9999)",
                shorten(written)
            ),
        )
    }
}

/// The unscaled value of a JSON number as decimal(precision, scale), exactly.
pub(super) fn decimal(text: &str, precision: u8, scale: u8) -> Result<i128, String> {
    if text.contains(['e', 'E']) {
        return Err(format!(
            "{text} uses an exponent; decimal({precision},{scale}) needs plain digits"
        ));
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac_kept = frac.trim_end_matches('0');
    if frac_kept.len() > scale as usize {
        return Err(format!(
            "{text} has {} decimal places; decimal({precision},{scale}) allows {scale}",
            frac_kept.len()
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale as usize > precision as usize {
        return Err(format!(
            "{text} has too many digits for decimal({precision},{scale})"
        ));
    }
    let mut value: i128 = 0;
    for b in int
        .bytes()
        .chain(frac_kept.bytes())
        .chain(std::iter::repeat_n(b'0', scale as usize - frac_kept.len()))
    {
        value = value * 10 + i128::from(b - b'0');
    }
    Ok(if negative { -value } else { value })
}

fn shorten(text: &str) -> Cow<'_, str> {
    if text.len() <= 60 {
        return Cow::Borrowed(text);
    }
    let cut = (0..=60)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    Cow::Owned(format!("{}…", &text[..cut]))
}
