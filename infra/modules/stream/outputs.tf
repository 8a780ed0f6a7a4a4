output "stream_name" {
  description = "Name of the Kinesis Data Stream (FEEDPIPE_STREAM_NAME of the ingest Lambda)."
  value       = aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "ARN of the Kinesis Data Stream."
  value       = aws_kinesis_stream.this.arn
}

output "firehose_name" {
  description = "Name of the Firehose delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.name
}

output "firehose_arn" {
  description = "ARN of the Firehose delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.arn
}

output "firehose_role_arn" {
  description = "ARN of the role Firehose uses to read the stream and write the raw bucket."
  value       = aws_iam_role.firehose.arn
}

output "firehose_log_group_name" {
  description = "CloudWatch log group with Firehose delivery errors."
  value       = aws_cloudwatch_log_group.firehose.name
}
