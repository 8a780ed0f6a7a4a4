output "role_arn" {
  description = "ARN of the role for STORAGE_AWS_ROLE_ARN of the Snowflake storage integration."
  value       = aws_iam_role.snowflake.arn
}

output "role_name" {
  description = "Name of the role the Snowflake storage integration assumes."
  value       = aws_iam_role.snowflake.name
}

output "handshake_done" {
  description = "True once snowflake_iam_user_arn and snowflake_external_id are both set."
  value       = local.handshake_done
}

output "snowpipe_notification_enabled" {
  description = "True when the curated bucket notifies the Snowpipe queue."
  value       = length(aws_s3_bucket_notification.snowpipe) > 0
}
