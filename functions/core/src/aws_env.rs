//! The AWS SDK clients of a function, configured from its Lambda environment alone: the region
//! (`AWS_REGION`), the credentials of the function's role (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, which Lambda sets) and, for an emulator,
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_LAMBDA` for the Lambda API alone). Without
//! `aws-config`'s provider chain (profiles, SSO, STS, IMDS), which a function never uses, the
//! packages stay small.

/// What a function's environment says about AWS.
#[derive(Clone)]
pub struct AwsEnv {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// An emulator's endpoint; S3 is then addressed by path.
    pub endpoint: Option<String>,
    /// The Lambda API's own endpoint (`AWS_ENDPOINT_URL_LAMBDA`, as the SDKs name it), when
    /// another than `endpoint`: `mlinfra serve` runs the functions and serves their `Invoke`.
    pub lambda_endpoint: Option<String>,
}

impl std::fmt::Debug for AwsEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("AwsEnv")
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsEnv {
    /// Read from a variable lookup (`std::env::var` in a function).
    ///
    /// ```
    /// use mlinfra_core::aws_env::AwsEnv;
    ///
    /// let err = AwsEnv::from_lookup(|k| (k == "AWS_REGION").then(|| "eu-west-1".to_string()))
    ///     .unwrap_err();
    /// assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<AwsEnv, String> {
        let set = |k: &str| get(k).filter(|v| !v.is_empty());
        let region = set("AWS_REGION")
            .or_else(|| set("AWS_DEFAULT_REGION"))
            .ok_or("no AWS region in the function's environment: `AWS_REGION` is not set (Lambda sets it)")?;
        let (Some(access_key_id), Some(secret_access_key)) =
            (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err("no AWS credentials in the function's environment: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are not set (Lambda sets them from the function's role)".into());
        };
        Ok(AwsEnv {
            region,
            access_key_id,
            secret_access_key,
            session_token: set("AWS_SESSION_TOKEN"),
            endpoint: set("AWS_ENDPOINT_URL"),
            lambda_endpoint: set("AWS_ENDPOINT_URL_LAMBDA"),
        })
    }

    pub fn from_env() -> Result<AwsEnv, String> {
        AwsEnv::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`AwsEnv::from_env`] for a function that cannot go on without it: the error is the
    /// function's `mlinfra.InvalidConfig`.
    pub fn for_function() -> Result<AwsEnv, crate::FunctionError> {
        AwsEnv::from_env().map_err(|message| crate::FunctionError {
            error_type: "mlinfra.InvalidConfig",
            message,
            retryable: false,
        })
    }
}

/// A client of one SDK crate from an [`AwsEnv`]: the same four settings for each (the SDK
/// crates re-export the same configuration types under their own names).
macro_rules! client {
    ($name:ident, $krate:ident, $feature:literal $(, $extra:ident)?) => {
        #[cfg(feature = $feature)]
        impl AwsEnv {
            pub fn $name(&self) -> $krate::Client {
                use $krate::config::{BehaviorVersion, Credentials, Region};
                let mut b = $krate::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .credentials_provider(Credentials::new(
                        self.access_key_id.clone(),
                        self.secret_access_key.clone(),
                        self.session_token.clone(),
                        None,
                        "lambda-environment",
                    ));
                let endpoint = match stringify!($name) {
                    "lambda" => self.lambda_endpoint.as_ref().or(self.endpoint.as_ref()),
                    _ => self.endpoint.as_ref(),
                };
                if let Some(e) = endpoint {
                    b = b.endpoint_url(e.clone());
                    $(b = b.$extra(true);)?
                }
                $krate::Client::from_conf(b.build())
            }
        }
    };
}

client!(s3, aws_sdk_s3, "s3", force_path_style);
client!(dynamodb, aws_sdk_dynamodb, "dynamodb");
client!(sns, aws_sdk_sns, "sns");
client!(lambda, aws_sdk_lambda, "invoke");

#[cfg(feature = "invoke")]
impl AwsEnv {
    /// Invoke `function` at `qualifier` without waiting for it (`InvocationType=Event`): Lambda
    /// queues the event and answers 202, returned here.
    pub async fn invoke_event(
        &self,
        function: &str,
        qualifier: &str,
        payload: &serde_json::Value,
    ) -> Result<i32, String> {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::InvocationType;
        self.lambda()
            .invoke()
            .function_name(function)
            .qualifier(qualifier)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map(|out| out.status_code)
            .map_err(|e| crate::cloud_error::sdk_message("lambda", "Lambda", "Invoke", &e))
    }
}
