-- Backfill statements. NOT run by schemachange (the name has no V__/R__
-- prefix): pick the statement you need, fill the placeholders, run it by hand.
-- Needs from Terraform: sql_vars ({{ database }}, {{ schema }}, {{ table }}).
-- Extra placeholders, filled by you:
--   {{ dt }}             the partition day, e.g. 2025-01-15
--   {{ modified_after }} ISO-8601 time, e.g. 2025-01-15T00:00:00Z
-- Render with e.g. `schemachange render --vars '{...}' sql/backfill/refresh.sql`
-- or a plain search-and-replace.
--
-- Which tool for which file:
--   * files staged in the last 7 days that the pipe missed (a lost S3
--     notification, files written before snowpipe_sqs_arn was set):
--     ALTER PIPE ... REFRESH, step 1. The pipe's load history (14 days) skips
--     what it has loaded already.
--   * files older than 7 days: REFRESH ignores them; use the manual COPY,
--     steps 2 and 3.

-- 1. Narrow refresh: only one day's folder, only files changed since a time.
--    PREFIX is relative to the stage URL (s3://<curated>/{{ table }}/).
--    Keep it narrow: a bare REFRESH lists the whole prefix and queues every
--    file of the last 7 days the pipe does not remember.
ALTER PIPE {{ database }}.{{ schema }}.{{ table }}_pipe REFRESH
  PREFIX = 'dt={{ dt }}/'
  MODIFIED_AFTER = '{{ modified_after }}';

-- 2. Before a manual COPY, see what is already loaded for that day. The pipe's
--    load history and the table's bulk-load history are kept apart, so a
--    manual COPY does not know which files the pipe loaded: list them first
--    and load only the missing ones with FILES = (...) in step 3.
--    COPY_HISTORY covers 14 days; SNOWFLAKE.ACCOUNT_USAGE.COPY_HISTORY goes
--    back a year (with some latency).
SELECT file_name, pipe_name, status, last_load_time, row_count
FROM SNOWFLAKE.ACCOUNT_USAGE.COPY_HISTORY
WHERE table_catalog_name = UPPER('{{ database }}')
  AND table_schema_name = UPPER('{{ schema }}')
  AND table_name = UPPER('{{ table }}')
  AND file_name LIKE '%dt={{ dt }}/%'
ORDER BY last_load_time;

-- 3. Manual COPY of one day's folder with the pipe's own options, so the rows
--    look exactly as if the pipe had loaded them (same column matching, same
--    _file_name and _loaded_at). Add FILES = ('<name>.parquet', ...) (names
--    relative to the dt= folder) to load only the files step 2 did not list. Should a file be loaded
--    twice anyway, {{ table }}_dedup keeps one row per _record_id.
--    For files last modified more than 64 days ago, whose load status
--    Snowflake no longer knows, add LOAD_UNCERTAIN_FILES = TRUE.
COPY INTO {{ database }}.{{ schema }}.{{ table }}
  FROM @{{ database }}.{{ schema }}.{{ table }}_stage/dt={{ dt }}/
  FILE_FORMAT = (FORMAT_NAME = '{{ database }}.{{ schema }}.feedpipe_parquet')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  INCLUDE_METADATA = (
    _file_name = METADATA$FILENAME,
    _loaded_at = METADATA$START_SCAN_TIME
  )
  ON_ERROR = SKIP_FILE;
