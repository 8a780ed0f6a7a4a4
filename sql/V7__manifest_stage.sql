-- V7: creates the JSON file format and the external stage over the
-- converter's manifests, s3://<curated>/_manifests/<table>/*.json (one JSON
-- object per converted raw object: its Parquet files with their row counts,
-- jobs/convert/src/job/manifest.rs). Read by the warehouse-side file check in
-- R__monitoring.sql and by the reload step of backfill/refresh.sql; nothing is
-- loaded from it (no pipe, no table).
-- Needs from Terraform: sql_vars ({{ curated_bucket }}, {{ table }}), the
-- integration of V2 (whose STORAGE_ALLOWED_LOCATIONS include this prefix) and
-- the Snowflake role's ReadConversionManifests statement
-- (infra/modules/snowflake_access, manifest_prefixes).
-- Placeholders: {{ database }}, {{ schema }}, {{ table }}, {{ curated_bucket }},
-- {{ storage_integration }}.
--
-- IF NOT EXISTS, like the other objects: nothing depends on replacing them.

CREATE FILE FORMAT IF NOT EXISTS {{ database }}.{{ schema }}.feedpipe_manifest_json
  TYPE = JSON
  COMMENT = 'feedpipe: conversion manifests (one JSON object per file)';

CREATE STAGE IF NOT EXISTS {{ database }}.{{ schema }}.{{ table }}_manifest_stage
  URL = 's3://{{ curated_bucket }}/_manifests/{{ table }}/'
  STORAGE_INTEGRATION = {{ storage_integration }}
  FILE_FORMAT = (FORMAT_NAME = '{{ database }}.{{ schema }}.feedpipe_manifest_json')
  COMMENT = 'feedpipe: conversion manifests of {{ table }} (read by the file check; never loaded)';
