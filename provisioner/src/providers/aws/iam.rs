//! One IAM role per function, with one inline policy of least privilege: no `*` action, every
//! resource scoped to this stack's bucket prefixes, table, topic, functions and log groups.

use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or, touched};
use crate::engine::{Change, Resource};
use crate::providers::{Deleted, ProviderError};

/// The name of the inline policy on every role.
pub const POLICY_NAME: &str = "mlinfra-least-privilege";

/// Who may assume the roles: the Lambda service only.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The ARNs a function's policy names.
#[derive(Debug, Clone)]
pub struct Arns {
    /// The bucket's name.
    pub bucket: String,
    /// The function's log group, `arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/NAME`.
    pub log_group: String,
    pub table: String,
    pub topic: String,
    /// The `train` function (`monitor` may invoke it and its `live` alias).
    pub train: String,
}

/// The inline policy of a function's role, from the graph's `permissions` of it.
pub async fn policy(
    p: &AwsProvider,
    function: &str,
    perms: &Value,
) -> Result<Value, ProviderError> {
    let fn_name = p.name(function);
    let arns = Arns {
        bucket: p.settings.bucket.clone(),
        log_group: p
            .arn("logs", &format!("log-group:/aws/lambda/{fn_name}"))
            .await?,
        table: p
            .arn("dynamodb", &format!("table/{}", p.name("registry")))
            .await?,
        topic: p.arn("sns", &p.name("alerts")).await?,
        train: p
            .arn("lambda", &format!("function:{}", p.name("train")))
            .await?,
    };
    Ok(statements(function, perms, &arns))
}

/// The DynamoDB actions of a registry access level (`none`, `read`, `read-write`).
pub fn registry_actions(level: &str) -> &'static [&'static str] {
    match level {
        "read" => &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
        "read-write" => &[
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
        ],
        _ => &[],
    }
}

/// The policy document of `function` with `perms` (the graph's) over `arns`. Pure: the
/// Terraform module's policies are checked against it.
pub fn statements(function: &str, perms: &Value, arns: &Arns) -> Value {
    let list = |k: &str| -> Vec<String> {
        perms[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(|s| format!("arn:aws:s3:::{s}")))
                    .collect()
            })
            .unwrap_or_default()
    };
    let log_group = &arns.log_group;
    let mut stmts = vec![json!({
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [log_group.clone(), format!("{log_group}:*")]
    })];
    let read = list("lake_read");
    if !read.is_empty() {
        let bucket = format!("arn:aws:s3:::{}", arns.bucket);
        let prefixes: Vec<String> = read
            .iter()
            .filter_map(|a| a.strip_prefix(&format!("{bucket}/")).map(str::to_string))
            .collect();
        stmts.push(json!({
            "Sid": "LakeRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": read
        }));
        stmts.push(json!({
            "Sid": "LakeList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": prefixes}}
        }));
    }
    let write = list("lake_write");
    if !write.is_empty() {
        let mut actions = vec!["s3:PutObject"];
        if function == "etl" {
            // ETL moves rejected files from raw/ to raw/quarantine/.
            actions.push("s3:DeleteObject");
        }
        stmts.push(json!({
            "Sid": "LakeWrite",
            "Effect": "Allow",
            "Action": actions,
            "Resource": write
        }));
    }
    let registry = registry_actions(perms["registry"].as_str().unwrap_or("none"));
    if !registry.is_empty() {
        stmts.push(json!({
            "Sid": "Registry",
            "Effect": "Allow",
            "Action": registry,
            "Resource": [arns.table]
        }));
    }
    if function == "train" || function == "monitor" {
        stmts.push(json!({
            "Sid": "Alerts",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [arns.topic]
        }));
    }
    if function == "monitor" {
        let train = &arns.train;
        stmts.push(json!({
            "Sid": "Retrain",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [train.clone(), format!("{train}:live")]
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": stmts })
}

/// IAM returns policy documents URL-encoded.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as JSON, whether URL-encoded or not.
pub fn parse_document(doc: &str) -> Option<Value> {
    serde_json::from_str(doc)
        .ok()
        .or_else(|| serde_json::from_str(&url_decode(doc)).ok())
}

fn role_name(p: &AwsProvider, addr: &str, live: &Value) -> String {
    recorded_or(live, "name", || {
        let f = addr.strip_prefix("role.").unwrap_or(addr);
        p.name(&format!("{f}-role"))
    })
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = role_name(p, addr, &live);
    let iam = &p.clients.iam;
    if iam
        .get_role()
        .role_name(&name)
        .send()
        .await
        .found(addr, "iam:GetRole")?
        .is_none()
    {
        return Ok(None);
    }
    live["name"] = json!(name);
    let doc = iam
        .get_role_policy()
        .role_name(&name)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .found(addr, "iam:GetRolePolicy")?
        .and_then(|o| parse_document(&o.policy_document));
    let function = addr.strip_prefix("role.").unwrap_or(addr);
    let expected = policy(p, function, &live["permissions"]).await?;
    if doc.as_ref() != Some(&expected) {
        live["permissions"] = json!({ "live_policy": doc });
    }
    Ok(Some(live))
}

pub async fn put(
    p: &AwsProvider,
    r: &Resource,
    changes: Option<&[Change]>,
) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let function = prop_str(r, "function")?;
    let iam = &p.clients.iam;
    let out = if touched(changes, "name") {
        match iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy().to_string())
            .description(format!(
                "mlinfra: the {function} function of stack {}",
                p.settings.stack
            ))
            .send()
            .await
        {
            Ok(o) => o.role.map(|r| r.arn),
            Err(e) => {
                let a = super::AwsError::from_sdk(&e);
                if a.code != "EntityAlreadyExists" {
                    return Err(a.into_provider(addr, "iam:CreateRole"));
                }
                None
            }
        }
    } else {
        None
    };
    let doc = policy(p, function, &r.props["permissions"]).await?;
    iam.put_role_policy()
        .role_name(name)
        .policy_name(POLICY_NAME)
        .policy_document(doc.to_string())
        .send()
        .await
        .ctx(addr, "iam:PutRolePolicy")?;
    let arn = match out {
        Some(a) => a,
        None => format!("arn:aws:iam::{}:role/{name}", p.account().await?),
    };
    if arn.is_empty() {
        return Err(invalid(addr, "IAM returned no role ARN"));
    }
    Ok(json!({ "arn": arn, "name": name }))
}

pub async fn delete(p: &AwsProvider, addr: &str, props: &Value) -> Result<Deleted, ProviderError> {
    let name = role_name(p, addr, props);
    let iam = &p.clients.iam;
    iam.delete_role_policy()
        .role_name(&name)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .found(addr, "iam:DeleteRolePolicy")?;
    Ok(Deleted::if_existed(
        iam.delete_role()
            .role_name(&name)
            .send()
            .await
            .found(addr, "iam:DeleteRole")?
            .is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_documents() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            parse_document(enc),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert_eq!(parse_document("{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(parse_document("%zz"), None);
    }
}
