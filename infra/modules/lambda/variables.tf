variable "name_prefix" {
  description = "Prefix for every name this module creates; the function is called <name_prefix>-<function_name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags applied to every resource this module creates."
  type        = map(string)
  default     = {}
}

variable "function_name" {
  description = "Short name of the function (e.g. \"ingest\"); prefixed with name_prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.function_name))
    error_message = "function_name must be 2-31 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "description" {
  description = "Description shown on the Lambda function."
  type        = string
  default     = ""
}

variable "zip_path" {
  description = "Path of the deployment zip built by `cargo lambda build --release --arm64 --output-format zip` (holds the `bootstrap` binary)."
  type        = string

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must point at a .zip file (cargo lambda's bootstrap.zip)."
  }
}

variable "memory_size_mb" {
  description = "Memory of the function in MB (128 to 10240); CPU grows with it (1 vCPU at 1769 MB)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size_mb >= 128 && var.memory_size_mb <= 10240 && floor(var.memory_size_mb) == var.memory_size_mb
    error_message = "memory_size_mb must be a whole number between 128 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds (1 to 900)."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null leaves the function on the unreserved pool (new accounts cannot reserve any)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null ? true : (var.reserved_concurrency >= 0 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be null or a whole number, 0 or more (0 stops the function)."
  }
}

variable "environment" {
  description = "Environment variables of the function. Entries whose value is \"\" are left out, so an optional setting is either set or absent."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Z][A-Z0-9_]*$", k)) && !startswith(k, "AWS_")])
    error_message = "environment names must be UPPER_SNAKE_CASE and must not start with AWS_ (Lambda reserves those)."
  }
}

variable "policy_json" {
  description = "IAM policy document (JSON from an aws_iam_policy_document) with the function's own permissions; logs, tracing and queue access are added by this module."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key: encrypts the environment, the log group and the module's queues."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "application_log_level" {
  description = "Lowest level of application log events that CloudWatch keeps (Lambda's JSON logging; the handler also reads AWS_LAMBDA_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "tracing_enabled" {
  description = "Turn on AWS X-Ray active tracing for the function."
  type        = bool
  default     = true
}

variable "s3_trigger" {
  description = "When set, S3 may invoke the function for events of this bucket (the bucket notification itself is configured by the caller)."
  type = object({
    bucket_arn = string
  })
  default = null
}

variable "async_failure_destination" {
  description = "When set, asynchronous invocations (e.g. from S3) that still fail after the retries go to an SQS dead-letter queue created here."
  type = object({
    maximum_retry_attempts    = optional(number, 2)
    maximum_event_age_seconds = optional(number, 21600)
  })
  default = null

  validation {
    condition = var.async_failure_destination == null ? true : (
      var.async_failure_destination.maximum_retry_attempts >= 0 &&
      var.async_failure_destination.maximum_retry_attempts <= 2 &&
      var.async_failure_destination.maximum_event_age_seconds >= 60 &&
      var.async_failure_destination.maximum_event_age_seconds <= 21600
    )
    error_message = "maximum_retry_attempts must be 0-2 and maximum_event_age_seconds 60-21600."
  }
}

variable "sqs_source" {
  description = <<-EOT
    When set, the function is fed by an SQS queue created here (with a redrive
    dead-letter queue) through an event source mapping that reports partial
    batch failures. allowed_source_arns are the S3 buckets that may send to it.
  EOT
  type = object({
    allowed_source_arns             = list(string)
    batch_size                      = optional(number, 10)
    maximum_batching_window_seconds = optional(number, 0)
    max_receive_count               = optional(number, 5)
    maximum_concurrency             = optional(number)
  })
  default = null

  validation {
    condition = var.sqs_source == null ? true : (
      length(var.sqs_source.allowed_source_arns) > 0 &&
      var.sqs_source.batch_size >= 1 && var.sqs_source.batch_size <= 10000 &&
      var.sqs_source.maximum_batching_window_seconds >= 0 && var.sqs_source.maximum_batching_window_seconds <= 300 &&
      var.sqs_source.max_receive_count >= 1 && var.sqs_source.max_receive_count <= 1000 &&
      (var.sqs_source.maximum_concurrency == null ? true : (var.sqs_source.maximum_concurrency >= 2 && var.sqs_source.maximum_concurrency <= 1000))
    )
    error_message = "sqs_source: need at least one allowed source ARN, batch_size 1-10000, maximum_batching_window_seconds 0-300, max_receive_count 1-1000, maximum_concurrency null or 2-1000."
  }
}

variable "continuation_queue" {
  description = <<-EOT
    When set, the function hands the rest of its work on to itself through an
    SQS queue created here, <function>-continuations, with a redrive
    dead-letter queue <function>-continuations-dlq: the queue's URL is added to
    the function's environment as environment_variable (leave that name out of
    environment), the function may sqs:SendMessage to the queue (not to its
    DLQ), and an event source mapping hands each message back to the function
    alone (batch_size 1, no partial batch responses: a failed message fails its
    invocation, comes back after the visibility timeout, six times the function
    timeout, and moves to the DLQ after max_receive_count receives).
  EOT
  type = object({
    environment_variable = string
    max_receive_count    = optional(number, 3)
  })
  default = null

  validation {
    condition = var.continuation_queue == null ? true : (
      can(regex("^[A-Z][A-Z0-9_]*$", var.continuation_queue.environment_variable)) &&
      !startswith(var.continuation_queue.environment_variable, "AWS_") &&
      var.continuation_queue.max_receive_count >= 1 && var.continuation_queue.max_receive_count <= 1000 &&
      floor(var.continuation_queue.max_receive_count) == var.continuation_queue.max_receive_count
    )
    error_message = "continuation_queue: environment_variable must be UPPER_SNAKE_CASE and not start with AWS_; max_receive_count a whole number 1-1000."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queues keep messages (60 to 1209600 seconds)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600."
  }
}
