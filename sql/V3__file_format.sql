-- V3: creates the Parquet file format used by the stage and the pipe.
-- Needs from Terraform: nothing. Placeholders: {{ database }}, {{ schema }}.
-- IF NOT EXISTS: a deployment that already ran this script keeps its format;
-- V8__file_format_options.sql sets the two options added here on it.
--
-- USE_LOGICAL_TYPE = TRUE makes Snowflake honour Parquet's logical types, so a
-- microsecond timestamp is read as microseconds and not as a raw integer in
-- the wrong unit. BINARY_AS_TEXT = FALSE keeps binary columns binary instead
-- of reading them as UTF-8 text. (The vectorized scanner below treats them as
-- TRUE and FALSE whatever they say; they stay for the record.)
--
-- USE_VECTORIZED_SCANNER = TRUE, pinned (COPY INTO <table>, TYPE = PARQUET,
-- https://docs.snowflake.com/en/sql-reference/sql/copy-into-table, and CREATE
-- FILE FORMAT, https://docs.snowflake.com/en/sql-reference/sql/create-file-format):
-- "The default value is FALSE. In a future BCR, the default value will be TRUE.
-- We recommend that you set USE_VECTORIZED_SCANNER = TRUE for new workloads".
-- The default scanner "does not explicitly show NULL values in the scan output":
-- its example drops the null element of a list (`phone_numbers` loses its third
-- element, the later ones shift) and a null struct field. The converter writes
-- lists whose elements may be null (`items`) and structs with null fields
-- (`customer`); the vectorized scanner "shows NULL values in the output", so
-- `items[1]` stays the second element. Its timestamps:
-- TimestampType(isAdjustedToUtc=True, MICROS) -> TIMESTAMP_LTZ, as with
-- USE_LOGICAL_TYPE = TRUE today. What changes for readers: a null struct field
-- is now a key holding JSON null in the OBJECT (`customer:email` is a VARIANT
-- null, `customer:email::VARCHAR` is SQL NULL, `customer:email IS NULL` is
-- FALSE), where it used to be absent. See sql/README.md, "What Snowflake's
-- loader refuses or changes".
--
-- NULL_IF = (): no string is read as NULL. For Parquet loaded "into separate
-- columns using the MATCH_BY_COLUMN_NAME copy option" (the pipe), NULL_IF
-- defaults to `\N`, and "Snowflake converts all instances of the value to
-- NULL, regardless of the data type": a feed string `\N` would load as NULL,
-- and in a NOT NULL column skip the whole file. The empty list is documented
-- in COPY INTO <table>'s syntax for TYPE = PARQUET, `NULL_IF = ( [ '<string>'
-- [ , '<string>' ... ] ] )`, and DESCRIBE FILE FORMAT's Parquet example shows
-- `NULL_IF | List | [] | [\\N]` (value, default),
-- https://docs.snowflake.com/en/sql-reference/sql/desc-file-format. (CREATE FILE
-- FORMAT's own syntax line shows at least one string; not run on an account.)

CREATE FILE FORMAT IF NOT EXISTS {{ database }}.{{ schema }}.feedpipe_parquet
  TYPE = PARQUET
  USE_LOGICAL_TYPE = TRUE
  BINARY_AS_TEXT = FALSE
  USE_VECTORIZED_SCANNER = TRUE
  NULL_IF = ()
  COMMENT = 'feedpipe: curated Parquet written by raw-to-parquet / feedpipe convert';
