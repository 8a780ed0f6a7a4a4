output "state_machine_arn" {
  description = "ARN of the backfill state machine (start it with {\"prefix\": \"raw/YYYY/MM/\"})."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the backfill state machine."
  value       = aws_sfn_state_machine.this.name
}

output "role_arn" {
  description = "ARN of the state machine's role."
  value       = aws_iam_role.this.arn
}

output "operator_policy_arn" {
  description = "ARN of the customer managed policy for whoever runs feedpipe convert --distributed (attach it to that role or user)."
  value       = aws_iam_policy.operator.arn
}
