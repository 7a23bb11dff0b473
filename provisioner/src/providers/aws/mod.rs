//! The AWS provider: every resource of the platform through the AWS SDK for Rust.
//!
//! `--env aws` uses the standard credential chain and region; `--env localstack` is the same
//! code with an endpoint override (`--endpoint`, `AWS_ENDPOINT_URL`, the stack's
//! `environments.localstack.endpoint`, else `http://localhost:4566`), test credentials when none
//! are configured, and path-style S3 addressing. The test suite runs it against the moto server.
//!
//! Reads never change anything. Every call goes through [`CallCounter`], an SDK interceptor that
//! counts the mutating calls, so `up` can say how many it made (none when nothing changed).
//! Throttling and 5xx answers are retried by the SDK's standard retry strategy with exponential
//! backoff and jitter ([`MAX_ATTEMPTS`] attempts).

pub mod alerts;
pub mod apigw;
mod events;
pub mod iam;

pub use iam::parse_document;
pub mod lake;
pub mod lambda;
mod registry;
pub mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{DeleteOptions, Deleted, Provider, ProviderError, settings};
use crate::engine::{Change, Resource, ResourceKind, ResourceState};

/// Attempts per call (the first and the retries) for throttling, 5xx and transient errors.
pub const MAX_ATTEMPTS: u32 = 8;

/// Where the provider deploys and how it connects.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `aws` or `localstack`.
    pub env: &'static str,
    pub region: String,
    /// The endpoint of an AWS-compatible emulator; `None` on AWS.
    pub endpoint: Option<String>,
    /// The named profile of the credential chain (`environments.aws.profile`).
    pub profile: Option<String>,
    pub stack: String,
    pub model: String,
    /// The data lake bucket (it also holds the state).
    pub bucket: String,
    /// Where `mlinfra build` wrote `<function>/bootstrap.zip`.
    pub artifacts: PathBuf,
}

/// Counts the calls the SDK clients make: all of them, and the mutating ones by operation.
#[derive(Debug, Default, Clone)]
pub struct CallCounter {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: AtomicUsize,
    mutating: std::sync::Mutex<BTreeMap<String, usize>>,
}

impl CallCounter {
    pub fn total(&self) -> usize {
        self.inner.total.load(Ordering::SeqCst)
    }

    /// Mutating calls made so far, as `service:Operation` → count.
    pub fn mutating(&self) -> BTreeMap<String, usize> {
        self.inner
            .mutating
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn mutating_total(&self) -> usize {
        self.mutating().values().sum()
    }
}

/// Whether an operation only reads. AWS names reads `Get*`, `List*`, `Describe*`, `Head*`.
pub fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "mlinfra.CallCounter"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's
    // configuration (its `Metadata`) is in the bag. Serialization happens once per call.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.total.fetch_add(1, Ordering::SeqCst);
        if let Some(m) = cfg.load::<Metadata>()
            && !is_read_only(m.name())
            && let Ok(mut map) = self.inner.mutating.lock()
        {
            *map.entry(format!("{}:{}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// The service clients, built once.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub apigw: aws_sdk_apigateway::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sts: aws_sdk_sts::Client,
    /// What the clients were made from (region, credentials).
    pub sdk: aws_config::SdkConfig,
}

/// Whether any credentials are configured for the default chain.
fn credentials_configured() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID") || set("AWS_PROFILE") || set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return true;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .flatten()
    .any(|p| p.is_file())
}

impl Clients {
    /// Build the clients for `settings`, every one counting its calls with `counter`.
    pub async fn new(settings: &AwsSettings, counter: &CallCounter) -> Clients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(10)),
            );
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let _ = TARGET.set(match &settings.endpoint {
            Some(ep) => (ep.clone(), true),
            None => (settings.region.clone(), false),
        });
        if let Some(ep) = &settings.endpoint {
            loader = loader.endpoint_url(ep.clone());
            if !credentials_configured() {
                loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "mlinfra-test",
                ));
            }
        }
        let sdk = loader.load().await;
        macro_rules! client {
            ($krate:ident) => {{
                let conf = $krate::config::Builder::from(&sdk)
                    .interceptor(counter.clone())
                    .build();
                $krate::Client::from_conf(conf)
            }};
        }
        let s3 = {
            let conf = aws_sdk_s3::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .force_path_style(settings.endpoint.is_some())
                .build();
            aws_sdk_s3::Client::from_conf(conf)
        };
        Clients {
            s3,
            dynamodb: client!(aws_sdk_dynamodb),
            iam: client!(aws_sdk_iam),
            lambda: client!(aws_sdk_lambda),
            events: client!(aws_sdk_eventbridge),
            apigw: client!(aws_sdk_apigateway),
            sns: client!(aws_sdk_sns),
            cloudwatch: client!(aws_sdk_cloudwatch),
            sts: client!(aws_sdk_sts),
            sdk,
        }
    }
}

/// Where this process's AWS clients connect, for messages: the emulator's URL, or AWS in a region.
static TARGET: std::sync::OnceLock<(String, bool)> = std::sync::OnceLock::new();

/// "cannot reach X: reason — what to check".
fn unreachable_message(reason: &str) -> String {
    match TARGET.get() {
        Some((endpoint, true)) => {
            format!("cannot reach {endpoint}: {reason}; is the emulator running there?")
        }
        Some((region, false)) => format!(
            "cannot reach AWS in `{region}`: {reason}; check the network (and `--endpoint` or `AWS_ENDPOINT_URL` if one is set)"
        ),
        None => format!("cannot reach the AWS endpoint: {reason}"),
    }
}

/// Fail fast, with one sentence, when an emulator's endpoint refuses connections (instead of
/// retrying every call with backoff first).
pub fn probe(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or_default();
    let default_port = if endpoint.starts_with("https://") {
        443
    } else {
        80
    };
    let hostport = if rest
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        rest.to_string()
    } else {
        format!("{rest}:{default_port}")
    };
    use std::net::ToSocketAddrs as _;
    let addrs: Vec<std::net::SocketAddr> = hostport
        .to_socket_addrs()
        .map_err(|_| format!("cannot reach {endpoint}: the host name does not resolve"))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match std::net::TcpStream::connect_timeout(a, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    let reason = match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            "the connection timed out".to_string()
        }
        Some(e) => e.to_string(),
        None => "no address".to_string(),
    };
    Err(format!(
        "cannot reach {endpoint}: {reason}; is the emulator running there?\nhint: start it (`localstack/README.md`), or point `--endpoint` at it"
    ))
}

/// An AWS error reduced to what the provider decides on.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
}

impl AwsError {
    pub fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e {
            SdkError::ServiceError(_) => {
                let (bare_code, bare_message) =
                    mlinfra_core::cloud_error::bare_status(status.unwrap_or(0));
                AwsError {
                    code: e.code().unwrap_or(bare_code).to_string(),
                    message: e.message().unwrap_or(bare_message).to_string(),
                    status,
                }
            }
            _ => {
                use mlinfra_core::cloud_error::{Cause, cause};
                match cause(e) {
                    Cause::NoCredentials => AwsError {
                        code: "NoCredentials".to_string(),
                        message: "no AWS credentials found: set `AWS_PROFILE` (or \
                                  `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`), or run \
                                  `aws configure`"
                            .to_string(),
                        status,
                    },
                    Cause::Unreachable(reason) => AwsError {
                        code: "Unreachable".to_string(),
                        message: unreachable_message(&reason),
                        status,
                    },
                    Cause::Other(m) => AwsError {
                        code: "Sdk".to_string(),
                        message: m,
                        status,
                    },
                }
            }
        }
    }

    /// The resource (or the sub-configuration asked for) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(
                self.code.as_str(),
                "NoSuchBucket"
                    | "NotFound"
                    | "NoSuchKey"
                    | "ResourceNotFoundException"
                    | "ResourceNotFound"
                    | "NoSuchEntity"
                    | "NotFoundException"
                    | "NoSuchBucketPolicy"
                    | "ServerSideEncryptionConfigurationNotFoundError"
                    | "NoSuchPublicAccessBlockConfiguration"
                    | "NoSuchLifecycleConfiguration"
                    | "NoSuchTagSet"
            )
    }

    pub fn into_provider(self, addr: &str, what: &str) -> ProviderError {
        let retryable = self.code == "Unreachable";
        ProviderError {
            addr: addr.to_string(),
            code: self.code,
            message: format!("{what}: {}", self.message),
            retryable,
        }
    }
}

/// Map an SDK result to a provider result, naming the call.
pub(crate) trait Ctx<T> {
    fn ctx(self, addr: &str, what: &str) -> Result<T, ProviderError>;
    /// `Ok(None)` when the thing does not exist.
    fn found(self, addr: &str, what: &str) -> Result<Option<T>, ProviderError>;
}

impl<T, E> Ctx<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn ctx(self, addr: &str, what: &str) -> Result<T, ProviderError> {
        self.map_err(|e| AwsError::from_sdk(&e).into_provider(addr, what))
    }

    fn found(self, addr: &str, what: &str) -> Result<Option<T>, ProviderError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.is_not_found() {
                    Ok(None)
                } else {
                    Err(a.into_provider(addr, what))
                }
            }
        }
    }
}

pub(crate) fn invalid(addr: &str, what: impl Into<String>) -> ProviderError {
    ProviderError::new(addr, "InvalidProps", what)
}

pub(crate) fn prop_str<'a>(r: &'a Resource, key: &str) -> Result<&'a str, ProviderError> {
    r.props[key]
        .as_str()
        .ok_or_else(|| invalid(&r.addr, format!("property `{key}` is not a string")))
}

/// Poll `check` until it returns `Some`, with backoff, for at most `limit`: how the provider
/// waits on a condition (a table becoming ACTIVE, a role becoming assumable) instead of sleeping
/// a fixed time.
pub(crate) async fn wait_for<T, F, Fut>(
    addr: &str,
    what: &str,
    limit: Duration,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(ProviderError::new(
                addr,
                "Timeout",
                format!("gave up after {} s waiting for {what}", limit.as_secs()),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The AWS provider.
#[derive(Debug)]
pub struct AwsProvider {
    pub settings: AwsSettings,
    pub clients: Clients,
    pub counter: CallCounter,
    account: OnceCell<String>,
}

impl AwsProvider {
    pub async fn new(settings: AwsSettings) -> AwsProvider {
        let counter = CallCounter::default();
        let clients = Clients::new(&settings, &counter).await;
        AwsProvider {
            settings,
            clients,
            counter,
            account: OnceCell::new(),
        }
    }

    pub fn region(&self) -> &str {
        &self.settings.region
    }

    /// The data lake bucket as the jobs see it.
    pub fn lake(&self) -> mlinfra_core::lake_s3::S3Lake {
        mlinfra_core::lake_s3::S3Lake::new(self.clients.s3.clone(), self.settings.bucket.clone())
    }

    /// The account id, asked of STS once.
    pub async fn account(&self) -> Result<&str, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .clients
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .ctx("account", "sts:GetCallerIdentity")?;
                out.account.ok_or_else(|| {
                    ProviderError::new("account", "NoAccount", "STS returned no account id")
                })
            })
            .await
            .map(String::as_str)
    }

    /// `arn:aws:<service>:<region>:<account>:<rest>`.
    pub async fn arn(&self, service: &str, rest: &str) -> Result<String, ProviderError> {
        Ok(format!(
            "arn:aws:{service}:{}:{}:{rest}",
            self.region(),
            self.account().await?
        ))
    }

    /// A physical name from the stack name: `heart-disease-predict`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.settings.stack)
    }
}

/// A property recorded in the state (reads start from the recorded properties), or, when
/// nothing is recorded, the value derived from the stack.
pub(crate) fn recorded_or(props: &Value, key: &str, derived: impl FnOnce() -> String) -> String {
    props[key].as_str().map_or_else(derived, str::to_string)
}

/// Whether `field`, or a field inside it, is among `changes`; on a create (`None`) every field
/// is to be set.
pub(crate) fn touched(changes: Option<&[Change]>, field: &str) -> bool {
    changes.is_none_or(|cs| {
        cs.iter().any(|c| {
            c.field == field
                || c.field
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    })
}

/// Live properties built on the recorded ones: fields the cloud cannot show (a description,
/// a local port) keep their recorded value; observable fields are overwritten with what the
/// cloud says.
pub(crate) fn base(recorded: Option<&ResourceState>) -> Value {
    match recorded {
        Some(r) if r.props.is_object() => r.props.clone(),
        _ => Value::Object(Default::default()),
    }
}

impl Provider for AwsProvider {
    fn adopted_outputs(&self, r: &Resource) -> Value {
        match r.kind {
            // The bucket `up` creates before the state exists (it holds the state).
            ResourceKind::Lake => r.props["bucket"]
                .as_str()
                .map_or(Value::Null, |b| lake::outputs(self, b)),
            _ => Value::Null,
        }
    }

    fn target(&self) -> String {
        match &self.settings.endpoint {
            Some(ep) => format!("{} at `{ep}` ({})", self.settings.env, self.region()),
            None => format!("AWS region `{}`", self.region()),
        }
    }

    async fn read(
        &self,
        addr: &str,
        kind: ResourceKind,
        recorded: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError> {
        let b = base(recorded);
        match kind {
            ResourceKind::Lake => lake::read(self, addr, b).await,
            ResourceKind::Registry => registry::read(self, addr, b).await,
            ResourceKind::Role => iam::read(self, addr, b).await,
            ResourceKind::Function => lambda::read(self, addr, b).await,
            ResourceKind::Notification => lambda::read_notification(self, addr, b).await,
            ResourceKind::Schedule => events::read(self, addr, b).await,
            ResourceKind::Api => apigw::read(self, addr, b).await,
            ResourceKind::ApiKey => apigw::read_key(self, addr, b).await,
            ResourceKind::Topic => alerts::read_topic(self, addr, b).await,
            ResourceKind::Alarm => alerts::read_alarm(self, addr, b).await,
            ResourceKind::Settings => settings::read(&self.lake(), "S3", addr).await,
        }
    }

    async fn create(&self, r: &Resource) -> Result<Value, ProviderError> {
        self.put(r, None).await
    }

    async fn update(&self, r: &Resource, changes: &[Change]) -> Result<Value, ProviderError> {
        self.put(r, Some(changes)).await
    }

    async fn delete(
        &self,
        addr: &str,
        recorded: &ResourceState,
        opts: DeleteOptions,
    ) -> Result<Deleted, ProviderError> {
        let p = &recorded.props;
        match super::recorded_kind(addr, recorded)? {
            ResourceKind::Lake => lake::delete(self, addr, p, opts).await,
            ResourceKind::Registry => registry::delete(self, addr, p, opts).await,
            ResourceKind::Role => iam::delete(self, addr, p).await,
            ResourceKind::Function => lambda::delete(self, addr, p).await,
            ResourceKind::Notification => lambda::delete_notification(self, addr, p).await,
            ResourceKind::Schedule => events::delete(self, addr, p).await,
            ResourceKind::Api => apigw::delete(self, addr, p, &recorded.outputs).await,
            ResourceKind::ApiKey => apigw::delete_key(self, addr, p).await,
            ResourceKind::Topic => alerts::delete_topic(self, addr, p).await,
            ResourceKind::Alarm => alerts::delete_alarm(self, addr, p).await,
            ResourceKind::Settings => settings::delete(&self.lake(), "S3", addr).await,
        }
    }
}

impl AwsProvider {
    /// Create (`changes` = `None`) or converge an existing resource.
    async fn put(&self, r: &Resource, changes: Option<&[Change]>) -> Result<Value, ProviderError> {
        match r.kind {
            ResourceKind::Lake => lake::put(self, r, changes).await,
            ResourceKind::Registry => registry::put(self, r, changes).await,
            ResourceKind::Role => iam::put(self, r, changes).await,
            ResourceKind::Function => lambda::put(self, r, changes).await,
            ResourceKind::Notification => lambda::put_notification(self, r).await,
            ResourceKind::Schedule => events::put(self, r).await,
            ResourceKind::Api => apigw::put(self, r, changes).await,
            ResourceKind::ApiKey => apigw::put_key(self, r).await,
            ResourceKind::Topic => alerts::put_topic(self, r).await,
            ResourceKind::Alarm => alerts::put_alarm(self, r).await,
            ResourceKind::Settings => settings::put(&self.lake(), "S3", r).await,
        }
    }
}
