# The data lake: versioned, encrypted (SSE-S3), no public access, TLS only; prediction logs
# expire after `prediction_log_days`.

resource "aws_s3_bucket" "lake" {
  bucket = var.bucket
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    id     = "mlinfra-expire-prediction-logs"
    status = "Enabled"
    filter {
      prefix = "predictions/"
    }
    expiration {
      days = var.prediction_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.prediction_log_days
    }
  }
}

# New files in raw/ go to the ETL function.
resource "aws_lambda_permission" "lake_to_etl" {
  statement_id  = "mlinfra-s3-raw"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["etl"].function_name
  qualifier     = aws_lambda_alias.live["etl"].name
  principal     = "s3.amazonaws.com"
  source_arn    = aws_s3_bucket.lake.arn
}

resource "aws_s3_bucket_notification" "raw" {
  bucket = aws_s3_bucket.lake.id
  lambda_function {
    lambda_function_arn = aws_lambda_alias.live["etl"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "raw/"
  }
  depends_on = [aws_lambda_permission.lake_to_etl]
}

# The jobs' settings, where every function finds them (`mlinfra up` writes the same object).
resource "aws_s3_object" "settings" {
  bucket       = aws_s3_bucket.lake.id
  key          = "artifacts/config/jobs.json"
  content      = var.settings_json
  content_type = "application/json"
  depends_on   = [aws_s3_bucket_versioning.lake, aws_s3_bucket_server_side_encryption_configuration.lake]
}
