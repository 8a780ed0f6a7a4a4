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

  statement {
    sid    = "WriteCuratedTable"
    effect = "Allow"
    # GetObject lets the converter see whether a deterministic name exists.
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = ["${module.buckets.curated_bucket_arn}/${var.curated_table}/*"]
  }

  # jobs/convert/src/job/manifest.rs: one manifest per raw object at
  # _manifests/<table>/<stem>.json (a single PutObject after the Parquet),
  # read back (GetObject) to resume and by reconcile.
  statement {
    sid       = "WriteConversionManifests"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.buckets.curated_bucket_arn}/_manifests/${var.curated_table}/*"]
  }

  statement {
    sid       = "WriteConversionQuarantine"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.quarantine_bucket_arn}/${var.quarantine_prefix}/*"]
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
  }
}
