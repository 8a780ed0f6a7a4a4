# One Rust Lambda (cargo lambda zip, provided.al2023 on arm64) with its own
# role, log group and, as the caller asks, an S3 invoke permission with an
# on-failure SQS destination (asynchronous S3 events), or an SQS queue with a
# redrive DLQ and an event source mapping (batch, partial failures reported),
# and/or a continuation queue through which the function hands the rest of
# its work on to itself (with a redrive DLQ; one message per invocation).

data "aws_caller_identity" "current" {}

locals {
  function_name = "${var.name_prefix}-${var.function_name}"

  # "" means "not set": the handler sees the variable absent, not empty. The
  # continuation queue's URL is added here, under the name the caller gives
  # (continuation_queue.environment_variable), because the caller cannot pass
  # it in var.environment: that would feed an output of this module into its
  # own input, which Terraform refuses as a cycle (module.<call>.var.environment
  # -> module.<call> -> module.<call>.var.environment). Inside the module there
  # is none: the queue does not depend on the function.
  environment = merge(
    { for name, value in var.environment : name => value if value != "" },
    local.continuation_environment,
  )
  continuation_environment = {
    for url in aws_sqs_queue.continuation[*].url : var.continuation_queue.environment_variable => url
  }

  sqs_source_enabled   = var.sqs_source != null
  async_dlq_enabled    = var.async_failure_destination != null
  continuation_enabled = var.continuation_queue != null
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------------------
# Queues (only the ones the caller asked for)
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "async_failure" {
  count = local.async_dlq_enabled ? 1 : 0

  name                              = "${local.function_name}-async-failures"
  message_retention_seconds         = var.dlq_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "source_dlq" {
  count = local.sqs_source_enabled ? 1 : 0

  name                              = "${local.function_name}-events-dlq"
  message_retention_seconds         = var.dlq_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "source" {
  count = local.sqs_source_enabled ? 1 : 0

  name = "${local.function_name}-events"
  # AWS's rule for Lambda event sources: at least six times the function
  # timeout, plus the batching window, so a message is not handed out twice
  # while a retried invocation still works on it.
  visibility_timeout_seconds        = var.timeout_seconds * 6 + var.sqs_source.maximum_batching_window_seconds
  message_retention_seconds         = 345600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.source_dlq[0].arn
    maxReceiveCount     = var.sqs_source.max_receive_count
  })

  tags = var.tags
}

data "aws_iam_policy_document" "source_queue" {
  count = local.sqs_source_enabled ? 1 : 0

  statement {
    sid       = "AllowS3EventNotificationsFromNamedBuckets"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.source[0].arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = var.sqs_source.allowed_source_arns
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "source" {
  count = local.sqs_source_enabled ? 1 : 0

  queue_url = aws_sqs_queue.source[0].id
  policy    = data.aws_iam_policy_document.source_queue[0].json
}

# ---------------------------------------------------------------------------
# Role
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${local.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  # The function's own permissions, from the caller.
  source_policy_documents = [var.policy_json]

  statement {
    sid       = "WriteOwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? ["xray"] : []
    content {
      sid    = "WriteXRayTraces"
      effect = "Allow"
      # X-Ray has no resource-level permissions for these two actions.
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = aws_sqs_queue.source[*].arn
    content {
      sid    = "ConsumeOwnEventQueue"
      effect = "Allow"
      actions = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = aws_sqs_queue.async_failure[*].arn
    content {
      sid       = "SendAsyncFailuresToDeadLetterQueue"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  # The handler sends the rest of a stopped run to its own continuation
  # queue: SendMessage on that queue only, not on its DLQ (only SQS's redrive
  # moves messages there).
  dynamic "statement" {
    for_each = aws_sqs_queue.continuation[*].arn
    content {
      sid       = "SendContinuationsToOwnQueue"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  # The continuation queue's event source mapping polls with this role.
  # Exactly the execution role permissions Lambda documents for an SQS event
  # source (Lambda Developer Guide, "Creating and configuring an Amazon SQS
  # event source mapping", section "Setting up Lambda execution role
  # permissions", docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html:
  # the managed policy AWSLambdaSQSQueueExecutionRole, i.e. sqs:ReceiveMessage,
  # sqs:DeleteMessage and sqs:GetQueueAttributes; the SQS Developer Guide,
  # "Configuring an Amazon SQS queue to trigger an AWS Lambda function",
  # lists the same three). No sqs:ChangeMessageVisibility: the mapping reports
  # no partial batch failures and the handler never changes a message's
  # visibility; a failed continuation comes back when its visibility timeout
  # runs out.
  dynamic "statement" {
    for_each = aws_sqs_queue.continuation[*].arn
    content {
      sid       = "ConsumeOwnContinuationQueue"
      effect    = "Allow"
      actions   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      resources = [statement.value]
    }
  }

  # The project key encrypts the environment, the log group and every queue
  # of this module. SQS uses the caller's permissions on it: a producer of a
  # KMS-encrypted queue needs kms:GenerateDataKey and kms:Decrypt, a consumer
  # kms:Decrypt (SQS Developer Guide, "Key management",
  # docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
  # These two actions on this key cover the continuation queue's sends and
  # its event source mapping's receives as well; the key policy's
  # EnableIamPoliciesForThisAccount statement (modules/buckets) lets this IAM
  # policy take effect.
  statement {
    sid       = "DecryptOwnEnvironmentAndQueues"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "function"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ---------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failures are kept outside the function: asynchronous (S3) invocations use an on-failure SQS destination (aws_lambda_function_event_invoke_config below), SQS-fed invocations use the queue's redrive DLQ.
  #checkov:skip=CKV_AWS_117:The functions reach only public AWS APIs (S3, Kinesis); a VPC would add NAT gateways or endpoints and no protection.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile per deployment; the zip comes from the project's own cargo lambda build.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (reserved_concurrency); new accounts cannot reserve any, so it is off by default.
  function_name    = local.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = var.memory_size_mb
  timeout          = var.timeout_seconds
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency

  dynamic "environment" {
    for_each = length(local.environment) > 0 ? [local.environment] : []
    content {
      variables = environment.value
    }
  }

  # JSON logs: Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.application_log_level
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.continuation_queue == null ? true : !contains(keys(var.environment), var.continuation_queue.environment_variable)
      error_message = "continuation_queue.environment_variable is also in environment: the module sets it to the continuation queue's URL, leave it out of environment."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

# ---------------------------------------------------------------------------
# S3 trigger (asynchronous) with on-failure destination
# ---------------------------------------------------------------------------

resource "aws_lambda_permission" "s3" {
  count = var.s3_trigger == null ? 0 : 1

  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.s3_trigger.bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count = local.async_dlq_enabled ? 1 : 0

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.async_failure_destination.maximum_retry_attempts
  maximum_event_age_in_seconds = var.async_failure_destination.maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.async_failure[0].arn
    }
  }
}

# ---------------------------------------------------------------------------
# SQS trigger (batch, partial failures)
# ---------------------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "sqs" {
  count = local.sqs_source_enabled ? 1 : 0

  event_source_arn                   = aws_sqs_queue.source[0].arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.sqs_source.batch_size
  maximum_batching_window_in_seconds = var.sqs_source.maximum_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = var.sqs_source.maximum_concurrency == null ? [] : [var.sqs_source.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  lifecycle {
    precondition {
      condition     = var.sqs_source.batch_size <= 10 || var.sqs_source.maximum_batching_window_seconds > 0
      error_message = "SQS event source mappings with batch_size above 10 need maximum_batching_window_seconds of at least 1."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

# ---------------------------------------------------------------------------
# Continuation queue: the function hands the rest of its work on to itself
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "continuation_dlq" {
  count = local.continuation_enabled ? 1 : 0

  name = "${local.function_name}-continuations-dlq"
  # SQS keeps a moved message's original enqueue time, so what a message
  # spent in the continuation queue counts against this retention too.
  message_retention_seconds         = var.dlq_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "continuation" {
  count = local.continuation_enabled ? 1 : 0

  name = "${local.function_name}-continuations"
  # AWS's rule for Lambda event sources: at least six times the function
  # timeout (no batching window here), so a message is not handed out twice
  # while a retried invocation still works on it.
  visibility_timeout_seconds = var.timeout_seconds * 6
  # The longest SQS allows: a continuation is the only record of the rest of
  # a file, so it must never expire before the age alarm has been seen.
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.continuation_dlq[0].arn
    maxReceiveCount     = var.continuation_queue.max_receive_count
  })

  tags = var.tags
}

# One continuation per invocation, and no function_response_types: the
# handler returns no batchItemFailures. A continuation that fails fails the
# invocation; the message comes back after the visibility timeout and, after
# max_receive_count receives, moves to the DLQ, where an alarm sees it.
resource "aws_lambda_event_source_mapping" "continuation" {
  count = local.continuation_enabled ? 1 : 0

  event_source_arn = aws_sqs_queue.continuation[0].arn
  function_name    = aws_lambda_function.this.arn
  batch_size       = 1

  depends_on = [aws_iam_role_policy.this]
}

# Function -> its own queue -> function is, on purpose, what Lambda's
# recursive loop detection stops: by default (Terminate) Lambda drops the
# 17th invocation of one chain ("Lambda recursive loop detection",
# docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html, and the
# AWS Compute Blog post "Detecting and stopping recursive loops in AWS Lambda
# functions": after 16 invocations), so a file needing more parts would not
# be ingested to its end. Allow, the setting that page gives for a design
# that intentionally writes back to the resource that invokes the function.
# The loop's guard rails: every part reads at least one item (jobs/ingest,
# IngestJob::run_part), so a chain ends with its file; the deadline margin
# must be below the timeout (precondition in the root); a failing part fails
# its invocation and ends in the DLQ, which is alarmed.
resource "aws_lambda_function_recursion_config" "continuation" {
  count = local.continuation_enabled ? 1 : 0

  function_name  = aws_lambda_function.this.function_name
  recursive_loop = "Allow"
}
