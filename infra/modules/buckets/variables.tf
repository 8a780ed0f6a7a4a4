variable "name_prefix" {
  description = "Prefix for every name this module creates (buckets get the account id and region appended to be globally unique)."
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

variable "raw_prefix" {
  description = "Key prefix (no trailing slash) under which Firehose writes raw JSON lines in the raw bucket."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_prefix))
    error_message = "raw_prefix must be a relative key prefix without leading or trailing slash, e.g. \"raw\"."
  }
}

variable "raw_error_prefix" {
  description = "Key prefix (no trailing slash) under which Firehose writes records it could not deliver."
  type        = string
  default     = "raw-errors"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.raw_error_prefix))
    error_message = "raw_error_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "quarantine_prefix" {
  description = "Key prefix (no trailing slash) in the raw bucket for quarantined records (quarantine/<stage>/dt=YYYY-MM-DD/...jsonl)."
  type        = string
  default     = "quarantine"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$", var.quarantine_prefix))
    error_message = "quarantine_prefix must be a relative key prefix without leading or trailing slash."
  }
}

variable "raw_expiration_days" {
  description = "Days after which raw objects (under raw_prefix) expire. The curated Parquet is the long-lived copy."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_expiration_days >= 1 && floor(var.raw_expiration_days) == var.raw_expiration_days
    error_message = "raw_expiration_days must be a whole number of days, at least 1."
  }
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined records and Firehose error objects expire."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiration_days >= 1 && floor(var.quarantine_expiration_days) == var.quarantine_expiration_days
    error_message = "quarantine_expiration_days must be a whole number of days, at least 1."
  }
}

variable "source_expiration_days" {
  description = "Days after which feed files in the source bucket expire; 0 keeps them forever."
  type        = number
  default     = 0

  validation {
    condition     = var.source_expiration_days >= 0 && floor(var.source_expiration_days) == var.source_expiration_days
    error_message = "source_expiration_days must be a whole number, 0 (keep) or more."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions expire in every bucket (versioning is on)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete buckets that still hold objects (all versions). Keep false outside throwaway stacks."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the project KMS key is deleted after `terraform destroy`."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
