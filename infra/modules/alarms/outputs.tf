output "alarm_names" {
  description = "Names of every alarm this module created."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.firehose_delivery_success.alarm_name,
      aws_cloudwatch_metric_alarm.firehose_data_freshness.alarm_name,
      aws_cloudwatch_metric_alarm.kinesis_iterator_age.alarm_name,
      aws_cloudwatch_metric_alarm.kinesis_write_throttled.alarm_name,
      aws_cloudwatch_metric_alarm.backfill_failed.alarm_name,
    ],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_throttles : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.dead_letter_queue : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.queue_age : a.alarm_name],
  )
}
