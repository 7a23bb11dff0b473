# The model registry: one table, `pk`/`sk` strings, on demand, point-in-time recovery.

resource "aws_dynamodb_table" "registry" {
  name         = local.name.registry
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}
