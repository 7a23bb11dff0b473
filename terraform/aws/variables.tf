# The module's inputs. `mlinfra export terraform --out terraform.tfvars.json` writes every one of
# them from the stack file, so the stack file stays the one source of truth.

variable "stack" {
  description = "The stack's name: every physical name is `<stack>-<suffix>`, as `mlinfra up` names them."
  type        = string
}

variable "model" {
  description = "The model the registry and the functions serve."
  type        = string
}

variable "bucket" {
  description = "The data lake's bucket."
  type        = string
}

variable "prediction_log_days" {
  description = "Days the prediction logs under `predictions/` are kept."
  type        = number
}

variable "functions" {
  description = "The four functions (etl, train, predict, monitor): memory, timeout, the `mlinfra build` zip, and the environment of the configuration contract."
  type = map(object({
    memory_mb      = number
    timeout_s      = number
    package        = string
    package_sha256 = optional(string)
    environment    = map(string)
  }))

  validation {
    condition     = length(setsubtract(["etl", "train", "predict", "monitor"], keys(var.functions))) == 0
    error_message = "functions must have etl, train, predict and monitor (mlinfra export terraform writes them)."
  }
}

variable "schedules" {
  description = "EventBridge schedules: the expression and the function it invokes."
  type = map(object({
    expression = string
    function   = string
    enabled    = bool
  }))
  default = {}
}

variable "api" {
  description = "The REST API: stage, `api_key` or `none`, throttling and the daily quota; the media types whose bodies reach `predict` base64-encoded, and the body of the 413 answered to a request over the payload limits."
  type = object({
    stage              = string
    auth               = string
    rate_per_second    = number
    burst              = number
    quota_per_day      = number
    binary_media_types = list(string)
    too_large          = string
  })
}

variable "alerts" {
  description = "Subscriptions of the alerts topic: `email` or `https`."
  type = list(object({
    name     = string
    protocol = string
    endpoint = string
  }))
  default = []
}

variable "alarm_thresholds" {
  description = "Each alarm's threshold, by alarm name (dataset-drift, accuracy, f1, latency-p99, error-rate)."
  type        = map(number)
}

variable "settings_json" {
  description = "The jobs' settings document (label rule, search space, promotion and monitoring policy) the functions read from the lake."
  type        = string
}

variable "tags" {
  description = "Tags on every resource that takes them."
  type        = map(string)
  default     = {}
}
