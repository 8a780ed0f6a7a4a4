//! The conversion core (in progress): raw JSON lines → Parquet, under a schema contract.
//!
//! Built so far: [`contract`], the checked-in description of the table (column
//! names, types, nullability) that the Parquet and the Snowflake table are both made
//! from, with [`contract::infer`] to write one from sample data and
//! [`contract::SchemaContract::snowflake_table_sql`] to print the matching `CREATE
//! TABLE`. The Arrow/Parquet conversion itself is not built yet.
//!
//! ```
//! use feedpipe_convert::contract::SchemaContract;
//! let contract = SchemaContract::from_json(r#"{"table": "feed", "columns": [
//!     {"name": "order_id", "type": "string", "nullable": false},
//!     {"name": "total", "type": "decimal(18,2)"}
//! ]}"#).unwrap();
//! assert!(contract.snowflake_table_sql().contains("NUMBER(18, 2)"));
//! ```

pub mod columns;
pub mod contract;
pub mod decode;
mod infer;
pub mod job;
mod raw_json;

pub use job::{ConvertConfig, ConvertError, Converter, Manifest, RawInput};
