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

variable "curated_bucket_name" {
  description = "Name of the curated bucket that Snowflake reads."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.curated_bucket_name))
    error_message = "curated_bucket_name must be a valid S3 bucket name."
  }
}

variable "curated_bucket_arn" {
  description = "ARN of the curated bucket that Snowflake reads."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.curated_bucket_arn))
    error_message = "curated_bucket_arn must be an S3 bucket ARN."
  }
}

variable "curated_prefixes" {
  description = "Key prefixes (each ending in \"/\", e.g. \"feed/\") that Snowflake may list and read; one per table."
  type        = list(string)

  validation {
    condition     = length(var.curated_prefixes) > 0 && length(var.curated_prefixes) <= 100 && alltrue([for p in var.curated_prefixes : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]*/$", p))])
    error_message = "curated_prefixes must hold 1 to 100 prefixes (one S3 notification configuration each) of the form \"<table>/\"."
  }
}

variable "manifest_prefixes" {
  description = "Key prefixes (each \"_manifests/<table>/\") of the converter's manifests, which Snowflake may list and read (GetObject only) for the warehouse-side file check; no notification is sent for them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.manifest_prefixes : can(regex("^_manifests/[A-Za-z0-9][A-Za-z0-9_-]*/$", p))])
    error_message = "manifest_prefixes must be of the form \"_manifests/<table>/\"."
  }
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key that encrypts the curated objects (Snowflake needs kms:Decrypt)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "snowflake_iam_user_arn" {
  description = "STORAGE_AWS_IAM_USER_ARN from `DESC INTEGRATION`. Leave \"\" on the first apply: until both this and snowflake_external_id are set, the role's trust policy denies sts:AssumeRole to every principal."
  type        = string
  default     = ""

  validation {
    condition     = var.snowflake_iam_user_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:user/.+$", var.snowflake_iam_user_arn))
    error_message = "snowflake_iam_user_arn must be \"\" or an IAM user ARN (arn:aws:iam::123456789012:user/...)."
  }
}

variable "snowflake_external_id" {
  description = "STORAGE_AWS_EXTERNAL_ID from `DESC INTEGRATION`. Leave \"\" on the first apply: until both this and snowflake_iam_user_arn are set, nobody may assume the role."
  type        = string
  default     = ""

  validation {
    condition     = var.snowflake_external_id == "" || can(regex("^[A-Za-z0-9_+=,.@:/-]{2,1224}$", var.snowflake_external_id))
    error_message = "snowflake_external_id must be \"\" or the external id string Snowflake shows."
  }
}

variable "snowpipe_sqs_arn" {
  description = "notification_channel of the pipe (`SHOW PIPES` / `DESC PIPE`). When set, the curated bucket sends ObjectCreated events for *.parquet under curated_prefixes to it; \"\" creates no notification."
  type        = string
  default     = ""

  validation {
    condition     = var.snowpipe_sqs_arn == "" || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$", var.snowpipe_sqs_arn))
    error_message = "snowpipe_sqs_arn must be \"\" or an SQS queue ARN."
  }
}
