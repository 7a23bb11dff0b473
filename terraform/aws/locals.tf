# What the module fixes, the same as `mlinfra up` does. A test (provisioner/tests/terraform.rs)
# reads these values and checks them against mlinfra's own desired graph.

locals {
  name = { for suffix in ["registry", "api", "key", "alerts"] : suffix => "${var.stack}-${suffix}" }

  # Least privilege per function: lake prefixes read and written (`*` follows each prefix), the
  # registry's access, and the extra grants.
  permissions = {
    etl = {
      lake_read    = ["raw/", "curated/", "artifacts/"]
      lake_write   = ["raw/", "curated/", "artifacts/"]
      lake_delete  = true
      registry     = "none"
      publish      = false
      invoke_train = false
    }
    train = {
      lake_read    = ["curated/", "artifacts/", "models/"]
      lake_write   = ["artifacts/", "models/", "curated/*/split.json"]
      lake_delete  = false
      registry     = "read-write"
      publish      = true
      invoke_train = false
    }
    predict = {
      lake_read    = ["models/", "predictions/", "feedback/"]
      lake_write   = ["predictions/", "feedback/"]
      lake_delete  = false
      registry     = "read"
      publish      = false
      invoke_train = false
    }
    monitor = {
      lake_read    = ["curated/", "artifacts/", "predictions/", "feedback/"]
      lake_write   = ["artifacts/"]
      lake_delete  = false
      registry     = "read"
      publish      = true
      invoke_train = true
    }
  }

  registry_actions = {
    none         = []
    read         = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    "read-write" = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
  }

  # The API's routes, all proxied to the `live` alias of `predict`: mlinfra's own, and the Open
  # Inference Protocol v2 (`GET /v2` and every route under it).
  routes = {
    predict  = { method = "POST", path = "predict" }
    feedback = { method = "POST", path = "feedback" }
    health   = { method = "GET", path = "health" }
    v2       = { method = "GET", path = "v2" }
    v2_any   = { method = "ANY", path = "v2/{proxy+}" }
  }

  # The alarms on the metrics `monitor` and `predict` publish (namespace mlinfra, dimension
  # Stack): the metric and the direction that breaches.
  alarms = {
    "dataset-drift" = { metric = "DatasetDriftShare", comparison = "GreaterThanOrEqualToThreshold" }
    accuracy        = { metric = "Accuracy", comparison = "LessThanThreshold" }
    f1              = { metric = "F1", comparison = "LessThanThreshold" }
    "latency-p99"   = { metric = "LatencyP99Ms", comparison = "GreaterThanThreshold" }
    "error-rate"    = { metric = "ErrorRate", comparison = "GreaterThanThreshold" }
  }
}
