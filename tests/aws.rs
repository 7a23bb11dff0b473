//! The AWS provider end to end against the moto server: the `mlinfra` binary deploys
//! `stacks/heart-disease.yaml` with `--env localstack`, and every claim is checked with
//! independent AWS SDK reads, not mlinfra's state. No Docker: moto runs from the project venv.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use std::path::PathBuf;

use serde_json::{Value, json};

const BUCKET: &str = "mlinfra-heart-disease-lake";
const STACK: &str = "heart-disease";

/// One moto server, a working directory, and the example stack.
struct Env {
    endpoint: String,
    dir: tempfile::TempDir,
    stack: PathBuf,
    artifacts: PathBuf,
    sdk: aws_config::SdkConfig,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new() -> Env {
        let endpoint = moto::server().endpoint.clone();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sdk = rt.block_on(moto::sdk_config(&endpoint));
        Env {
            endpoint,
            dir: tempfile::tempdir().unwrap(),
            stack: cli::repo_root().join("stacks/heart-disease.yaml"),
            artifacts: cli::artifacts(),
            sdk,
            rt,
        }
    }

    /// A copy of the example stack with `from` replaced by `to`.
    fn edited_stack(&self, from: &str, to: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.stack).unwrap();
        assert!(text.contains(from), "`{from}` is not in the stack");
        let p = self.dir.path().join("edited.yaml");
        std::fs::write(&p, text.replace(from, to)).unwrap();
        p
    }

    fn command(&self, stack: &std::path::Path, args: &[&str]) -> std::process::Command {
        self.command_with(stack, &self.artifacts, args)
    }

    /// `mlinfra` on this emulator, with the packages of `artifacts`.
    fn command_with(
        &self,
        stack: &std::path::Path,
        artifacts: &std::path::Path,
        args: &[&str],
    ) -> std::process::Command {
        let mut full = vec![
            "-f",
            stack.to_str().unwrap(),
            "--env",
            "localstack",
            "--endpoint",
            &self.endpoint,
            "--artifacts",
            artifacts.to_str().unwrap(),
        ];
        full.extend_from_slice(args);
        cli::command(self.dir.path(), &full)
    }

    fn run_with(&self, stack: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        cli::output(self.command(stack, args))
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(&self.stack, args)
    }

    fn up(&self) -> Value {
        let (code, out, err) = self.run(&["up", "--yes", "--output", "json"]);
        assert_eq!(code, 0, "up failed:\n{out}\n{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// A JSON object of the lake bucket, read with the SDK (independently of mlinfra).
    fn s3_json(&self, key: &str) -> Value {
        self.rt.block_on(async {
            let o = self
                .s3()
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap()
        })
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// A plain GET to the emulator (moto serves bucket configuration to unsigned requests).
fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Statement"].as_array().cloned().unwrap_or_default()
}

fn actions(stmt: &Value) -> Vec<String> {
    match &stmt["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn up_creates_every_resource_with_its_settings_and_a_second_up_makes_no_mutating_call() {
    let env = Env::new();
    let first = env.up();
    // The bucket is created first (it holds the state), then adopted; the rest are created.
    assert_eq!(first["applied"]["created"], 21, "{first:#}");
    assert_eq!(first["applied"]["recorded"], 1, "{first:#}");
    // The interceptor sees the mutating calls (so zero, below, means zero).
    let calls = &first["api_calls"];
    assert!(calls["mutating"].as_u64().unwrap() >= 40, "{calls:#}");
    assert_eq!(
        calls["mutating_by_operation"]["Lambda:CreateFunction"], 4,
        "{calls:#}"
    );
    assert_eq!(
        calls["mutating_by_operation"]["IAM:CreateRole"], 4,
        "{calls:#}"
    );
    let url = first["outputs"]["api_url"].as_str().unwrap();
    assert!(
        url.starts_with("http://") && url.contains(".execute-api.localhost.localstack.cloud:"),
        "{url}"
    );
    assert!(url.ends_with("/v1/"), "{url}");
    // The adopted bucket has its outputs too, and the API a URL that needs no DNS name.
    assert_eq!(
        first["outputs"]["lake_uri"],
        format!("s3://{BUCKET}"),
        "{:#}",
        first["outputs"]
    );
    let id = url.trim_start_matches("http://").split('.').next().unwrap();
    assert_eq!(
        first["outputs"]["api_url_path"],
        format!("{}/_aws/execute-api/{id}/v1/", env.endpoint),
        "{:#}",
        first["outputs"]
    );

    env.rt.block_on(async {
        // The data lake bucket.
        let s3 = env.s3();
        // moto's versioning answer has a root element the SDK does not parse: read the XML.
        let v = http_get(&format!("{}/{BUCKET}?versioning", env.endpoint));
        assert!(v.contains("<Status>Enabled</Status>"), "{v}");
        let enc = s3
            .get_bucket_encryption()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let rule = &enc.server_side_encryption_configuration.unwrap().rules[0];
        let alg = rule
            .apply_server_side_encryption_by_default
            .as_ref()
            .unwrap();
        assert_eq!(alg.sse_algorithm.as_str(), "AES256");
        let pab = s3
            .get_public_access_block()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap()
            .public_access_block_configuration
            .unwrap();
        assert_eq!(
            (
                pab.block_public_acls,
                pab.ignore_public_acls,
                pab.block_public_policy,
                pab.restrict_public_buckets
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        // Over plain HTTP (the emulator) the TLS-only policy cannot apply: there is none, and
        // the plan records `tls_only: false`. `tls_policy` itself is unit-tested.
        let policy = s3.get_bucket_policy().bucket(BUCKET).send().await;
        assert!(policy.is_err(), "{policy:?}");
        let lc = s3
            .get_bucket_lifecycle_configuration()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap()
            .rules
            .unwrap();
        assert_eq!(lc[0].expiration.as_ref().unwrap().days, Some(90));
        // The state is in the bucket, not on this machine.
        let state = s3
            .get_object()
            .bucket(BUCKET)
            .key("state/localstack/state.json")
            .send()
            .await
            .unwrap();
        let state: Value =
            serde_json::from_slice(&state.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(state["resources"].as_object().unwrap().len(), 22);
        assert!(!env.dir.path().join(".mlinfra").exists());
        // The jobs' settings, where the functions read them.
        let settings = s3
            .get_object()
            .bucket(BUCKET)
            .key("artifacts/config/jobs.json")
            .send()
            .await
            .unwrap();
        let settings: Value =
            serde_json::from_slice(&settings.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(settings["stack"], "heart-disease");
        assert_eq!(settings["monitoring"]["drift"]["ks_p_value"], 0.05);

        // The registry table: keys and point-in-time recovery.
        let db = aws_sdk_dynamodb::Client::new(&env.sdk);
        let t = db
            .describe_table()
            .table_name("heart-disease-registry")
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys: Vec<(String, String)> = t
            .key_schema
            .unwrap()
            .into_iter()
            .map(|k| (k.attribute_name, k.key_type.as_str().to_string()))
            .collect();
        assert_eq!(
            keys,
            [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
        );
        assert_eq!(
            t.billing_mode_summary
                .unwrap()
                .billing_mode
                .unwrap()
                .as_str(),
            "PAY_PER_REQUEST"
        );
        let pitr = db
            .describe_continuous_backups()
            .table_name("heart-disease-registry")
            .send()
            .await
            .unwrap()
            .continuous_backups_description
            .unwrap()
            .point_in_time_recovery_description
            .unwrap();
        assert_eq!(
            pitr.point_in_time_recovery_status.unwrap().as_str(),
            "ENABLED"
        );

        // Roles: one inline policy each, no `*` action, resources of this stack only.
        let iam = aws_sdk_iam::Client::new(&env.sdk);
        for f in ["etl", "train", "predict", "monitor"] {
            let role = format!("{STACK}-{f}-role");
            let names = iam
                .list_role_policies()
                .role_name(&role)
                .send()
                .await
                .unwrap()
                .policy_names;
            assert_eq!(names, ["mlinfra-least-privilege"], "{role}");
            let attached = iam
                .list_attached_role_policies()
                .role_name(&role)
                .send()
                .await
                .unwrap()
                .attached_policies
                .unwrap_or_default();
            assert!(
                attached.is_empty(),
                "{role} has managed policies: {attached:?}"
            );
            let doc = iam
                .get_role_policy()
                .role_name(&role)
                .policy_name("mlinfra-least-privilege")
                .send()
                .await
                .unwrap()
                .policy_document;
            let doc = mlinfra::providers::aws::parse_document(&doc).unwrap();
            for s in statements(&doc) {
                for a in actions(&s) {
                    assert!(!a.contains('*'), "{role}: wildcard action `{a}`");
                }
                for r in s["Resource"].as_array().unwrap() {
                    let r = r.as_str().unwrap();
                    assert!(r != "*", "{role}: resource `*`");
                    assert!(
                        r.contains(BUCKET) || r.contains(STACK),
                        "{role}: resource `{r}` is not this stack's"
                    );
                }
            }
            let all: Vec<String> = statements(&doc).iter().flat_map(actions).collect();
            assert_eq!(
                all.iter().any(|a| a.starts_with("dynamodb:Put")),
                f == "train",
                "{role}: only train writes the registry: {all:?}"
            );
        }

        // Functions: runtime, memory, timeout, environment, alias.
        let lambda = aws_sdk_lambda::Client::new(&env.sdk);
        for (f, memory, timeout) in [
            ("etl", 512, 120),
            ("train", 2048, 900),
            ("predict", 256, 10),
            ("monitor", 512, 300),
        ] {
            let name = format!("{STACK}-{f}");
            let c = lambda
                .get_function()
                .function_name(&name)
                .send()
                .await
                .unwrap()
                .configuration
                .unwrap();
            assert_eq!(c.runtime.unwrap().as_str(), "provided.al2023", "{name}");
            assert_eq!(c.handler.as_deref(), Some("bootstrap"));
            assert_eq!(
                (c.memory_size, c.timeout),
                (Some(memory), Some(timeout)),
                "{name}"
            );
            let vars = c.environment.unwrap().variables.unwrap();
            assert_eq!(vars["MLINFRA_FUNCTION"], f);
            assert_eq!(vars["MLINFRA_LAKE"], format!("s3://{BUCKET}"));
            assert_eq!(vars["MLINFRA_REGISTRY"], "heart-disease-registry");
            assert!(
                c.role
                    .unwrap()
                    .ends_with(&format!(":role/{STACK}-{f}-role"))
            );
            let alias = lambda
                .get_alias()
                .function_name(&name)
                .name("live")
                .send()
                .await
                .unwrap();
            assert!(alias.function_version.is_some());
        }

        // Schedules: the stack's expressions, targeting the functions' live aliases.
        let events = aws_sdk_eventbridge::Client::new(&env.sdk);
        for (rule, expr, f) in [
            ("heart-disease-retrain", "cron(0 3 ? * MON *)", "train"),
            ("heart-disease-monitor", "rate(1 day)", "monitor"),
        ] {
            let r = events.describe_rule().name(rule).send().await.unwrap();
            assert_eq!(r.schedule_expression.as_deref(), Some(expr));
            assert_eq!(r.state.unwrap().as_str(), "ENABLED");
            let t = events
                .list_targets_by_rule()
                .rule(rule)
                .send()
                .await
                .unwrap()
                .targets
                .unwrap();
            assert_eq!(t.len(), 1);
            assert!(
                t[0].arn.ends_with(&format!(":function:{STACK}-{f}:live")),
                "{}",
                t[0].arn
            );
        }

        // The S3 notification raw/ -> etl.
        let n = s3
            .get_bucket_notification_configuration()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let l = &n.lambda_function_configurations.unwrap()[0];
        assert!(
            l.lambda_function_arn
                .ends_with(":function:heart-disease-etl:live")
        );
        let rule = &l
            .filter
            .as_ref()
            .unwrap()
            .key
            .as_ref()
            .unwrap()
            .filter_rules
            .as_ref()
            .unwrap()[0];
        assert_eq!(rule.value.as_deref(), Some("raw/"));

        // The API: routes, methods with an API key, proxy integrations, stage, usage plan.
        let apigw = aws_sdk_apigateway::Client::new(&env.sdk);
        let apis = apigw.get_rest_apis().send().await.unwrap().items.unwrap();
        let api = apis
            .iter()
            .find(|a| a.name.as_deref() == Some("heart-disease-api"))
            .unwrap();
        let id = api.id.clone().unwrap();
        assert!(url.starts_with(&format!("http://{id}.")), "{url}");
        let resources = apigw
            .get_resources()
            .rest_api_id(&id)
            .send()
            .await
            .unwrap()
            .items
            .unwrap();
        let mut routes = Vec::new();
        for r in &resources {
            for m in r
                .resource_methods
                .as_ref()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let method = apigw
                    .get_method()
                    .rest_api_id(&id)
                    .resource_id(r.id.clone().unwrap())
                    .http_method(&m)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(method.api_key_required, Some(true), "{m} {:?}", r.path);
                let i = method.method_integration.unwrap();
                assert_eq!(i.r#type.unwrap().as_str(), "AWS_PROXY");
                assert!(
                    i.uri
                        .unwrap()
                        .contains(":function:heart-disease-predict:live/invocations")
                );
                routes.push(format!("{m} {}", r.path.clone().unwrap()));
            }
        }
        routes.sort();
        assert_eq!(
            routes,
            [
                "ANY /v2/{proxy+}",
                "GET /health",
                "GET /v2",
                "POST /feedback",
                "POST /predict"
            ]
        );
        // Pictures' bodies reach the function base64-encoded; a request over the payload
        // limits gets a 413 that names them.
        let mut binary = apigw
            .get_rest_api()
            .rest_api_id(&id)
            .send()
            .await
            .unwrap()
            .binary_media_types
            .unwrap_or_default();
        binary.sort();
        assert_eq!(binary, ["image/jpeg", "image/png"]);
        let too_large = apigw
            .get_gateway_response()
            .rest_api_id(&id)
            .response_type(aws_sdk_apigateway::types::GatewayResponseType::RequestTooLarge)
            .send()
            .await
            .unwrap();
        assert_eq!(too_large.status_code.as_deref(), Some("413"));
        let body = &too_large.response_templates.unwrap()["application/json"];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("API Gateway accepts 10 MB"),
            "{body}"
        );
        apigw
            .get_stage()
            .rest_api_id(&id)
            .stage_name("v1")
            .send()
            .await
            .unwrap();
        let plans = apigw.get_usage_plans().send().await.unwrap().items.unwrap();
        let plan = plans
            .iter()
            .find(|p| p.name.as_deref() == Some("heart-disease-api-plan"))
            .unwrap();
        let th = plan.throttle.as_ref().unwrap();
        assert_eq!((th.rate_limit, th.burst_limit), (50.0, 100));
        assert_eq!(plan.quota.as_ref().unwrap().limit, 100_000);
        let keys = apigw
            .get_usage_plan_keys()
            .usage_plan_id(plan.id.clone().unwrap())
            .send()
            .await
            .unwrap()
            .items
            .unwrap();
        assert_eq!(keys.len(), 1);

        // Alerts: the topic and the alarms with the stack's thresholds.
        let cw = aws_sdk_cloudwatch::Client::new(&env.sdk);
        let alarms = cw
            .describe_alarms()
            .alarm_name_prefix("heart-disease-")
            .send()
            .await
            .unwrap()
            .metric_alarms
            .unwrap();
        let by_name = |n: &str| {
            alarms
                .iter()
                .find(|a| a.alarm_name.as_deref() == Some(n))
                .unwrap()
        };
        assert_eq!(alarms.len(), 5);
        assert_eq!(by_name("heart-disease-accuracy").threshold, Some(0.75));
        assert_eq!(
            by_name("heart-disease-accuracy")
                .comparison_operator
                .as_ref()
                .unwrap()
                .as_str(),
            "LessThanThreshold"
        );
        assert_eq!(by_name("heart-disease-dataset-drift").threshold, Some(0.5));
        assert_eq!(
            by_name("heart-disease-dataset-drift").comparison_operator,
            Some(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold),
            "dataset drift is a share at or above the threshold, as the monitor decides it"
        );
        assert_eq!(by_name("heart-disease-latency-p99").threshold, Some(100.0));
        let topic = "arn:aws:sns:us-east-1:123456789012:heart-disease-alerts";
        assert_eq!(
            by_name("heart-disease-f1").alarm_actions.clone().unwrap(),
            [topic]
        );
        let sns = aws_sdk_sns::Client::new(&env.sdk);
        let subs = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .send()
            .await
            .unwrap()
            .subscriptions
            .unwrap();
        let mut eps: Vec<String> = subs.iter().map(|s| s.endpoint.clone().unwrap()).collect();
        eps.sort();
        assert_eq!(
            eps,
            [
                "https://hooks.example.com/mlinfra/on-call",
                "ml-team@example.com"
            ]
        );
    });

    // A second `up`: reads only, and says so.
    let (code, out, err) = env.run(&["up", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    assert!(out.contains(", 0 of them changing anything"), "{out}");
    let second = env.up();
    assert_eq!(second["api_calls"]["mutating"], 0, "{second:#}");
    assert!(
        second["api_calls"]["total"].as_u64().unwrap() > 20,
        "{second:#}"
    );
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_rule_deleted_out_of_band_shows_in_diff_and_up_restores_it() {
    let env = Env::new();
    env.up();
    let events = aws_sdk_eventbridge::Client::new(&env.sdk);
    env.rt.block_on(async {
        events
            .remove_targets()
            .rule("heart-disease-retrain")
            .ids("mlinfra-function")
            .send()
            .await
            .unwrap();
        events
            .delete_rule()
            .name("heart-disease-retrain")
            .send()
            .await
            .unwrap();
    });
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("+ create schedule.retrain"), "{out}");
    assert!(out.contains("deleted outside mlinfra"), "{out}");
    assert!(
        out.contains("1 to create, 0 to update, 0 to delete"),
        "{out}"
    );

    let report = env.up();
    assert_eq!(report["applied"]["created"], 1, "{report:#}");
    env.rt.block_on(async {
        let r = events
            .describe_rule()
            .name("heart-disease-retrain")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.schedule_expression.as_deref(),
            Some("cron(0 3 ? * MON *)")
        );
        let t = events
            .list_targets_by_rule()
            .rule("heart-disease-retrain")
            .send()
            .await
            .unwrap();
        assert!(
            t.targets.unwrap()[0]
                .arn
                .ends_with(":function:heart-disease-train:live")
        );
    });
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_memory_change_is_exactly_one_update() {
    let env = Env::new();
    env.up();
    let edited = env.edited_stack(
        "  predict:\n    memory_mb: 256",
        "  predict:\n    memory_mb: 512",
    );
    let (code, out, err) = env.run_with(&edited, &["diff", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("~ update function.predict"), "{out}");
    assert!(out.contains("memory_mb: 256 -> 512"), "{out}");
    assert!(
        out.contains("0 to create, 1 to update, 0 to delete"),
        "{out}"
    );
    let (code, out, err) = env.run_with(&edited, &["up", "--yes", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &report["applied"]["created"],
            &report["applied"]["updated"],
            &report["applied"]["deleted"]
        ),
        (&Value::from(0), &Value::from(1), &Value::from(0)),
        "{report:#}"
    );
    let memory = env.rt.block_on(async {
        aws_sdk_lambda::Client::new(&env.sdk)
            .get_function_configuration()
            .function_name("heart-disease-predict")
            .send()
            .await
            .unwrap()
            .memory_size
    });
    assert_eq!(memory, Some(512));
    let (code, out, err) = env.run_with(&edited, &["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");

    // A monitoring threshold only the jobs read: one update, of the settings object in S3.
    let text = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(
        &edited,
        text.replace("ks_p_value: 0.05", "ks_p_value: 0.01"),
    )
    .unwrap();
    let (code, out, err) = env.run_with(&edited, &["diff", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("~ update settings.jobs"), "{out}");
    assert!(
        out.contains("monitoring.drift.ks_p_value: 0.05 -> 0.01"),
        "{out}"
    );
    assert!(
        out.contains("0 to create, 1 to update, 0 to delete"),
        "{out}"
    );
    let (code, out, err) = env.run_with(&edited, &["up", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let settings = env.s3_json("artifacts/config/jobs.json");
    assert_eq!(settings["monitoring"]["drift"]["ks_p_value"], 0.01);
    let (code, out, err) = env.run_with(&edited, &["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_failure_midway_leaves_a_consistent_state_and_the_next_up_converges() {
    let env = Env::new();
    let mut c = env.command(&env.stack, &["up", "--yes"]);
    c.env("MLINFRA_TEST_FAIL_AFTER", "9");
    let (code, out, err) = cli::output(c);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("injected failure"), "{err}");
    // Every resource the state records exists (checked for the functions and roles by SDK).
    let state = env.s3_json("state/localstack/state.json");
    let recorded: Vec<String> = state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(recorded.len() >= 9 && recorded.len() < 21, "{recorded:?}");
    env.rt.block_on(async {
        let lambda = aws_sdk_lambda::Client::new(&env.sdk);
        let iam = aws_sdk_iam::Client::new(&env.sdk);
        for addr in &recorded {
            if let Some(f) = addr.strip_prefix("function.") {
                lambda
                    .get_function()
                    .function_name(format!("{STACK}-{f}"))
                    .send()
                    .await
                    .unwrap();
            }
            if let Some(f) = addr.strip_prefix("role.") {
                iam.get_role()
                    .role_name(format!("{STACK}-{f}-role"))
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
    // The lock was released.
    let (code, out, _) = env.run(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("lock:      free"), "{out}");
    let (code, out, err) = env.run(&["up", "--yes", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let created = report["applied"]["created"].as_u64().unwrap();
    assert_eq!(created as usize + recorded.len(), 22, "{report:#}");
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn down_leaves_only_the_retained_bucket_and_delete_data_removes_it() {
    let env = Env::new();
    env.up();
    let (code, out, err) = env.run(&["down", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("kept the data lake bucket"), "{out}");
    env.rt.block_on(async {
        let lambda = aws_sdk_lambda::Client::new(&env.sdk);
        assert!(
            lambda
                .list_functions()
                .send()
                .await
                .unwrap()
                .functions
                .unwrap_or_default()
                .is_empty()
        );
        let iam = aws_sdk_iam::Client::new(&env.sdk);
        let roles = iam.list_roles().send().await.unwrap().roles;
        assert!(
            roles.iter().all(|r| !r.role_name.starts_with(STACK)),
            "{roles:?}"
        );
        let events = aws_sdk_eventbridge::Client::new(&env.sdk);
        let rules = events
            .list_rules()
            .send()
            .await
            .unwrap()
            .rules
            .unwrap_or_default();
        assert!(
            rules
                .iter()
                .all(|r| !r.name.as_deref().unwrap_or("").starts_with(STACK)),
            "{rules:?}"
        );
        let apigw = aws_sdk_apigateway::Client::new(&env.sdk);
        assert!(
            apigw
                .get_rest_apis()
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default()
                .is_empty()
        );
        assert!(
            apigw
                .get_api_keys()
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default()
                .is_empty()
        );
        assert!(
            apigw
                .get_usage_plans()
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default()
                .is_empty()
        );
        let sns = aws_sdk_sns::Client::new(&env.sdk);
        assert!(
            sns.list_topics()
                .send()
                .await
                .unwrap()
                .topics
                .unwrap_or_default()
                .is_empty()
        );
        let cw = aws_sdk_cloudwatch::Client::new(&env.sdk);
        assert!(
            cw.describe_alarms()
                .send()
                .await
                .unwrap()
                .metric_alarms
                .unwrap_or_default()
                .is_empty()
        );
        let db = aws_sdk_dynamodb::Client::new(&env.sdk);
        assert!(
            db.list_tables()
                .send()
                .await
                .unwrap()
                .table_names
                .unwrap_or_default()
                .is_empty()
        );
        env.s3()
            .head_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("the lake is retained");
    });
    let (code, out, err) = env.run(&["down", "--yes", "--delete-data"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted the data lake bucket"), "{out}");
    env.rt.block_on(async {
        let buckets = env
            .s3()
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets
            .unwrap_or_default();
        assert!(buckets.is_empty(), "{buckets:?}");
    });
    let (code, out, err) = env.run(&["down", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Nothing to delete"), "{out}");
}

#[test]
fn of_two_concurrent_ups_with_remote_state_one_gets_the_lock_error() {
    let env = Env::new();
    let start = |_: usize| {
        let mut c = env.command(&env.stack, &["up", "--yes"]);
        c.env("MLINFRA_TEST_STEP_DELAY_MS", "300")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let a = start(0);
    let b = start(1);
    let outs: Vec<_> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
    let errs: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1], "{codes:?}\n{errs:#?}");
    let loser = &errs[codes.iter().position(|c| *c == 1).unwrap()];
    assert!(loser.contains("the state is locked by"), "{loser}");
    assert!(
        loser.contains("s3://mlinfra-heart-disease-lake/state/localstack/state.lock"),
        "{loser}"
    );
    let (code, out, err) = env.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn only_a_function_whose_package_changed_is_uploaded_again() {
    let env = Env::new();
    env.up();
    // A second artifacts directory where only `predict`'s package differs.
    let other = env.dir.path().join("artifacts");
    for f in ["etl", "train", "predict", "monitor"] {
        std::fs::create_dir_all(other.join(f)).unwrap();
        let from = if f == "predict" { "etl" } else { f };
        std::fs::copy(
            env.artifacts.join(from).join("bootstrap.zip"),
            other.join(f).join("bootstrap.zip"),
        )
        .unwrap();
    }
    let run = |args: &[&str]| cli::output(env.command_with(&env.stack, &other, args));
    let (code, out, err) = run(&["diff", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("~ update function.predict"), "{out}");
    assert!(out.contains("code_sha256:"), "{out}");
    assert!(
        out.contains("0 to create, 1 to update, 0 to delete"),
        "{out}"
    );
    let (code, out, err) = run(&["up", "--yes", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["applied"]["updated"], 1, "{report:#}");
    let ops = &report["api_calls"]["mutating_by_operation"];
    assert_eq!(ops["Lambda:UpdateFunctionCode"], 1, "{ops:#}");
    assert!(ops.get("Lambda:CreateFunction").is_none(), "{ops:#}");
    assert!(
        ops.get("Lambda:UpdateFunctionConfiguration").is_none(),
        "{ops:#}"
    );
    let sha = env.rt.block_on(async {
        aws_sdk_lambda::Client::new(&env.sdk)
            .get_function_configuration()
            .function_name("heart-disease-predict")
            .send()
            .await
            .unwrap()
            .code_sha256
            .unwrap()
    });
    let zip = std::fs::read(other.join("predict/bootstrap.zip")).unwrap();
    assert_eq!(sha, mlinfra::build::code_sha256(&zip));
}

#[test]
fn the_lake_policy_denies_every_request_not_made_over_tls() {
    // `up` over plain HTTP cannot make the lake TLS-only (see docs/aws.md), so the provider is
    // driven directly, as on AWS, and the policy read back with the SDK.
    use mlinfra::engine::Resource;
    use mlinfra::providers::Provider as _;
    use mlinfra::providers::aws::{AwsProvider, AwsSettings};
    let env = Env::new();
    let bucket = "mlinfra-tls-only-check";
    env.rt.block_on(async {
        let p = AwsProvider::new(AwsSettings {
            env: "aws",
            region: "us-east-1".into(),
            endpoint: Some(env.endpoint.clone()),
            profile: None,
            stack: STACK.into(),
            model: STACK.into(),
            bucket: bucket.into(),
            artifacts: env.artifacts.clone(),
        })
        .await;
        let lake = Resource {
            addr: "lake".into(),
            kind: mlinfra::engine::ResourceKind::Lake,
            props: serde_json::json!({
                "bucket": bucket,
                "prefixes": ["raw/"],
                "versioning": true,
                "encryption": "AES256",
                "public_access": "blocked",
                "tls_only": true,
                "prediction_log_days": 30,
            }),
            depends_on: Vec::new(),
        };
        p.create(&lake).await.unwrap();
        let policy: Value = serde_json::from_str(
            &env.s3()
                .get_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .unwrap()
                .policy
                .unwrap(),
        )
        .unwrap();
        let stmts = statements(&policy);
        assert_eq!(stmts.len(), 1, "{policy:#}");
        let s = &stmts[0];
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Principal"], "*");
        assert_eq!(s["Action"], "s3:*");
        assert_eq!(s["Condition"]["Bool"]["aws:SecureTransport"], "false");
        let resources: Vec<&str> = s["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(
            resources,
            [
                format!("arn:aws:s3:::{bucket}"),
                format!("arn:aws:s3:::{bucket}/*")
            ]
        );
        // And the provider reads it back as TLS-only: no change planned.
        let live = p
            .read("lake", mlinfra::engine::ResourceKind::Lake, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live["tls_only"], true);
        assert_eq!(live["prediction_log_days"], 30);
    });
}

/// `mlinfra models ... --env localstack|aws`: the registry verbs on the stack's DynamoDB table.
#[test]
fn the_registry_verbs_act_on_the_dynamodb_table() {
    let env = Env::new();
    // Before `up`: the table does not exist, and the error says what to do.
    let (code, _, err) = env.run(&["models", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`mlinfra-heart-disease-lake` does not exist on `localstack`")
            && err.contains("hint: run `mlinfra up --env localstack` first"),
        "{err}"
    );
    env.up();
    let (code, out, err) = env.run(&["models", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("has no versions yet"), "{out}");
    let register = |run: &str, sha: &str| register_as_the_train_function(&env, run, sha);
    register("r1", "ab");
    let (code, out, err) = env.run(&["models", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Staging") && out.contains("mlinfra-train"),
        "{out}"
    );
    // On localstack `--as` names the person; the two-person rule holds.
    let (code, out, err) = env.run(&[
        "models",
        "request",
        "1",
        "--to",
        "production",
        "--as",
        "alice",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let request: Value = serde_json::from_str(&out).unwrap();
    let id = request["id"].as_str().unwrap().to_string();
    let (code, _, err) = env.run(&["models", "approve", &id, "--as", "alice"]);
    assert_eq!(code, 1);
    assert!(err.contains("alice"), "{err}");
    let (code, out, err) = env.run(&["models", "approve", &id, "--as", "bob"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.run(&["models", "show", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["stage"], "Production", "{shown}");
    let (code, out, err) = env.run(&["models", "audit", "--output", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("alice") && out.contains("bob"), "{out}");
    // Registering a run the S3 lake does not hold: said, with where it looked.
    let (code, _, err) = env.run(&["models", "register", "--run", "r2", "--as", "alice"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "error: no run `r2`: `s3://mlinfra-heart-disease-lake/artifacts/runs/r2/run.json` does not exist"
        ) && err.contains("hint: `mlinfra runs list` shows the runs"),
        "{err}"
    );

    // On `aws` the identity is the caller's ARN: `--as` is refused. (The emulator's region.)
    let in_region = env.edited_stack("region: eu-west-1", "region: us-east-1");
    let aws = |args: &[&str]| {
        let mut full = vec![
            "-f",
            in_region.to_str().unwrap(),
            "--env",
            "aws",
            "--endpoint",
            &env.endpoint,
            "--artifacts",
            env.artifacts.to_str().unwrap(),
        ];
        full.extend_from_slice(args);
        let mut c = cli::command(env.dir.path(), &full);
        c.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
        cli::output(c)
    };
    // Without `--as`, the request is made by the caller's ARN, and the same caller cannot
    // approve it.
    register("r2", "ba");
    let (code, out, err) = aws(&[
        "models",
        "request",
        "2",
        "--to",
        "production",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let request: Value = serde_json::from_str(&out).unwrap();
    let by = request["requested_by"].as_str().unwrap().to_string();
    assert!(by.starts_with("arn:aws:"), "{request}");
    let (code, _, err) = aws(&["models", "approve", request["id"].as_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains(&by), "{err}");
    let (code, _, err) = aws(&["models", "rollback", "--as", "bob"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the acting identity is your AWS caller identity"),
        "{err}"
    );
}

/// Register a version in the DynamoDB registry as the `train` function does (a made-up model
/// file at `s3://…/models/heart-disease/RUN/model.onnx`, sha256 `sha` repeated).
fn register_as_the_train_function(env: &Env, run: &str, sha: &str) {
    env.rt.block_on(async {
        let store = mlinfra_core::registry::dynamodb::DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&env.sdk),
            "heart-disease-registry",
        );
        let reg = mlinfra_core::registry::Registry::new(
            store,
            mlinfra_core::registry::Policy {
                metric: mlinfra_core::metrics::Metric::RocAuc,
                min_metric: 0.85,
                staging_automatic: true,
                production_automatic: false,
                emergency_rollback: false,
            },
        );
        reg.register(
            "heart-disease",
            mlinfra_core::registry::Candidate {
                artifact_uri: format!("s3://{BUCKET}/models/heart-disease/{run}/model.onnx"),
                sha256: sha.repeat(32),
                run_id: run.into(),
                data_hash: format!("sha256:{}", "cd".repeat(32)),
                schema_version: format!("sha256:{}", "ef".repeat(32)),
                metrics: [("roc_auc".to_string(), 0.9)].into_iter().collect(),
            },
            "mlinfra-train",
        )
        .await
        .unwrap();
    });
}

/// The lifecycle verbs with `--env localstack`, in-process against the bucket and the table:
/// new data through ETL into the curated data in S3, a retraining that registers in DynamoDB
/// and requests Production, a second person's approval, the run history and a monitoring run
/// whose report lands in S3.
#[test]
fn the_lifecycle_verbs_run_against_s3_and_dynamodb() {
    let env = Env::new();
    let (code, _, err) = env.run(&["data", "ingest", "nothing.csv"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("hint: run `mlinfra up --env localstack` first"),
        "{err}"
    );
    env.up();
    let data = cli::repo_root().join("examples/heart-disease/processed.cleveland.csv");
    let week = env.dir.path().join("week-1.csv");
    std::fs::copy(&data, &week).unwrap();
    let (code, out, err) = env.run(&["data", "ingest", week.to_str().unwrap(), "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let ingested: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ingested["outcome"], "curated", "{ingested}");
    assert_eq!(ingested["rows"], 303);
    // The same name again: refused, nothing overwritten.
    let (code, _, err) = env.run(&["data", "ingest", week.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists in the lake"), "{err}");

    let (code, out, err) = env.run(&["retrain", "--as", "alice", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let trained: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trained["registered_version"], 1, "{trained}");
    assert_eq!(trained["stage"], "Staging");
    let request = trained["request"].as_str().unwrap().to_string();
    let (code, out, err) = env.run(&["models", "approve", &request, "--as", "bob"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.run(&["runs", "list", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs["executions"][0]["actor"], "alice", "{runs}");
    assert_eq!(runs["executions"][0]["registered_version"], 1);

    // Everything is in the bucket, read independently of mlinfra.
    let keys: Vec<String> = env.rt.block_on(async {
        env.s3()
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    });
    let has = |prefix: &str| keys.iter().any(|k| k.starts_with(prefix));
    assert!(has("raw/week-1.csv"), "{keys:?}");
    assert!(
        has("curated/latest.json") && has("artifacts/runs/"),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("models/heart-disease/") && k.ends_with("/model.onnx")),
        "{keys:?}"
    );

    // A monitoring run with no traffic yet: reported (not judged), the report in S3.
    let (code, out, err) = env.run(&["monitor", "check", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let key = report["report_key"].as_str().unwrap();
    assert!(key.starts_with("artifacts/monitoring/reports/"), "{report}");
    assert_eq!(report["report"]["version"], Value::Null);
    let stored = env.rt.block_on(async {
        env.s3()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .is_ok()
    });
    assert!(stored, "the report is in the bucket");

    // `pipeline run` trains here on the cloud's data: every artifact in the bucket. A run on
    // other data (three rows fewer), not registered; then `models register --run` registers it
    // from the bucket, checked against the sha256 the run recorded.
    let text = std::fs::read_to_string(&data).unwrap();
    let fewer: Vec<&str> = text.lines().collect();
    let fewer = fewer[..fewer.len() - 3].join("\n") + "\n";
    let smaller = env.dir.path().join("fewer.csv");
    std::fs::write(&smaller, fewer).unwrap();
    let (code, out, err) = env.run(&[
        "pipeline",
        "run",
        "--data",
        smaller.to_str().unwrap(),
        "--no-register",
        "--as",
        "carol",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let piped: Value = serde_json::from_str(&out).unwrap();
    let run = piped["run"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(piped["run"]["rows"], 300, "{piped}");
    let model_key = format!("models/{STACK}/{run}/model.onnx");
    assert!(
        piped["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == &Value::from(format!("s3://{BUCKET}/{model_key}"))),
        "{piped}"
    );
    let (code, out, err) = env.run(&[
        "models", "register", "--run", &run, "--as", "carol", "--output", "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let registered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(registered["version"], 2, "{registered}");
    assert_eq!(
        registered["artifact_uri"],
        format!("s3://{BUCKET}/{model_key}")
    );

    // Batch prediction with the Production model read from S3.
    let scored = env.dir.path().join("scored.csv");
    let (code, out, err) = env.run(&[
        "predict",
        "--input",
        data.to_str().unwrap(),
        "--out",
        scored.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let batch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(batch["rows"], 303, "{batch}");
    assert_eq!(batch["version"], 1, "{batch}");
    assert_eq!(
        std::fs::read_to_string(&scored).unwrap().lines().count(),
        304
    );

    // The OpenAPI document from the Production model's schema.
    let (code, out, err) = env.run(&["api", "spec"]);
    assert_eq!(code, 0, "{out}{err}");
    let spec: Value = serde_json::from_str(&out).unwrap();
    assert!(spec["paths"]["/predict"]["post"].is_object(), "{spec}");

    // `serve` on the cloud environment: the deployed REST API over HTTPS (a self-signed
    // certificate), its predict function run here from its package with its deployed
    // configuration, reading the Production model from S3 and DynamoDB. Requests go through
    // curl, trusting the certificate serve wrote.
    let key = env.rt.block_on(async {
        aws_sdk_apigateway::Client::new(&env.sdk)
            .get_api_keys()
            .name_query(format!("{STACK}-key"))
            .include_values(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .into_iter()
            .find_map(|k| k.value)
            .unwrap()
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // An account for the console, kept with this machine's secrets of the environment (the
    // example stack's directory, shared by runs of this test: an earlier run's account goes).
    let _ = env
        .command(&env.stack, &["users", "remove", "carol"])
        .output()
        .unwrap();
    let mut add = env.command(&env.stack, &["users", "add", "carol"]);
    add.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut adding = add.spawn().unwrap();
    {
        use std::io::Write as _;
        adding
            .stdin
            .take()
            .unwrap()
            .write_all(b"carol-password-1\n")
            .unwrap();
    }
    let added = adding.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "users add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let mut serve = env.command(&env.stack, &["serve", "--port", &port.to_string()]);
    serve
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = serve.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut cert = None;
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve did not start: {seen:?}"));
        if let Some(rest) = line.split_once("self-signed certificate for ") {
            cert = rest
                .1
                .split_once(": ")
                .map(|(_, p)| p.split(" (").next().unwrap().to_string());
        }
        let listening = line.contains(&format!("listening on https://127.0.0.1:{port}/v1/"));
        seen.push(line);
        if listening {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("POST /v1/predict -> heart-disease-predict (API key)")),
        "{seen:?}"
    );
    let cert = cert.unwrap_or_else(|| panic!("no certificate path in {seen:?}"));
    let curl = |path: &str, key: Option<&str>| -> (u16, Value) {
        let body = r#"{"instances": [{"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}]}"#;
        cli::https_post(&cert, &format!("https://localhost:{port}{path}"), key, body)
    };
    let refused = curl("/v1/predict", Some("not-the-key"));
    let missing = curl("/v1/predict", None);
    let unknown = curl("/v1/nowhere", Some(&key));
    let answered = curl("/v1/predict", Some(&key));
    // The OpenAPI contract holds for the deployed function behind API Gateway too:
    // schemathesis, from the document `mlinfra api spec` printed above, against this front.
    // Left out: its `unsupported_method` check, which wants a 405 where API Gateway answers a
    // method the resource lacks with `403 Missing Authentication Token` (documented 403).
    let spec_file = env.dir.path().join("openapi.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    let contract = cli::schemathesis(
        &spec_file,
        &format!("https://localhost:{port}/v1"),
        &[&format!("x-api-key: {key}")],
        &[
            "--exclude-checks",
            "unsupported_method",
            "--tls-verify",
            &cert,
            "--max-examples",
            "25",
            // Under the usage plan's 50 requests a second, so that the routes are tested
            // rather than throttled.
            "--rate-limit",
            "40/s",
        ],
        env.dir.path(),
    );
    // The console on the same port: the registry from DynamoDB, and Try it gives the
    // probabilities the deployed predict function gave.
    let console = cli::Console::sign_in(
        &format!("https://localhost:{port}"),
        Some(&cert),
        env.dir.path().join("console-cookies"),
        "carol",
        "carol-password-1",
    );
    let (_, models) = console.get("/ui/models");
    let instance = [
        ("age", "63"),
        ("sex", "1"),
        ("cp", "1"),
        ("trestbps", "145"),
        ("chol", "233"),
        ("fbs", "1"),
        ("restecg", "2"),
        ("thalach", "150"),
        ("exang", "0"),
        ("oldpeak", "2.3"),
        ("slope", "3"),
        ("ca", "0"),
        ("thal", "6"),
    ];
    let mut fields: Vec<(String, String)> = vec![
        ("csrf".into(), console.csrf.clone()),
        ("stage".into(), "production".into()),
    ];
    fields.extend(
        instance
            .iter()
            .map(|(k, v)| (format!("x.{k}"), v.to_string())),
    );
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (tried_code, tried) = console.post("/ui/try", &fields);
    let _ = child.kill();
    let _ = child.wait();
    let (found_nothing, contract_out) = contract;
    assert!(
        found_nothing,
        "schemathesis against the deployed API:\n{contract_out}"
    );
    assert!(contract_out.contains("Tested: 3"), "{contract_out}");
    assert!(models.contains("id=\"stage-v1\">Production"), "{models}");
    assert_eq!(tried_code, 200, "{tried}");
    assert_eq!(refused, (403, json!({"message": "Forbidden"})));
    assert_eq!(missing, (403, json!({"message": "Forbidden"})));
    assert_eq!(
        unknown,
        (403, json!({"message": "Missing Authentication Token"}))
    );
    let (code, answer) = answered;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["model"]["version"], 1, "{answer}");
    // The same model file and the same code built twice (the function in release, this
    // `mlinfra` in debug, tract unoptimised): seen to differ in the last bit of an f32.
    for (class, p) in answer["predictions"][0]["probabilities"]
        .as_object()
        .unwrap()
    {
        let shown = cli::span_number(&tried, &format!("p-{class}"));
        assert!(
            (shown - p.as_f64().unwrap()).abs() < 1e-6,
            "class {class}: console {shown}, API {p}"
        );
    }
}

/// The registry's SageMaker mirror (`registry.sagemaker_mirror: true`) against the moto server,
/// read back with the SageMaker SDK: a registered version becomes a model package awaiting
/// approval, in the same command; approval to Production makes it Approved and the archived one
/// Rejected; a rollback's statuses follow; with SageMaker unreachable the registry change still
/// stands, the command says the mirror is out of step, `models show` says where, and `models
/// sync` repairs it. Only with the feature `sagemaker` (`make test` runs it with an `mlinfra`
/// built with that feature), so that the workspace's tests do not compile the SageMaker SDK.
#[cfg(feature = "sagemaker")]
#[test]
fn the_sagemaker_mirror_follows_the_registry() {
    let env = Env::new();
    let stack = env.edited_stack(
        "promotion:\n",
        "registry:\n  sagemaker_mirror: true\n\npromotion:\n",
    );
    let run = |args: &[&str]| {
        let (code, out, err) = env.run_with(&stack, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        (out, err)
    };
    run(&["up", "--yes"]);
    let week = env.dir.path().join("week-1.csv");
    std::fs::copy(
        cli::repo_root().join("examples/heart-disease/processed.cleveland.csv"),
        &week,
    )
    .unwrap();
    run(&["data", "ingest", week.to_str().unwrap()]);
    let sagemaker = aws_sdk_sagemaker::Client::new(&env.sdk);
    // Version, status and metrics URI of every package in the model's group.
    let packages = || -> Vec<(u64, String, String)> {
        env.rt.block_on(async {
            let page = sagemaker
                .list_model_packages()
                .model_package_group_name(STACK)
                .send()
                .await
                .unwrap();
            let mut out = Vec::new();
            for p in page.model_package_summary_list() {
                let d = sagemaker
                    .describe_model_package()
                    .model_package_name(p.model_package_arn().unwrap())
                    .send()
                    .await
                    .unwrap();
                let description = d.model_package_description().unwrap_or_default();
                let version: u64 = description
                    .strip_prefix("heart-disease version ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("not an mlinfra description: {description}"));
                let metrics = d
                    .model_metrics()
                    .and_then(|m| m.model_quality())
                    .and_then(|q| q.statistics())
                    .and_then(|s| s.s3_uri())
                    .map(str::to_string)
                    .unwrap_or_default();
                let status = d
                    .model_approval_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                out.push((version, status, metrics));
            }
            out.sort();
            out
        })
    };
    let statuses =
        || -> Vec<(u64, String)> { packages().into_iter().map(|(v, s, _)| (v, s)).collect() };

    // Registered by the retraining: a package awaiting approval, with the run's evaluation.
    let (out, _) = run(&["retrain", "--as", "alice", "--output", "json"]);
    let trained: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trained["registered_version"], 1, "{trained}");
    let first = packages();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (first[0].0, first[0].1.as_str()),
        (1, "PendingManualApproval")
    );
    let key = first[0]
        .2
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap_or_else(|| panic!("metrics not in the lake: {}", first[0].2));
    assert!(
        env.s3_json(key)["candidate"]["roc_auc"].is_number(),
        "{key}"
    );

    // Approved to Production: Approved.
    let request = trained["request"].as_str().unwrap().to_string();
    run(&["models", "approve", &request, "--as", "bob"]);
    assert_eq!(statuses(), [(1, "Approved".to_string())]);

    // A second version, registered by the train function (outside mlinfra): the next command
    // that changes the registry, a request for Production, mirrors it awaiting approval.
    register_as_the_train_function(&env, "r2", "ba");
    let (out, _) = run(&[
        "models",
        "request",
        "2",
        "--to",
        "production",
        "--as",
        "alice",
        "--output",
        "json",
    ]);
    let r2: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        statuses(),
        [
            (1, "Approved".to_string()),
            (2, "PendingManualApproval".to_string())
        ]
    );
    // Approved, it archives version 1: Approved and Rejected.
    run(&[
        "models",
        "approve",
        r2["id"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    assert_eq!(
        statuses(),
        [(1, "Rejected".to_string()), (2, "Approved".to_string())]
    );

    // A rollback, approved while SageMaker cannot be reached: the registry moves, the command
    // says the mirror is out of step.
    let (out, _) = run(&["models", "rollback", "--as", "alice", "--output", "json"]);
    let rollback: Value = serde_json::from_str(&out).unwrap();
    let mut approve = env.command(
        &stack,
        &[
            "models",
            "approve",
            rollback["id"].as_str().unwrap(),
            "--as",
            "bob",
        ],
    );
    approve.env("MLINFRA_SAGEMAKER_ENDPOINT", "http://127.0.0.1:1");
    let (code, out, err) = cli::output(approve);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: the SageMaker mirror is out of step")
            && err.contains("`mlinfra models sync`"),
        "{err}"
    );
    let (out, _) = run(&["models", "show", "1", "--output", "json"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["stage"], "Production", "{shown}");
    assert_eq!(shown["sagemaker_mirror"]["in_step"], false, "{shown}");
    assert_eq!(
        shown["sagemaker_mirror"]["drift"],
        json!([
            "version 1 is Rejected in SageMaker, expected Approved",
            "version 2 is Approved in SageMaker, expected Rejected"
        ]),
        "{shown}"
    );
    assert_eq!(
        statuses(),
        [(1, "Rejected".to_string()), (2, "Approved".to_string())]
    );
    // The next command repairs it.
    let (out, _) = run(&["models", "sync"]);
    assert!(out.contains("2 status(es) updated"), "{out}");
    assert_eq!(
        statuses(),
        [(1, "Approved".to_string()), (2, "Rejected".to_string())]
    );
    let (out, _) = run(&["models", "show", "1"]);
    assert!(out.contains("sagemaker  in step"), "{out}");
}
