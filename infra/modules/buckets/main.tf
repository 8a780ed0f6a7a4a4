# The three buckets of the pipeline (source feed files, raw JSON lines from
# Firehose plus quarantine, curated Parquet for Snowflake) and the project KMS
# key that encrypts them and everything else the root module creates.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Bucket names are global: the account id and region keep them unique.
  buckets = {
    source  = "${var.name_prefix}-source-${local.account_id}-${local.region}"
    raw     = "${var.name_prefix}-raw-${local.account_id}-${local.region}"
    curated = "${var.name_prefix}-curated-${local.account_id}-${local.region}"
  }
}

# ---------------------------------------------------------------------------
# Project KMS key
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "kms_key" {
  #checkov:skip=CKV_AWS_109:Key policy: the account-root statement delegates key administration to IAM, as AWS's default key policy does.
  #checkov:skip=CKV_AWS_111:Key policy: "Resource" in a key policy always means this key; it cannot name anything else.
  #checkov:skip=CKV_AWS_356:Key policy: "Resource" in a key policy always means this key; it cannot name anything else.
  statement {
    sid    = "EnableIamPoliciesForThisAccount"
    effect = "Allow"

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    # The administration and usage actions of AWS's default key policy, named
    # by prefix instead of "kms:*"; roles still need an IAM policy to use them.
    actions = [
      "kms:CancelKeyDeletion",
      "kms:Create*",
      "kms:Decrypt",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:ReEncrypt*",
      "kms:Revoke*",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "AllowCloudWatchLogsForThisAccountsLogGroups"
    effect = "Allow"

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    actions = [
      "kms:Decrypt*",
      "kms:Describe*",
      "kms:Encrypt*",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # S3 sending event notifications to the SQS queues encrypted with this key
  # (the raw-to-parquet source queue). This is AWS's documented statement
  # exactly, with no condition: Amazon S3 User Guide, "Granting permissions to
  # publish event notification messages to a destination", section "AWS KMS
  # key policy" (docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html#key-policy-sns-sqs),
  # and the SQS Developer Guide, "Configure KMS permissions for AWS services"
  # (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services).
  # The same S3 page puts aws:SourceArn and aws:SourceAccount on the *queue*
  # policy's sqs:SendMessage, and neither page says that the KMS request S3
  # causes carries aws:SourceAccount; a condition on a key absent from the
  # request does not match, so an aws:SourceAccount condition here could make
  # S3's test event fail and `PutBucketNotificationConfiguration` answer
  # "Unable to validate the following destination configurations". The
  # confused-deputy guard is the queue policy (modules/lambda: aws:SourceArn =
  # the raw bucket, aws:SourceAccount = this account), which every message must
  # pass before SQS uses this key.
  statement {
    sid    = "AllowS3EventNotificationsToEncryptedQueues"
    effect = "Allow"

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: encrypts buckets, stream, queues, logs and Lambda environments"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

# ---------------------------------------------------------------------------
# Buckets: same protection for all three
# ---------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket; CloudTrail data events are the recommended audit trail and are account-wide, not per stack.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a per-deployment disaster-recovery choice (it needs a bucket and key in a second region); it is not part of the base stack.
  #checkov:skip=CKV2_AWS_62:Event notifications are configured outside this module (source -> ingest Lambda, raw -> SQS in the root module; curated -> Snowpipe in snowflake_access).
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy

  tags = merge(var.tags, {
    Name              = each.value
    "feedpipe:bucket" = each.key
  })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    # A deny: the broad action list is what makes it complete.
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  # S3 rejects a bucket policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---------------------------------------------------------------------------
# Lifecycle: one configuration per bucket
# ---------------------------------------------------------------------------

resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  bucket = aws_s3_bucket.this["raw"].id

  rule {
    id     = "expire-raw"
    status = "Enabled"

    filter {
      prefix = "${var.raw_prefix}/"
    }

    expiration {
      days = var.raw_expiration_days
    }
  }

  rule {
    id     = "expire-firehose-errors"
    status = "Enabled"

    filter {
      prefix = "${var.raw_error_prefix}/"
    }

    expiration {
      days = var.quarantine_expiration_days
    }
  }

  rule {
    id     = "expire-quarantine"
    status = "Enabled"

    filter {
      prefix = "${var.quarantine_prefix}/"
    }

    expiration {
      days = var.quarantine_expiration_days
    }
  }

  rule {
    id     = "noncurrent-versions-and-multipart"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "source" {
  bucket = aws_s3_bucket.this["source"].id

  rule {
    id     = "source-files"
    status = "Enabled"

    filter {}

    dynamic "expiration" {
      for_each = var.source_expiration_days > 0 ? [var.source_expiration_days] : []
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "curated" {
  bucket = aws_s3_bucket.this["curated"].id

  # Curated Parquet is kept; only old versions from deterministic re-writes go.
  rule {
    id     = "noncurrent-versions-and-multipart"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
