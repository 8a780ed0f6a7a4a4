# The Lambdas' own permissions, one statement per purpose. The lambda module
# adds its log group, X-Ray, its queues and the project KMS key (kms:Decrypt
# and kms:GenerateDataKey, which the SSE-KMS objects and the KMS-encrypted
# stream below need).

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "ReadFeedFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.buckets.source_bucket_arn}/*"]
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
}

data "aws_iam_policy_document" "raw_to_parquet" {
  statement {
    sid       = "ReadRawObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.buckets.raw_bucket_arn}/${var.raw_prefix}/*"]
  }

  statement {
    sid    = "WriteCuratedTable"
    effect = "Allow"
    # GetObject lets the converter see whether a deterministic name exists.
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = ["${module.buckets.curated_bucket_arn}/${var.curated_table}/*"]
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
}
