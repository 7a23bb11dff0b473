# Alerts: the topic (encrypted with the AWS-managed key), its subscriptions, and the alarms on
# the metrics `monitor` and `predict` publish, each notifying the topic.

resource "aws_sns_topic" "alerts" {
  name              = local.name.alerts
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "alert" {
  for_each  = { for a in var.alerts : a.name => a }
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

resource "aws_cloudwatch_metric_alarm" "alarm" {
  for_each            = local.alarms
  alarm_name          = "${var.stack}-${each.key}"
  alarm_description   = "mlinfra: ${each.value.metric} ${each.value.comparison} ${var.alarm_thresholds[each.key]} on stack ${var.stack}"
  namespace           = "mlinfra"
  metric_name         = each.value.metric
  dimensions          = { Stack = var.stack }
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = var.alarm_thresholds[each.key]
  comparison_operator = each.value.comparison
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}
