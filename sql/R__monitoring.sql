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
