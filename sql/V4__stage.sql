-- V4: creates the external stage over the table's curated prefix.
-- Needs from Terraform: output curated_table_url (= s3://{{ curated_bucket }}/{{ table }}/),
-- through sql_vars: {{ curated_bucket }} and {{ table }}; and the storage
-- integration from V2. Placeholders: {{ database }}, {{ schema }}, {{ table }},
-- {{ curated_bucket }}, {{ storage_integration }}.
--
-- The stage points at the table prefix; files sit below it in dt=YYYY-MM-DD/.
-- IF NOT EXISTS: recreating a stage that a pipe uses breaks the pipe.

CREATE STAGE IF NOT EXISTS {{ database }}.{{ schema }}.{{ table }}_stage
  URL = 's3://{{ curated_bucket }}/{{ table }}/'
  STORAGE_INTEGRATION = {{ storage_integration }}
  FILE_FORMAT = (FORMAT_NAME = '{{ database }}.{{ schema }}.feedpipe_parquet')
  COMMENT = 'feedpipe: curated Parquet of {{ table }}, one folder per dt=YYYY-MM-DD';
