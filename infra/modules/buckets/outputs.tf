output "source_bucket_name" {
  description = "Name of the source bucket that customers drop feed files into."
  value       = aws_s3_bucket.this["source"].id
}

output "source_bucket_arn" {
  description = "ARN of the source bucket."
  value       = aws_s3_bucket.this["source"].arn
}

output "raw_bucket_name" {
  description = "Name of the raw bucket (Firehose JSON lines, Firehose errors, quarantine)."
  value       = aws_s3_bucket.this["raw"].id
}

output "raw_bucket_arn" {
  description = "ARN of the raw bucket."
  value       = aws_s3_bucket.this["raw"].arn
}

output "curated_bucket_name" {
  description = "Name of the curated bucket (Parquet that Snowpipe loads)."
  value       = aws_s3_bucket.this["curated"].id
}

output "curated_bucket_arn" {
  description = "ARN of the curated bucket."
  value       = aws_s3_bucket.this["curated"].arn
}

output "kms_key_arn" {
  description = "ARN of the project KMS key."
  value       = aws_kms_key.this.arn
}

output "kms_key_alias" {
  description = "Alias of the project KMS key."
  value       = aws_kms_alias.this.name
}
