//! The conversion core: raw JSON lines → Parquet in the curated bucket, under a
//! schema contract, with every record that does not fit in the quarantine.
//!
//! - [`contract`]: the checked-in description of the table (column names, types,
//!   nullability) that the Parquet and the Snowflake table are both made from;
//!   [`contract::infer`] writes one from sample data,
//!   [`contract::SchemaContract::snowflake_table_sql`] prints the matching `CREATE
//!   TABLE`, [`contract::load`] reads one from any storage URL, and
//!   [`contract::choose`] picks the sample contract or an inferred one for a feed.
//! - [`Converter`]: raw objects → one Parquet file per `dt` (deterministic names and
//!   bytes), quarantine entries and a manifest per object; the raw-to-parquet Lambda
//!   and `feedpipe convert` both run it.
//! - [`backfill`]: which raw objects a backfill converts, in which groups, and which
//!   it skips as done (resume); the CLI and the Lambda share it.
//!
//! It reads and writes only through `object_store` and links no DataFusion and no
//! AWS SDK: the raw-to-parquet Lambda stays small.
//!
//! ```
//! use feedpipe_convert::contract::SchemaContract;
//! let contract = SchemaContract::from_json(r#"{"table": "feed", "columns": [
//!     {"name": "order_id", "type": "string", "nullable": false},
//!     {"name": "total", "type": "decimal(18,2)"}
//! ]}"#).unwrap();
//! assert!(contract.snowflake_table_sql().contains("NUMBER(18, 2)"));
//! ```

pub mod backfill;
mod columns;
pub mod contract;
mod decode;
mod infer;
mod job;
mod raw_json;
pub mod sql_render;

pub use job::manifest::{InputObject, Manifest, OutputFile};
pub use job::{
    Codec, ConvertConfig, ConvertError, Converter, FeedConverter, RawInput, RouteFn, Routing,
    source_key,
};
