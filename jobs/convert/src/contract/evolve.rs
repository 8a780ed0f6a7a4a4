//! Contract evolution that loses nothing: what Snowflake must run when a table's
//! contract changes ([`diff`], `feedpipe schema diff OLD NEW`), every change it must
//! refuse, and new columns proposed from the fields the curated data keeps in
//! `_extra` ([`ExtraTally`], [`read_extra`], `feedpipe schema suggest`).
//!
//! A contract is three things at once: the Snowflake table, the type of every
//! curated Parquet file already written, and the decoder of the raw JSON that a
//! re-conversion reads again. A change is followed only when all three can follow it:
//!
//! - **followed**: a new nullable top-level column (`ALTER TABLE … ADD COLUMN`, with
//!   the type `snowflake_table_sql` gives it); a required column made nullable
//!   (`… ALTER COLUMN … DROP NOT NULL`); a changed description (`… COMMENT`); new
//!   nullable fields inside a struct column or a list of structs, a nested field made
//!   nullable, columns in another order (no DDL: an `OBJECT` or `ARRAY` takes any
//!   field, and the pipe matches columns by name);
//! - **refused**, each naming the column, all together: a column or nested field
//!   dropped; a type changed, narrowed or widened (see [`Refusal::TypeChanged`]); a
//!   column or nested field made required; a new required column or field (the rows
//!   and raw records already there lack it); the table renamed; `event_time` changed
//!   (it moves records between `dt=` partitions, so a re-conversion writes other
//!   files).
//!
//! ```
//! use feedpipe_convert::contract::{SchemaContract, diff};
//!
//! let old = SchemaContract::from_json(r#"{"table":"t","columns":[{"name":"id","type":"string"}]}"#).unwrap();
//! let new = SchemaContract::from_json(r#"{"table":"t","columns":[{"name":"id","type":"string"},{"name":"n","type":"int64"}]}"#).unwrap();
//! let sql = diff(&old, &new).unwrap().snowflake_sql("{{ database }}", "{{ schema }}");
//! assert!(sql.contains("ALTER TABLE {{ database }}.{{ schema }}.t ADD COLUMN n NUMBER(19, 0);"));
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Array, StringArray, StringViewArray};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde_json::value::RawValue;

use feedpipe_shared::storage::StorageLocation;

use super::{
    Column, ColumnType, EXTRA, LINEAGE, PARTITION, SchemaContract, quote_identifier, snowflake_type,
};
use crate::infer::infer;

/// The `_dedup` view of `sql/R__dedup_view.sql`, created again after columns are
/// added: Snowflake does not widen a `SELECT *` view when its table gains a column.
const DEDUP_VIEW: &str = include_str!("../../../../sql/R__dedup_view.sql");

/// One change of a contract that Snowflake and the curated Parquet can follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new nullable top-level column: `ALTER TABLE … ADD COLUMN`.
    AddColumn(Column),
    /// A required top-level column made nullable: `ALTER TABLE … ALTER COLUMN … DROP NOT NULL`.
    DropNotNull {
        /// The column.
        column: String,
    },
    /// A top-level column's description changed: `ALTER TABLE … ALTER COLUMN … COMMENT`.
    Comment {
        /// The column.
        column: String,
        /// The new description (`None`: `UNSET COMMENT`).
        description: Option<String>,
    },
    /// Changes inside a struct column (or a list of structs) that need no DDL.
    Nested {
        /// The top-level column.
        column: String,
        /// New nullable fields, as paths (`customer.tier`, `items[].note`).
        added: Vec<String>,
        /// Fields made nullable or described anew, as paths.
        relaxed: Vec<String>,
    },
    /// The columns kept appear in another order; the table keeps its own.
    Reordered,
}

/// A change that Snowflake, the curated Parquet already written, or a re-conversion
/// of the raw JSON already received cannot follow; the message names the column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The table has another name.
    #[error(
        "table renamed from `{old}` to `{new}`: the table, its stage, pipe, curated folder and load history all have the old name; a contract of another table is a new feed, not a change"
    )]
    TableRenamed {
        /// The old name.
        old: String,
        /// The new name.
        new: String,
    },
    /// `event_time` was set, changed or removed.
    #[error(
        "event_time changed from {} to {}: it picks each record's dt= partition, so re-converted raw objects would put records into other partitions under other file names, beside the files already loaded (twice in the table), and the files already written would stay where the old rule put them",
        shown(old),
        shown(new)
    )]
    EventTimeChanged {
        /// The old `event_time`.
        old: Option<String>,
        /// The new one.
        new: Option<String>,
    },
    /// A column or nested field is gone.
    #[error(
        "column `{path}` dropped: the table keeps it and the rows loaded keep their values, while records converted from now on would move the field into _extra and load NULL there; drop it in Snowflake by hand if that is meant, and keep it in the contract until then"
    )]
    ColumnDropped {
        /// The column, or the nested field's path.
        path: String,
    },
    /// A type is not the same.
    #[error("column `{path}`: type {old} → {new}: {}", type_reason(old, new))]
    TypeChanged {
        /// The column, or the nested field's path.
        path: String,
        /// The old type.
        old: ColumnType,
        /// The new type.
        new: ColumnType,
    },
    /// A nullable column or field made required.
    #[error(
        "column `{path}` made required: rows already loaded may hold NULL there (Snowflake's SET NOT NULL fails on them), and a re-conversion would quarantine every raw record without it"
    )]
    MadeRequired {
        /// The column, or the nested field's path.
        path: String,
    },
    /// A new column or field that is required.
    #[error(
        "new column `{path}` is required: the rows already loaded and the raw records already received lack it (Snowflake cannot add a NOT NULL column without a default to a table that has rows, and a re-conversion would quarantine those records); add it nullable"
    )]
    NewRequired {
        /// The column, or the nested field's path.
        path: String,
    },
}

fn shown(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("`{n}`"),
        None => "none (_ingested_at)".into(),
    }
}

/// Why a type change cannot be followed, by kind of change.
fn type_reason(old: &ColumnType, new: &ColumnType) -> String {
    use ColumnType::{Decimal, Timestamp};
    match (old, new) {
        (
            Decimal {
                precision: p,
                scale: s,
            },
            Decimal {
                precision: q,
                scale: t,
            },
        ) if s == t && q > p => format!(
            "a wider NUMBER, which Snowflake itself would follow (ALTER COLUMN … SET DATA TYPE NUMBER({q}, {t}) may increase a NUMBER's precision), but the curated Parquet already written holds decimal({p},{s}) and new files would hold decimal({q},{t}): files that disagree on a column's type are not one table to DataFusion (`feedpipe query` and `reconcile` stop at \"Fail to merge schema field\"), and a re-conversion rewrites only the range it covers; add a new decimal({q},{t}) column instead and keep this one"
        ),
        (Decimal { .. }, Decimal { .. }) => {
            "a narrower NUMBER or another scale: values already loaded may not fit it (Snowflake changes neither the scale nor, unless every value fits, the precision), and the curated Parquet already written keeps the old one".into()
        }
        (Timestamp(_), Timestamp(_)) => {
            "the same Parquet and Snowflake type, but another way of writing it in the raw JSON: a re-conversion of the raw records already received would quarantine every one written the old way".into()
        }
        _ => format!(
            "Snowflake does not convert a column to another type in place (ALTER COLUMN … SET DATA TYPE only widens a NUMBER's precision or a VARCHAR's length), the curated Parquet already written holds {old}, and a re-conversion of the raw records already received with the new type would quarantine those that do not fit; add a new column instead"
        ),
    }
}

/// Every refusal of one diff, together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    /// The table (the old contract's).
    pub table: String,
    /// Each change refused, in contract order.
    pub refusals: Vec<Refusal>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused: {} change(s) of table `{}` that Snowflake or the curated Parquet cannot follow:",
            self.refusals.len(),
            self.table
        )?;
        for r in &self.refusals {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

/// The changes from one contract of a table to the next, all of them followable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evolution {
    /// The table.
    pub table: String,
    /// The changes, in the new contract's column order.
    pub changes: Vec<Change>,
}

/// Compares two contracts of one table: the changes Snowflake and the curated Parquet
/// can follow, or every change they cannot, together. Both contracts are taken as
/// valid ([`SchemaContract::from_json`] validates).
pub fn diff(old: &SchemaContract, new: &SchemaContract) -> Result<Evolution, Refused> {
    let mut walk = Walk::default();
    if old.table != new.table {
        walk.refusals.push(Refusal::TableRenamed {
            old: old.table.clone(),
            new: new.table.clone(),
        });
    }
    if old.event_time != new.event_time {
        walk.refusals.push(Refusal::EventTimeChanged {
            old: old.event_time.clone(),
            new: new.event_time.clone(),
        });
    }
    let mut changes = Vec::new();
    for o in &old.columns {
        if !new.columns.iter().any(|n| n.name == o.name) {
            walk.refusals.push(Refusal::ColumnDropped {
                path: o.name.clone(),
            });
        }
    }
    for n in &new.columns {
        let Some(o) = old.columns.iter().find(|o| o.name == n.name) else {
            if n.nullable {
                walk.required_inside(&n.ty, &n.name);
                changes.push(Change::AddColumn(n.clone()));
            } else {
                walk.refusals.push(Refusal::NewRequired {
                    path: n.name.clone(),
                });
            }
            continue;
        };
        if o.nullable && !n.nullable {
            walk.refusals.push(Refusal::MadeRequired {
                path: n.name.clone(),
            });
        } else if !o.nullable && n.nullable {
            changes.push(Change::DropNotNull {
                column: n.name.clone(),
            });
        }
        if o.description != n.description {
            changes.push(Change::Comment {
                column: n.name.clone(),
                description: n.description.clone(),
            });
        }
        let (added, relaxed) = (walk.added.len(), walk.relaxed.len());
        walk.types(&o.ty, &n.ty, &n.name);
        if walk.added.len() > added || walk.relaxed.len() > relaxed {
            changes.push(Change::Nested {
                column: n.name.clone(),
                added: walk.added.split_off(added),
                relaxed: walk.relaxed.split_off(relaxed),
            });
        }
    }
    let kept = |columns: &[Column], other: &[Column]| -> Vec<String> {
        columns
            .iter()
            .filter(|c| other.iter().any(|o| o.name == c.name))
            .map(|c| c.name.clone())
            .collect()
    };
    if kept(&old.columns, &new.columns) != kept(&new.columns, &old.columns) {
        changes.push(Change::Reordered);
    }
    if walk.refusals.is_empty() {
        Ok(Evolution {
            table: new.table.clone(),
            changes,
        })
    } else {
        Err(Refused {
            table: old.table.clone(),
            refusals: walk.refusals,
        })
    }
}

/// The comparison of nested types, collecting what it finds.
#[derive(Default)]
struct Walk {
    refusals: Vec<Refusal>,
    added: Vec<String>,
    relaxed: Vec<String>,
}

impl Walk {
    /// Compares the type of one column or field at `path`.
    fn types(&mut self, old: &ColumnType, new: &ColumnType, path: &str) {
        match (old, new) {
            (ColumnType::Struct(a), ColumnType::Struct(b)) => self.fields(a, b, path),
            (ColumnType::List(a), ColumnType::List(b)) => self.types(a, b, &format!("{path}[]")),
            (a, b) if a == b => {}
            (a, b) => self.refusals.push(Refusal::TypeChanged {
                path: path.to_owned(),
                old: a.clone(),
                new: b.clone(),
            }),
        }
    }

    /// Compares the fields of a struct at `path`.
    fn fields(&mut self, old: &[Column], new: &[Column], path: &str) {
        for o in old {
            if !new.iter().any(|n| n.name == o.name) {
                self.refusals.push(Refusal::ColumnDropped {
                    path: format!("{path}.{}", o.name),
                });
            }
        }
        for n in new {
            let at = format!("{path}.{}", n.name);
            match old.iter().find(|o| o.name == n.name) {
                None if n.nullable => {
                    self.required_inside(&n.ty, &at);
                    self.added.push(at);
                }
                None => self.refusals.push(Refusal::NewRequired { path: at }),
                Some(o) => {
                    if o.nullable && !n.nullable {
                        self.refusals
                            .push(Refusal::MadeRequired { path: at.clone() });
                    } else if (!o.nullable && n.nullable) || o.description != n.description {
                        self.relaxed.push(at.clone());
                    }
                    self.types(&o.ty, &n.ty, &at);
                }
            }
        }
    }

    /// A new column or field is new all through: any required field inside it is a
    /// new required field, which records already received (in `_extra`) may lack.
    fn required_inside(&mut self, ty: &ColumnType, path: &str) {
        match ty {
            ColumnType::Struct(fields) => {
                for f in fields {
                    let at = format!("{path}.{}", f.name);
                    if !f.nullable {
                        self.refusals
                            .push(Refusal::NewRequired { path: at.clone() });
                    }
                    self.required_inside(&f.ty, &at);
                }
            }
            ColumnType::List(inner) => self.required_inside(inner, &format!("{path}[]")),
            _ => {}
        }
    }
}

impl Evolution {
    /// Whether the contracts are the same but for what needs no statement.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The Snowflake statements that follow the change, for `database` and `schema`
    /// (names, or the placeholders `{{ database }}` and `{{ schema }}` that
    /// schemachange renders), with a comment line for each change that needs none.
    pub fn snowflake_sql(&self, database: &str, schema: &str) -> String {
        let table = format!("{database}.{schema}.{}", quote_identifier(&self.table));
        let added: Vec<&Column> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::AddColumn(column) => Some(column),
                _ => None,
            })
            .collect();
        let mut out = format!(
            "-- feedpipe schema diff: table `{}`: {}.\n",
            self.table,
            match self.changes.len() {
                0 => "no change between the two contracts; nothing to run".to_owned(),
                n => format!("{n} change(s)"),
            }
        );
        if self.changes.is_empty() {
            return out;
        }
        if self
            .changes
            .iter()
            .any(|c| !matches!(c, Change::Nested { .. } | Change::Reordered))
        {
            out.push_str(
                "-- Run it once on each deployment whose table exists, before the new contract is\n\
                 -- deployed (the pipe loads by column name and ignores a Parquet field the table lacks).\n\
                 -- A deployment created later gets these columns from the new contract's table DDL.\n",
            );
        }
        for change in &self.changes {
            match change {
                Change::AddColumn(c) => {
                    let comment = c
                        .description
                        .as_ref()
                        .map(|d| format!(" COMMENT '{}'", d.replace('\'', "''")))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "ALTER TABLE {table} ADD COLUMN {} {}{comment};\n",
                        quote_identifier(&c.name),
                        snowflake_type(&c.ty)
                    ));
                }
                Change::DropNotNull { column } => out.push_str(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL;\n",
                    quote_identifier(column)
                )),
                Change::Comment {
                    column,
                    description: Some(d),
                } => out.push_str(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {} COMMENT '{}';\n",
                    quote_identifier(column),
                    d.replace('\'', "''")
                )),
                Change::Comment {
                    column,
                    description: None,
                } => out.push_str(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {} UNSET COMMENT;\n",
                    quote_identifier(column)
                )),
                Change::Nested {
                    column,
                    added,
                    relaxed,
                } => {
                    if !added.is_empty() {
                        out.push_str(&format!(
                            "-- `{column}`: new field(s) {}: no DDL needed, an OBJECT (or ARRAY) holds any field.\n",
                            listed(added)
                        ));
                    }
                    if !relaxed.is_empty() {
                        out.push_str(&format!(
                            "-- `{column}`: field(s) {} made nullable or described anew: no DDL needed (an OBJECT has no field constraints or comments).\n",
                            listed(relaxed)
                        ));
                    }
                }
                Change::Reordered => out.push_str(
                    "-- Columns in another order: no DDL needed (the pipe matches columns by name; the table keeps its order).\n",
                ),
            }
        }
        if !added.is_empty() {
            out.push_str(&format!(
                "-- The `{}_dedup` view selects *, and a Snowflake view does not follow a column added\n\
                 -- to its table (querying it fails until it is created again): sql/R__dedup_view.sql.\n",
                self.table
            ));
            out.push_str(&dedup_view(&self.table, database, schema));
        }
        out
    }
}

fn listed(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of `sql/R__dedup_view.sql` for `table`, in `database`.`schema`.
fn dedup_view(table: &str, database: &str, schema: &str) -> String {
    let at = DEDUP_VIEW.find("CREATE OR REPLACE VIEW").unwrap_or(0);
    DEDUP_VIEW[at..]
        .replace("{{ table }}", table)
        .replace("{{ database }}", database)
        .replace("{{ schema }}", schema)
}

// ---------------------------------------------------------------------------
// schema suggest: the fields kept in `_extra`
// ---------------------------------------------------------------------------

/// What becomes of a field seen in `_extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// Proposed as a new nullable column.
    Column,
    /// feedpipe reserves the name (`dt`, `_extra`, a lineage column): it stays in `_extra`.
    Reserved,
    /// A column of that name exists: these rows were converted before it did; a
    /// re-conversion of their range fills it.
    Known,
    /// Another column or field has the name but for case (Snowflake names are not
    /// case-sensitive): it stays in `_extra`.
    Clashes {
        /// The column or field of the same name.
        with: String,
    },
    /// A field inside the struct (or list) column `column`: add it to that column's
    /// fields by hand; `schema diff` takes it without DDL.
    Nested {
        /// The top-level column.
        column: String,
    },
    /// An empty key: no column can have it.
    Unnamed,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::Column => f.write_str("proposed"),
            Proposal::Reserved => {
                f.write_str("not proposed: a name feedpipe reserves (the field stays in _extra)")
            }
            Proposal::Known => f.write_str(
                "not proposed: a column already (rows converted before it was; re-convert them)",
            ),
            Proposal::Clashes { with } => write!(
                f,
                "not proposed: `{with}` differs from it only in case (Snowflake names are not case-sensitive)"
            ),
            Proposal::Nested { column } => write!(
                f,
                "not proposed: a field inside `{column}` (add it there by hand; no DDL needed)"
            ),
            Proposal::Unnamed => f.write_str("not proposed: an empty name"),
        }
    }
}

/// One key seen in `_extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenField {
    /// The key (a top-level field name, or a nested path such as `customer.vip`).
    pub name: String,
    /// Rows whose `_extra` holds it (once a row, however often the record repeats it).
    pub rows: u64,
    /// Its type, inferred as `schema infer` infers (`None` for an empty key, or one
    /// that only case tells from another).
    pub ty: Option<ColumnType>,
    /// Whether it is proposed, and why not.
    pub proposal: Proposal,
}

/// What the `_extra` column of a table holds, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The table.
    pub table: String,
    /// Rows of the table (of the curated Parquet: a record delivered twice counts twice).
    pub rows: u64,
    /// Rows with an `_extra`.
    pub rows_with_extra: u64,
    /// `_extra` values that were not a JSON object (none, unless a file was written by
    /// something else than feedpipe).
    pub unreadable: u64,
    /// The keys, in order of first appearance.
    pub fields: Vec<SeenField>,
}

/// Counts the keys of `_extra` values one row at a time; [`ExtraTally::finish`]
/// infers their types and says which become columns.
#[derive(Debug, Default)]
pub struct ExtraTally {
    /// Column names of the table (the contract's and the curated files').
    known: Vec<String>,
    /// Keys in order of first appearance, with their row counts.
    keys: Vec<(String, u64)>,
    at: HashMap<String, usize>,
    /// Each row's keys and values, `{"v":{…}}`, for inference.
    objects: Vec<String>,
    rows_with_extra: u64,
    unreadable: u64,
}

impl ExtraTally {
    /// A tally for a table with these column names.
    pub fn new(known: impl IntoIterator<Item = String>) -> Self {
        Self {
            known: known.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds the `_extra` text of one row.
    pub fn add(&mut self, extra: &str) {
        self.rows_with_extra += 1;
        let Ok(fields) = crate::raw_json::object_fields(extra) else {
            self.unreadable += 1;
            return;
        };
        let mut names: Vec<String> = Vec::with_capacity(fields.len());
        let mut object = String::from("{\"v\":{");
        for (i, (key, value)) in fields.iter().enumerate() {
            // A key met again in one record was written as `key#2` (decode.rs,
            // extra_json): the same field.
            let name = match key.rsplit_once('#') {
                Some((base, n))
                    if n.bytes().all(|b| b.is_ascii_digit())
                        && !n.is_empty()
                        && names.iter().any(|m| m == base) =>
                {
                    base.to_owned()
                }
                _ => key.to_string(),
            };
            if i > 0 {
                object.push(',');
            }
            object.push_str(&serde_json::to_string(&name).unwrap_or_default());
            object.push(':');
            object.push_str(RawValue::get(value));
            if !names.contains(&name) {
                names.push(name);
            }
        }
        object.push_str("}}");
        for name in names {
            match self.at.get(&name) {
                Some(&i) => self.keys[i].1 += 1,
                None => {
                    self.at.insert(name.clone(), self.keys.len());
                    self.keys.push((name, 1));
                }
            }
        }
        self.objects.push(object);
    }

    /// The fields seen, with their types and proposals, for `table` of `rows` rows.
    pub fn finish(self, table: &str, rows: u64) -> Suggestion {
        // Inferred as one struct column `v`, so that no key is set aside for its name
        // at the top level; its fields are every key, typed as `schema infer` types.
        let types: HashMap<String, ColumnType> =
            match infer(table, self.objects.iter().map(|o| o.as_bytes())) {
                Ok(inferred) => inferred
                    .contract
                    .columns
                    .into_iter()
                    .find(|c| c.name == "v")
                    .and_then(|c| match c.ty {
                        ColumnType::Struct(fields) => Some(fields),
                        _ => None,
                    })
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.name, c.ty))
                    .collect(),
                Err(_) => HashMap::new(),
            };
        let known_lower: HashMap<String, &String> = self
            .known
            .iter()
            .map(|k| (k.to_ascii_lowercase(), k))
            .collect();
        let mut proposed_lower: HashMap<String, String> = HashMap::new();
        let fields = self
            .keys
            .into_iter()
            .map(|(name, rows)| {
                let ty = types.get(&name).cloned();
                let head = name.split(['.', '[']).next().unwrap_or_default();
                let proposal = if name.is_empty() {
                    Proposal::Unnamed
                } else if head != name && self.known.iter().any(|k| k == head) {
                    Proposal::Nested {
                        column: head.to_owned(),
                    }
                } else if reserved(&name) {
                    Proposal::Reserved
                } else if self.known.contains(&name) {
                    Proposal::Known
                } else if let Some(k) = known_lower.get(&name.to_ascii_lowercase()) {
                    Proposal::Clashes { with: (*k).clone() }
                } else if let Some(other) = proposed_lower.get(&name.to_ascii_lowercase()) {
                    Proposal::Clashes {
                        with: other.clone(),
                    }
                } else if ty.is_none() {
                    Proposal::Unnamed
                } else {
                    proposed_lower.insert(name.to_ascii_lowercase(), name.clone());
                    Proposal::Column
                };
                SeenField {
                    name,
                    rows,
                    ty,
                    proposal,
                }
            })
            .collect();
        Suggestion {
            table: table.to_owned(),
            rows,
            rows_with_extra: self.rows_with_extra,
            unreadable: self.unreadable,
            fields,
        }
    }
}

/// Whether feedpipe reserves a top-level name (the decoder keeps such fields in `_extra`).
fn reserved(name: &str) -> bool {
    LINEAGE.iter().any(|(n, _, _)| *n == name)
        || name == EXTRA
        || name.eq_ignore_ascii_case(PARTITION)
}

/// Why a suggestion could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// The curated data could not be listed or read.
    #[error("cannot read {uri}: {error}")]
    Read {
        /// The file or folder.
        uri: String,
        /// The store's or the Parquet reader's error.
        error: String,
    },
    /// The contract given is of another table.
    #[error("the contract is of table `{contract}`, not `{table}`")]
    OtherTable {
        /// The contract's table.
        contract: String,
        /// The table suggested for.
        table: String,
    },
    /// The extended contract is not valid, or `diff` refuses it (a bug: it is built
    /// to pass).
    #[error("the extended contract does not pass: {0}")]
    Invalid(String),
}

impl Suggestion {
    /// The proposed columns, nullable, in order of first appearance.
    pub fn proposed(&self) -> Vec<Column> {
        self.fields
            .iter()
            .filter(|f| f.proposal == Proposal::Column)
            .filter_map(|f| {
                f.ty.clone().map(|ty| Column {
                    name: f.name.clone(),
                    ty,
                    nullable: true,
                    description: None,
                })
            })
            .collect()
    }

    /// `contract` with the proposed columns appended; it passes `diff(contract, …)`
    /// by construction (checked).
    pub fn extend(&self, contract: &SchemaContract) -> Result<SchemaContract, SuggestError> {
        if contract.table != self.table {
            return Err(SuggestError::OtherTable {
                contract: contract.table.clone(),
                table: self.table.clone(),
            });
        }
        let mut next = contract.clone();
        let taken: HashSet<String> = contract
            .columns
            .iter()
            .map(|c| c.name.to_ascii_lowercase())
            .collect();
        next.columns.extend(
            self.proposed()
                .into_iter()
                .filter(|c| !taken.contains(&c.name.to_ascii_lowercase())),
        );
        next.validate()
            .map_err(|e| SuggestError::Invalid(e.to_string()))?;
        diff(contract, &next).map_err(|e| SuggestError::Invalid(e.to_string()))?;
        Ok(next)
    }
}

/// Reads the `_extra` column of every curated Parquet file of `table` under
/// `curated` (`<curated>/<table>/dt=…/*.parquet`, in key order, rows in file order)
/// into a tally whose known columns are the files' and `contract`'s.
pub async fn read_extra(
    curated: &StorageLocation,
    table: &str,
    contract: Option<&SchemaContract>,
) -> Result<Suggestion, SuggestError> {
    let root = curated.path.clone().join(table);
    let uri = format!("{}/{table}/", curated.uri().trim_end_matches('/'));
    let read = |error: String| SuggestError::Read {
        uri: uri.clone(),
        error,
    };
    let mut files: Vec<object_store::ObjectMeta> = Vec::new();
    let mut listing = curated.store.list(Some(&root));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| read(e.to_string()))?;
        let under_dt = meta.location.parts().any(|p| p.as_ref().starts_with("dt="));
        if under_dt && meta.location.as_ref().ends_with(".parquet") {
            files.push(meta);
        }
    }
    files.sort_by(|a, b| a.location.cmp(&b.location));
    let mut known: BTreeSet<String> = contract
        .map(|c| c.columns.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let mut rows = 0u64;
    let mut extras: Vec<String> = Vec::new();
    for meta in &files {
        let file_uri = format!(
            "{}/{}",
            curated.uri().trim_end_matches('/'),
            meta.location
                .as_ref()
                .strip_prefix(curated.path.as_ref())
                .unwrap_or(meta.location.as_ref())
                .trim_start_matches('/')
        );
        let fail = |e: String| SuggestError::Read {
            uri: file_uri.clone(),
            error: e,
        };
        let reader = CuratedFile {
            store: Arc::clone(&curated.store),
            path: meta.location.clone(),
            size: meta.size,
        };
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| fail(e.to_string()))?;
        rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        let schema = builder.schema().clone();
        known.extend(
            schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| !reserved(n)),
        );
        let Some(at) = schema.fields().iter().position(|f| f.name() == EXTRA) else {
            continue;
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [at]);
        let mut stream = builder
            .with_projection(mask)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| fail(e.to_string()))?;
            let column = batch.column(0);
            if let Some(text) = column.as_any().downcast_ref::<StringArray>() {
                extras.extend(text.iter().flatten().map(str::to_owned));
            } else if let Some(text) = column.as_any().downcast_ref::<StringViewArray>() {
                extras.extend(text.iter().flatten().map(str::to_owned));
            } else {
                return Err(fail(format!(
                    "`_extra` is {}, not text",
                    column.data_type()
                )));
            }
        }
    }
    let mut tally = ExtraTally::new(known);
    for extra in &extras {
        tally.add(extra);
    }
    Ok(tally.finish(table, rows))
}

/// A curated Parquet file read through its store, a range at a time (only the
/// footer and `_extra`'s pages are fetched).
struct CuratedFile {
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    size: u64,
}

impl AsyncFileReader for CuratedFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(|e| ParquetError::External(Box::new(e)))
            .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(columns: &str) -> SchemaContract {
        contract_of("orders", None, columns)
    }

    fn contract_of(table: &str, event_time: Option<&str>, columns: &str) -> SchemaContract {
        let event_time = event_time
            .map(|e| format!(r#""event_time":"{e}","#))
            .unwrap_or_default();
        SchemaContract::from_json(&format!(
            r#"{{"table":"{table}",{event_time}"columns":[{columns}]}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}: {columns}"))
    }

    const BASE: &str = r#"{"name":"id","type":"string","nullable":false},
        {"name":"ts","type":"timestamp"},
        {"name":"total","type":"decimal(18,2)"},
        {"name":"customer","type":{"struct":[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string"}]}},
        {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"}]}}}"#;

    fn refusals(old: &SchemaContract, new: &SchemaContract) -> Vec<String> {
        match diff(old, new) {
            Ok(e) => panic!("not refused: {e:?}"),
            Err(r) => r.refusals.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_refusal(new_columns: &str, want: &str) {
        let got = refusals(&contract(BASE), &contract(new_columns));
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].contains(want), "{want:?} in {:?}", got[0]);
    }

    #[test]
    fn new_nullable_columns_become_alter_table_add_column_with_the_table_types() {
        let old = contract(BASE);
        let new = contract(&format!(
            r#"{BASE},
            {{"name":"coupon","type":"string","description":"Coupon code, if it's used"}},
            {{"name":"qty","type":"int64"}},
            {{"name":"paid_at","type":"timestamp(epoch_millis)"}},
            {{"name":"loyalty","type":{{"struct":[{{"name":"tier","type":"string"}}]}}}},
            {{"name":"tags","type":{{"list":"string"}}}},
            {{"name":"rate","type":"decimal(10,4)"}},
            {{"name":"raw","type":"json"}},
            {{"name":"Odd Name","type":"bool"}}"#
        ));
        let sql = diff(&old, &new)
            .unwrap()
            .snowflake_sql("{{ database }}", "{{ schema }}");
        let t = "ALTER TABLE {{ database }}.{{ schema }}.orders ADD COLUMN";
        for line in [
            format!("{t} coupon VARCHAR COMMENT 'Coupon code, if it''s used';"),
            format!("{t} qty NUMBER(19, 0);"),
            format!("{t} paid_at TIMESTAMP_LTZ;"),
            format!("{t} loyalty OBJECT;"),
            format!("{t} tags ARRAY;"),
            format!("{t} rate NUMBER(10, 4);"),
            format!("{t} raw VARIANT;"),
            format!("{t} \"Odd Name\" BOOLEAN;"),
        ] {
            assert!(sql.lines().any(|l| l == line), "{line}\nin\n{sql}");
        }
        // The same types as the CREATE TABLE of the new contract.
        let create = new.snowflake_table_sql();
        for (name, ty) in [
            ("qty", "NUMBER(19, 0)"),
            ("loyalty", "OBJECT"),
            ("rate", "NUMBER(10, 4)"),
        ] {
            assert!(
                create
                    .lines()
                    .any(|l| l.trim_start().starts_with(name) && l.contains(ty)),
                "{name} {ty} in {create}"
            );
        }
        assert!(sql.contains("CREATE OR REPLACE VIEW {{ database }}.{{ schema }}.orders_dedup"));
        assert!(sql.contains("FROM {{ database }}.{{ schema }}.orders\n"));
        assert!(!sql.contains("{{ table }}"), "{sql}");
    }

    #[test]
    fn database_and_schema_may_be_names_instead_of_placeholders() {
        let new = contract(&format!(r#"{BASE},{{"name":"coupon","type":"string"}}"#));
        let sql = diff(&contract(BASE), &new)
            .unwrap()
            .snowflake_sql("PROD", "RAW");
        assert!(sql.contains("ALTER TABLE PROD.RAW.orders ADD COLUMN coupon VARCHAR;\n"));
        assert!(sql.contains("CREATE OR REPLACE VIEW PROD.RAW.orders_dedup"));
        assert!(!sql.contains("{{"), "{sql}");
    }

    #[test]
    fn no_change_is_said_in_a_comment() {
        let evolution = diff(&contract(BASE), &contract(BASE)).unwrap();
        assert!(evolution.is_empty());
        assert_eq!(
            evolution.snowflake_sql("{{ database }}", "{{ schema }}"),
            "-- feedpipe schema diff: table `orders`: no change between the two contracts; nothing to run.\n"
        );
    }

    #[test]
    fn new_fields_inside_struct_columns_need_no_ddl_and_say_so() {
        let new = contract(
            r#"{"name":"id","type":"string","nullable":false},
            {"name":"ts","type":"timestamp"},
            {"name":"total","type":"decimal(18,2)"},
            {"name":"customer","type":{"struct":[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string"},{"name":"tier","type":"string"}]}},
            {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"},{"name":"note","type":{"struct":[{"name":"text","type":"string"}]}}]}}}"#,
        );
        let evolution = diff(&contract(BASE), &new).unwrap();
        assert_eq!(
            evolution.changes,
            [
                Change::Nested {
                    column: "customer".into(),
                    added: vec!["customer.tier".into()],
                    relaxed: vec![],
                },
                Change::Nested {
                    column: "items".into(),
                    added: vec!["items[].note".into()],
                    relaxed: vec![],
                }
            ]
        );
        let sql = evolution.snowflake_sql("{{ database }}", "{{ schema }}");
        assert!(
            sql.contains("-- `customer`: new field(s) `customer.tier`: no DDL needed"),
            "{sql}"
        );
        assert!(!sql.contains("ALTER") && !sql.contains("CREATE"), "{sql}");
    }

    #[test]
    fn nullability_relaxed_and_descriptions_follow_with_their_statements() {
        let new = contract(
            r#"{"name":"id","type":"string","description":"Order id"},
            {"name":"ts","type":"timestamp"},
            {"name":"total","type":"decimal(18,2)"},
            {"name":"customer","type":{"struct":[{"name":"cid","type":"string"},{"name":"email","type":"string"}]}},
            {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"}]}}}"#,
        );
        let sql = diff(&contract(BASE), &new).unwrap().snowflake_sql("D", "S");
        assert!(
            sql.contains("ALTER TABLE D.S.orders ALTER COLUMN id DROP NOT NULL;\n"),
            "{sql}"
        );
        assert!(
            sql.contains("ALTER TABLE D.S.orders ALTER COLUMN id COMMENT 'Order id';\n"),
            "{sql}"
        );
        assert!(sql.contains("`customer.cid` made nullable"), "{sql}");
        assert!(
            !sql.contains("VIEW"),
            "no column added, the view stands: {sql}"
        );
    }

    #[test]
    fn reordered_columns_need_no_ddl() {
        let new = contract(
            r#"{"name":"ts","type":"timestamp"},
            {"name":"id","type":"string","nullable":false},
            {"name":"total","type":"decimal(18,2)"},
            {"name":"customer","type":{"struct":[{"name":"email","type":"string"},{"name":"cid","type":"string","nullable":false}]}},
            {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"}]}}}"#,
        );
        assert_eq!(
            diff(&contract(BASE), &new).unwrap().changes,
            [Change::Reordered]
        );
    }

    #[test]
    fn a_dropped_column_is_refused_naming_it() {
        one_refusal(
            r#"{"name":"id","type":"string","nullable":false},
            {"name":"ts","type":"timestamp"},
            {"name":"customer","type":{"struct":[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string"}]}},
            {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"}]}}}"#,
            "column `total` dropped",
        );
    }

    #[test]
    fn a_changed_type_is_refused_and_a_wider_decimal_too_with_why() {
        let with_total = |ty: &str| BASE.replace(r#""decimal(18,2)""#, ty);
        one_refusal(
            &with_total(r#""float64""#),
            "column `total`: type decimal(18,2) → float64: Snowflake does not convert",
        );
        one_refusal(
            &with_total(r#""decimal(20,2)""#),
            "column `total`: type decimal(18,2) → decimal(20,2): a wider NUMBER, which Snowflake itself would follow",
        );
        one_refusal(
            &with_total(r#""decimal(12,2)""#),
            "a narrower NUMBER or another scale",
        );
        one_refusal(
            &with_total(r#""decimal(18,3)""#),
            "a narrower NUMBER or another scale",
        );
        one_refusal(
            &BASE.replace(
                r#""type":"timestamp""#,
                r#""type":"timestamp(epoch_seconds)""#,
            ),
            "column `ts`: type timestamp → timestamp(epoch_seconds): the same Parquet and Snowflake type",
        );
        one_refusal(
            &BASE.replace(
                r#"{"name":"sku","type":"string"}"#,
                r#"{"name":"sku","type":"int64"}"#,
            ),
            "column `items[].sku`: type string → int64",
        );
        one_refusal(
            &BASE.replace(
                r#"{"list":{"struct":[{"name":"sku","type":"string"}]}}"#,
                r#""json""#,
            ),
            "column `items`: type list<struct> → json",
        );
    }

    #[test]
    fn a_column_made_required_is_refused() {
        one_refusal(
            &BASE.replace(
                r#"{"name":"ts","type":"timestamp"}"#,
                r#"{"name":"ts","type":"timestamp","nullable":false}"#,
            ),
            "column `ts` made required",
        );
    }

    #[test]
    fn a_new_required_column_is_refused_also_inside_a_new_struct() {
        one_refusal(
            &format!(r#"{BASE},{{"name":"coupon","type":"string","nullable":false}}"#),
            "new column `coupon` is required",
        );
        one_refusal(
            &format!(
                r#"{BASE},{{"name":"loyalty","type":{{"struct":[{{"name":"tier","type":"string","nullable":false}}]}}}}"#
            ),
            "new column `loyalty.tier` is required",
        );
    }

    #[test]
    fn nested_fields_dropped_retyped_or_made_required_are_refused() {
        let with_customer = |fields: &str| {
            BASE.replace(
                r#"[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string"}]"#,
                fields,
            )
        };
        one_refusal(
            &with_customer(r#"[{"name":"cid","type":"string","nullable":false}]"#),
            "column `customer.email` dropped",
        );
        one_refusal(
            &with_customer(
                r#"[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"bool"}]"#,
            ),
            "column `customer.email`: type string → bool",
        );
        one_refusal(
            &with_customer(
                r#"[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string","nullable":false}]"#,
            ),
            "column `customer.email` made required",
        );
        one_refusal(
            &with_customer(
                r#"[{"name":"cid","type":"string","nullable":false},{"name":"email","type":"string"},{"name":"tier","type":"string","nullable":false}]"#,
            ),
            "new column `customer.tier` is required",
        );
    }

    #[test]
    fn a_renamed_table_is_refused() {
        let got = refusals(&contract(BASE), &contract_of("purchases", None, BASE));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("table renamed from `orders` to `purchases`"),
            "{got:?}"
        );
    }

    #[test]
    fn a_changed_event_time_is_refused_with_the_partition_reason() {
        let before = contract_of("orders", Some("ts"), BASE);
        let got = refusals(&before, &contract(BASE));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("event_time changed from `ts` to none (_ingested_at): it picks each record's dt= partition"),
            "{got:?}"
        );
        assert_eq!(
            refusals(&contract(BASE), &before).len(),
            1,
            "set where there was none"
        );
    }

    #[test]
    fn every_refusal_is_reported_together() {
        let old = contract_of("orders", Some("ts"), BASE);
        let new = contract_of(
            "purchases",
            None,
            r#"{"name":"id","type":"int64","nullable":false},
            {"name":"ts","type":"timestamp","nullable":false},
            {"name":"customer","type":{"struct":[{"name":"cid","type":"string","nullable":false}]}},
            {"name":"items","type":{"list":{"struct":[{"name":"sku","type":"string"}]}}},
            {"name":"coupon","type":"string","nullable":false},
            {"name":"fine","type":"string"}"#,
        );
        let refused = diff(&old, &new).unwrap_err();
        let text = refused.to_string();
        assert!(
            text.starts_with("refused: 7 change(s) of table `orders`"),
            "{text}"
        );
        for want in [
            "table renamed",
            "event_time changed",
            "column `total` dropped",
            "column `id`: type string → int64",
            "column `ts` made required",
            "column `customer.email` dropped",
            "new column `coupon` is required",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
    }

    fn tally(known: &[&str], extras: &[&str], rows: u64) -> Suggestion {
        let mut t = ExtraTally::new(known.iter().map(|k| (*k).to_owned()));
        for e in extras {
            t.add(e);
        }
        t.finish("orders", rows)
    }

    #[test]
    fn extra_fields_are_counted_typed_and_proposed_as_infer_types_them() {
        let s = tally(
            &["id", "customer"],
            &[
                r#"{"coupon":"A1","qty":2,"customer.vip":true}"#,
                r#"{"coupon":null,"price":1.50,"seen":"2026-11-23T10:00:00Z"}"#,
                r#"{"qty":3,"loyalty":{"tier":"gold"},"coupon":"B","coupon#2":"C"}"#,
                r#"{"dt":"2026-11-01","Id":"x","Coupon":"D","":1,"mixed":1}"#,
                r#"{"mixed":"one","id":"y","day":"2026-11-02"}"#,
                "not json",
            ],
            10,
        );
        assert_eq!((s.rows, s.rows_with_extra, s.unreadable), (10, 6, 1));
        let got: Vec<(&str, u64, String, String)> = s
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.rows,
                    f.ty.as_ref().map(ToString::to_string).unwrap_or_default(),
                    f.proposal.to_string(),
                )
            })
            .collect();
        let p = "proposed".to_string();
        assert_eq!(
            got,
            [
                ("coupon", 3, "string".into(), p.clone()),
                ("qty", 2, "int64".into(), p.clone()),
                (
                    "customer.vip",
                    1,
                    "bool".into(),
                    Proposal::Nested {
                        column: "customer".into()
                    }
                    .to_string()
                ),
                ("price", 1, "decimal(18,2)".into(), p.clone()),
                ("seen", 1, "timestamp".into(), p.clone()),
                ("loyalty", 1, "struct".into(), p.clone()),
                ("dt", 1, "date".into(), Proposal::Reserved.to_string()),
                (
                    "Id",
                    1,
                    "string".into(),
                    Proposal::Clashes { with: "id".into() }.to_string()
                ),
                (
                    "Coupon",
                    1,
                    String::new(),
                    Proposal::Clashes {
                        with: "coupon".into()
                    }
                    .to_string()
                ),
                ("", 1, String::new(), Proposal::Unnamed.to_string()),
                ("mixed", 2, "json".into(), p.clone()),
                ("id", 1, String::new(), Proposal::Known.to_string()),
                ("day", 1, "date".into(), p.clone()),
            ]
        );
        let proposed: Vec<String> = s.proposed().into_iter().map(|c| c.name).collect();
        assert_eq!(
            proposed,
            ["coupon", "qty", "price", "seen", "loyalty", "mixed", "day"]
        );
        assert!(s.proposed().iter().all(|c| c.nullable));
    }

    #[test]
    fn the_extended_contract_passes_diff_by_construction() {
        let base = contract(BASE);
        let s = tally(
            &["id", "ts", "total", "customer", "items"],
            &[
                r#"{"coupon":"A1","loyalty":{"tier":"gold","since":"2026-01-02"},"notes":[{"t":"x"}]}"#,
                r#"{"coupon":"A2","dt":"2026-11-01"}"#,
            ],
            2,
        );
        let next = s.extend(&base).unwrap();
        let added: Vec<&str> = next.columns[base.columns.len()..]
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(added, ["coupon", "loyalty", "notes"]);
        let again = SchemaContract::from_json(&next.to_json()).unwrap();
        let evolution = diff(&base, &again).unwrap();
        assert_eq!(evolution.changes.len(), 3);
        assert!(matches!(
            s.extend(&contract_of("other", None, BASE)),
            Err(SuggestError::OtherTable { .. })
        ));
    }
}
