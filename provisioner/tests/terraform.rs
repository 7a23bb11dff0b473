//! `terraform/aws` against mlinfra's own desired graph for the example stack: every `.tf` file
//! parsed (hcl-rs), the module's resource types per graph kind, each function's IAM policy
//! (evaluated from the module's expressions) equal to the one `mlinfra up` writes, the bucket's
//! settings, the registry table, the API's routes and key, the alarms' metrics and directions,
//! and `mlinfra export terraform`'s inputs (a golden file) carrying the schedules, thresholds,
//! memory and timeouts. A difference on one side only fails here, naming it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::Project;
use hcl::eval::{Context, Evaluate as _, FuncArgs, FuncDef, ParamType};
use mlinfra::engine::ResourceKind;
use mlinfra::providers::aws::iam;
use serde_json::{Value, json};

fn module_dir() -> PathBuf {
    common::repo_root().join("terraform/aws")
}

/// Every `.tf` file of the module, as (name, text).
fn files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(module_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "tf").then(|| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// The module as JSON: `resource.<type>.<name>`, `locals`, `variable`, `output`, `data`, each
/// merged over the files (expressions that are not literals are strings like `${...}`).
fn module() -> Value {
    let mut doc = json!({});
    for (name, text) in files() {
        let v: Value = hcl::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        merge(&mut doc, v);
    }
    doc
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn stack() -> mlinfra::stack::Stack {
    mlinfra::stack::load(&common::repo_root().join("stacks/heart-disease.yaml"))
        .unwrap()
        .stack
}

fn graph() -> mlinfra::engine::Graph {
    mlinfra::commands::desired_graph(&stack()).unwrap()
}

/// The module's resource types standing for each kind of the graph.
fn types_of(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::Lake => &[
            "aws_s3_bucket",
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_policy",
            "aws_s3_bucket_lifecycle_configuration",
        ],
        ResourceKind::Registry => &["aws_dynamodb_table"],
        ResourceKind::Role => &["aws_iam_role", "aws_iam_role_policy"],
        ResourceKind::Function => &["aws_lambda_function", "aws_lambda_alias"],
        ResourceKind::Notification => &["aws_s3_bucket_notification"],
        ResourceKind::Schedule => &["aws_cloudwatch_event_rule", "aws_cloudwatch_event_target"],
        ResourceKind::Api => &[
            "aws_api_gateway_rest_api",
            "aws_api_gateway_resource",
            "aws_api_gateway_method",
            "aws_api_gateway_integration",
            "aws_api_gateway_deployment",
            "aws_api_gateway_stage",
            "aws_api_gateway_usage_plan",
            "aws_api_gateway_gateway_response",
        ],
        ResourceKind::ApiKey => &["aws_api_gateway_api_key", "aws_api_gateway_usage_plan_key"],
        ResourceKind::Topic => &["aws_sns_topic", "aws_sns_topic_subscription"],
        ResourceKind::Alarm => &["aws_cloudwatch_metric_alarm"],
        ResourceKind::Settings => &["aws_s3_object"],
    }
}

/// Permissions to invoke the functions: the notification's, the schedules' and the API's.
const GLUE: [&str; 1] = ["aws_lambda_permission"];

#[test]
fn the_module_has_a_resource_type_for_every_kind_and_nothing_else() {
    let doc = module();
    let have: BTreeSet<String> = doc["resource"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut kinds: Vec<ResourceKind> = Vec::new();
    for r in graph().resources.values() {
        if !kinds.contains(&r.kind) {
            kinds.push(r.kind);
        }
    }
    let mut want: BTreeSet<String> = GLUE.iter().map(|s| s.to_string()).collect();
    for k in &kinds {
        for t in types_of(*k) {
            want.insert(t.to_string());
            assert!(
                have.contains(*t),
                "the graph has `{k}` resources; the module has no `{t}`"
            );
        }
    }
    let extra: Vec<&String> = have.difference(&want).collect();
    assert!(
        extra.is_empty(),
        "the module has resource types mlinfra does not create: {extra:?}"
    );
    assert_eq!(
        kinds.len(),
        ResourceKind::ALL.len(),
        "every kind in the example stack"
    );
}

/// A Terraform expression's value with the module's locals, fixed ARNs and the given `var`.
struct Eval {
    ctx: Context<'static>,
}

fn concat(args: FuncArgs) -> Result<hcl::Value, String> {
    let mut out = Vec::new();
    for a in args.iter() {
        out.extend(a.as_array().ok_or("concat takes lists")?.iter().cloned());
    }
    Ok(hcl::Value::Array(out))
}

fn endswith(args: FuncArgs) -> Result<hcl::Value, String> {
    let s = args[0].as_str().ok_or("endswith takes strings")?;
    let t = args[1].as_str().ok_or("endswith takes strings")?;
    Ok(hcl::Value::Bool(s.ends_with(t)))
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

impl Eval {
    fn new(stack: &mlinfra::stack::Stack) -> Eval {
        let mut ctx = Context::new();
        ctx.declare_func(
            "concat",
            FuncDef::builder()
                .variadic_param(ParamType::Any)
                .build(concat),
        );
        ctx.declare_func(
            "endswith",
            FuncDef::builder()
                .params([ParamType::String, ParamType::String])
                .build(endswith),
        );
        let s = &stack.name;
        let to = |v: Value| hcl::to_value(v).unwrap();
        ctx.declare_var(
            "var",
            to(json!({
                "stack": s, "bucket": stack.lake.bucket, "model": stack.model.name,
                "api": {"auth": stack.api.auth},
            })),
        );
        ctx.declare_var(
            "data",
            to(json!({
                "aws_caller_identity": {"current": {"account_id": ACCOUNT}},
                "aws_region": {"current": {"region": REGION}},
                "aws_partition": {"current": {"partition": "aws"}},
            })),
        );
        ctx.declare_var(
            "aws_dynamodb_table",
            to(json!({"registry": {"arn": format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{s}-registry")}})),
        );
        ctx.declare_var(
            "aws_sns_topic",
            to(json!({"alerts": {"arn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:{s}-alerts")}})),
        );
        ctx.declare_var(
            "aws_lambda_function",
            to(json!({"function": {"train": {"arn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{s}-train")}}})),
        );
        // The locals, in as many passes as their references to each other need.
        let mut pending: Vec<(String, hcl::Expression)> = Vec::new();
        for (_, text) in files() {
            let body = hcl::parse(&text).unwrap();
            for block in body.blocks().filter(|b| b.identifier() == "locals") {
                for a in block.body().attributes() {
                    pending.push((a.key().to_string(), a.expr().clone()));
                }
            }
        }
        let mut locals = hcl::Map::new();
        while !pending.is_empty() {
            let before = pending.len();
            ctx.declare_var("local", hcl::Value::Object(locals.clone()));
            pending.retain(|(k, e)| match e.evaluate(&ctx) {
                Ok(v) => {
                    locals.insert(k.clone(), v);
                    false
                }
                Err(_) => true,
            });
            assert!(
                pending.len() < before,
                "locals that do not evaluate: {:?}",
                pending
                    .iter()
                    .map(|(k, e)| (k.clone(), e.evaluate(&ctx).unwrap_err().to_string()))
                    .collect::<Vec<_>>()
            );
        }
        ctx.declare_var("local", hcl::Value::Object(locals));
        Eval { ctx }
    }

    fn local(&self, name: &str) -> Value {
        let e: hcl::Expression = format!("local.{name}").parse().unwrap();
        serde_json::to_value(e.evaluate(&self.ctx).unwrap()).unwrap()
    }
}

/// Actions as a sorted list whether written as one string or a list.
fn normalized(statements: &Value) -> Vec<Value> {
    statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some(a) = s["Action"].as_str() {
                s["Action"] = json!([a]);
            }
            s
        })
        .collect()
}

#[test]
fn each_functions_policy_is_the_one_mlinfra_writes() {
    let stack = stack();
    let g = graph();
    let eval = Eval::new(&stack);
    let module = eval.local("statements");
    for r in g
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Role)
    {
        let f = r.props["function"].as_str().unwrap();
        let arns = iam::Arns {
            bucket: stack.lake.bucket.clone(),
            log_group: format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{}-{f}",
                stack.name
            ),
            table: format!(
                "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}-registry",
                stack.name
            ),
            topic: format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}-alerts", stack.name),
            train: format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}-train",
                stack.name
            ),
        };
        let ours = iam::statements(f, &r.props["permissions"], &arns);
        let want = normalized(&ours["Statement"]);
        let have = normalized(&module[f]);
        let sids = |v: &[Value]| v.iter().map(|s| s["Sid"].clone()).collect::<Vec<_>>();
        assert_eq!(
            sids(&have),
            sids(&want),
            "function `{f}`: the statements differ"
        );
        for (h, w) in have.iter().zip(&want) {
            assert_eq!(
                h, w,
                "function `{f}`, statement {}: module vs mlinfra",
                w["Sid"]
            );
        }
    }
}

#[test]
fn bucket_table_api_and_alarms_have_mlinfras_settings() {
    let doc = module();
    let g = graph();
    let res = &doc["resource"];
    let lake = &g.get("lake").unwrap().props;
    // The lake.
    assert_eq!(lake["versioning"], true);
    assert_eq!(
        res["aws_s3_bucket_versioning"]["lake"]["versioning_configuration"]["status"],
        "Enabled"
    );
    assert_eq!(lake["encryption"], "AES256");
    assert_eq!(
        res["aws_s3_bucket_server_side_encryption_configuration"]["lake"]["rule"]["apply_server_side_encryption_by_default"]
            ["sse_algorithm"],
        lake["encryption"]
    );
    assert_eq!(lake["public_access"], "blocked");
    let block = &res["aws_s3_bucket_public_access_block"]["lake"];
    for k in [
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ] {
        assert_eq!(block[k], true, "{k}");
    }
    assert_eq!(lake["tls_only"], true);
    let policy = res["aws_s3_bucket_policy"]["lake"]["policy"]
        .as_str()
        .unwrap();
    let ours = mlinfra::providers::aws::lake::tls_policy("B");
    for needle in [
        ours["Statement"][0]["Sid"].as_str().unwrap(),
        "aws:SecureTransport",
        "\"Deny\"",
    ] {
        assert!(
            policy.contains(needle),
            "the bucket policy lacks `{needle}`: {policy}"
        );
    }
    let rule = &res["aws_s3_bucket_lifecycle_configuration"]["lake"]["rule"];
    assert_eq!(rule["id"], mlinfra::providers::aws::lake::LIFECYCLE_RULE);
    assert_eq!(rule["filter"]["prefix"], "predictions/");
    // The registry.
    let reg = &g.get("registry").unwrap().props;
    let table = &res["aws_dynamodb_table"]["registry"];
    assert_eq!(reg["billing"], "on_demand");
    assert_eq!(table["billing_mode"], "PAY_PER_REQUEST");
    assert_eq!(reg["point_in_time_recovery"], true);
    assert_eq!(table["point_in_time_recovery"]["enabled"], true);
    assert_eq!(
        (table["hash_key"].as_str(), table["range_key"].as_str()),
        (Some("pk"), Some("sk"))
    );
    // Functions: the runtime and the alias every trigger invokes.
    for r in g
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Function)
    {
        assert_eq!(
            res["aws_lambda_function"]["function"]["runtime"],
            r.props["runtime"]
        );
        assert_eq!(res["aws_lambda_alias"]["live"]["name"], r.props["alias"]);
    }
    // The API: the same routes, each keyed as the stack says.
    let stack = stack();
    let eval = Eval::new(&stack);
    let routes = eval.local("routes");
    let mut have: Vec<(String, String)> = routes
        .as_object()
        .unwrap()
        .values()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                format!("/{}", r["path"].as_str().unwrap()),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = g.get("api").unwrap().props["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["function"], "predict");
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    have.sort();
    want.sort();
    assert_eq!(have, want, "API routes: module vs mlinfra");
    assert_eq!(
        res["aws_api_gateway_method"]["route"]["api_key_required"],
        "${local.keyed}"
    );
    assert_eq!(
        res["aws_api_gateway_integration"]["route"]["type"],
        "AWS_PROXY"
    );
    let keyed_src = std::fs::read_to_string(module_dir().join("api.tf")).unwrap();
    assert!(
        keyed_src.contains("keyed = var.api.auth == \"api_key\""),
        "the key follows api.auth"
    );
    // Alarms: the same names, metrics and directions.
    let alarms = eval.local("alarms");
    let direction = |c: &str| match c {
        ">=" => "GreaterThanOrEqualToThreshold",
        ">" => "GreaterThanThreshold",
        "<" => "LessThanThreshold",
        other => panic!("a comparison mlinfra does not write: {other}"),
    };
    let mut names = BTreeSet::new();
    for r in g
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Alarm)
    {
        let name = r.addr.trim_start_matches("alarm.");
        names.insert(name.to_string());
        let a = &alarms[name];
        assert_eq!(a["metric"], r.props["metric"], "alarm `{name}`: metric");
        assert_eq!(
            a["comparison"],
            direction(r.props["comparison"].as_str().unwrap()),
            "alarm `{name}`: direction"
        );
    }
    let module_names: BTreeSet<String> = alarms.as_object().unwrap().keys().cloned().collect();
    assert_eq!(module_names, names, "alarms: module vs mlinfra");
    let alarm = &res["aws_cloudwatch_metric_alarm"]["alarm"];
    assert_eq!(
        alarm["namespace"],
        mlinfra::providers::aws::alerts::NAMESPACE
    );
    assert_eq!(alarm["statistic"], "Maximum");
    assert_eq!(alarm["treat_missing_data"], "notBreaching");
}

#[test]
fn export_terraform_writes_the_stacks_inputs_and_the_module_declares_each() {
    let p = Project::with_data();
    let run = p.run(&["export", "terraform"]);
    run.ok();
    common::assert_golden(
        &common::manifest_dir().join("tests/snapshots/export-terraform.json"),
        &run.raw_stdout,
    );
    let inputs: Value = serde_json::from_str(&run.raw_stdout).unwrap();
    // Every input but `region` (the provider's) is one of the module's variables.
    let doc = module();
    let vars: BTreeSet<String> = doc["variable"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for k in inputs.as_object().unwrap().keys() {
        assert!(
            k == "region" || vars.contains(k),
            "`{k}` is not a variable of the module"
        );
    }
    let required: BTreeSet<String> = doc["variable"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("default").is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for k in &required {
        assert!(
            inputs.get(k).is_some(),
            "the module needs `{k}`; the export lacks it"
        );
    }
    // The values are the graph's: schedules, memory, timeouts, thresholds.
    let g = mlinfra::commands::desired_graph(&mlinfra::stack::load(&p.stack_file()).unwrap().stack)
        .unwrap();
    let mut schedules = BTreeMap::new();
    for r in g.resources.values() {
        match r.kind {
            ResourceKind::Schedule => {
                let name = r.addr.trim_start_matches("schedule.");
                schedules.insert(name.to_string(), ());
                let s = &inputs["schedules"][name];
                assert_eq!(s["expression"], r.props["expression"], "schedule `{name}`");
                assert_eq!(s["function"], r.props["function"], "schedule `{name}`");
                assert_eq!(s["enabled"], r.props["enabled"], "schedule `{name}`");
            }
            ResourceKind::Function => {
                let f = r.props["function"].as_str().unwrap();
                assert_eq!(
                    inputs["functions"][f]["memory_mb"], r.props["memory_mb"],
                    "{f}"
                );
                assert_eq!(
                    inputs["functions"][f]["timeout_s"], r.props["timeout_s"],
                    "{f}"
                );
            }
            ResourceKind::Alarm => {
                let name = r.addr.trim_start_matches("alarm.");
                assert_eq!(
                    inputs["alarm_thresholds"][name], r.props["threshold"],
                    "{name}"
                );
            }
            _ => {}
        }
    }
    assert_eq!(
        inputs["schedules"].as_object().unwrap().len(),
        schedules.len()
    );
}

#[test]
fn export_terraform_without_aws_settings_says_what_to_add() {
    let p = Project::with_data();
    p.edit_stack("  aws:\n    region: eu-west-1\n", "");
    let run = p.run(&["export", "terraform"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("environments.aws.region"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("region: eu-west-1"), "{}", run.stderr);
    assert!(run.raw_stdout.is_empty());
    let run = p.run(&["export", "terraform", "--env", "local"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--env aws"), "{}", run.stderr);
}

#[test]
fn up_and_down_refuse_an_environment_terraform_owns() {
    let p = Project::with_data();
    p.edit_stack(
        "    region: eu-west-1\n",
        "    region: eu-west-1\n    managed_by: terraform\n",
    );
    for verb in ["up", "down"] {
        let run = p.run(&[verb, "--env", "aws", "--yes"]);
        assert_eq!(run.code, 1, "{verb}: {}", run.stderr);
        assert!(
            run.stderr.contains("managed_by` is `terraform`"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("terraform apply"), "{}", run.stderr);
    }
    p.edit_stack("managed_by: terraform", "managed_by: pulumi");
    let run = p.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("managed_by"), "{}", run.stderr);
}
