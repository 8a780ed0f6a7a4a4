# Kinesis Data Stream (written by the ingest Lambda) and the Firehose delivery
# stream that reads it and writes newline-delimited JSON into the raw bucket.
#
# Every Kinesis record already ends in "\n", so Firehose gets no processing
# configuration at all: no AppendDelimiterToRecord processor, no second newline.

data "aws_caller_identity" "current" {}

locals {
  stream_name   = "${var.name_prefix}-records"
  firehose_name = "${var.name_prefix}-raw-delivery"
}

resource "aws_kinesis_stream" "this" {
  name             = local.stream_name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------
# Firehose delivery logging
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${local.firehose_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_stream" "firehose_delivery" {
  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

# ---------------------------------------------------------------------------
# Firehose role
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    sid     = "FirehoseAssumesRoleForThisAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${local.firehose_name}-role"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid    = "ReadSourceStream"
    effect = "Allow"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.this.arn]
  }

  statement {
    sid    = "ListRawBucket"
    effect = "Allow"
    actions = [
      "s3:GetBucketLocation",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
    ]
    resources = [var.raw_bucket_arn]
  }

  statement {
    sid    = "WriteRawAndErrorPrefixes"
    effect = "Allow"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = [
      "${var.raw_bucket_arn}/${var.raw_prefix}/*",
      "${var.raw_bucket_arn}/${var.raw_error_prefix}/*",
    ]
  }

  statement {
    sid       = "UseProjectKeyForStreamAndObjects"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "WriteDeliveryErrorLogs"
    effect    = "Allow"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "delivery"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

# ---------------------------------------------------------------------------
# Firehose: stream -> raw bucket
# ---------------------------------------------------------------------------

resource "aws_kinesis_firehose_delivery_stream" "this" {
  #checkov:skip=CKV_AWS_240:Firehose rejects server-side encryption when its source is a Kinesis stream; data at rest is the KMS-encrypted stream and the SSE-KMS objects (kms_key_arn below).
  #checkov:skip=CKV_AWS_241:Same reason as CKV_AWS_240: no Firehose-side SSE with a Kinesis source; the project CMK encrypts the stream and the delivered objects.
  name        = local.firehose_name
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.this.arn
    role_arn           = aws_iam_role.firehose.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = var.raw_bucket_arn
    prefix              = "${var.raw_prefix}/!{timestamp:yyyy/MM/dd/HH}/"
    error_output_prefix = "${var.raw_error_prefix}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    buffering_size      = var.buffering_size_mib
    buffering_interval  = var.buffering_interval_seconds
    compression_format  = var.compression
    kms_key_arn         = var.kms_key_arn

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose_delivery.name
    }
  }

  tags = var.tags

  # Firehose checks that its role can read the stream when it is created.
  depends_on = [aws_iam_role_policy.firehose]
}
