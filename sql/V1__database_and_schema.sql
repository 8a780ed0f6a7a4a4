-- V1: creates the database and the schema that hold every feedpipe object.
-- Needs from Terraform: nothing (database and schema names come from the
-- sql_vars output: `terraform -chdir=infra output -json sql_vars`).
-- Placeholders: {{ database }}, {{ schema }}.
-- Idempotent: safe to run by hand before schemachange applies it again.

CREATE DATABASE IF NOT EXISTS {{ database }}
  COMMENT = 'feedpipe: feed files loaded through S3, Kinesis, Firehose and Snowpipe';

CREATE SCHEMA IF NOT EXISTS {{ database }}.{{ schema }}
  COMMENT = 'feedpipe: curated Parquet loaded by Snowpipe';
