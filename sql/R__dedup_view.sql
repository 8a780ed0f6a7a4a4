-- R (re-applied when changed): creates the view analysts query, one row per
-- _record_id. Needs from Terraform: sql_vars for {{ table }}.
-- Placeholders: {{ database }}, {{ schema }}, {{ table }}.
--
-- Every hop is at-least-once (S3 events, Lambda retries, Kinesis retries,
-- Firehose), so the table can hold the same record twice; _record_id is
-- deterministic, so the first load of each id wins. _file_name breaks ties
-- between rows loaded in the same scan, so the choice is stable.
-- A view may be replaced: it holds no data.

CREATE OR REPLACE VIEW {{ database }}.{{ schema }}.{{ table }}_dedup
  COMMENT = 'feedpipe: {{ table }} with one row per _record_id (first loaded wins)'
AS
SELECT *
FROM {{ database }}.{{ schema }}.{{ table }}
QUALIFY ROW_NUMBER() OVER (PARTITION BY _record_id ORDER BY _loaded_at, _file_name) = 1;
