# One role per function, assumable by Lambda only, with one inline least-privilege policy (no
# `*` action; every resource scoped to this stack's prefixes, table, topic, function and logs).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.region
  arn     = data.aws_partition.current.partition
  bucket  = "arn:${local.arn}:s3:::${var.bucket}"

  statements = {
    for f, p in local.permissions : f => concat(
      [{
        Sid    = "Logs"
        Effect = "Allow"
        Action = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [
          "arn:${local.arn}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.stack}-${f}",
          "arn:${local.arn}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.stack}-${f}:*",
        ]
      }],
      [{
        Sid      = "LakeRead"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [for prefix in p.lake_read : "${local.bucket}/${prefix}*"]
      }],
      [{
        Sid       = "LakeList"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.bucket]
        Condition = { StringLike = { "s3:prefix" = [for prefix in p.lake_read : "${prefix}*"] } }
      }],
      [{
        Sid      = "LakeWrite"
        Effect   = "Allow"
        Action   = p.lake_delete ? ["s3:PutObject", "s3:DeleteObject"] : ["s3:PutObject"]
        Resource = [for prefix in p.lake_write : endswith(prefix, ".json") ? "${local.bucket}/${prefix}" : "${local.bucket}/${prefix}*"]
      }],
      p.registry == "none" ? [] : [{
        Sid      = "Registry"
        Effect   = "Allow"
        Action   = local.registry_actions[p.registry]
        Resource = [aws_dynamodb_table.registry.arn]
      }],
      p.publish ? [{
        Sid      = "Alerts"
        Effect   = "Allow"
        Action   = ["sns:Publish"]
        Resource = [aws_sns_topic.alerts.arn]
      }] : [],
      p.invoke_train ? [{
        Sid      = "Retrain"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [aws_lambda_function.function["train"].arn, "${aws_lambda_function.function["train"].arn}:live"]
      }] : [],
    )
  }
}

resource "aws_iam_role" "function" {
  for_each = var.functions
  name     = "${var.stack}-${each.key}-role"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = var.functions
  name     = "mlinfra-least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.statements[each.key]
  })
}
