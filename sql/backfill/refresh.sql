-- Backfill statements. NOT run by schemachange (the name has no V__/R__
-- prefix): pick the statement you need, fill the placeholders, run it by hand.
-- Needs from Terraform: sql_vars ({{ database }}, {{ schema }}, {{ table }}).
-- Extra placeholders, filled by you:
--   {{ dt }}             the partition day, e.g. 2025-01-15
--   {{ modified_after }} ISO-8601 time, e.g. 2025-01-15T00:00:00Z (steps 1
--                        and 4; for step 4, the time the backfill started)
--   {{ files }}          quoted file names relative to the stage, e.g.
--                        'dt=2025-01-15/a.parquet', 'dt=2025-01-16/b.parquet'
--                        (step 4 lists them)
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
--   * files REWRITTEN under the same name (a backfill after a converter fix:
--     the names are deterministic, so a corrected re-conversion overwrites
--     the same keys): neither the pipe nor REFRESH loads them again. Snowpipe
--     "ignores any file whose path and name match a file in the pipe's load
--     metadata, including files that failed to load", and REFRESH skips what
--     the pipe processed ("Manage Snowpipe", Reload a file that Snowpipe
--     already processed / Load historical or missed files,
--     https://docs.snowflake.com/en/user-guide/data-load-snowpipe-manage).
--     Reload them with a manual COPY of exactly those files, FORCE = TRUE,
--     steps 4 to 6: the view {{ table }}_dedup shows the latest load of each
--     _record_id, so the corrected rows replace the old ones there at once.

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

-- 4. Which curated files did the backfill rewrite? The converter writes each
--    raw object's manifest after its Parquet, so the manifests modified since
--    the backfill started name exactly the files it wrote (a re-conversion of
--    one raw day can write into several dt= folders: do not guess them from
--    the raw prefix). Paste the `file` column, quoted, into {{ files }}.
WITH manifests AS (
  SELECT $1 AS manifest
  FROM @{{ database }}.{{ schema }}.{{ table }}_manifest_stage
  WHERE METADATA$FILE_LAST_MODIFIED >= CONVERT_TIMEZONE('UTC', '{{ modified_after }}'::TIMESTAMP_TZ)::TIMESTAMP_NTZ
)
SELECT DISTINCT
  REGEXP_SUBSTR(o.value:uri::VARCHAR, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') AS file,
  o.value:rows::NUMBER AS manifest_rows
FROM manifests m,
  LATERAL FLATTEN(INPUT => m.manifest:outputs) o
ORDER BY file;

-- 5. Reload the rewritten files, with the pipe's options plus FORCE = TRUE.
--    A bulk COPY keeps its own load metadata apart from the pipe's, and FORCE
--    loads the files "regardless of whether they were loaded previously", so
--    this loads the corrected bytes even when the same name was loaded before
--    by the pipe or by an earlier reload. Their rows get a later _loaded_at
--    (METADATA$START_SCAN_TIME), and {{ table }}_dedup (latest load wins)
--    shows them instead of the old ones. Run it once per batch of files: a
--    second run loads them once more (harmless to the view, removed by
--    step 6). FILES takes at most 1,000 names: split longer lists.
--    First, in the same session, note when the reload starts: step 6 deletes
--    the rows of these files loaded before this instant. Run the SET right
--    before the COPY, every time you run the COPY. A session variable lives as
--    long as the session ("SQL variables are private to a session",
--    https://docs.snowflake.com/en/sql-reference/session-variables, whose
--    example is this very `SET timestamp_variable = (SELECT
--    CURRENT_TIMESTAMP())`); if the session is lost before step 6, set it again
--    by hand to the START_TIME of this COPY in QUERY_HISTORY, e.g.
--    SET reload_started = '2025-01-15 10:00:00 +0000'::TIMESTAMP_LTZ;
--    Every row the COPY loads has METADATA$START_SCAN_TIME ("Start timestamp of
--    operation for each record", which may differ from record to record of one
--    file) after this instant, since the scan starts after the statement does.
SET reload_started = (SELECT CURRENT_TIMESTAMP());

COPY INTO {{ database }}.{{ schema }}.{{ table }}
  FROM @{{ database }}.{{ schema }}.{{ table }}_stage
  FILES = ({{ files }})
  FILE_FORMAT = (FORMAT_NAME = '{{ database }}.{{ schema }}.feedpipe_parquet')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  INCLUDE_METADATA = (
    _file_name = METADATA$FILENAME,
    _loaded_at = METADATA$START_SCAN_TIME
  )
  ON_ERROR = SKIP_FILE
  FORCE = TRUE;

-- 6. Delete the superseded loads of the files of step 5: every row of such a
--    file loaded before step 5's SET ($reload_started), but only for the files
--    step 5 did load (a row of them at or after $reload_started). This also
--    removes records the corrected conversion no longer writes (now
--    quarantined, say), which step 5 alone leaves visible in the view. A file
--    step 5 skipped (ON_ERROR = SKIP_FILE) has no row from the reload, so its
--    old rows stay; check step 5's result for such files.
--    It does not assume that the rows of one load share one _loaded_at
--    (METADATA$START_SCAN_TIME is the "Start timestamp of operation for each
--    record in the staged data file", Query metadata for staged files,
--    https://docs.snowflake.com/en/user-guide/querying-metadata): it relies only
--    on every row of the reload having a scan time after $reload_started and
--    every row of an earlier load one before it. Same session as step 5 (the
--    variable); without it the statement fails ("Session variable ... does
--    not exist") and deletes nothing.
DELETE FROM {{ database }}.{{ schema }}.{{ table }} t
USING (
  SELECT _file_name
  FROM {{ database }}.{{ schema }}.{{ table }}
  WHERE REGEXP_SUBSTR(_file_name, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') IN ({{ files }})
    AND _loaded_at >= $reload_started
  GROUP BY _file_name
) reloaded
WHERE t._file_name = reloaded._file_name
  AND t._loaded_at < $reload_started;
