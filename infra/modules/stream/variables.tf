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

variable "kms_key_arn" {
  description = "ARN of the project KMS key: encrypts the stream, the delivered objects and the delivery log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND (scales by itself) or PROVISIONED (fixed shard_count)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Number of shards when stream_mode is PROVISIONED (ignored for ON_DEMAND). Each shard takes 1 MiB/s or 1,000 records/s of writes."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number, at least 1."
  }
}

variable "retention_hours" {
  description = "How long the stream keeps records, in hours (24 to 8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "retention_hours must be between 24 and 8760."
  }
}

variable "raw_bucket_arn" {
  description = "ARN of the raw bucket that Firehose delivers into."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.raw_bucket_arn))
    error_message = "raw_bucket_arn must be an S3 bucket ARN."
  }
}

variable "raw_prefix" {
  description = "Key prefix (no trailing slash) for delivered objects; Firehose appends /YYYY/MM/DD/HH/."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_prefix))
    error_message = "raw_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "raw_error_prefix" {
  description = "Key prefix (no trailing slash) for records Firehose could not deliver; Firehose appends /<error-output-type>/YYYY/MM/DD/HH/."
  type        = string
  default     = "raw-errors"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_error_prefix))
    error_message = "raw_error_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "buffering_size_mib" {
  description = "Firehose flushes a raw object when this many MiB are buffered (1 to 128)."
  type        = number
  default     = 64

  validation {
    condition     = var.buffering_size_mib >= 1 && var.buffering_size_mib <= 128
    error_message = "buffering_size_mib must be between 1 and 128."
  }
}

variable "buffering_interval_seconds" {
  description = "Firehose flushes a raw object after this many seconds even if the size is not reached (0 to 900)."
  type        = number
  default     = 300

  validation {
    condition     = var.buffering_interval_seconds >= 0 && var.buffering_interval_seconds <= 900
    error_message = "buffering_interval_seconds must be between 0 and 900."
  }
}

variable "compression" {
  description = "Compression of delivered raw objects: GZIP (objects end in .gz) or UNCOMPRESSED."
  type        = string
  default     = "GZIP"

  validation {
    condition     = contains(["GZIP", "UNCOMPRESSED"], var.compression)
    error_message = "compression must be GZIP or UNCOMPRESSED."
  }
}

variable "log_retention_days" {
  description = "Retention of the Firehose delivery-error log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}
