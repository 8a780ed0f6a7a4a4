variable "name_prefix" {
  description = "Prefix for every name this module creates."
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

variable "raw_bucket_name" {
  description = "Name of the raw bucket whose objects are converted."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.raw_bucket_name))
    error_message = "raw_bucket_name must be a valid S3 bucket name."
  }
}

variable "raw_bucket_arn" {
  description = "ARN of the raw bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.raw_bucket_arn))
    error_message = "raw_bucket_arn must be an S3 bucket ARN."
  }
}

variable "raw_prefix" {
  description = "Key prefix (no trailing slash) of raw objects; an execution's \"prefix\" input must start with \"<raw_prefix>/\"."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_prefix))
    error_message = "raw_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "function_arn" {
  description = "ARN of the raw-to-parquet Lambda that each batch of objects is handed to."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:", var.function_arn))
    error_message = "function_arn must be a Lambda function ARN."
  }
}

variable "function_timeout_seconds" {
  description = "Timeout of the raw-to-parquet Lambda, in seconds: sets the Task's timeout and, for EXPRESS children (300 s limit), how many retries fit (see locals in main.tf)."
  type        = number

  validation {
    condition     = var.function_timeout_seconds >= 1 && var.function_timeout_seconds <= 900 && floor(var.function_timeout_seconds) == var.function_timeout_seconds
    error_message = "function_timeout_seconds must be a whole number between 1 and 900 (Lambda's limit)."
  }
}

variable "max_concurrency" {
  description = "Most child workflows (so Lambda invocations) running at once; keeps the backfill from starving the live path of Lambda concurrency."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 10000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number between 1 and 10000."
  }
}

variable "items_per_batch" {
  description = "Raw objects handed to one Lambda invocation."
  type        = number
  default     = 5

  validation {
    condition     = var.items_per_batch >= 1 && var.items_per_batch <= 1000 && floor(var.items_per_batch) == var.items_per_batch
    error_message = "items_per_batch must be a whole number between 1 and 1000."
  }
}

variable "tolerated_failure_percentage" {
  description = "Share of failed batches (0-100) the Map run tolerates before failing as a whole."
  type        = number
  default     = 0

  validation {
    condition     = var.tolerated_failure_percentage >= 0 && var.tolerated_failure_percentage <= 100
    error_message = "tolerated_failure_percentage must be between 0 and 100."
  }
}

variable "child_execution_type" {
  description = "Execution type of the Distributed Map's child workflows: STANDARD (no time limit) or EXPRESS (cheaper, 300 s limit: the retries of a batch are cut to what fits with function_timeout_seconds, and a timeout above 290 s fails the plan)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.child_execution_type)
    error_message = "child_execution_type must be STANDARD or EXPRESS."
  }
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key (encrypts the state machine's log group)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the state machine's log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tracing_enabled" {
  description = "Turn on AWS X-Ray tracing for the state machine."
  type        = bool
  default     = true
}
