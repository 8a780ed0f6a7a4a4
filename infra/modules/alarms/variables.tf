variable "name_prefix" {
  description = "Prefix for every alarm name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags applied to every alarm."
  type        = map(string)
  default     = {}
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires or clears; \"\" creates the alarms without actions."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be \"\" or an SNS topic ARN."
  }
}

variable "firehose_name" {
  description = "Name of the Firehose delivery stream."
  type        = string
}

variable "stream_name" {
  description = "Name of the Kinesis Data Stream."
  type        = string
}

variable "lambda_function_names" {
  description = "Lambda functions to watch for Errors and Throttles, by a short label (e.g. {ingest = \"feedpipe-ingest\"})."
  type        = map(string)
}

variable "dead_letter_queue_names" {
  description = "Dead-letter queues to watch for visible messages, by a short label."
  type        = map(string)
}

variable "queue_age_alarms" {
  description = "Queues whose oldest message must not wait longer than threshold_seconds (ApproximateAgeOfOldestMessage), by a short label."
  type = map(object({
    queue_name        = string
    threshold_seconds = number
  }))
  default = {}

  validation {
    condition     = alltrue([for a in values(var.queue_age_alarms) : a.threshold_seconds >= 60 && floor(a.threshold_seconds) == a.threshold_seconds])
    error_message = "queue_age_alarms: every threshold_seconds must be a whole number, at least 60."
  }
}

variable "state_machine_arn" {
  description = "ARN of the backfill state machine, watched for failed executions."
  type        = string
}

variable "period_seconds" {
  description = "Period of every alarm's metric, in seconds (a multiple of 60)."
  type        = number
  default     = 300

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60, at least 60."
  }
}

variable "firehose_freshness_threshold_seconds" {
  description = "Alarm when the oldest record not yet delivered to S3 is older than this; keep it well above the Firehose buffering interval."
  type        = number
  default     = 900

  validation {
    condition     = var.firehose_freshness_threshold_seconds >= 60
    error_message = "firehose_freshness_threshold_seconds must be at least 60."
  }
}

variable "iterator_age_threshold_ms" {
  description = "Alarm when the stream's GetRecords.IteratorAgeMilliseconds (how far Firehose lags behind) exceeds this."
  type        = number
  default     = 600000

  validation {
    condition     = var.iterator_age_threshold_ms >= 1000
    error_message = "iterator_age_threshold_ms must be at least 1000."
  }
}
