-- V3: creates the Parquet file format used by the stage and the pipe.
-- Needs from Terraform: nothing. Placeholders: {{ database }}, {{ schema }}.
--
-- USE_LOGICAL_TYPE = TRUE makes Snowflake honour Parquet's logical types, so a
-- microsecond timestamp is read as microseconds and not as a raw integer in
-- the wrong unit. BINARY_AS_TEXT = FALSE keeps binary columns binary instead
-- of reading them as UTF-8 text.

CREATE FILE FORMAT IF NOT EXISTS {{ database }}.{{ schema }}.feedpipe_parquet
  TYPE = PARQUET
  USE_LOGICAL_TYPE = TRUE
  BINARY_AS_TEXT = FALSE
  COMMENT = 'feedpipe: curated Parquet written by raw-to-parquet / feedpipe convert';
