//! The local warehouse and the reconciliation of the whole pipeline.
//!
//! - [`query::Warehouse`]: DataFusion SQL over the curated Parquet, one table per
//!   folder with `dt` as a partition column; `feedpipe query` and the sample query of
//!   `feedpipe local` use it. It stands in for the Snowflake table.
//! - [`reconcile::reconcile`]: reads the source files again and proves that each
//!   record is in the curated Parquet once or in the quarantine, from the lineage
//!   columns, the quarantine entries and the manifests, in memory bounded by
//!   [`reconcile::ReconcileOptions`] (sorted runs on disk past it).
//!
//! Only the CLI links this crate: DataFusion stays out of the Lambdas.

pub mod query;
pub mod reconcile;

pub use query::{OutputFormat, QueryError, Warehouse, render};
pub use reconcile::{
    FileReport, ReconcileError, ReconcileOptions, Report, reconcile, reconcile_with,
};
