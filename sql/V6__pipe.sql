-- V6: creates the pipe that loads every new curated Parquet file of the table.
-- Needs from Terraform: nothing directly (V4's stage and V5's table). After
-- it runs, its SQS queue ARN goes back to Terraform (handshake step 3):
--
--     SHOW PIPES LIKE '{{ table }}_pipe' IN SCHEMA {{ database }}.{{ schema }};
--
--   notification_channel -> Terraform variable snowpipe_sqs_arn, then
--   `terraform -chdir=infra apply` creates the curated bucket notification.
--
-- Placeholders: {{ database }}, {{ schema }}, {{ table }}.
--
-- IF NOT EXISTS, never OR REPLACE: a pipe's load history (which files it has
-- loaded, kept 14 days) lives in the pipe. A replaced pipe forgets it, and the
-- next ALTER PIPE ... REFRESH loads every file again.
--
-- MATCH_BY_COLUMN_NAME loads Parquet fields into the columns of the same name;
-- INCLUDE_METADATA (which Snowflake allows only together with
-- MATCH_BY_COLUMN_NAME, and which a COPY with a SELECT transformation cannot
-- use) fills the two load columns. The load time is METADATA$START_SCAN_TIME,
-- not CURRENT_TIMESTAMP, which Snowflake advises against in pipes.
-- INCLUDE_METADATA in a pipe is documented: the CREATE PIPE reference
-- (https://docs.snowflake.com/en/sql-reference/sql/create-pipe, Examples) has
-- `CREATE PIPE mypipe3 AS (COPY INTO mytable FROM @mystage
-- MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE INCLUDE_METADATA = (c1=
-- METADATA$START_SCAN_TIME, c2=METADATA$FILENAME) FILE_FORMAT = (TYPE = 'JSON'))`,
-- and its usage notes exclude only FILES, ON_ERROR = ABORT_STATEMENT,
-- SIZE_LIMIT, PURGE, FORCE, RETURN_FAILED_ONLY and VALIDATION_MODE from a
-- pipe's copy options. See sql/README.md, "Loading".
-- ON_ERROR = SKIP_FILE is Snowpipe's default, written out: a file with a bad
-- row is skipped whole and shows up in COPY_HISTORY / VALIDATE_PIPE_LOAD.

CREATE PIPE IF NOT EXISTS {{ database }}.{{ schema }}.{{ table }}_pipe
  AUTO_INGEST = TRUE
  COMMENT = 'feedpipe: curated Parquet of {{ table }} -> {{ table }} table'
AS
COPY INTO {{ database }}.{{ schema }}.{{ table }}
  FROM @{{ database }}.{{ schema }}.{{ table }}_stage
  FILE_FORMAT = (FORMAT_NAME = '{{ database }}.{{ schema }}.feedpipe_parquet')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  INCLUDE_METADATA = (
    _file_name = METADATA$FILENAME,
    _loaded_at = METADATA$START_SCAN_TIME
  )
  ON_ERROR = SKIP_FILE;

SHOW PIPES LIKE '{{ table }}_pipe' IN SCHEMA {{ database }}.{{ schema }};
