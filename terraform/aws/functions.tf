# The four functions from `mlinfra build`'s zips (custom runtime, x86_64, handler `bootstrap`),
# each with the alias `live` that every trigger invokes, and its environment: the configuration
# contract `mlinfra export terraform` writes.

resource "aws_lambda_function" "function" {
  for_each         = var.functions
  function_name    = "${var.stack}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  architectures    = ["x86_64"]
  handler          = "bootstrap"
  filename         = each.value.package
  source_code_hash = filebase64sha256(each.value.package)
  memory_size      = each.value.memory_mb
  timeout          = each.value.timeout_s
  publish          = true

  environment {
    variables = each.value.environment
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.function]
}

resource "aws_lambda_alias" "live" {
  for_each         = var.functions
  name             = "live"
  function_name    = aws_lambda_function.function[each.key].function_name
  function_version = aws_lambda_function.function[each.key].version
}
