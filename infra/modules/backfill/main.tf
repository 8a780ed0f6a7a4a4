# Backfill: a Step Functions state machine whose Distributed Map lists the raw
# objects under a prefix (S3 ListObjectsV2 item reader) and hands them, in
# batches, to the raw-to-parquet Lambda with bounded concurrency.
#
# Start it with {"prefix": "<raw_prefix>/YYYY/MM/"}. Each Lambda invocation
# receives the batch as:
#   {"BatchInput": {"bucket": "<raw bucket>", "source": "backfill"},
#    "Items": [{"key": "raw/2025/01/01/00/...", "size": 123, "etag": "\"...\""}]}
# Keys are plain S3 keys (not URL-encoded, unlike S3 event notifications).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  state_machine_name = "${var.name_prefix}-backfill"

  # How long one batch (a child workflow) may run, tied to the function's
  # timeout and the Task's retries. The Task retries Lambda service errors
  # only, with waits of at most retry_interval * retry_backoff^k seconds
  # (FULL jitter waits between 0 and that), k = 0, 1, ...; counted
  # conservatively, every attempt may run the whole function timeout:
  #   worst(n retries) = (n + 1) * function_timeout
  #                      + retry_interval * (retry_backoff^n - 1) / (retry_backoff - 1)
  # STANDARD children have no duration limit and keep standard_retries.
  # EXPRESS children end after 300 s (Step Functions' limit), so they get the
  # most retries n <= standard_retries with worst(n) + headroom <= 300, and
  # the state machine refuses to plan (precondition below) when not even one
  # attempt fits, i.e. function_timeout_seconds > 300 - headroom.
  retry_interval_seconds = 2
  retry_backoff_rate     = 2
  standard_retries       = 6
  express_limit_seconds  = 300
  # State transitions, the invoke call itself and a cold start's init.
  express_headroom_seconds = 10
  express_retries = max(concat([-1], [
    for n in range(0, local.standard_retries + 1) : n
    if(n + 1) * var.function_timeout_seconds
    + local.retry_interval_seconds * (pow(local.retry_backoff_rate, n) - 1) / (local.retry_backoff_rate - 1)
    + local.express_headroom_seconds <= local.express_limit_seconds
  ])...)
  task_retries = var.child_execution_type == "EXPRESS" ? max(local.express_retries, 0) : local.standard_retries
  # One invocation never outlives the function's own timeout; the Task gives
  # up shortly after it (States.Timeout, not retried) instead of waiting.
  task_timeout_seconds = var.function_timeout_seconds + local.express_headroom_seconds

  # Built from parts: the role's policy cannot refer to the state machine it
  # belongs to without a cycle.
  arn_base          = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  state_machine_arn = "${local.arn_base}:stateMachine:${local.state_machine_name}"
  executions_arn    = "${local.arn_base}:execution:${local.state_machine_name}/*"
  # The operator's view (Service Authorization Reference, Step Functions resource
  # types): an execution it starts is execution:<name>:<id>; the Distributed Map's
  # Map Run is mapRun:<name>/<label>:<id>. (Child executions, above, are the
  # "labelled execution" type, execution:<name>/<label>:<id>.)
  started_executions_arn = "${local.arn_base}:execution:${local.state_machine_name}:*"
  map_runs_arn           = "${local.arn_base}:mapRun:${local.state_machine_name}/*"

  definition = {
    Comment = "feedpipe backfill: raw JSON objects under a prefix -> raw-to-parquet Lambda, in batches, with bounded concurrency"
    StartAt = "ConvertRawObjects"
    States = {
      ConvertRawObjects = {
        Type = "Map"
        ItemReader = {
          Resource = "arn:${data.aws_partition.current.partition}:states:::s3:listObjectsV2"
          Parameters = {
            Bucket     = var.raw_bucket_name
            "Prefix.$" = "$.prefix"
          }
        }
        ItemSelector = {
          "key.$"  = "$$.Map.Item.Value.Key"
          "size.$" = "$$.Map.Item.Value.Size"
          "etag.$" = "$$.Map.Item.Value.Etag"
        }
        ItemBatcher = {
          MaxItemsPerBatch = var.items_per_batch
          BatchInput = {
            bucket = var.raw_bucket_name
            source = "backfill"
          }
        }
        MaxConcurrency             = var.max_concurrency
        ToleratedFailurePercentage = var.tolerated_failure_percentage
        ItemProcessor = {
          ProcessorConfig = {
            Mode          = "DISTRIBUTED"
            ExecutionType = var.child_execution_type
          }
          StartAt = "ConvertBatch"
          States = {
            ConvertBatch = {
              Type     = "Task"
              Resource = "arn:${data.aws_partition.current.partition}:states:::lambda:invoke"
              Parameters = {
                FunctionName = var.function_arn
                "Payload.$"  = "$"
              }
              TimeoutSeconds = local.task_timeout_seconds
              ResultSelector = {
                "summary.$" = "$.Payload"
              }
              Retry = [
                {
                  ErrorEquals = [
                    "Lambda.ServiceException",
                    "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException",
                  ]
                  IntervalSeconds = local.retry_interval_seconds
                  MaxAttempts     = local.task_retries
                  BackoffRate     = local.retry_backoff_rate
                  JitterStrategy  = "FULL"
                },
              ]
              End = true
            }
          }
        }
        # The per-batch summaries stay in the Map Run; the execution output
        # would otherwise outgrow the 256 KiB state payload limit.
        ResultPath = null
        End        = true
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "StepFunctionsAssumesRoleForThisAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${local.state_machine_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ListRawObjects"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.raw_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.raw_prefix}/*"]
    }
  }

  statement {
    sid       = "InvokeRawToParquet"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.function_arn, "${var.function_arn}:*"]
  }

  statement {
    sid       = "StartDistributedMapChildExecutions"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "ManageDistributedMapChildExecutions"
    effect    = "Allow"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = [local.executions_arn]
  }

  statement {
    sid    = "DeliverExecutionLogs"
    effect = "Allow"
    # CloudWatch Logs vended-log delivery actions have no resource-level permissions.
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? ["xray"] : []
    content {
      sid    = "WriteXRayTraces"
      effect = "Allow"
      # X-Ray has no resource-level permissions for these actions.
      actions = [
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "backfill"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_sfn_state_machine" "this" {
  name       = local.state_machine_name
  role_arn   = aws_iam_role.this.arn
  type       = "STANDARD"
  definition = jsonencode(local.definition)

  # Execution data here is the prefix, object keys and per-batch counts, never
  # record contents.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.child_execution_type != "EXPRESS" || local.express_retries >= 0
      error_message = "EXPRESS child workflows end after ${local.express_limit_seconds} s, but one raw-to-parquet invocation may take its timeout (${var.function_timeout_seconds} s) plus ${local.express_headroom_seconds} s: set raw_to_parquet_timeout_seconds to ${local.express_limit_seconds - local.express_headroom_seconds} or less, or backfill_child_execution_type = \"STANDARD\"."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

# What `feedpipe convert --distributed` (jobs/feedpipe/src/distributed.rs) calls,
# and nothing else: describe the state machine (to check the bucket it lists),
# start an execution, follow it and its Map Run. A customer managed policy, to be
# attached to whatever role or user runs the CLI (infra/README.md, "Backfill").
# Resource types per action: Service Authorization Reference, "Actions,
# resources, and condition keys for AWS Step Functions".
data "aws_iam_policy_document" "operator" {
  statement {
    sid    = "DescribeAndStartBackfill"
    effect = "Allow"
    # Both take a stateMachine resource.
    actions   = ["states:DescribeStateMachine", "states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid    = "FollowBackfillExecutions"
    effect = "Allow"
    # Both take an execution resource: the execution StartExecution returned.
    actions   = ["states:DescribeExecution", "states:ListMapRuns"]
    resources = [local.started_executions_arn]
  }

  statement {
    sid       = "FollowBackfillMapRuns"
    effect    = "Allow"
    actions   = ["states:DescribeMapRun"]
    resources = [local.map_runs_arn]
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name_prefix}-backfill-operator"
  description = "Run feedpipe convert --distributed: start and follow the ${local.state_machine_name} state machine."
  policy      = data.aws_iam_policy_document.operator.json
  tags        = var.tags
}
