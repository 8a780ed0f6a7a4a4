//! Column buffers: decoded cells → Arrow arrays, for any contract type.
//!
//! Each buffer holds plain vectors (values, offsets, validity) and builds its Arrow
//! array once per batch; nested structs and lists are buffers of buffers. The decoder
//! has already checked every cell against the contract, so pushing cannot fail.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{ArrayRef, BooleanArray, ListArray, PrimitiveArray, StringArray, StructArray};
use arrow_buffer::{
    BooleanBuffer, Buffer, NullBuffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, TimeUnit};

use crate::contract::{Column, ColumnType};

/// The time zone written on timestamp columns: UTC-adjusted in Parquet.
pub const UTC: &str = "UTC";

/// One decoded value, typed by its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Missing or null.
    Null,
    /// Text (also `json` columns, as JSON text).
    Str(Cow<'a, str>),
    /// int64.
    I64(i64),
    /// float64.
    F64(f64),
    /// bool.
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 UTC.
    Ts(i64),
    /// Unscaled decimal value.
    Dec(i128),
    /// Struct fields, in contract order.
    Struct(Vec<Cell<'a>>),
    /// List elements.
    List(Vec<Cell<'a>>),
}

/// The Arrow type of a contract type.
pub fn arrow_type(ty: &ColumnType) -> DataType {
    match ty {
        ColumnType::String | ColumnType::Json => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
        ColumnType::Struct(fields) => DataType::Struct(arrow_fields(fields)),
        ColumnType::List(inner) => DataType::List(list_item(inner)),
    }
}

fn list_item(inner: &ColumnType) -> FieldRef {
    Arc::new(Field::new("element", arrow_type(inner), true))
}

/// Arrow fields of contract columns.
pub fn arrow_fields(columns: &[Column]) -> Fields {
    columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(&c.ty), c.nullable))
        .collect()
}

/// The Arrow schema of the curated Parquet.
pub fn arrow_schema(columns: &[Column]) -> Schema {
    Schema::new(arrow_fields(columns))
}

/// Rows of validity a builder makes room for once it holds a null (it allocates
/// nothing while every row is valid).
const VALIDITY_ROWS: usize = 8192;

/// A growing column; see the module docs.
#[derive(Debug)]
pub enum ColumnBuf {
    /// Utf8 (string and json).
    Utf8 {
        offsets: Vec<i32>,
        data: Vec<u8>,
        valid: NullBufferBuilder,
    },
    /// Int64.
    I64 {
        values: Vec<i64>,
        valid: NullBufferBuilder,
    },
    /// Float64.
    F64 {
        values: Vec<f64>,
        valid: NullBufferBuilder,
    },
    /// Boolean.
    Bool {
        values: Vec<bool>,
        valid: NullBufferBuilder,
    },
    /// Date32.
    Date {
        values: Vec<i32>,
        valid: NullBufferBuilder,
    },
    /// Timestamp(µs, UTC).
    Ts {
        values: Vec<i64>,
        valid: NullBufferBuilder,
    },
    /// Decimal128(p, s).
    Dec {
        values: Vec<i128>,
        valid: NullBufferBuilder,
        precision: u8,
        scale: i8,
    },
    /// Struct.
    Struct {
        fields: Fields,
        children: Vec<ColumnBuf>,
        valid: NullBufferBuilder,
    },
    /// List.
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        child: Box<ColumnBuf>,
        valid: NullBufferBuilder,
    },
}

impl ColumnBuf {
    /// An empty buffer for `ty`.
    pub fn new(ty: &ColumnType) -> Self {
        match ty {
            ColumnType::String | ColumnType::Json => ColumnBuf::Utf8 {
                offsets: vec![0],
                data: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Int64 => ColumnBuf::I64 {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Float64 => ColumnBuf::F64 {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Bool => ColumnBuf::Bool {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Date => ColumnBuf::Date {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Timestamp(_) => ColumnBuf::Ts {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::Decimal { precision, scale } => ColumnBuf::Dec {
                values: Vec::new(),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
                precision: *precision,
                scale: *scale as i8,
            },
            ColumnType::Struct(fields) => ColumnBuf::Struct {
                fields: arrow_fields(fields),
                children: ColumnBuf::for_columns(fields),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
            ColumnType::List(inner) => ColumnBuf::List {
                item: list_item(inner),
                offsets: vec![0],
                child: Box::new(ColumnBuf::new(inner)),
                valid: NullBufferBuilder::new(VALIDITY_ROWS),
            },
        }
    }

    /// An empty buffer per column.
    pub fn for_columns(columns: &[Column]) -> Vec<Self> {
        columns.iter().map(|c| Self::new(&c.ty)).collect()
    }

    /// Appends a cell of this column's type (a cell of another type is appended as null).
    pub fn push(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (
                ColumnBuf::Utf8 {
                    offsets,
                    data,
                    valid,
                },
                Cell::Str(s),
            ) => {
                data.extend_from_slice(s.as_bytes());
                offsets.push(data.len() as i32);
                valid.append(true);
            }
            (ColumnBuf::I64 { values, valid }, Cell::I64(v)) => push(values, valid, v),
            (ColumnBuf::F64 { values, valid }, Cell::F64(v)) => push(values, valid, v),
            (ColumnBuf::Bool { values, valid }, Cell::Bool(v)) => push(values, valid, v),
            (ColumnBuf::Date { values, valid }, Cell::Date(v)) => push(values, valid, v),
            (ColumnBuf::Ts { values, valid }, Cell::Ts(v)) => push(values, valid, v),
            (ColumnBuf::Dec { values, valid, .. }, Cell::Dec(v)) => push(values, valid, v),
            (
                ColumnBuf::Struct {
                    children, valid, ..
                },
                Cell::Struct(cells),
            ) => {
                for (child, cell) in children.iter_mut().zip(cells) {
                    child.push(cell);
                }
                valid.append(true);
            }
            (
                ColumnBuf::List {
                    offsets,
                    child,
                    valid,
                    ..
                },
                Cell::List(items),
            ) => {
                let n = items.len() as i32;
                for item in items {
                    child.push(item);
                }
                offsets.push(offsets.last().copied().unwrap_or(0) + n);
                valid.append(true);
            }
            (this, _) => this.push_null(),
        }
    }

    /// Appends a null (children of a null struct get placeholder values, not nulls,
    /// so that non-nullable children stay valid).
    pub fn push_null(&mut self) {
        match self {
            ColumnBuf::Utf8 {
                offsets,
                data,
                valid,
            } => {
                offsets.push(data.len() as i32);
                valid.append(false);
            }
            ColumnBuf::I64 { values, valid } | ColumnBuf::Ts { values, valid } => {
                push_invalid(values, valid)
            }
            ColumnBuf::F64 { values, valid } => push_invalid(values, valid),
            ColumnBuf::Bool { values, valid } => push_invalid(values, valid),
            ColumnBuf::Date { values, valid } => push_invalid(values, valid),
            ColumnBuf::Dec { values, valid, .. } => push_invalid(values, valid),
            ColumnBuf::Struct {
                children, valid, ..
            } => {
                for child in children {
                    child.push_placeholder();
                }
                valid.append(false);
            }
            ColumnBuf::List { offsets, valid, .. } => {
                offsets.push(offsets.last().copied().unwrap_or(0));
                valid.append(false);
            }
        }
    }

    /// A valid default value (under a null parent).
    fn push_placeholder(&mut self) {
        match self {
            ColumnBuf::Utf8 {
                offsets,
                data,
                valid,
            } => {
                offsets.push(data.len() as i32);
                valid.append(true);
            }
            ColumnBuf::I64 { values, valid } | ColumnBuf::Ts { values, valid } => {
                push(values, valid, 0)
            }
            ColumnBuf::F64 { values, valid } => push(values, valid, 0.0),
            ColumnBuf::Bool { values, valid } => push(values, valid, false),
            ColumnBuf::Date { values, valid } => push(values, valid, 0),
            ColumnBuf::Dec { values, valid, .. } => push(values, valid, 0),
            ColumnBuf::Struct {
                children, valid, ..
            } => {
                for child in children {
                    child.push_placeholder();
                }
                valid.append(true);
            }
            ColumnBuf::List { offsets, valid, .. } => {
                offsets.push(offsets.last().copied().unwrap_or(0));
                valid.append(true);
            }
        }
    }

    /// Drops the rows after the first `rows` (undoes a record appended in part).
    pub fn truncate(&mut self, rows: usize) {
        match self {
            ColumnBuf::Utf8 {
                offsets,
                data,
                valid,
            } => {
                offsets.truncate(rows + 1);
                data.truncate(offsets.last().copied().unwrap_or(0) as usize);
                valid.truncate(rows);
            }
            ColumnBuf::I64 { values, valid } | ColumnBuf::Ts { values, valid } => {
                truncate(values, valid, rows)
            }
            ColumnBuf::F64 { values, valid } => truncate(values, valid, rows),
            ColumnBuf::Bool { values, valid } => truncate(values, valid, rows),
            ColumnBuf::Date { values, valid } => truncate(values, valid, rows),
            ColumnBuf::Dec { values, valid, .. } => truncate(values, valid, rows),
            ColumnBuf::Struct {
                children, valid, ..
            } => {
                for child in children {
                    child.truncate(rows);
                }
                valid.truncate(rows);
            }
            ColumnBuf::List {
                offsets,
                child,
                valid,
                ..
            } => {
                offsets.truncate(rows + 1);
                child.truncate(offsets.last().copied().unwrap_or(0) as usize);
                valid.truncate(rows);
            }
        }
    }

    /// Appends a string to a Utf8 buffer (to another buffer, a null).
    pub fn push_str(&mut self, s: &str) {
        match self {
            ColumnBuf::Utf8 {
                offsets,
                data,
                valid,
            } => {
                data.extend_from_slice(s.as_bytes());
                offsets.push(data.len() as i32);
                valid.append(true);
            }
            this => this.push_null(),
        }
    }

    /// Rows appended since the last [`ColumnBuf::finish`].
    pub fn len(&self) -> usize {
        match self {
            ColumnBuf::Utf8 { valid, .. }
            | ColumnBuf::I64 { valid, .. }
            | ColumnBuf::F64 { valid, .. }
            | ColumnBuf::Bool { valid, .. }
            | ColumnBuf::Date { valid, .. }
            | ColumnBuf::Ts { valid, .. }
            | ColumnBuf::Dec { valid, .. }
            | ColumnBuf::Struct { valid, .. }
            | ColumnBuf::List { valid, .. } => valid.len(),
        }
    }

    /// The buffered rows as an Arrow array; the buffer starts over empty, with room
    /// for as many rows.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            ColumnBuf::Utf8 {
                offsets,
                data,
                valid,
            } => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(take_offsets(offsets)));
                let data = Buffer::from_vec(take_sized(data));
                Arc::new(StringArray::try_new(offsets, data, nulls(valid))?)
            }
            ColumnBuf::I64 { values, valid } => primitive::<Int64Type>(values, valid),
            ColumnBuf::F64 { values, valid } => primitive::<Float64Type>(values, valid),
            ColumnBuf::Ts { values, valid } => {
                let array = PrimitiveArray::<TimestampMicrosecondType>::new(
                    ScalarBuffer::from(take_sized(values)),
                    nulls(valid),
                );
                Arc::new(array.with_timezone(UTC))
            }
            ColumnBuf::Date { values, valid } => primitive::<Date32Type>(values, valid),
            ColumnBuf::Bool { values, valid } => {
                let v = BooleanBuffer::from(take_sized(values));
                Arc::new(BooleanArray::new(v, nulls(valid)))
            }
            ColumnBuf::Dec {
                values,
                valid,
                precision,
                scale,
            } => {
                let array = PrimitiveArray::<Decimal128Type>::new(
                    ScalarBuffer::from(take_sized(values)),
                    nulls(valid),
                );
                // The decoder checked every value against the precision.
                Arc::new(array.with_precision_and_scale(*precision, *scale)?)
            }
            ColumnBuf::Struct {
                fields,
                children,
                valid,
            } => {
                let arrays = children
                    .iter_mut()
                    .map(ColumnBuf::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, nulls(valid))?)
            }
            ColumnBuf::List {
                item,
                offsets,
                child,
                valid,
            } => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(take_offsets(offsets)));
                let values = child.finish()?;
                Arc::new(ListArray::try_new(
                    Arc::clone(item),
                    offsets,
                    values,
                    nulls(valid),
                )?)
            }
        })
    }
}

/// The vector's contents; it starts over empty with room for as many, so that a
/// buffer refilled batch after batch does not grow by doubling (and copying) each time.
fn take_sized<T>(v: &mut Vec<T>) -> Vec<T> {
    let room = v.len();
    std::mem::replace(v, Vec::with_capacity(room))
}

/// Offsets, which start over as `[0]`.
fn take_offsets(offsets: &mut Vec<i32>) -> Vec<i32> {
    let taken = take_sized(offsets);
    offsets.push(0);
    taken
}

fn truncate<T>(values: &mut Vec<T>, valid: &mut NullBufferBuilder, rows: usize) {
    values.truncate(rows);
    valid.truncate(rows);
}

fn push<T>(values: &mut Vec<T>, valid: &mut NullBufferBuilder, v: T) {
    values.push(v);
    valid.append(true);
}

fn push_invalid<T: Default>(values: &mut Vec<T>, valid: &mut NullBufferBuilder) {
    values.push(T::default());
    valid.append(false);
}

fn primitive<T: arrow_array::types::ArrowPrimitiveType>(
    values: &mut Vec<T::Native>,
    valid: &mut NullBufferBuilder,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(
        ScalarBuffer::from(take_sized(values)),
        nulls(valid),
    ))
}

/// The validity so far (`None` when every row is valid); the builder starts over.
fn nulls(valid: &mut NullBufferBuilder) -> Option<NullBuffer> {
    valid.finish()
}
