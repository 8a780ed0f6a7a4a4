//! The single-pass path of [`RecordDecoder`]: one JSON object parsed straight into
//! the column buffers, each nested value where it stands, with no cells in between
//! and no second scan of nested objects and lists.
//!
//! It decides nothing on its own. Scalars go through the same `convert` as
//! [`RecordDecoder::decode`]; the walk over objects and lists follows the same rules
//! (field order hint, unknown fields to `_extra` under their path, missing and
//! duplicate fields). On anything that does not fit, or a line that is not exactly
//! one object, it undoes what it appended and gives up, and the caller runs
//! [`RecordDecoder::decode`], which decides and says why. The tests check that both
//! paths agree on every record they try.

use std::fmt;

use chrono::{DateTime, NaiveDate};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::snowflake::{VARCHAR_BYTES, check_json_text};
use super::{EPOCH_DAYS_CE, FieldPath, RawOrigin, RecordDecoder, convert, extra_json};
use crate::columns::ColumnBuf;
use crate::contract::{Column, ColumnType};
use crate::raw_json::KeySeed;

/// Unknown fields met so far: the name under its path, and the raw JSON.
type Extra<'de> = Vec<(String, &'de RawValue)>;

impl RecordDecoder {
    /// Appends the record `text` (a whole line holding one JSON object, found at
    /// `line` of `origin`) to `columns`, one buffer per column of
    /// [`RecordDecoder::columns`], and returns its `dt`. `None` when the record does
    /// not decode here: nothing was appended, and [`RecordDecoder::decode`] or
    /// [`RecordDecoder::decode_line`] must decide it.
    pub fn append(
        &self,
        text: &str,
        line: u64,
        origin: &RawOrigin,
        columns: &mut [ColumnBuf],
    ) -> Option<NaiveDate> {
        let rows = columns.first().map_or(0, ColumnBuf::len);
        match self.append_record(text, line, origin, columns) {
            Ok(dt) => Some(dt),
            Err(_) => {
                for column in columns.iter_mut() {
                    column.truncate(rows);
                }
                None
            }
        }
    }

    fn append_record(
        &self,
        text: &str,
        line: u64,
        origin: &RawOrigin,
        columns: &mut [ColumnBuf],
    ) -> Result<NaiveDate, serde_json::Error> {
        let extra_at = self.columns.len() - 1;
        let mut extra = Extra::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let seen = (&mut de).deserialize_map(ObjectVisitor {
            fields: &self.columns[..extra_at],
            index: Some(&self.index),
            bufs: &mut columns[..extra_at],
            path: None,
            extra: &mut extra,
        })?;
        de.end()?;

        let lineage = self.lineage_at..extra_at;
        let present = lineage.clone().filter(|i| seen.get(*i)).count();
        if present == 0 {
            for (buf, cell) in columns[lineage].iter_mut().zip(origin.lineage(line)) {
                buf.push(cell);
            }
        } else if present < lineage.len() {
            return Err(give_up());
        }
        for (i, column) in self.columns[..self.lineage_at].iter().enumerate() {
            if !seen.get(i) {
                if !column.nullable {
                    return Err(give_up());
                }
                columns[i].push_null();
            }
        }
        if extra.is_empty() {
            columns[extra_at].push_null();
        } else {
            let text = extra_json(&extra);
            // Refused: decode says why.
            if check_json_text(&text, "_extra").is_err() {
                return Err(give_up());
            }
            columns[extra_at].push_str(&text);
        }
        let ingested = self.lineage_at + 4;
        Ok(self
            .event_time
            .and_then(|i| last_date(&columns[i]))
            .or_else(|| last_date(&columns[ingested]))
            .unwrap_or_default())
    }
}

/// The UTC date of the last value of a timestamp or date column, if not null.
fn last_date(buf: &ColumnBuf) -> Option<NaiveDate> {
    match buf {
        ColumnBuf::Ts { values, valid } if !valid.is_empty() && valid.is_valid(valid.len() - 1) => {
            DateTime::from_timestamp_micros(*values.last()?).map(|t| t.date_naive())
        }
        ColumnBuf::Date { values, valid }
            if !valid.is_empty() && valid.is_valid(valid.len() - 1) =>
        {
            NaiveDate::from_num_days_from_ce_opt(values.last()? + EPOCH_DAYS_CE)
        }
        _ => None,
    }
}

/// The error that sends a record to [`RecordDecoder::decode`]; its text is unused.
fn give_up<E: de::Error>() -> E {
    E::custom("")
}

/// Which fields of an object were met.
struct Seen {
    small: u128,
    large: Vec<bool>,
}

impl Seen {
    fn new(fields: usize) -> Self {
        Self {
            small: 0,
            large: if fields > 128 {
                vec![false; fields]
            } else {
                Vec::new()
            },
        }
    }

    fn get(&self, i: usize) -> bool {
        match self.large.get(i) {
            Some(b) => *b,
            None => i < 128 && self.small & (1 << i) != 0,
        }
    }

    /// Marks field `i`; false when it was already marked.
    fn insert(&mut self, i: usize) -> bool {
        let was = self.get(i);
        match self.large.get_mut(i) {
            Some(b) => *b = true,
            None => self.small |= 1 << i,
        }
        !was
    }
}

/// The fields of one object (the record, or a struct value) into their buffers.
struct ObjectVisitor<'a, 'p, 'de> {
    fields: &'a [Column],
    /// Name → position, for the record's many columns; structs search their fields.
    index: Option<&'a std::collections::HashMap<String, usize>>,
    bufs: &'a mut [ColumnBuf],
    /// Where the object is; `None` for the record itself.
    path: Option<&'p FieldPath<'p>>,
    extra: &'a mut Extra<'de>,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_, 'de> {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        let mut seen = Seen::new(self.fields.len());
        // Records of one producer write their fields in one order: try the field
        // after the last one found before looking the name up.
        let mut next = 0;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let at = match self.fields.get(next) {
                Some(c) if c.name == name => Some(next),
                _ => match self.index {
                    Some(index) => index
                        .get(name.as_ref())
                        .copied()
                        .filter(|i| *i < self.fields.len()),
                    None => self.fields.iter().position(|f| f.name == name),
                },
            };
            match at {
                Some(i) => {
                    next = i + 1;
                    if !seen.insert(i) {
                        return Err(give_up());
                    }
                    let path = match self.path {
                        Some(parent) => FieldPath::Field(parent, &name),
                        None => FieldPath::Top(&name),
                    };
                    map.next_value_seed(Value {
                        ty: &self.fields[i].ty,
                        nullable: self.fields[i].nullable,
                        buf: &mut self.bufs[i],
                        path: &path,
                        extra: &mut *self.extra,
                    })?;
                }
                None => {
                    let raw: &'de RawValue = map.next_value()?;
                    let name = match self.path {
                        Some(parent) => format!("{parent}.{name}"),
                        None => name.into_owned(),
                    };
                    self.extra.push((name, raw));
                }
            }
        }
        Ok(seen)
    }
}

/// One value of a known field or list item, into its buffer.
struct Value<'a, 'p, 'de> {
    ty: &'a ColumnType,
    nullable: bool,
    buf: &'a mut ColumnBuf,
    path: &'p FieldPath<'p>,
    extra: &'a mut Extra<'de>,
}

impl<'de> DeserializeSeed<'de> for Value<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.ty {
            ColumnType::String => d.deserialize_any(StringVisitor {
                nullable: self.nullable,
                buf: self.buf,
            }),
            ColumnType::Struct(_) | ColumnType::List(_) => d.deserialize_any(NestedVisitor(self)),
            ty => {
                let raw: &'de RawValue = de::Deserialize::deserialize(d)?;
                // Scalars: `convert` never adds to `_extra`.
                let cell = convert(ty, self.nullable, raw, self.path, &mut Vec::new())
                    .map_err(|_| give_up::<D::Error>())?;
                self.buf.push(cell);
                Ok(())
            }
        }
    }
}

/// A string value, parsed once (escapes undone only when there are some).
struct StringVisitor<'a> {
    nullable: bool,
    buf: &'a mut ColumnBuf,
}

impl<'de> Visitor<'de> for StringVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        // Longer than Snowflake holds: decode says why.
        if v.len() > VARCHAR_BYTES {
            return Err(give_up());
        }
        self.buf.push_str(v);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        null(self.nullable, self.buf)
    }
}

fn null<E: de::Error>(nullable: bool, buf: &mut ColumnBuf) -> Result<(), E> {
    if !nullable {
        return Err(give_up());
    }
    buf.push_null();
    Ok(())
}

/// A struct or list value.
struct NestedVisitor<'a, 'p, 'de>(Value<'a, 'p, 'de>);

impl<'de> Visitor<'de> for NestedVisitor<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        null(self.0.nullable, self.0.buf)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let Value {
            ty,
            buf,
            path,
            extra,
            ..
        } = self.0;
        let (
            ColumnType::Struct(fields),
            ColumnBuf::Struct {
                children, valid, ..
            },
        ) = (ty, buf)
        else {
            return Err(give_up());
        };
        let seen = ObjectVisitor {
            fields,
            index: None,
            bufs: &mut children[..],
            path: Some(path),
            extra,
        }
        .visit_map(map)?;
        for (i, (field, child)) in fields.iter().zip(children.iter_mut()).enumerate() {
            if !seen.get(i) {
                null(field.nullable, child)?;
            }
        }
        valid.append(true);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value {
            ty,
            buf,
            path,
            extra,
            ..
        } = self.0;
        let (
            ColumnType::List(inner),
            ColumnBuf::List {
                offsets,
                child,
                valid,
                ..
            },
        ) = (ty, buf)
        else {
            return Err(give_up());
        };
        let mut n = 0;
        loop {
            let item = FieldPath::Item(path, n);
            let value = Value {
                ty: inner,
                nullable: true,
                buf: child.as_mut(),
                path: &item,
                extra: &mut *extra,
            };
            if seq.next_element_seed(value)?.is_none() {
                break;
            }
            n += 1;
        }
        offsets.push(offsets.last().copied().unwrap_or(0) + n as i32);
        valid.append(true);
        Ok(())
    }
}
