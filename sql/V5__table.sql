-- V5: creates the target table of the sample feed (orders).
-- Needs from Terraform: output sql_vars for {{ table }} (= curated_table,
-- FEEDPIPE_TABLE of the raw-to-parquet Lambda). Placeholders: {{ database }},
-- {{ schema }}, {{ table }}.
--
-- This file will later be generated from the schema contract by
-- `feedpipe schema sql`; until then it is written by hand and must match the
-- Parquet that raw-to-parquet writes: the pipe loads with
-- MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE, so every Parquet field is matched
-- to the column of the same name (missing ones load as NULL, extra ones are
-- ignored).
--
-- Timestamps are TIMESTAMP_NTZ holding UTC: the Parquet columns are written as
-- microsecond timestamps in UTC without a time zone, so no session time zone
-- shifts them on load.
--
-- _file_name and _loaded_at are not in the Parquet: the pipe fills them
-- (INCLUDE_METADATA, see V6).
--
-- IF NOT EXISTS, never OR REPLACE: the table holds the loaded data.

CREATE TABLE IF NOT EXISTS {{ database }}.{{ schema }}.{{ table }} (
  -- the record
  order_id        VARCHAR        COMMENT 'Order id from the feed',
  customer_id     VARCHAR        COMMENT 'Customer id; also the Kinesis partition key field',
  order_ts        TIMESTAMP_NTZ  COMMENT 'Order time, UTC',
  status          VARCHAR        COMMENT 'Order status',
  total           NUMBER(18, 2)  COMMENT 'Order total in currency units',
  currency        VARCHAR        COMMENT 'ISO 4217 currency code',
  customer        OBJECT         COMMENT 'Customer details (Parquet struct)',
  items           ARRAY          COMMENT 'Order lines (Parquet list of structs)',

  -- lineage, written by the ingest and conversion cores
  _source_uri     VARCHAR        COMMENT 'URI of the source feed file (s3://bucket/key)',
  _source_version VARCHAR        COMMENT 'Version id or ETag of the source feed file',
  _source_line    NUMBER(38, 0)  COMMENT 'Line (or array position) of the record in the source file, from 1',
  _record_id      VARCHAR        COMMENT 'Deterministic id from source uri, version and line: the same record always gets the same id',
  _ingested_at    TIMESTAMP_NTZ  COMMENT 'When the ingest Lambda read the record, UTC',
  _extra          VARIANT        COMMENT 'Fields the schema contract does not know, as written by the converter',

  -- filled by the pipe
  _file_name      VARCHAR        COMMENT 'Curated Parquet file the row was loaded from (METADATA$FILENAME)',
  _loaded_at      TIMESTAMP_LTZ  COMMENT 'When Snowpipe started scanning the file (METADATA$START_SCAN_TIME)'
)
COMMENT = 'feedpipe: {{ table }} feed, loaded by Snowpipe from curated Parquet; may hold duplicates (at-least-once), query {{ table }}_dedup';
