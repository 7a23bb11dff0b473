# The example stack (stacks/heart-disease.yaml) provisioned with Terraform instead of `mlinfra up`.
#
#   mlinfra build --artifacts ../../../../target/lambda           # the functions' zips
#   mlinfra -f ../../../../stacks/heart-disease.yaml export terraform --out mlinfra.json
#   terraform init && terraform plan
#
# Then every other verb works on it: `mlinfra pipeline run --env aws`, `mlinfra models ...`,
# `mlinfra serve --env aws`. The stack sets `environments.aws.managed_by: terraform`, so
# `mlinfra up --env aws` refuses to manage what Terraform owns.

terraform {
  required_version = ">= 1.6"

  # Keep the state remote, locked, versioned and encrypted, e.g.:
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "mlinfra/heart-disease.tfstate"
  #   region       = "eu-west-1"
  #   use_lockfile = true
  #   encrypt      = true
  # }
}

locals {
  # What `mlinfra export terraform` wrote from the stack file: the one source of truth.
  mlinfra = jsondecode(file("${path.module}/mlinfra.json"))
}

provider "aws" {
  region = local.mlinfra.region
}

module "mlinfra" {
  source = "../.."

  stack               = local.mlinfra.stack
  model               = local.mlinfra.model
  bucket              = local.mlinfra.bucket
  prediction_log_days = local.mlinfra.prediction_log_days
  functions           = local.mlinfra.functions
  schedules           = local.mlinfra.schedules
  api                 = local.mlinfra.api
  alerts              = local.mlinfra.alerts
  alarm_thresholds    = local.mlinfra.alarm_thresholds
  settings_json       = local.mlinfra.settings_json

  tags = { "managed-by" = "terraform", "mlinfra-stack" = local.mlinfra.stack }
}

output "api_url" {
  value = module.mlinfra.api_url
}

output "lake_uri" {
  value = module.mlinfra.lake_uri
}
