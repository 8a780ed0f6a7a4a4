# Many feeds in one deployment (issue 17): the feeds file and its contracts.
#
# feeds_dir = "" (the default) is the single-feed deployment: nothing here
# exists, and the functions get FEEDPIPE_TABLE, FEEDPIPE_SCHEMA_URL,
# FEEDPIPE_EVENT_TIME_COLUMN and FEEDPIPE_PARTITION_KEY_FIELD as before.
#
# With feeds_dir set (a directory holding feeds.toml and the contracts it names
# by relative path), every file of it is uploaded to
#
#   s3://<curated bucket>/_feedpipe/feeds/<digest>/<path in feeds_dir>
#
# and both functions get FEEDPIPE_FEEDS_URL =
# s3://<curated bucket>/_feedpipe/feeds/<digest>/feeds.toml instead of the four
# single-feed variables (main.tf); they read it, and every contract it names
# relative to it, with s3:GetObject once at cold start (iam.tf: ReadFeedsFile).
#
# <digest>: the first 16 hex digits of SHA-256 over every file's path and
# SHA-256. So a changed file (or one added or removed) changes
# FEEDPIPE_FEEDS_URL, which changes both functions' configuration, and Lambda
# serves the next invocations from new execution environments (cold starts)
# that read the new files; an apply that changes nothing in feeds_dir changes
# nothing here. A key never changes content, so a cold start during an apply
# reads one version of the feeds file and its contracts, never a mix. The
# objects are created before the functions point at them (the environment
# refers to them) and, with create_before_destroy, the old ones are deleted only
# after the functions no longer do.
#
# Why the curated bucket: the source bucket invokes the ingest for every new
# object under source_prefix (by default every object) and may expire objects
# (source_expiration_days); the raw bucket's objects under raw/ are converted
# and expire. Nothing in the curated bucket expires but noncurrent versions;
# its Snowpipe notification (modules/snowflake_access) covers only
# <table>/*.parquet, and no table name starts with "_" (feeds_tables), so
# _feedpipe/ is outside it as _manifests/ is; `feedpipe query` and `reconcile`
# skip folders that start with "_"; and Snowflake's role may read only
# <table>/ and _manifests/<table>/, not _feedpipe/. The objects are encrypted
# with the project key, which both functions may already use for decryption
# (modules/lambda, DecryptOwnEnvironmentAndQueues).
#
# Terraform has no TOML decoder: the tables, which the IAM grants and the
# Snowpipe notification need, are given again in feeds_tables, and the
# preconditions on data.aws_iam_policy_document.raw_to_parquet (iam.tf) compare
# them with the `table = "..."` lines of feeds.toml, check that every
# `contract = "..."` line names a file of feeds_dir, and that every
# `prefix = "..."` is under source_prefix.

locals {
  feeds_enabled = var.feeds_dir != ""

  # Relative to the repository root (one level up), as the Lambda zips are.
  feeds_path = !local.feeds_enabled ? "" : (
    startswith(var.feeds_dir, "/") ? trimsuffix(var.feeds_dir, "/") : "${local.repo_root}/${trimsuffix(var.feeds_dir, "/")}"
  )

  # Every file of feeds_dir but hidden ones (.DS_Store, editor files, ...).
  feeds_files = !local.feeds_enabled ? [] : sort([
    for f in fileset(local.feeds_path, "**") : f if !startswith(f, ".") && !strcontains(f, "/.")
  ])

  feeds_digest = !local.feeds_enabled ? "" : substr(sha256(join("\n", [
    for f in local.feeds_files : "${f} ${filesha256("${local.feeds_path}/${f}")}"
  ])), 0, 16)

  # The config prefix (in the curated bucket) that both functions may read.
  feeds_prefix      = "_feedpipe/feeds"
  feeds_objects_arn = "${module.buckets.curated_bucket_arn}/${local.feeds_prefix}/*"

  # FEEDPIPE_FEEDS_URL of both functions; "" (left out of their environment)
  # for a single-feed deployment. From the object itself, so that the functions
  # depend on the uploads.
  feeds_url = local.feeds_enabled ? "s3://${aws_s3_object.feeds["feeds.toml"].bucket}/${aws_s3_object.feeds["feeds.toml"].key}" : ""

  # The tables (curated folders) the deployment writes and Snowflake reads.
  curated_tables = local.feeds_enabled ? var.feeds_tables : [var.curated_table]

  # What feeds.toml names, read line by line (the form of its documentation:
  # one `table = "..."`, one `prefix = "..."` and at most one
  # `contract = "..."` line per [[feeds]] entry), only to check feeds_tables,
  # the contracts and the prefixes against it.
  feeds_toml        = local.feeds_enabled ? file("${local.feeds_path}/feeds.toml") : ""
  feeds_toml_tables = [for m in regexall("(?m)^[ \\t]*table[ \\t]*=[ \\t]*[\"']([^\"']*)[\"']", local.feeds_toml) : m[0]]
  feeds_toml_contracts = [
    for m in regexall("(?m)^[ \\t]*contract[ \\t]*=[ \\t]*[\"']([^\"']*)[\"']", local.feeds_toml) : m[0]
  ]
  # Contracts that are not files of feeds_dir: an s3:// URL (which the
  # functions are not granted), a path with ./ or ../ (which is no key of the
  # upload), or a file that is not there.
  feeds_foreign_contracts = [for c in local.feeds_toml_contracts : c if !contains(local.feeds_files, c)]
  # Source prefixes outside source_prefix: no file there would invoke the ingest.
  feeds_unheard_prefixes = [
    for m in regexall("(?m)^[ \\t]*prefix[ \\t]*=[ \\t]*[\"']([^\"']*)[\"']", local.feeds_toml) : m[0]
    if !startswith(m[0], var.source_prefix)
  ]
}

resource "aws_s3_object" "feeds" {
  for_each = toset(local.feeds_files)

  bucket      = module.buckets.curated_bucket_name
  key         = "${local.feeds_prefix}/${local.feeds_digest}/${each.key}"
  source      = "${local.feeds_path}/${each.key}"
  source_hash = filemd5("${local.feeds_path}/${each.key}")

  # As the bucket's default encryption: the project key, with a bucket key.
  # (source_hash, not etag: an SSE-KMS object's ETag is not its MD5.)
  server_side_encryption = "aws:kms"
  kms_key_id             = module.buckets.kms_key_arn
  bucket_key_enabled     = true

  # No tags: S3 allows 10 per object, fewer than local.tags may hold.

  lifecycle {
    create_before_destroy = true
  }
}
