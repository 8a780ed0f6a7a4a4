# The Lambdas' own permissions, one statement per purpose. The lambda module
# adds its log group, X-Ray, its queues and the project KMS key (kms:Decrypt
# and kms:GenerateDataKey, which the SSE-KMS objects and the KMS-encrypted
# stream below need).
#
# s3:ListBucket (the "Know...MissingKeys" statements): S3 answers a GetObject
# or HeadObject of a key that does not exist with 404 only when the caller has
# s3:ListBucket on the bucket, else with 403 (see the GetObject API reference,
# "Permissions"). The handlers treat "not found" as Permanent (do not retry) and
# any other error as Retryable, so without it a deleted or expired object is
# retried until the DLQ. The handlers never list: ListBucket is granted only for
# that answer, and without an s3:prefix condition, because S3 makes the 404/403
# decision for a GetObject request, whose request context has no s3:prefix key
# (s3:prefix is set on ListObjects requests only), and a condition on a key
# that is absent from the request does not match: a prefix-scoped ListBucket
# would leave the 403 in place. What it exposes is key names in the buckets
# the function already reads, not their content.

locals {
  # The bucket of FEEDPIPE_SCHEMA_URL ("" when unset).
  schema_bucket     = var.schema_url == "" ? "" : split("/", trimprefix(var.schema_url, "s3://"))[0]
  schema_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.schema_bucket}"
  # Buckets the raw-to-parquet function reads from: raw objects, its own
  # manifests in the curated bucket, and the schema contract's bucket.
  raw_to_parquet_read_buckets = distinct(compact([
    module.buckets.raw_bucket_arn,
    module.buckets.curated_bucket_arn,
    local.schema_bucket == "" ? "" : local.schema_bucket_arn,
  ]))
}

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "ReadFeedFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.buckets.source_bucket_arn}/*"]
  }

  statement {
    sid       = "KnowMissingFeedFiles"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [module.buckets.source_bucket_arn]
  }

  statement {
    sid    = "PutRecordsOnStream"
    effect = "Allow"
    actions = [
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
      "kinesis:PutRecord",
      "kinesis:PutRecords",
    ]
    resources = [module.stream.stream_arn]
  }

  statement {
    sid       = "WriteIngestQuarantine"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.quarantine_bucket_arn}/${var.quarantine_prefix}/*"]
  }

  # With feeds_dir (feeds.tf): FEEDPIPE_FEEDS_URL and the contracts beside it,
  # read once at cold start. The whole config prefix, not this apply's
  # _feedpipe/feeds/<digest>/: the grant then does not change (and need not
  # propagate through IAM) when the feeds file does. No s3:ListBucket on the
  # curated bucket for this: the objects are this stack's, made before the
  # function points at them, and a missing one fails every cold start alike,
  # as a 403 here (the raw-to-parquet function, which may list the curated
  # bucket, gets a 404). The project key that encrypts them is granted by the
  # lambda module.
  dynamic "statement" {
    for_each = local.feeds_enabled ? [local.feeds_objects_arn] : []
    content {
      sid       = "ReadFeedsFile"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  # Sending continuations (sqs:SendMessage on module.ingest's continuation
  # queue) and consuming them (its event source mapping) are granted by the
  # lambda module, which creates the queue (continuation_queue in main.tf).

  # The margin must leave the run some time: with a margin at or above the
  # timeout every run would stop at once, after the one line a part always
  # reads, and hand the rest on: one invocation per line. Here, not in the
  # variable's validation: Terraform >= 1.6 (versions.tf) cannot compare two
  # variables there (1.9 can).
  lifecycle {
    precondition {
      condition     = var.ingest_deadline_margin_seconds < var.ingest_timeout_seconds
      error_message = "ingest_deadline_margin_seconds must be below ingest_timeout_seconds: a run stops that long before its deadline to hand the rest of its file on."
    }
  }
}

data "aws_iam_policy_document" "raw_to_parquet" {
  statement {
    sid       = "ReadRawObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.buckets.raw_bucket_arn}/${var.raw_prefix}/*"]
  }

  statement {
    sid       = "KnowMissingRawAndCuratedObjects"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = local.raw_to_parquet_read_buckets
  }

  # Every table: var.curated_table, or feeds_tables with feeds_dir.
  statement {
    sid    = "WriteCuratedTable"
    effect = "Allow"
    # GetObject lets the converter see whether a deterministic name exists.
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = [for t in local.curated_tables : "${module.buckets.curated_bucket_arn}/${t}/*"]
  }

  # jobs/convert/src/job/manifest.rs: one manifest per raw object at
  # _manifests/<table>/<stem>.json (a single PutObject after the Parquet),
  # read back (GetObject) to resume and by reconcile.
  statement {
    sid       = "WriteConversionManifests"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [for t in local.curated_tables : "${module.buckets.curated_bucket_arn}/_manifests/${t}/*"]
  }

  statement {
    sid       = "WriteConversionQuarantine"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.quarantine_bucket_arn}/${var.quarantine_prefix}/*"]
  }

  # As the ingest's (above): the feeds file and its contracts (feeds.tf).
  # s3:ListBucket on the curated bucket is granted above already.
  dynamic "statement" {
    for_each = local.feeds_enabled ? [local.feeds_objects_arn] : []
    content {
      sid       = "ReadFeedsFile"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.schema_url == "" ? [] : [trimprefix(var.schema_url, "s3://")]
    content {
      sid       = "ReadSchemaContract"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value}"]
    }
  }

  # A contract in one of this stack's buckets is encrypted with the project
  # key, which the lambda module already grants. A bucket encrypted with
  # SSE-S3 or with the account's AWS managed key aws/s3 (whose key policy lets
  # every principal of the account use it through S3) needs nothing more. A
  # bucket encrypted with another customer managed key needs kms:Decrypt on
  # that key here, and that key's policy must allow this role too (Terraform
  # cannot read another bucket's encryption, so the key is a variable).
  dynamic "statement" {
    for_each = var.schema_kms_key_arn == "" ? [] : [var.schema_kms_key_arn]
    content {
      sid       = "DecryptSchemaContract"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        # The schema bucket may be in another region: S3 there calls KMS.
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["s3.*.amazonaws.com"]
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.schema_kms_key_arn == "" || var.schema_url != ""
      error_message = "schema_kms_key_arn is set but schema_url is not: the key is only for the schema contract's bucket."
    }

    # Many feeds (feeds.tf). Here because feeds_tables are this policy's
    # grants; these conditions hold trivially for a single-feed deployment
    # (feeds_dir = "", feeds_tables = []).
    precondition {
      condition     = local.feeds_enabled == (length(var.feeds_tables) > 0)
      error_message = "feeds_dir and feeds_tables go together: with feeds_dir, list the table of every [[feeds]] entry of its feeds.toml in feeds_tables; without it, leave feeds_tables empty (the table is curated_table)."
    }
    precondition {
      condition     = !local.feeds_enabled || (var.schema_url == "" && var.event_time_column == "" && var.curated_table == "feed" && contains(["customer_id", ""], var.ingest_partition_key_field))
      error_message = "With feeds_dir, each feed's table, contract, event_time and partition_key are in feeds.toml: leave curated_table, schema_url, event_time_column and ingest_partition_key_field at their defaults (the Lambdas refuse FEEDPIPE_TABLE, FEEDPIPE_SCHEMA_URL, FEEDPIPE_EVENT_TIME_COLUMN or FEEDPIPE_PARTITION_KEY_FIELD beside FEEDPIPE_FEEDS_URL, so Terraform leaves them out)."
    }
    precondition {
      condition     = sort(distinct(local.feeds_toml_tables)) == sort(distinct(var.feeds_tables)) && length(local.feeds_toml_tables) == length(distinct(local.feeds_toml_tables))
      error_message = "feeds_tables ${jsonencode(var.feeds_tables)} is not the list of tables of feeds.toml in feeds_dir, ${jsonencode(local.feeds_toml_tables)} (its `table = \"...\"` lines, each once): the IAM grants and the Snowpipe notification follow feeds_tables, so a table missing there could not be written or loaded."
    }
    precondition {
      condition     = length(local.feeds_unheard_prefixes) == 0
      error_message = "feeds.toml names prefixes outside source_prefix (\"${var.source_prefix}\"): ${jsonencode(local.feeds_unheard_prefixes)}. Only files under source_prefix invoke the ingest: those feeds would never be read."
    }
    precondition {
      condition     = length(local.feeds_foreign_contracts) == 0
      error_message = "feeds.toml names contracts that are not files of feeds_dir: ${jsonencode(local.feeds_foreign_contracts)}. Put each contract in feeds_dir and name it by its path there (e.g. \"contracts/orders.json\", no ./ or ../): only feeds_dir is uploaded, and the Lambdas may read only that copy."
    }
  }
}
