# ---------------------------------------------------------------------------
# Stack
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region to deploy into (e.g. eu-west-1). Snowflake's account should be in the same region to avoid egress costs."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix for every resource name (buckets also get the account id and region)."
  type        = string
  default     = "feedpipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (project and feedpipe:stack are always set)."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with everything in them. Set true (and apply) only to tear a stack down."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Days before the project KMS key is really deleted after destroy (7 to 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group (Lambdas, Firehose, backfill), in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tracing_enabled" {
  description = "X-Ray active tracing for the Lambdas and the backfill state machine."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# Key layout and retention
# ---------------------------------------------------------------------------

variable "source_prefix" {
  description = "Only feed files under this key prefix of the source bucket trigger the ingest Lambda (\"\" = every object)."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.source_prefix, "/")
    error_message = "source_prefix must not start with \"/\"."
  }
}

variable "raw_prefix" {
  description = "Key prefix (no trailing slash) of Firehose's raw objects: <raw_prefix>/YYYY/MM/DD/HH/."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_prefix))
    error_message = "raw_prefix must be a relative key prefix without leading or trailing slash, e.g. \"raw\"."
  }
}

variable "raw_error_prefix" {
  description = "Key prefix (no trailing slash) of records Firehose could not deliver: <raw_error_prefix>/<error-output-type>/YYYY/MM/DD/HH/."
  type        = string
  default     = "raw-errors"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_error_prefix))
    error_message = "raw_error_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "quarantine_bucket_name" {
  description = "Bucket for quarantined records; \"\" uses the raw bucket. Another bucket must exist already, be encrypted with a key the Lambdas may use, and is not managed here."
  type        = string
  default     = ""

  validation {
    condition     = var.quarantine_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.quarantine_bucket_name))
    error_message = "quarantine_bucket_name must be \"\" or a valid S3 bucket name."
  }
}

variable "quarantine_prefix" {
  description = "Key prefix (no trailing slash) of quarantined records: <quarantine_prefix>/<stage>/dt=YYYY-MM-DD/<name>.jsonl."
  type        = string
  default     = "quarantine"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.quarantine_prefix))
    error_message = "quarantine_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "raw_expiration_days" {
  description = "Days after which raw objects expire (the curated Parquet is the long-lived copy)."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_expiration_days >= 1 && floor(var.raw_expiration_days) == var.raw_expiration_days
    error_message = "raw_expiration_days must be a whole number of days, at least 1."
  }
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined records and Firehose error objects in the raw bucket expire."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiration_days >= 1 && floor(var.quarantine_expiration_days) == var.quarantine_expiration_days
    error_message = "quarantine_expiration_days must be a whole number of days, at least 1."
  }
}

variable "source_expiration_days" {
  description = "Days after which feed files in the source bucket expire; 0 keeps them."
  type        = number
  default     = 0

  validation {
    condition     = var.source_expiration_days >= 0 && floor(var.source_expiration_days) == var.source_expiration_days
    error_message = "source_expiration_days must be a whole number, 0 (keep) or more."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions expire in every bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

# ---------------------------------------------------------------------------
# Kinesis and Firehose
# ---------------------------------------------------------------------------

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND or PROVISIONED (then stream_shard_count applies)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "stream_shard_count" {
  description = "Shards when stream_mode is PROVISIONED."
  type        = number
  default     = 1

  validation {
    condition     = var.stream_shard_count >= 1 && floor(var.stream_shard_count) == var.stream_shard_count
    error_message = "stream_shard_count must be a whole number, at least 1."
  }
}

variable "stream_retention_hours" {
  description = "Hours the stream keeps records (24 to 8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760."
  }
}

variable "firehose_buffering_size_mib" {
  description = "Firehose writes a raw object once this many MiB are buffered (1 to 128). Bigger objects mean fewer, larger Parquet files."
  type        = number
  default     = 64

  validation {
    condition     = var.firehose_buffering_size_mib >= 1 && var.firehose_buffering_size_mib <= 128
    error_message = "firehose_buffering_size_mib must be between 1 and 128."
  }
}

variable "firehose_buffering_interval_seconds" {
  description = "Firehose writes a raw object at least this often, in seconds (0 to 900)."
  type        = number
  default     = 300

  validation {
    condition     = var.firehose_buffering_interval_seconds >= 0 && var.firehose_buffering_interval_seconds <= 900
    error_message = "firehose_buffering_interval_seconds must be between 0 and 900."
  }
}

variable "firehose_compression" {
  description = "Compression of raw objects: GZIP (keys end in .gz) or UNCOMPRESSED."
  type        = string
  default     = "GZIP"

  validation {
    condition     = contains(["GZIP", "UNCOMPRESSED"], var.firehose_compression)
    error_message = "firehose_compression must be GZIP or UNCOMPRESSED."
  }
}

# ---------------------------------------------------------------------------
# Lambda packages
# ---------------------------------------------------------------------------

variable "ingest_lambda_zip" {
  description = "Zip of the ingest Lambda from `cargo lambda build --release --arm64 --output-format zip`; relative paths are from the repository root."
  type        = string
  default     = "target/lambda/ingest-lambda/bootstrap.zip"

  validation {
    condition     = endswith(var.ingest_lambda_zip, ".zip")
    error_message = "ingest_lambda_zip must point at a .zip file."
  }
}

variable "raw_to_parquet_lambda_zip" {
  description = "Zip of the raw-to-parquet Lambda from `cargo lambda build --release --arm64 --output-format zip`; relative paths are from the repository root."
  type        = string
  default     = "target/lambda/raw-to-parquet-lambda/bootstrap.zip"

  validation {
    condition     = endswith(var.raw_to_parquet_lambda_zip, ".zip")
    error_message = "raw_to_parquet_lambda_zip must point at a .zip file."
  }
}

variable "lambda_log_level" {
  description = "Lowest application log level CloudWatch keeps for both Lambdas (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.lambda_log_level)
    error_message = "lambda_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

# ---------------------------------------------------------------------------
# ingest Lambda
# ---------------------------------------------------------------------------

variable "ingest_memory_mb" {
  description = "Memory of the ingest Lambda in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.ingest_memory_mb >= 128 && var.ingest_memory_mb <= 10240
    error_message = "ingest_memory_mb must be between 128 and 10240."
  }
}

variable "ingest_timeout_seconds" {
  description = "Timeout of the ingest Lambda in seconds (1 to 900). A run stops ingest_deadline_margin_seconds before it and hands the rest of its file on to the continuation queue, whose visibility timeout is six times this."
  type        = number
  default     = 300

  validation {
    condition     = var.ingest_timeout_seconds >= 1 && var.ingest_timeout_seconds <= 900
    error_message = "ingest_timeout_seconds must be between 1 and 900."
  }
}

variable "ingest_reserved_concurrency" {
  description = "Reserved concurrency of the ingest Lambda; null = unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.ingest_reserved_concurrency == null ? true : var.ingest_reserved_concurrency >= 0
    error_message = "ingest_reserved_concurrency must be null or 0 or more."
  }
}

variable "ingest_async_retry_attempts" {
  description = "Retries Lambda makes for a failed S3-triggered invocation before the event goes to the on-failure queue (0 to 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.ingest_async_retry_attempts >= 0 && var.ingest_async_retry_attempts <= 2
    error_message = "ingest_async_retry_attempts must be 0, 1 or 2."
  }
}

variable "ingest_async_max_event_age_seconds" {
  description = "Oldest S3 event Lambda still delivers to the ingest function, in seconds (60 to 21600); older ones go to the on-failure queue."
  type        = number
  default     = 21600

  validation {
    condition     = var.ingest_async_max_event_age_seconds >= 60 && var.ingest_async_max_event_age_seconds <= 21600
    error_message = "ingest_async_max_event_age_seconds must be between 60 and 21600."
  }
}

variable "ingest_partition_key_field" {
  description = "FEEDPIPE_PARTITION_KEY_FIELD: record field whose value is the Kinesis partition key; \"\" leaves the variable unset (the handler then chooses). Single-feed only: with feeds_dir each feed's partition_key in feeds.toml applies, and this must stay at its default (or \"\")."
  type        = string
  default     = "customer_id"

  validation {
    condition     = var.ingest_partition_key_field == "" || can(regex("^[A-Za-z_][A-Za-z0-9_.]*$", var.ingest_partition_key_field))
    error_message = "ingest_partition_key_field must be \"\" or a field name (letters, digits, _ and . for nesting)."
  }
}

variable "ingest_max_attempts" {
  description = "FEEDPIPE_MAX_ATTEMPTS: attempts per record before the ingest handler gives up on it (1 to 20)."
  type        = number
  default     = 8

  validation {
    condition     = var.ingest_max_attempts >= 1 && var.ingest_max_attempts <= 20 && floor(var.ingest_max_attempts) == var.ingest_max_attempts
    error_message = "ingest_max_attempts must be a whole number between 1 and 20 (the range the ingest handler accepts)."
  }
}

variable "ingest_max_in_flight" {
  description = "FEEDPIPE_MAX_IN_FLIGHT: concurrent PutRecords calls per invocation (1 to 64)."
  type        = number
  default     = 4

  validation {
    condition     = var.ingest_max_in_flight >= 1 && var.ingest_max_in_flight <= 64 && floor(var.ingest_max_in_flight) == var.ingest_max_in_flight
    error_message = "ingest_max_in_flight must be a whole number between 1 and 64."
  }
}

variable "ingest_pack_bytes" {
  description = "FEEDPIPE_PACK_BYTES: largest Kinesis record the ingest packs framed records into, data plus partition key (0 sends each record alone). 25600 is one provisioned PUT payload unit and five Firehose 5 KB billing units; see jobs/ingest/src/pack.rs."
  type        = number
  default     = 25600

  validation {
    condition     = var.ingest_pack_bytes >= 0 && var.ingest_pack_bytes <= 1024000 && floor(var.ingest_pack_bytes) == var.ingest_pack_bytes
    error_message = "ingest_pack_bytes must be a whole number between 0 and 1024000 (Firehose's 1,000 KiB record limit)."
  }
}

variable "ingest_deadline_margin_seconds" {
  description = "FEEDPIPE_DEADLINE_MARGIN_SECONDS: how long before its invocation's deadline an ingest run stops reading and hands the rest of the file on to the continuation queue (1 to 600, below ingest_timeout_seconds)."
  type        = number
  default     = 60

  # The other bound, below ingest_timeout_seconds, is a precondition on
  # data.aws_iam_policy_document.ingest (iam.tf): Terraform >= 1.6
  # (versions.tf) cannot compare two variables in a validation block.
  validation {
    condition     = var.ingest_deadline_margin_seconds >= 1 && var.ingest_deadline_margin_seconds <= 600 && floor(var.ingest_deadline_margin_seconds) == var.ingest_deadline_margin_seconds
    error_message = "ingest_deadline_margin_seconds must be a whole number between 1 and 600 (the range the ingest handler accepts)."
  }
}

variable "ingest_continuation_max_receive_count" {
  description = "Receives of one continuation message (the rest of a stopped file) before it moves to the <prefix>-ingest-continuations-dlq dead-letter queue (maxReceiveCount, 1 to 1000). Lambda's guide recommends at least 5, to give a failed or throttled message a few more tries; 3 sends a failing file to the DLQ (and its alarm) sooner."
  type        = number
  default     = 3

  validation {
    condition     = var.ingest_continuation_max_receive_count >= 1 && var.ingest_continuation_max_receive_count <= 1000 && floor(var.ingest_continuation_max_receive_count) == var.ingest_continuation_max_receive_count
    error_message = "ingest_continuation_max_receive_count must be a whole number between 1 and 1000."
  }
}

# ---------------------------------------------------------------------------
# raw-to-parquet Lambda
# ---------------------------------------------------------------------------

variable "raw_to_parquet_memory_mb" {
  description = "Memory of the raw-to-parquet Lambda in MB (1769 MB gives one full vCPU)."
  type        = number
  default     = 2048

  validation {
    condition     = var.raw_to_parquet_memory_mb >= 128 && var.raw_to_parquet_memory_mb <= 10240
    error_message = "raw_to_parquet_memory_mb must be between 128 and 10240."
  }
}

variable "raw_to_parquet_timeout_seconds" {
  description = "Timeout of the raw-to-parquet Lambda in seconds; its queue's visibility timeout is six times this."
  type        = number
  default     = 300

  validation {
    condition     = var.raw_to_parquet_timeout_seconds >= 1 && var.raw_to_parquet_timeout_seconds <= 900
    error_message = "raw_to_parquet_timeout_seconds must be between 1 and 900."
  }
}

variable "raw_to_parquet_reserved_concurrency" {
  description = "Reserved concurrency of the raw-to-parquet Lambda; null = unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.raw_to_parquet_reserved_concurrency == null ? true : var.raw_to_parquet_reserved_concurrency >= 0
    error_message = "raw_to_parquet_reserved_concurrency must be null or 0 or more."
  }
}

variable "raw_to_parquet_batch_size" {
  description = "SQS messages (raw objects) per raw-to-parquet invocation (1 to 10000; above 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.raw_to_parquet_batch_size >= 1 && var.raw_to_parquet_batch_size <= 10000
    error_message = "raw_to_parquet_batch_size must be between 1 and 10000."
  }
}

variable "raw_to_parquet_batching_window_seconds" {
  description = "Seconds the event source mapping waits to fill a batch (0 to 300)."
  type        = number
  default     = 0

  validation {
    condition     = var.raw_to_parquet_batching_window_seconds >= 0 && var.raw_to_parquet_batching_window_seconds <= 300
    error_message = "raw_to_parquet_batching_window_seconds must be between 0 and 300."
  }
}

variable "raw_to_parquet_max_receive_count" {
  description = "Deliveries of one raw object's message before it moves to the dead-letter queue (maxReceiveCount)."
  type        = number
  default     = 5

  validation {
    condition     = var.raw_to_parquet_max_receive_count >= 1 && var.raw_to_parquet_max_receive_count <= 1000
    error_message = "raw_to_parquet_max_receive_count must be between 1 and 1000."
  }
}

variable "raw_to_parquet_maximum_concurrency" {
  description = "Most concurrent raw-to-parquet invocations the SQS event source starts (2 to 1000); null = no limit."
  type        = number
  default     = null

  validation {
    condition     = var.raw_to_parquet_maximum_concurrency == null ? true : (var.raw_to_parquet_maximum_concurrency >= 2 && var.raw_to_parquet_maximum_concurrency <= 1000)
    error_message = "raw_to_parquet_maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "curated_table" {
  description = "FEEDPIPE_TABLE: table name, also the curated key prefix (<table>/dt=YYYY-MM-DD/...parquet) and the Snowflake stage path. Single-feed only: with feeds_dir the tables are feeds_tables, and this must stay at its default."
  type        = string
  default     = "feed"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.curated_table))
    error_message = "curated_table must be lowercase letters, digits and underscores, starting with a letter."
  }
}

variable "schema_url" {
  description = "FEEDPIPE_SCHEMA_URL: s3:// URL of the schema contract JSON; \"\" leaves it unset. The function is granted s3:GetObject on it. Single-feed only: with feeds_dir each feed's contract is named in feeds.toml, and this must be \"\"."
  type        = string
  default     = ""

  validation {
    condition     = var.schema_url == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+", var.schema_url))
    error_message = "schema_url must be \"\" or an s3://bucket/key URL."
  }
}

variable "schema_kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the schema contract's bucket, when that bucket is not one of this stack's and uses such a key; \"\" otherwise (this stack's buckets, SSE-S3 or the AWS managed aws/s3 key need nothing). The function gets kms:Decrypt on it through S3; the key's own policy must allow that too."
  type        = string
  default     = ""

  validation {
    condition     = var.schema_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.schema_kms_key_arn))
    error_message = "schema_kms_key_arn must be \"\" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; an alias does not work in an IAM policy)."
  }
}

variable "event_time_column" {
  description = "FEEDPIPE_EVENT_TIME_COLUMN: column whose value picks the dt= partition; \"\" leaves it unset (the handler then uses its default). Single-feed only: with feeds_dir each feed's event_time in feeds.toml applies, and this must be \"\"."
  type        = string
  default     = ""

  validation {
    condition     = var.event_time_column == "" || can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.event_time_column))
    error_message = "event_time_column must be \"\" or a column name."
  }
}

variable "parquet_compression" {
  description = "FEEDPIPE_COMPRESSION: Parquet compression codec written by raw-to-parquet: zstd or snappy."
  type        = string
  default     = "zstd"

  # Exactly the codecs the handler's parser accepts (Codec::from_str in
  # jobs/convert/src/job/writers.rs); tests/infra/test_handler_values.py
  # fails when the two lists differ.
  validation {
    condition     = contains(["zstd", "snappy"], var.parquet_compression)
    error_message = "parquet_compression must be zstd or snappy (the codecs the raw-to-parquet handler accepts)."
  }
}

# ---------------------------------------------------------------------------
# Many feeds in one deployment (issue 17; feeds.tf, infra/README.md)
# ---------------------------------------------------------------------------

variable "feeds_dir" {
  description = "Directory (relative to the repository root, or absolute) holding feeds.toml and the contracts it names by relative path, e.g. \"infra/feeds\"; \"\" (the default) is the single-feed deployment. Every file of it (but hidden ones) is uploaded to s3://<curated bucket>/_feedpipe/feeds/<digest>/, both Lambdas get FEEDPIPE_FEEDS_URL = that copy of feeds.toml instead of FEEDPIPE_TABLE, FEEDPIPE_SCHEMA_URL, FEEDPIPE_EVENT_TIME_COLUMN and FEEDPIPE_PARTITION_KEY_FIELD, and may s3:GetObject under _feedpipe/feeds/. A change to any file changes <digest>, so the functions' configuration, so their next invocations cold-start with it."
  type        = string
  default     = ""

  # Relative paths: Terraform runs in infra/ (terraform -chdir=infra), one
  # level below the repository root.
  validation {
    condition     = var.feeds_dir == "" || fileexists("${startswith(var.feeds_dir, "/") ? "" : "../"}${trimsuffix(var.feeds_dir, "/")}/feeds.toml")
    error_message = "feeds_dir must be \"\" or a directory holding feeds.toml (relative to the repository root, e.g. \"infra/feeds\", or absolute)."
  }
}

variable "feeds_tables" {
  description = "With feeds_dir: the table of every [[feeds]] entry of feeds.toml (Terraform cannot read TOML; a plan fails when the two differ). Each is a curated folder <table>/ and _manifests/<table>/ that raw-to-parquet may write and Snowflake's role may read, and gets one Snowpipe notification configuration (<table>/, *.parquet). [] without feeds_dir."
  type        = list(string)
  default     = []

  # Names as the feeds file takes them (letters, digits and _, not starting
  # with a digit), less a leading "_": the curated bucket's folders that start
  # with "_" are the stack's own (_manifests/, _feedpipe/), and feedpipe query
  # and reconcile skip them. At most 100: one S3 notification queue
  # configuration per table, and S3 allows 100 per bucket ("Automating
  # Snowpipe for Amazon S3", Option 1, step 4,
  # https://docs.snowflake.com/en/user-guide/data-load-snowpipe-auto-s3).
  validation {
    condition = length(var.feeds_tables) <= 100 && alltrue([
      for t in var.feeds_tables : can(regex("^[A-Za-z][A-Za-z0-9_]{0,254}$", t))
    ]) && length(distinct([for t in var.feeds_tables : lower(t)])) == length(var.feeds_tables)
    error_message = "feeds_tables must hold at most 100 distinct table names (Snowflake names are not case-sensitive), each letters, digits and _ starting with a letter."
  }
}

# ---------------------------------------------------------------------------
# Snowflake handshake (see infra/README.md)
# ---------------------------------------------------------------------------

variable "snowflake_iam_user_arn" {
  description = "STORAGE_AWS_IAM_USER_ARN from `DESC INTEGRATION`; \"\" on the first apply."
  type        = string
  default     = ""

  validation {
    condition     = var.snowflake_iam_user_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:user/.+$", var.snowflake_iam_user_arn))
    error_message = "snowflake_iam_user_arn must be \"\" or an IAM user ARN."
  }
}

variable "snowflake_external_id" {
  description = "STORAGE_AWS_EXTERNAL_ID from `DESC INTEGRATION`; \"\" on the first apply."
  type        = string
  default     = ""

  validation {
    condition     = var.snowflake_external_id == "" || can(regex("^[A-Za-z0-9_+=,.@:/-]{2,1224}$", var.snowflake_external_id))
    error_message = "snowflake_external_id must be \"\" or the external id Snowflake shows."
  }
}

variable "snowpipe_sqs_arn" {
  description = "notification_channel of the pipe (`SHOW PIPES`); \"\" until the pipe exists. Then the curated bucket notifies it."
  type        = string
  default     = ""

  validation {
    condition     = var.snowpipe_sqs_arn == "" || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$", var.snowpipe_sqs_arn))
    error_message = "snowpipe_sqs_arn must be \"\" or an SQS queue ARN."
  }
}

variable "snowflake_database" {
  description = "Snowflake database name, only passed through to the sql_vars output for sql/."
  type        = string
  default     = "FEEDPIPE"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.snowflake_database))
    error_message = "snowflake_database must be an unquoted Snowflake identifier."
  }
}

variable "snowflake_schema" {
  description = "Snowflake schema name, only passed through to the sql_vars output for sql/."
  type        = string
  default     = "RAW"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.snowflake_schema))
    error_message = "snowflake_schema must be an unquoted Snowflake identifier."
  }
}

variable "snowflake_storage_integration" {
  description = "Name of the Snowflake storage integration, only passed through to the sql_vars output for sql/."
  type        = string
  default     = "FEEDPIPE_CURATED_S3"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.snowflake_storage_integration))
    error_message = "snowflake_storage_integration must be an unquoted Snowflake identifier."
  }
}

# ---------------------------------------------------------------------------
# Backfill
# ---------------------------------------------------------------------------

variable "backfill_max_concurrency" {
  description = "Most raw-to-parquet invocations a backfill runs at once."
  type        = number
  default     = 10

  validation {
    condition     = var.backfill_max_concurrency >= 1 && var.backfill_max_concurrency <= 10000
    error_message = "backfill_max_concurrency must be between 1 and 10000."
  }
}

variable "backfill_items_per_batch" {
  description = "Raw objects per backfill Lambda invocation."
  type        = number
  default     = 5

  validation {
    condition     = var.backfill_items_per_batch >= 1 && var.backfill_items_per_batch <= 1000
    error_message = "backfill_items_per_batch must be between 1 and 1000."
  }
}

variable "backfill_tolerated_failure_percentage" {
  description = "Failed batches (percent) a backfill tolerates before it fails."
  type        = number
  default     = 0

  validation {
    condition     = var.backfill_tolerated_failure_percentage >= 0 && var.backfill_tolerated_failure_percentage <= 100
    error_message = "backfill_tolerated_failure_percentage must be between 0 and 100."
  }
}

variable "backfill_child_execution_type" {
  description = "STANDARD or EXPRESS child workflows for the backfill's Distributed Map. EXPRESS children end after 300 s: a batch's Lambda retries are cut to what fits with raw_to_parquet_timeout_seconds, and a timeout above 290 s fails the plan (modules/backfill)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.backfill_child_execution_type)
    error_message = "backfill_child_execution_type must be STANDARD or EXPRESS."
  }
}

# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------

variable "alarm_sns_topic_arn" {
  description = "SNS topic for alarm notifications; \"\" creates the alarms without actions."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be \"\" or an SNS topic ARN."
  }
}

variable "firehose_freshness_alarm_seconds" {
  description = "Alarm when Firehose's oldest undelivered record is older than this (keep above the buffering interval)."
  type        = number
  default     = 900

  validation {
    condition     = var.firehose_freshness_alarm_seconds >= 60
    error_message = "firehose_freshness_alarm_seconds must be at least 60."
  }
}

variable "kinesis_iterator_age_alarm_ms" {
  description = "Alarm when the stream's iterator age (Firehose lag) exceeds this many milliseconds."
  type        = number
  default     = 600000

  validation {
    condition     = var.kinesis_iterator_age_alarm_ms >= 1000
    error_message = "kinesis_iterator_age_alarm_ms must be at least 1000."
  }
}

variable "ingest_continuation_age_alarm_seconds" {
  description = "Alarm when the oldest message of the ingest continuation queue has waited longer than this many seconds; null = twice ingest_timeout_seconds (at least 60). A continuation is normally picked up within seconds."
  type        = number
  default     = null

  validation {
    condition     = var.ingest_continuation_age_alarm_seconds == null ? true : (var.ingest_continuation_age_alarm_seconds >= 60 && var.ingest_continuation_age_alarm_seconds <= 1209600 && floor(var.ingest_continuation_age_alarm_seconds) == var.ingest_continuation_age_alarm_seconds)
    error_message = "ingest_continuation_age_alarm_seconds must be null or a whole number of seconds between 60 and 1209600."
  }
}
