output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}

output "s3_invoke_permission_id" {
  description = "Id of the S3 invoke permission (null without s3_trigger); bucket notifications depend on it."
  value       = one(aws_lambda_permission.s3[*].id)
}

output "source_queue_arn" {
  description = "ARN of the SQS queue feeding the function (null without sqs_source)."
  value       = one(aws_sqs_queue.source[*].arn)
}

output "source_queue_url" {
  description = "URL of the SQS queue feeding the function (null without sqs_source)."
  value       = one(aws_sqs_queue.source[*].url)
}

output "source_queue_policy_id" {
  description = "Id of the queue policy that lets S3 send to the source queue (null without sqs_source); bucket notifications depend on it."
  value       = one(aws_sqs_queue_policy.source[*].id)
}

output "source_dlq_name" {
  description = "Name of the redrive dead-letter queue of the source queue (null without sqs_source)."
  value       = one(aws_sqs_queue.source_dlq[*].name)
}

output "source_dlq_url" {
  description = "URL of the redrive dead-letter queue of the source queue (null without sqs_source)."
  value       = one(aws_sqs_queue.source_dlq[*].url)
}

output "async_failure_queue_name" {
  description = "Name of the on-failure destination queue for asynchronous invocations (null without async_failure_destination)."
  value       = one(aws_sqs_queue.async_failure[*].name)
}

output "async_failure_queue_url" {
  description = "URL of the on-failure destination queue for asynchronous invocations (null without async_failure_destination)."
  value       = one(aws_sqs_queue.async_failure[*].url)
}

output "continuation_queue_name" {
  description = "Name of the continuation queue the function hands work on to itself through (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation[*].name)
}

output "continuation_queue_arn" {
  description = "ARN of the continuation queue (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation[*].arn)
}

output "continuation_queue_url" {
  description = "URL of the continuation queue, as set in the function's environment (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation[*].url)
}

output "continuation_dlq_name" {
  description = "Name of the continuation queue's redrive dead-letter queue (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation_dlq[*].name)
}

output "continuation_dlq_arn" {
  description = "ARN of the continuation queue's redrive dead-letter queue (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation_dlq[*].arn)
}

output "continuation_dlq_url" {
  description = "URL of the continuation queue's redrive dead-letter queue (null without continuation_queue)."
  value       = one(aws_sqs_queue.continuation_dlq[*].url)
}
