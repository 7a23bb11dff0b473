# The stack's schedules: an EventBridge rule each, targeting the function's `live` alias.

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each            = var.schedules
  name                = "${var.stack}-${each.key}"
  schedule_expression = each.value.expression
  state               = each.value.enabled ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each  = var.schedules
  rule      = aws_cloudwatch_event_rule.schedule[each.key].name
  target_id = "mlinfra"
  arn       = aws_lambda_alias.live[each.value.function].arn
}

resource "aws_lambda_permission" "schedule" {
  for_each      = var.schedules
  statement_id  = "mlinfra-${var.stack}-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.value.function].function_name
  qualifier     = aws_lambda_alias.live[each.value.function].name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
