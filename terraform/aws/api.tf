# The REST API: one resource per route (`/v2/{proxy+}` nested under `/v2`), each method proxied (AWS_PROXY) to `predict`'s `live`
# alias and keyed when the stack's API takes a key; the stage; a usage plan with the stack's
# throttling and daily quota, and the key attached to it; pictures' media types binary and a 413
# gateway response that names the payload limits.

locals {
  keyed = var.api.auth == "api_key"
}

resource "aws_api_gateway_rest_api" "api" {
  name               = local.name.api
  binary_media_types = var.api.binary_media_types
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  tags = var.tags
}

# A request over API Gateway's (10 MB) or Lambda's (6 MB) payload limit: a 413 that says them.
resource "aws_api_gateway_gateway_response" "too_large" {
  rest_api_id   = aws_api_gateway_rest_api.api.id
  response_type = "REQUEST_TOO_LARGE"
  status_code   = "413"
  response_templates = {
    "application/json" = var.api.too_large
  }
}

# The routes one level under the root; `/v2/{proxy+}` under `/v2`.
resource "aws_api_gateway_resource" "route" {
  for_each    = { for k, r in local.routes : k => r if !strcontains(r.path, "/") }
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_rest_api.api.root_resource_id
  path_part   = each.value.path
}

resource "aws_api_gateway_resource" "v2_any" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.route["v2"].id
  path_part   = "{proxy+}"
}

resource "aws_api_gateway_method" "route" {
  for_each         = local.routes
  rest_api_id      = aws_api_gateway_rest_api.api.id
  resource_id      = each.key == "v2_any" ? aws_api_gateway_resource.v2_any.id : aws_api_gateway_resource.route[each.key].id
  http_method      = each.value.method
  authorization    = "NONE"
  api_key_required = local.keyed
}

resource "aws_api_gateway_integration" "route" {
  for_each                = local.routes
  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = each.key == "v2_any" ? aws_api_gateway_resource.v2_any.id : aws_api_gateway_resource.route[each.key].id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_alias.live["predict"].invoke_arn
}

resource "aws_lambda_permission" "api" {
  statement_id  = "mlinfra-apigateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["predict"].function_name
  qualifier     = aws_lambda_alias.live["predict"].name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.api.execution_arn}/*"
}

resource "aws_api_gateway_deployment" "api" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  triggers = {
    redeployment = sha1(jsonencode([local.routes, local.keyed, aws_lambda_alias.live["predict"].invoke_arn, var.api.binary_media_types, var.api.too_large]))
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [aws_api_gateway_integration.route, aws_api_gateway_gateway_response.too_large]
}

resource "aws_api_gateway_stage" "api" {
  rest_api_id   = aws_api_gateway_rest_api.api.id
  deployment_id = aws_api_gateway_deployment.api.id
  stage_name    = var.api.stage
  tags          = var.tags
}

resource "aws_api_gateway_usage_plan" "api" {
  name = "${local.name.api}-plan"
  api_stages {
    api_id = aws_api_gateway_rest_api.api.id
    stage  = aws_api_gateway_stage.api.stage_name
  }
  throttle_settings {
    rate_limit  = var.api.rate_per_second
    burst_limit = var.api.burst
  }
  quota_settings {
    limit  = var.api.quota_per_day
    period = "DAY"
  }
  tags = var.tags
}

resource "aws_api_gateway_api_key" "default" {
  count   = local.keyed ? 1 : 0
  name    = local.name.key
  enabled = true
  tags    = var.tags
}

resource "aws_api_gateway_usage_plan_key" "default" {
  count         = local.keyed ? 1 : 0
  key_id        = aws_api_gateway_api_key.default[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.api.id
}
