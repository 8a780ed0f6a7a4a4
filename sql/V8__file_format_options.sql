-- V8: sets, on the Parquet file format of V3, the two options V3 now creates it
-- with, for a deployment whose V3 ran before they were added (V3 is CREATE FILE
-- FORMAT IF NOT EXISTS, and schemachange runs a V script once; on a new
-- deployment this changes nothing).
-- Needs from Terraform: nothing. Placeholders: {{ database }}, {{ schema }}.
--
-- ALTER FILE FORMAT ... SET takes the Parquet format type options, among them
-- `USE_VECTORIZED_SCANNER = TRUE | FALSE` and `NULL_IF = ( ... )` (ALTER FILE
-- FORMAT, https://docs.snowflake.com/en/sql-reference/sql/alter-file-format:
-- "ALTER FILE FORMAT [ IF EXISTS ] <name> SET { [ formatTypeOptions ] ... }");
-- for why each, and the evidence for the empty NULL_IF list, see V3.
--
-- Before running it on a deployment that has loaded data (Snowflake: "set it for
-- existing workloads after testing"): the vectorized scanner keeps null list
-- elements and null struct fields that the old scanner dropped, so rows loaded
-- after it differ from rows loaded before it in `items` and `customer`
-- (sql/README.md, "What Snowflake's loader refuses or changes"). Whether the
-- pipe, whose COPY names the format (FORMAT_NAME), uses the altered options or
-- the ones it was created with is not documented: check on the account (load a
-- file with a `\N` string after V8; the table must hold `\N`), and recreate the
-- pipe only if it does not (sql/README.md: recreating drops its load history).

ALTER FILE FORMAT IF EXISTS {{ database }}.{{ schema }}.feedpipe_parquet SET
  USE_VECTORIZED_SCANNER = TRUE
  NULL_IF = ();
