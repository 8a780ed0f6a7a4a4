-- R (re-applied when changed): read-only monitoring queries for the pipe and
-- the table; creates nothing, so re-applying is harmless. Run them by hand
-- (or from a scheduled task) to watch the load.
-- Needs from Terraform: sql_vars for {{ table }}.
-- Placeholders: {{ database }}, {{ schema }}, {{ table }}.

-- Is the pipe running, how many files wait, when did it last get a notification?
-- executionState should be RUNNING; pendingFileCount should go down to 0.
SELECT SYSTEM$PIPE_STATUS('{{ database }}.{{ schema }}.{{ table }}_pipe') AS pipe_status;

-- What was loaded (or skipped) in the last 24 hours, by the pipe or by hand.
SELECT
  file_name,
  pipe_name,
  last_load_time,
  status,
  row_count,
  row_parsed,
  error_count,
  first_error_message,
  first_error_line_number
FROM TABLE({{ database }}.INFORMATION_SCHEMA.COPY_HISTORY(
  TABLE_NAME => '{{ database }}.{{ schema }}.{{ table }}',
  START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())
))
ORDER BY last_load_time DESC;

-- Errors of the pipe's loads in the last 24 hours (files skipped by ON_ERROR).
SELECT *
FROM TABLE({{ database }}.INFORMATION_SCHEMA.VALIDATE_PIPE_LOAD(
  PIPE_NAME => '{{ database }}.{{ schema }}.{{ table }}_pipe',
  START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())
));

-- How many duplicate rows the dedup view hides, loaded in the last 24 hours.
SELECT
  COUNT(*) AS rows_loaded,
  COUNT(DISTINCT _record_id) AS distinct_records,
  COUNT(*) - COUNT(DISTINCT _record_id) AS duplicate_rows
FROM {{ database }}.{{ schema }}.{{ table }}
WHERE _loaded_at >= DATEADD(HOUR, -24, CURRENT_TIMESTAMP());

-- Records per source file, to compare with `feedpipe reconcile`
-- (records read = delivered + quarantined).
SELECT
  _source_uri,
  _source_version,
  COUNT(DISTINCT _record_id) AS records_loaded,
  MIN(_loaded_at) AS first_loaded_at,
  MAX(_loaded_at) AS last_loaded_at
FROM {{ database }}.{{ schema }}.{{ table }}
WHERE _loaded_at >= DATEADD(HOUR, -24, CURRENT_TIMESTAMP())
GROUP BY _source_uri, _source_version
ORDER BY last_loaded_at DESC;

-- Curated files the table does not hold whole (issue 15: "no file skipped whole
-- in the warehouse"). The pipe loads with ON_ERROR = SKIP_FILE, so one value the
-- loader refuses drops a whole file, and a rewritten (corrected) file is never
-- reloaded by the pipe: compare each file the converter's manifests list
-- (V7's stage over _manifests/<table>/, outputs[].uri and outputs[].records,
-- jobs/convert/src/job/manifest.rs) with the records the table holds of it, and
-- show COPY_HISTORY's last word on it. One row per file that is
--   NOT LOADED     no row of it in the table (skipped, failed, never notified);
--   ROWS DIFFER    the table holds another number of distinct _record_id of it
--                  than its manifest's records: an older version with other
--                  records, not reloaded (backfill/refresh.sql steps 4 to 6);
--                  or reloaded, but the older load's rows not deleted yet
--                  (step 6), so records the corrected file dropped are still
--                  there; or partly loaded (a hand-made COPY with
--                  ON_ERROR = CONTINUE);
--   NOT RELOADED   same count, but its manifest was written after the file's
--                  latest _loaded_at: the file was rewritten (a backfill) and
--                  the table still holds the old version (Snowpipe skips the name).
-- No row: every file is whole. Window: manifests written in the last 14 days
-- (COPY_HISTORY's reach) and more than an hour ago (Snowpipe's usual latency is
-- minutes); widen the first for an audit.
-- File names are compared on their part from `dt=` on, the same on both sides
-- (the manifest has s3://<bucket>/<table>/dt=…/<name>.parquet; _file_name and
-- COPY_HISTORY's FILE_NAME are whatever path METADATA$FILENAME gives).
-- Why distinct records and not "the rows of the latest load": _loaded_at is
-- METADATA$START_SCAN_TIME, the "Start timestamp of operation for each record in
-- the staged data file" (https://docs.snowflake.com/en/user-guide/querying-metadata),
-- so the rows of one load need not share one value, and the rows with a file's
-- greatest _loaded_at can be a part of its latest load. With ON_ERROR = SKIP_FILE
-- a load is all or nothing, so a file loaded once, or loaded again with the same
-- bytes, holds exactly the manifest's records, however many times. A file may hold
-- a record twice (delivered twice into one raw object, or a group of raw objects
-- with one record in two): outputs[].records counts its distinct _record_id
-- (outputs[].rows its rows; a manifest written before records were counted has
-- 0 there, and rows is used). See sql/README.md, "The file check".
WITH manifest_objects AS (
  SELECT
    $1 AS manifest,
    METADATA$FILENAME AS manifest_file,
    METADATA$FILE_LAST_MODIFIED AS manifest_modified
  FROM @{{ database }}.{{ schema }}.{{ table }}_manifest_stage
  WHERE METADATA$FILE_LAST_MODIFIED >= DATEADD(DAY, -14, SYSDATE())
),
copy_history AS (
  SELECT file_name, status, row_count, first_error_message, last_load_time
  FROM TABLE({{ database }}.INFORMATION_SCHEMA.COPY_HISTORY(
    TABLE_NAME => '{{ database }}.{{ schema }}.{{ table }}',
    START_TIME => DATEADD(DAY, -14, CURRENT_TIMESTAMP())
  ))
),
manifest_files AS (
  SELECT
    REGEXP_SUBSTR(o.value:uri::VARCHAR, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') AS file,
    o.value:uri::VARCHAR AS uri,
    o.value:rows::NUMBER AS manifest_rows,
    COALESCE(NULLIF(o.value:records::NUMBER, 0), o.value:rows::NUMBER) AS manifest_records,
    m.manifest_modified AS converted_at
  FROM manifest_objects m,
    LATERAL FLATTEN(INPUT => m.manifest:outputs) o
  -- a group's manifest is written once per input: keep the newest mention of each file
  QUALIFY ROW_NUMBER() OVER (PARTITION BY file ORDER BY m.manifest_modified DESC, m.manifest_file) = 1
),
table_loads AS (
  SELECT
    REGEXP_SUBSTR(_file_name, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') AS file,
    COUNT(*) AS table_rows,
    COUNT(DISTINCT _record_id) AS loaded_records,
    MAX(_loaded_at) AS last_loaded_at
  FROM {{ database }}.{{ schema }}.{{ table }}
  WHERE _file_name IS NOT NULL
  GROUP BY file
),
last_copy AS (
  SELECT
    REGEXP_SUBSTR(file_name, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') AS file,
    status,
    row_count,
    first_error_message,
    last_load_time
  FROM copy_history
  QUALIFY ROW_NUMBER() OVER (PARTITION BY file ORDER BY last_load_time DESC) = 1
)
SELECT
  mf.file,
  mf.uri,
  CASE
    WHEN tl.file IS NULL THEN 'NOT LOADED'
    WHEN tl.loaded_records <> mf.manifest_records THEN 'ROWS DIFFER'
    ELSE 'NOT RELOADED'
  END AS problem,
  mf.manifest_rows,
  mf.manifest_records,
  COALESCE(tl.loaded_records, 0) AS loaded_records,
  COALESCE(tl.table_rows, 0) AS table_rows,
  tl.last_loaded_at,
  mf.converted_at,
  lc.status AS copy_status,
  lc.row_count AS copy_row_count,
  lc.first_error_message AS copy_first_error,
  lc.last_load_time AS copy_time
FROM manifest_files mf
LEFT JOIN table_loads tl ON tl.file = mf.file
LEFT JOIN last_copy lc ON lc.file = mf.file
WHERE mf.converted_at < DATEADD(HOUR, -1, SYSDATE())
  AND (
    COALESCE(tl.loaded_records, 0) <> mf.manifest_records
    -- METADATA$FILE_LAST_MODIFIED is UTC without a zone; _loaded_at is an instant
    OR mf.converted_at > CONVERT_TIMEZONE('UTC', tl.last_loaded_at)::TIMESTAMP_NTZ
  )
ORDER BY mf.file;
