# What Snowflake needs on the AWS side: an IAM role that the storage
# integration assumes (read-only on the curated table prefixes, and on the
# conversion manifests under manifest_prefixes for the warehouse-side file
# check) and, once the
# pipe exists, an S3 event notification from the curated bucket to the pipe's
# SQS queue.
#
# Two-step handshake (see infra/README.md):
#   1. apply with snowflake_iam_user_arn = "" and snowflake_external_id = "":
#      the role exists (so its ARN can go into CREATE STORAGE INTEGRATION) but
#      its trust policy denies sts:AssumeRole to every principal, so nobody,
#      in this account or any other, can assume it and read the curated data;
#   2. CREATE STORAGE INTEGRATION with the role ARN, DESC INTEGRATION, copy
#      STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID into the variables,
#      apply again: the deny goes, and the role trusts exactly that IAM user
#      with that external id.
# Snowflake does not assume the role before step 2 (CREATE STORAGE INTEGRATION
# and DESC INTEGRATION do not touch AWS), so the deny costs the handshake
# nothing. With only one of the two variables set, the deny stays.
# (Issue 15, defect 4: the first apply used to trust this account's root with
# the external id "0000", which is published here, so until the second apply
# anyone in the account allowed sts:AssumeRole could read and decrypt the data.)

locals {
  handshake_done = var.snowflake_iam_user_arn != "" && var.snowflake_external_id != ""
}

data "aws_iam_policy_document" "assume" {
  # After the handshake: Snowflake's IAM user, with the integration's external id.
  dynamic "statement" {
    for_each = local.handshake_done ? [1] : []
    content {
      sid     = "SnowflakeStorageIntegrationAssumesRole"
      effect  = "Allow"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = [var.snowflake_iam_user_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [var.snowflake_external_id]
      }
    }
  }

  # Before the handshake: nobody. A trust policy needs a statement; an explicit
  # deny of every principal also overrides any identity policy that allows
  # sts:AssumeRole on "*".
  dynamic "statement" {
    for_each = local.handshake_done ? [] : [1]
    content {
      sid     = "NobodyBeforeTheHandshake"
      effect  = "Deny"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = ["*"]
      }
    }
  }
}

resource "aws_iam_role" "snowflake" {
  name               = "${var.name_prefix}-snowflake-storage"
  description        = "Assumed by the Snowflake storage integration to read curated Parquet (handshake ${local.handshake_done ? "done" : "pending"})."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "read_curated" {
  statement {
    sid       = "LocateCuratedBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.curated_bucket_arn]
  }

  statement {
    sid       = "ListCuratedTablePrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.curated_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for p in concat(var.curated_prefixes, var.manifest_prefixes) : [p, "${p}*"]])
    }
  }

  statement {
    sid       = "ReadCuratedTableObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [for p in var.curated_prefixes : "${var.curated_bucket_arn}/${p}*"]
  }

  # The converter's manifests (_manifests/<table>/*.json), read through the
  # manifest stage by the warehouse-side file check (sql/R__monitoring.sql)
  # and the reload step of sql/backfill/refresh.sql.
  dynamic "statement" {
    for_each = length(var.manifest_prefixes) > 0 ? [1] : []
    content {
      sid       = "ReadConversionManifests"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [for p in var.manifest_prefixes : "${var.curated_bucket_arn}/${p}*"]
    }
  }

  statement {
    sid       = "DecryptCuratedObjects"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "read_curated" {
  name   = "read-curated"
  role   = aws_iam_role.snowflake.id
  policy = data.aws_iam_policy_document.read_curated.json
}

# S3 keeps one notification configuration per bucket: this resource owns the
# curated bucket's. It exists only once the pipe's queue ARN is known.
#
# One queue configuration per table prefix, all to the same queue: every pipe
# of the Snowflake account in this region has that one queue (see main.tf),
# and a pipe loads only the files under its stage's path. Not one
# configuration for every "*.parquet" of the bucket, which would need no list
# of tables: the tables are needed anyway for the read grants above (and the
# Lambda's write grants), and per-table filters send Snowpipe nothing it would
# only discard. The filters never overlap (each prefix ends in "/", a table
# name has none), which S3 requires; nothing under _manifests/ or _feedpipe/
# matches them; S3 allows 100 configurations per bucket (curated_prefixes).
resource "aws_s3_bucket_notification" "snowpipe" {
  count = var.snowpipe_sqs_arn == "" ? 0 : 1

  bucket = var.curated_bucket_name

  dynamic "queue" {
    for_each = var.curated_prefixes
    content {
      id            = "snowpipe-${trimsuffix(queue.value, "/")}"
      queue_arn     = var.snowpipe_sqs_arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = queue.value
      filter_suffix = ".parquet"
    }
  }
}
