# Named as `mlinfra outputs` names them.

output "lake_uri" {
  value = "s3://${aws_s3_bucket.lake.bucket}"
}

output "registry_table" {
  value = aws_dynamodb_table.registry.name
}

output "registry_uri" {
  value = "dynamodb://${aws_dynamodb_table.registry.name}"
}

output "api_url" {
  value = "${aws_api_gateway_stage.api.invoke_url}/"
}

output "api_key_id" {
  value = local.keyed ? aws_api_gateway_api_key.default[0].id : null
}

output "api_key_value_command" {
  value = local.keyed ? "aws apigateway get-api-key --api-key ${aws_api_gateway_api_key.default[0].id} --include-value --query value --output text" : null
}

output "alerts_topic_arn" {
  value = aws_sns_topic.alerts.arn
}
