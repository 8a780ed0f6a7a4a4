-- V2: creates the storage integration through which Snowflake reads the
-- curated bucket, by assuming the IAM role Terraform made.
-- Needs from Terraform: output snowflake_role_arn (STORAGE_AWS_ROLE_ARN) and
-- output curated_bucket_name (STORAGE_ALLOWED_LOCATIONS: the table's Parquet
-- and its conversion manifests, for V7's stage); both are in sql_vars.
-- Placeholders: {{ storage_integration }}, {{ snowflake_role_arn }},
-- {{ curated_bucket }}, {{ table }}.
-- Needs a role with CREATE INTEGRATION (ACCOUNTADMIN by default).
--
-- IF NOT EXISTS, never OR REPLACE: replacing the integration gives it a new
-- external id, and the IAM role's trust policy would no longer match.

CREATE STORAGE INTEGRATION IF NOT EXISTS {{ storage_integration }}
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '{{ snowflake_role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ curated_bucket }}/{{ table }}/', 's3://{{ curated_bucket }}/_manifests/{{ table }}/')
  COMMENT = 'feedpipe: read-only access to the curated Parquet of {{ table }}';

-- Handshake, step 2 (infra/README.md): read two values from
--
--     DESC INTEGRATION {{ storage_integration }};
--
--   STORAGE_AWS_IAM_USER_ARN -> Terraform variable snowflake_iam_user_arn
--   STORAGE_AWS_EXTERNAL_ID  -> Terraform variable snowflake_external_id
--
-- then `terraform -chdir=infra apply` so the role trusts exactly that user
-- with that external id. Until then, nothing can be read through the stage.
DESC INTEGRATION {{ storage_integration }};
