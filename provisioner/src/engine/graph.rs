//! The desired resource graph of a stack: every resource the platform needs, its properties and
//! its dependencies. The same logical graph serves every environment; each provider maps a
//! resource kind onto what it manages (a bucket or a directory, a Lambda or a local config).

use indexmap::IndexMap;
use mlinfra_core::FunctionName;
use serde::Serialize;
use serde_json::{Value, json};

use crate::stack::Stack;
use crate::stack::schema::AlertTarget;

/// The prefixes of the data lake, the same on every environment.
pub const LAKE_PREFIXES: [&str; 7] = [
    "raw/",
    "curated/",
    "artifacts/",
    "models/",
    "predictions/",
    "feedback/",
    "state/",
];

/// What a resource is, which selects each provider's implementation. Providers match on it
/// exhaustively, so a new kind is a compile error in every provider until it is handled. The
/// state records it by [`ResourceKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// The data lake (an S3 bucket; a directory locally).
    Lake,
    /// The model registry (a DynamoDB table; a directory locally).
    Registry,
    /// A function's identity and permissions (an IAM role).
    Role,
    Function,
    /// The lake's `raw/` notification to the ETL function.
    Notification,
    Schedule,
    Api,
    ApiKey,
    /// Where alerts go (an SNS topic).
    Topic,
    Alarm,
    /// The jobs' settings document derived from the stack.
    Settings,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 11] = [
        ResourceKind::Lake,
        ResourceKind::Registry,
        ResourceKind::Role,
        ResourceKind::Function,
        ResourceKind::Notification,
        ResourceKind::Schedule,
        ResourceKind::Api,
        ResourceKind::ApiKey,
        ResourceKind::Topic,
        ResourceKind::Alarm,
        ResourceKind::Settings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Lake => "lake",
            ResourceKind::Registry => "registry",
            ResourceKind::Role => "role",
            ResourceKind::Function => "function",
            ResourceKind::Notification => "notification",
            ResourceKind::Schedule => "schedule",
            ResourceKind::Api => "api",
            ResourceKind::ApiKey => "api_key",
            ResourceKind::Topic => "topic",
            ResourceKind::Alarm => "alarm",
            ResourceKind::Settings => "settings",
        }
    }

    /// The kind a state file names, if this version knows it.
    pub fn parse(s: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResourceKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One desired resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// Unique address such as `function.predict`.
    pub addr: String,
    /// What it is, which selects the provider's implementation.
    pub kind: ResourceKind,
    /// Desired properties, compared field by field with the live resource.
    pub props: Value,
    pub depends_on: Vec<String>,
}

/// Resources in a dependency-respecting order (every resource after what it depends on).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    pub resources: IndexMap<String, Resource>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("dependency cycle: {0}")]
    Cycle(String),
    #[error("`{from}` depends on `{to}`, which is not a resource of this stack")]
    Dangling { from: String, to: String },
}

impl Graph {
    pub fn get(&self, addr: &str) -> Option<&Resource> {
        self.resources.get(addr)
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Build from unordered resources: checks every dependency exists and orders them
    /// topologically (stable: ties keep declaration order). A cycle is reported as its chain.
    pub fn from_resources(list: Vec<Resource>) -> Result<Graph, GraphError> {
        let index: IndexMap<String, Resource> =
            list.into_iter().map(|r| (r.addr.clone(), r)).collect();
        for r in index.values() {
            for d in &r.depends_on {
                if !index.contains_key(d) {
                    return Err(GraphError::Dangling {
                        from: r.addr.clone(),
                        to: d.clone(),
                    });
                }
            }
        }
        // 0 = unvisited, 1 = on the path, 2 = done.
        let mut mark: IndexMap<&str, u8> = index.keys().map(|k| (k.as_str(), 0)).collect();
        let mut order: Vec<String> = Vec::new();
        fn visit<'a>(
            addr: &'a str,
            index: &'a IndexMap<String, Resource>,
            mark: &mut IndexMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
            order: &mut Vec<String>,
        ) -> Result<(), GraphError> {
            match mark.get(addr).copied() {
                Some(2) => return Ok(()),
                Some(1) => {
                    let start = path.iter().position(|a| *a == addr).unwrap_or(0);
                    let mut chain: Vec<&str> = path[start..].to_vec();
                    chain.push(addr);
                    return Err(GraphError::Cycle(chain.join(" -> ")));
                }
                _ => {}
            }
            mark.insert(addr, 1);
            path.push(addr);
            if let Some(r) = index.get(addr) {
                for d in &r.depends_on {
                    visit(d, index, mark, path, order)?;
                }
            }
            path.pop();
            mark.insert(addr, 2);
            order.push(addr.to_string());
            Ok(())
        }
        for addr in index.keys() {
            visit(addr, &index, &mut mark, &mut Vec::new(), &mut order)?;
        }
        let mut index = index;
        let resources = order
            .into_iter()
            .filter_map(|a| index.swap_remove(&a).map(|r| (a, r)))
            .collect();
        Ok(Graph { resources })
    }
}

fn res(addr: impl Into<String>, kind: ResourceKind, props: Value, deps: &[&str]) -> Resource {
    Resource {
        addr: addr.into(),
        kind,
        props,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    }
}

/// Physical names derived from the stack name, the same on every cloud.
pub fn physical_name(stack: &Stack, suffix: &str) -> String {
    format!("{}-{suffix}", stack.name)
}

/// The least-privilege permissions of each function: which actions on which parts of the lake
/// and the registry. Providers turn these into IAM statements or local access checks.
fn permissions(stack: &Stack, f: FunctionName) -> Value {
    let b = &stack.lake.bucket;
    let rw = |prefixes: &[&str]| -> Vec<String> {
        prefixes.iter().map(|p| format!("{b}/{p}*")).collect()
    };
    let (lake_read, lake_write, registry): (Vec<String>, Vec<String>, &str) = match f {
        // ETL reads the jobs' settings and the curated schema under artifacts/.
        FunctionName::Etl => (
            rw(&["raw/", "curated/", "artifacts/"]),
            rw(&["raw/", "curated/", "artifacts/"]),
            "none",
        ),
        // Train records each dataset's train/eval split beside it (`curated/<data>/split.json`)
        // and may write nothing else there.
        FunctionName::Train => (
            rw(&["curated/", "artifacts/", "models/"]),
            [
                rw(&["artifacts/", "models/"]),
                vec![format!("{b}/curated/*/split.json")],
            ]
            .concat(),
            "read-write",
        ),
        // Predict reads back its own logs to tie feedback to the prediction it is about, and
        // whether that feedback was given before.
        FunctionName::Predict => (
            rw(&["models/", "predictions/", "feedback/"]),
            rw(&["predictions/", "feedback/"]),
            "read",
        ),
        // Monitor compares the served traffic with the Production model's training rows
        // (`curated/<data>/data.csv` and its `split.json`).
        FunctionName::Monitor => (
            rw(&["curated/", "artifacts/", "predictions/", "feedback/"]),
            rw(&["artifacts/"]),
            "read",
        ),
    };
    json!({ "lake_read": lake_read, "lake_write": lake_write, "registry": registry })
}

/// How the stack serves: what the `predict` function gets in its environment and what
/// `mlinfra serve` uses.
pub fn serving(stack: &Stack) -> mlinfra_core::ServingConfig {
    mlinfra_core::ServingConfig {
        max_batch: u32::try_from(stack.api.max_batch).unwrap_or(u32::MAX),
        model_refresh_s: u32::try_from(stack.api.model_refresh_s).unwrap_or(u32::MAX),
        sample_rate: stack.monitoring.sample_rate,
        prediction_log_days: u32::try_from(stack.lake.prediction_log_days).unwrap_or(u32::MAX),
    }
}

/// The serving settings a `predict` function resource carries, `None` for the other functions.
pub fn serving_of(props: &Value) -> Option<mlinfra_core::ServingConfig> {
    Some(mlinfra_core::ServingConfig {
        max_batch: u32::try_from(props["max_batch"].as_u64()?).ok()?,
        model_refresh_s: u32::try_from(props["model_refresh_s"].as_u64()?).ok()?,
        sample_rate: props["sample_rate"].as_f64()?,
        prediction_log_days: u32::try_from(props["prediction_log_days"].as_u64()?).ok()?,
    })
}

/// The desired graph of a stack.
pub fn desired(stack: &Stack) -> Result<Graph, GraphError> {
    let mut list = Vec::new();
    list.push(res(
        "lake",
        ResourceKind::Lake,
        json!({
            "bucket": stack.lake.bucket,
            "prefixes": LAKE_PREFIXES,
            "versioning": true,
            "encryption": "AES256",
            "public_access": "blocked",
            "tls_only": true,
            "prediction_log_days": stack.lake.prediction_log_days,
        }),
        &[],
    ));
    list.push(res(
        "registry",
        ResourceKind::Registry,
        json!({
            "table": physical_name(stack, "registry"),
            "model": stack.model.name,
            "billing": "on_demand",
            "point_in_time_recovery": true,
            "promotion": stack.promotion,
        }),
        &[],
    ));
    for (f, spec) in &stack.functions {
        let role = format!("role.{f}");
        list.push(res(
            role.clone(),
            ResourceKind::Role,
            json!({
                "name": physical_name(stack, &format!("{f}-role")),
                "function": f,
                "permissions": permissions(stack, *f),
            }),
            &["lake", "registry"],
        ));
        let mut deps = vec![role.clone()];
        deps.extend(spec.depends_on.iter().map(|d| format!("function.{d}")));
        let mut props = json!({
            "name": physical_name(stack, f.as_str()),
            "function": f,
            "runtime": "provided.al2023",
            "memory_mb": spec.memory_mb,
            "timeout_s": spec.timeout_s,
            "alias": "live",
        });
        if *f == FunctionName::Predict {
            let s = serving(stack);
            props["model_refresh_s"] = json!(s.model_refresh_s);
            props["max_batch"] = json!(s.max_batch);
            props["sample_rate"] = json!(s.sample_rate);
            props["prediction_log_days"] = json!(s.prediction_log_days);
        }
        list.push(Resource {
            addr: format!("function.{f}"),
            kind: ResourceKind::Function,
            props,
            depends_on: deps,
        });
    }
    list.push(res(
        "notification.raw",
        ResourceKind::Notification,
        json!({ "bucket": stack.lake.bucket, "prefix": "raw/", "function": "etl" }),
        &["lake", "function.etl"],
    ));
    for (name, s) in &stack.schedules {
        let target = format!("function.{}", s.function);
        list.push(res(
            format!("schedule.{name}"),
            ResourceKind::Schedule,
            json!({
                "name": physical_name(stack, name),
                "expression": s.expression,
                "function": s.function,
                "enabled": s.enabled,
            }),
            &[target.as_str()],
        ));
    }
    list.push(res(
        "api",
        ResourceKind::Api,
        json!({
            "name": physical_name(stack, "api"),
            "stage": stack.api.stage,
            "routes": [
                {"method": "POST", "path": "/predict", "function": "predict"},
                {"method": "POST", "path": "/feedback", "function": "predict"},
                {"method": "GET", "path": "/health", "function": "predict"},
                // The Open Inference Protocol v2: `/v2` and every route under it.
                {"method": "GET", "path": "/v2", "function": "predict"},
                {"method": "ANY", "path": "/v2/{proxy+}", "function": "predict"},
            ],
            "auth": stack.api.auth,
            "throttle": stack.api.throttle,
            "quota_per_day": stack.api.quota_per_day,
            "port": stack.environments.local.port,
            // Pictures posted as their raw bytes reach the function base64-encoded.
            "binary_media_types": crate::lambda::gateway::BINARY_MEDIA_TYPES,
            // A request over API Gateway's or Lambda's payload limit: a 413 that says them.
            "gateway_responses": {
                "REQUEST_TOO_LARGE": {"status": 413, "body": crate::lambda::gateway::TOO_LARGE},
            },
        }),
        &["function.predict"],
    ));
    if stack.api.auth == crate::stack::schema::Auth::ApiKey {
        list.push(res(
            "api_key.default",
            ResourceKind::ApiKey,
            json!({ "name": physical_name(stack, "key"), "api": physical_name(stack, "api") }),
            &["api"],
        ));
    }
    let subscriptions: Vec<Value> = stack
        .alerts
        .iter()
        .map(|a| match &a.target {
            AlertTarget::Email(e) => json!({"name": a.name, "protocol": "email", "endpoint": e}),
            AlertTarget::Webhook(u) => json!({"name": a.name, "protocol": "https", "endpoint": u}),
        })
        .collect();
    list.push(res(
        "topic.alerts",
        ResourceKind::Topic,
        json!({ "name": physical_name(stack, "alerts"), "subscriptions": subscriptions }),
        &[],
    ));
    let m = &stack.monitoring;
    let retrain = |what: &str| m.retrain_on.iter().any(|r| r == what);
    let alarms = [
        (
            "dataset-drift",
            "DatasetDriftShare",
            // Dataset drift is a share of drifting features at or above the threshold.
            ">=",
            m.drift.dataset_drift_share,
            retrain("drift"),
        ),
        (
            "accuracy",
            "Accuracy",
            "<",
            m.min_accuracy,
            retrain("accuracy"),
        ),
        ("f1", "F1", "<", m.min_f1, retrain("accuracy")),
        (
            "latency-p99",
            "LatencyP99Ms",
            ">",
            m.max_latency_p99_ms as f64,
            false,
        ),
        ("error-rate", "ErrorRate", ">", m.max_error_rate, false),
    ];
    for (name, metric, cmp, threshold, retrain) in alarms {
        list.push(res(
            format!("alarm.{name}"),
            ResourceKind::Alarm,
            json!({
                "name": physical_name(stack, name),
                "metric": metric,
                "comparison": cmp,
                "threshold": threshold,
                "window_days": m.window_days,
                "notify": m.alerts,
                "retrain": retrain,
                "cooldown_hours": m.cooldown_hours,
            }),
            &["topic.alerts"],
        ));
    }
    Graph::from_resources(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(addr: &str, deps: &[&str]) -> Resource {
        res(addr, ResourceKind::Settings, Value::Null, deps)
    }

    #[test]
    fn orders_dependencies_first_and_keeps_ties_stable() {
        let g = Graph::from_resources(vec![
            r("c", &["b"]),
            r("a", &[]),
            r("b", &["a"]),
            r("d", &[]),
        ])
        .expect("acyclic");
        let order: Vec<_> = g.resources.keys().cloned().collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn cycles_are_reported_as_the_chain() {
        let e = Graph::from_resources(vec![r("a", &["b"]), r("b", &["c"]), r("c", &["a"])])
            .expect_err("cycle");
        assert_eq!(e, GraphError::Cycle("a -> b -> c -> a".into()));
        assert_eq!(e.to_string(), "dependency cycle: a -> b -> c -> a");
    }

    #[test]
    fn dangling_dependencies_are_reported() {
        let e = Graph::from_resources(vec![r("a", &["zzz"])]).expect_err("dangling");
        assert!(matches!(e, GraphError::Dangling { .. }));
    }
}
