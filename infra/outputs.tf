# Everything sql/ and the operator need. `terraform output -json sql_vars`
# is the --vars argument of schemachange (see sql/README.md).

output "kms_key_arn" {
  description = "ARN of the project KMS key."
  value       = module.buckets.kms_key_arn
}

output "source_bucket_name" {
  description = "Bucket to drop feed files into."
  value       = module.buckets.source_bucket_name
}

output "source_bucket_arn" {
  description = "ARN of the source bucket."
  value       = module.buckets.source_bucket_arn
}

output "raw_bucket_name" {
  description = "Bucket with Firehose's raw JSON lines (raw/), Firehose errors (raw-errors/) and, by default, quarantine (quarantine/)."
  value       = module.buckets.raw_bucket_name
}

output "raw_bucket_arn" {
  description = "ARN of the raw bucket."
  value       = module.buckets.raw_bucket_arn
}

output "curated_bucket_name" {
  description = "Bucket with the curated Parquet."
  value       = module.buckets.curated_bucket_name
}

output "curated_bucket_arn" {
  description = "ARN of the curated bucket."
  value       = module.buckets.curated_bucket_arn
}

output "curated_bucket_url" {
  description = "s3:// URL of the curated bucket (FEEDPIPE_CURATED_URL)."
  value       = local.curated_url
}

output "curated_table_url" {
  description = "s3:// URL of the table's curated prefix: the Snowflake stage URL and STORAGE_ALLOWED_LOCATIONS. null with feeds_dir (many tables): see curated_table_urls."
  value       = local.feeds_enabled ? null : "${local.curated_url}/${var.curated_table}/"
}

output "curated_table_urls" {
  description = "s3:// URL of every table's curated prefix, by table (curated_table, or feeds_tables with feeds_dir): each table's Snowflake stage URL."
  value       = { for t in local.curated_tables : t => "${local.curated_url}/${t}/" }
}

output "feeds_url" {
  description = "FEEDPIPE_FEEDS_URL of both Lambdas: s3://<curated bucket>/_feedpipe/feeds/<digest>/feeds.toml, the uploaded copy of feeds_dir's feeds.toml; \"\" for a single-feed deployment (no feeds_dir)."
  value       = local.feeds_url
}

output "quarantine_url" {
  description = "s3:// URL under which quarantined records land (FEEDPIPE_QUARANTINE_URL)."
  value       = local.quarantine_url
}

output "stream_name" {
  description = "Name of the Kinesis Data Stream."
  value       = module.stream.stream_name
}

output "stream_arn" {
  description = "ARN of the Kinesis Data Stream."
  value       = module.stream.stream_arn
}

output "firehose_name" {
  description = "Name of the Firehose delivery stream."
  value       = module.stream.firehose_name
}

output "ingest_lambda_name" {
  description = "Name of the ingest Lambda."
  value       = module.ingest.function_name
}

output "raw_to_parquet_lambda_name" {
  description = "Name of the raw-to-parquet Lambda."
  value       = module.raw_to_parquet.function_name
}

output "raw_to_parquet_lambda_arn" {
  description = "ARN of the raw-to-parquet Lambda."
  value       = module.raw_to_parquet.function_arn
}

output "ingest_failure_queue_url" {
  description = "SQS queue with S3 events the ingest Lambda gave up on (on-failure destination)."
  value       = module.ingest.async_failure_queue_url
}

output "ingest_continuation_queue_url" {
  description = "SQS queue the ingest Lambda hands the rest of a stopped file on through (FEEDPIPE_CONTINUATION_QUEUE_URL)."
  value       = module.ingest.continuation_queue_url
}

output "ingest_continuation_queue_arn" {
  description = "ARN of the ingest continuation queue (the source ARN of a DLQ redrive)."
  value       = module.ingest.continuation_queue_arn
}

output "ingest_continuation_dlq_url" {
  description = "Dead-letter queue of the ingest continuation queue: continuations that failed max_receive_count times (each names the file and the line to go on from)."
  value       = module.ingest.continuation_dlq_url
}

output "ingest_continuation_dlq_arn" {
  description = "ARN of the ingest continuation queue's dead-letter queue (for aws sqs start-message-move-task --source-arn)."
  value       = module.ingest.continuation_dlq_arn
}

output "raw_to_parquet_queue_url" {
  description = "SQS queue of raw-object events feeding the raw-to-parquet Lambda."
  value       = module.raw_to_parquet.source_queue_url
}

output "raw_to_parquet_dlq_url" {
  description = "Dead-letter queue of the raw-to-parquet queue."
  value       = module.raw_to_parquet.source_dlq_url
}

output "backfill_state_machine_arn" {
  description = "ARN of the backfill state machine; start it with {\"prefix\": \"raw/YYYY/MM/\"}."
  value       = module.backfill.state_machine_arn
}

output "backfill_operator_policy_arn" {
  description = "ARN of the IAM policy to attach to the role or user that runs feedpipe convert --distributed."
  value       = module.backfill.operator_policy_arn
}

output "snowflake_role_arn" {
  description = "STORAGE_AWS_ROLE_ARN for the Snowflake storage integration."
  value       = module.snowflake_access.role_arn
}

output "snowflake_handshake_done" {
  description = "False until snowflake_iam_user_arn and snowflake_external_id are set from DESC INTEGRATION."
  value       = module.snowflake_access.handshake_done
}

output "snowpipe_notification_enabled" {
  description = "True once snowpipe_sqs_arn is set and the curated bucket notifies Snowpipe."
  value       = module.snowflake_access.snowpipe_notification_enabled
}

output "sql_vars" {
  description = "Placeholder values for sql/ (schemachange --vars)."
  # table: the one table of a single-feed deployment, for sql/'s
  # {{ table }}; "" with feeds_dir, whose per-feed SQL `feedpipe sql render`
  # writes from the feeds file. tables and storage_allowed_locations hold
  # every table (one with no feeds_dir): the storage integration's
  # STORAGE_ALLOWED_LOCATIONS are each table's Parquet and manifests, as the
  # Snowflake role's read grants are (modules/snowflake_access).
  value = {
    database            = var.snowflake_database
    schema              = var.snowflake_schema
    table               = local.feeds_enabled ? "" : var.curated_table
    tables              = local.curated_tables
    storage_integration = var.snowflake_storage_integration
    curated_bucket      = module.buckets.curated_bucket_name
    snowflake_role_arn  = module.snowflake_access.role_arn
    storage_allowed_locations = flatten([
      for t in local.curated_tables : ["${local.curated_url}/${t}/", "${local.curated_url}/_manifests/${t}/"]
    ])
  }
}
