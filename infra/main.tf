# feedpipe on AWS: wires the modules together.
#
#   feed file -> source bucket -(ObjectCreated)-> ingest Lambda -> Kinesis stream
#   (a run that stops before its deadline hands the rest of the file on:
#   ingest -> continuation queue -> ingest)
#   -> Firehose -> raw bucket raw/YYYY/MM/DD/HH/ -(ObjectCreated, SQS)->
#   raw-to-parquet Lambda -> curated bucket <table>/dt=YYYY-MM-DD/*.parquet
#   -(ObjectCreated)-> Snowpipe's SQS queue -> Snowflake table
#
# One feed (table) by default; many with feeds_dir (feeds.tf): the feeds file
# routes each source key to its feed's table, one pipe per table.
#
# Terraform never builds the Lambdas: pass the zips from
# `cargo lambda build --release --arm64 --output-format zip`.

provider "aws" {
  region = var.aws_region
}

data "aws_partition" "current" {}

locals {
  tags = merge({
    project          = "feedpipe"
    "feedpipe:stack" = var.name_prefix
  }, var.tags)

  # Relative zip paths are relative to the repository root (one level up).
  repo_root          = abspath("${path.root}/..")
  ingest_zip         = startswith(var.ingest_lambda_zip, "/") ? var.ingest_lambda_zip : "${local.repo_root}/${var.ingest_lambda_zip}"
  raw_to_parquet_zip = startswith(var.raw_to_parquet_lambda_zip, "/") ? var.raw_to_parquet_lambda_zip : "${local.repo_root}/${var.raw_to_parquet_lambda_zip}"

  # Quarantine goes to the raw bucket unless another bucket is named.
  quarantine_bucket_name = coalesce(var.quarantine_bucket_name, module.buckets.raw_bucket_name)
  quarantine_bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${local.quarantine_bucket_name}"
  quarantine_url         = "s3://${local.quarantine_bucket_name}/${var.quarantine_prefix}"

  curated_url = "s3://${module.buckets.curated_bucket_name}"
}

module "buckets" {
  source = "./modules/buckets"

  name_prefix                        = var.name_prefix
  tags                               = local.tags
  raw_prefix                         = var.raw_prefix
  raw_error_prefix                   = var.raw_error_prefix
  quarantine_prefix                  = var.quarantine_prefix
  raw_expiration_days                = var.raw_expiration_days
  quarantine_expiration_days         = var.quarantine_expiration_days
  source_expiration_days             = var.source_expiration_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
  kms_deletion_window_days           = var.kms_deletion_window_days
}

module "stream" {
  source = "./modules/stream"

  name_prefix                = var.name_prefix
  tags                       = local.tags
  kms_key_arn                = module.buckets.kms_key_arn
  stream_mode                = var.stream_mode
  shard_count                = var.stream_shard_count
  retention_hours            = var.stream_retention_hours
  raw_bucket_arn             = module.buckets.raw_bucket_arn
  raw_prefix                 = var.raw_prefix
  raw_error_prefix           = var.raw_error_prefix
  buffering_size_mib         = var.firehose_buffering_size_mib
  buffering_interval_seconds = var.firehose_buffering_interval_seconds
  compression                = var.firehose_compression
  log_retention_days         = var.log_retention_days
}

# ---------------------------------------------------------------------------
# ingest: S3 ObjectCreated on the source bucket (asynchronous) -> Kinesis;
# the rest of a file a run stopped on: continuation queue (SQS) -> ingest
# ---------------------------------------------------------------------------

module "ingest" {
  source = "./modules/lambda"

  name_prefix           = var.name_prefix
  tags                  = local.tags
  function_name         = "ingest"
  description           = "feedpipe: feed file in the source bucket -> records on the Kinesis stream"
  zip_path              = local.ingest_zip
  memory_size_mb        = var.ingest_memory_mb
  timeout_seconds       = var.ingest_timeout_seconds
  reserved_concurrency  = var.ingest_reserved_concurrency
  policy_json           = data.aws_iam_policy_document.ingest.json
  kms_key_arn           = module.buckets.kms_key_arn
  log_retention_days    = var.log_retention_days
  application_log_level = var.lambda_log_level
  tracing_enabled       = var.tracing_enabled

  # Exactly the variables the Rust handler reads (lambdas/ingest config),
  # with FEEDPIPE_CONTINUATION_QUEUE_URL below (continuation_queue): the
  # module sets it to its continuation queue's URL.
  # An optional one set to "" is left out of the function's environment:
  # FEEDPIPE_FEEDS_URL without feeds_dir, FEEDPIPE_PARTITION_KEY_FIELD with
  # it (each feed's partition_key is in the feeds file; feeds.tf).
  environment = {
    FEEDPIPE_STREAM_NAME             = module.stream.stream_name
    FEEDPIPE_PARTITION_KEY_FIELD     = local.feeds_enabled ? "" : var.ingest_partition_key_field
    FEEDPIPE_QUARANTINE_URL          = local.quarantine_url
    FEEDPIPE_MAX_ATTEMPTS            = tostring(var.ingest_max_attempts)
    FEEDPIPE_MAX_IN_FLIGHT           = tostring(var.ingest_max_in_flight)
    FEEDPIPE_PACK_BYTES              = tostring(var.ingest_pack_bytes)
    FEEDPIPE_DEADLINE_MARGIN_SECONDS = tostring(var.ingest_deadline_margin_seconds)
    FEEDPIPE_FEEDS_URL               = local.feeds_url
  }

  s3_trigger = {
    bucket_arn = module.buckets.source_bucket_arn
  }

  async_failure_destination = {
    maximum_retry_attempts    = var.ingest_async_retry_attempts
    maximum_event_age_seconds = var.ingest_async_max_event_age_seconds
  }

  # <prefix>-ingest-continuations (+ -dlq): a run stops
  # FEEDPIPE_DEADLINE_MARGIN_SECONDS before its deadline and sends the rest
  # of the file there; the queue invokes the function again, one message at
  # a time.
  continuation_queue = {
    environment_variable = "FEEDPIPE_CONTINUATION_QUEUE_URL"
    max_receive_count    = var.ingest_continuation_max_receive_count
  }
}

resource "aws_s3_bucket_notification" "source" {
  bucket = module.buckets.source_bucket_name

  lambda_function {
    id                  = "feed-files-to-ingest"
    lambda_function_arn = module.ingest.function_arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.source_prefix
  }

  # S3 checks that it may invoke the function when the notification is saved.
  depends_on = [module.ingest]
}

# ---------------------------------------------------------------------------
# raw-to-parquet: raw bucket ObjectCreated under raw/ -> SQS -> Lambda (batch)
# ---------------------------------------------------------------------------

module "raw_to_parquet" {
  source = "./modules/lambda"

  name_prefix           = var.name_prefix
  tags                  = local.tags
  function_name         = "raw-to-parquet"
  description           = "feedpipe: raw JSON lines object -> Parquet in the curated bucket"
  zip_path              = local.raw_to_parquet_zip
  memory_size_mb        = var.raw_to_parquet_memory_mb
  timeout_seconds       = var.raw_to_parquet_timeout_seconds
  reserved_concurrency  = var.raw_to_parquet_reserved_concurrency
  policy_json           = data.aws_iam_policy_document.raw_to_parquet.json
  kms_key_arn           = module.buckets.kms_key_arn
  log_retention_days    = var.log_retention_days
  application_log_level = var.lambda_log_level
  tracing_enabled       = var.tracing_enabled

  # Exactly the variables the Rust handler reads (lambdas/raw-to-parquet config).
  # An optional one set to "" is left out of the function's environment:
  # FEEDPIPE_FEEDS_URL without feeds_dir; FEEDPIPE_TABLE, FEEDPIPE_SCHEMA_URL
  # and FEEDPIPE_EVENT_TIME_COLUMN with it (the handler refuses them beside a
  # feeds file, which names each feed's table, contract and event_time;
  # feeds.tf).
  environment = {
    FEEDPIPE_CURATED_URL       = local.curated_url
    FEEDPIPE_TABLE             = local.feeds_enabled ? "" : var.curated_table
    FEEDPIPE_SCHEMA_URL        = local.feeds_enabled ? "" : var.schema_url
    FEEDPIPE_QUARANTINE_URL    = local.quarantine_url
    FEEDPIPE_EVENT_TIME_COLUMN = local.feeds_enabled ? "" : var.event_time_column
    FEEDPIPE_COMPRESSION       = var.parquet_compression
    FEEDPIPE_FEEDS_URL         = local.feeds_url
  }

  sqs_source = {
    allowed_source_arns             = [module.buckets.raw_bucket_arn]
    batch_size                      = var.raw_to_parquet_batch_size
    maximum_batching_window_seconds = var.raw_to_parquet_batching_window_seconds
    max_receive_count               = var.raw_to_parquet_max_receive_count
    maximum_concurrency             = var.raw_to_parquet_maximum_concurrency
  }
}

resource "aws_s3_bucket_notification" "raw" {
  bucket = module.buckets.raw_bucket_name

  # Only Firehose's delivered objects: not raw-errors/, not quarantine/.
  queue {
    id            = "raw-objects-to-raw-to-parquet"
    queue_arn     = module.raw_to_parquet.source_queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${var.raw_prefix}/"
  }

  # S3 sends a test event when the notification is saved: the queue policy
  # must already let it in.
  depends_on = [module.raw_to_parquet]
}

# ---------------------------------------------------------------------------
# Snowflake: storage-integration role and curated -> Snowpipe notification
# ---------------------------------------------------------------------------
# With many feeds there is one table, stage and pipe per feed, but a single
# snowpipe_sqs_arn: Snowflake gives every pipe of the account in one AWS region
# the same SQS queue ("Snowflake designates no more than one SQS queue per AWS
# S3 region ... The SQS queue coordinates notifications for all pipes",
# "Automating Snowpipe for Amazon S3", Option 1, step 4,
# https://docs.snowflake.com/en/user-guide/data-load-snowpipe-auto-s3). The
# module sends that queue one notification configuration per table prefix
# (<table>/, suffix .parquet): S3 refuses overlapping configurations, and no
# two of these overlap, since each ends in "/" and a table name has none.

module "snowflake_access" {
  source = "./modules/snowflake_access"

  name_prefix         = var.name_prefix
  tags                = local.tags
  curated_bucket_name = module.buckets.curated_bucket_name
  curated_bucket_arn  = module.buckets.curated_bucket_arn
  # One prefix per table: var.curated_table, or feeds_tables with feeds_dir.
  curated_prefixes       = [for t in local.curated_tables : "${t}/"]
  manifest_prefixes      = [for t in local.curated_tables : "_manifests/${t}/"]
  kms_key_arn            = module.buckets.kms_key_arn
  snowflake_iam_user_arn = var.snowflake_iam_user_arn
  snowflake_external_id  = var.snowflake_external_id
  snowpipe_sqs_arn       = var.snowpipe_sqs_arn
}

# ---------------------------------------------------------------------------
# Backfill and alarms
# ---------------------------------------------------------------------------

module "backfill" {
  source = "./modules/backfill"

  name_prefix                  = var.name_prefix
  tags                         = local.tags
  raw_bucket_name              = module.buckets.raw_bucket_name
  raw_bucket_arn               = module.buckets.raw_bucket_arn
  raw_prefix                   = var.raw_prefix
  function_arn                 = module.raw_to_parquet.function_arn
  function_timeout_seconds     = var.raw_to_parquet_timeout_seconds
  max_concurrency              = var.backfill_max_concurrency
  items_per_batch              = var.backfill_items_per_batch
  tolerated_failure_percentage = var.backfill_tolerated_failure_percentage
  child_execution_type         = var.backfill_child_execution_type
  kms_key_arn                  = module.buckets.kms_key_arn
  log_retention_days           = var.log_retention_days
  tracing_enabled              = var.tracing_enabled
}

module "alarms" {
  source = "./modules/alarms"

  name_prefix                          = var.name_prefix
  tags                                 = local.tags
  alarm_sns_topic_arn                  = var.alarm_sns_topic_arn
  firehose_name                        = module.stream.firehose_name
  stream_name                          = module.stream.stream_name
  state_machine_arn                    = module.backfill.state_machine_arn
  firehose_freshness_threshold_seconds = var.firehose_freshness_alarm_seconds
  iterator_age_threshold_ms            = var.kinesis_iterator_age_alarm_ms

  lambda_function_names = {
    ingest           = module.ingest.function_name
    "raw-to-parquet" = module.raw_to_parquet.function_name
  }

  dead_letter_queue_names = {
    "ingest-async-failures" = module.ingest.async_failure_queue_name
    "ingest-continuations"  = module.ingest.continuation_dlq_name
    "raw-to-parquet-events" = module.raw_to_parquet.source_dlq_name
  }

  queue_age_alarms = {
    "ingest-continuations" = {
      queue_name        = module.ingest.continuation_queue_name
      threshold_seconds = coalesce(var.ingest_continuation_age_alarm_seconds, max(60, 2 * var.ingest_timeout_seconds))
    }
  }
}
