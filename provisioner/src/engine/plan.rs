//! Plans: what `up` or `down` would do, computed from the desired graph, the recorded state and
//! the live resources, without changing anything.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::Value;

use super::graph::{Graph, Resource};
use super::state::State;
use crate::providers::{Provider, ProviderError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+ create",
            Action::Update => "~ update",
            Action::Delete => "- delete",
            Action::NoOp => "  no-op ",
        }
    }
}

/// One changed field: its dotted path and the old and new values (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub addr: String,
    pub kind: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Why, when it is not obvious (a resource deleted outside mlinfra, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip)]
    pub desired: Option<Resource>,
    /// For no-op steps: the live resource matches but the state does not record it yet.
    #[serde(skip)]
    pub record: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub stack: String,
    pub env: String,
    pub operation: &'static str,
    pub summary: Summary,
    pub steps: Vec<Step>,
}

impl Plan {
    fn new(stack: &str, env: &str, operation: &'static str, steps: Vec<Step>) -> Plan {
        let count = |a| steps.iter().filter(|s| s.action == a).count();
        Plan {
            stack: stack.to_string(),
            env: env.to_string(),
            operation,
            summary: Summary {
                create: count(Action::Create),
                update: count(Action::Update),
                delete: count(Action::Delete),
                unchanged: count(Action::NoOp),
            },
            steps,
        }
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::NoOp)
    }

    /// The steps that call the provider.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::NoOp)
    }
}

/// Compare two JSON values field by field; arrays and scalars compare whole.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_into("", old, new, &mut out);
    out
}

fn diff_into(prefix: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, nv) in b {
                diff_into(&join(k), a.get(k).unwrap_or(&Value::Null), nv, out);
            }
            for (k, ov) in a {
                if !b.contains_key(k) && !ov.is_null() {
                    out.push(Change {
                        field: join(k),
                        old: ov.clone(),
                        new: Value::Null,
                    });
                }
            }
        }
        _ if json_eq(old, new) => {}
        _ => out.push(Change {
            field: prefix.to_string(),
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

/// Equality where `1` and `1.0` are the same number.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Plan an `up`: create what is missing, update what differs, delete what the stack dropped.
pub async fn plan_up<P: Provider>(
    graph: &Graph,
    state: &State,
    provider: &P,
) -> Result<Plan, ProviderError> {
    let reads = graph.resources.values().map(|r| async move {
        let recorded = state.resources.get(&r.addr);
        provider
            .read(&r.addr, r.kind, recorded)
            .await
            .map(|live| (r, recorded, live))
    });
    let reads = futures::future::try_join_all(reads).await?;
    let mut steps = Vec::new();
    for (r, recorded, live) in reads {
        let (action, changes, reason, record) = match &live {
            None => {
                let reason = recorded.map(|_| {
                    "recorded in the state but missing: deleted outside mlinfra".to_string()
                });
                (Action::Create, Vec::new(), reason, false)
            }
            Some(live) => {
                let changes = diff(live, &r.props);
                let changed_outside = recorded.is_some_and(|rec| !json_eq(&rec.props, live));
                let reason = if !changes.is_empty() && changed_outside {
                    Some("changed outside mlinfra".to_string())
                } else if recorded.is_none() {
                    Some("exists but is not recorded in the state: adopted".to_string())
                } else {
                    None
                };
                let record = recorded.is_none_or(|rec| !json_eq(&rec.props, &r.props));
                if changes.is_empty() {
                    (Action::NoOp, changes, None, record)
                } else {
                    (Action::Update, changes, reason, false)
                }
            }
        };
        steps.push(Step {
            addr: r.addr.clone(),
            kind: r.kind.to_string(),
            action,
            changes,
            reason,
            desired: Some(r.clone()),
            record,
        });
    }
    let gone: Vec<_> = state
        .resources
        .iter()
        .filter(|(a, _)| graph.get(a).is_none())
        .map(|(a, rs)| (a.clone(), rs.clone()))
        .collect();
    steps.extend(delete_steps(gone, "no longer in the stack file"));
    Ok(Plan::new(&state.stack, &state.env, "up", steps))
}

/// Plan a `down`: delete everything recorded, dependents first.
pub fn plan_down(state: &State) -> Plan {
    let all = state
        .resources
        .iter()
        .map(|(a, r)| (a.clone(), r.clone()))
        .collect();
    Plan::new(&state.stack, &state.env, "down", delete_steps(all, ""))
}

fn delete_steps(list: Vec<(String, super::ResourceState)>, reason: &str) -> Vec<Step> {
    // Reverse creation order: the state keeps resources in the order they were created, after
    // everything they depend on.
    list.into_iter()
        .rev()
        .map(|(addr, rs)| Step {
            addr,
            kind: rs.kind.clone(),
            action: Action::Delete,
            changes: Vec::new(),
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            desired: None,
            record: false,
        })
        .collect()
}

/// Render a value for a plan line: strings quoted, long values shortened.
pub fn show(v: &Value) -> String {
    let s = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        let short: String = s.chars().take(77).collect();
        format!("{short}...")
    } else {
        s
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_changes() {
            return writeln!(
                f,
                "No changes. Stack `{}` on `{}` matches the stack file ({} resources).",
                self.stack, self.env, self.summary.unchanged
            );
        }
        let width = self.changes().map(|s| s.addr.len()).max().unwrap_or(0);
        let mut out = String::new();
        for s in self.changes() {
            match &s.reason {
                Some(r) => {
                    let _ = write!(out, "  {} {:<width$}  ({r})", s.action.symbol(), s.addr);
                }
                None => {
                    let _ = write!(out, "  {} {}", s.action.symbol(), s.addr);
                }
            }
            out.push('\n');
            for c in &s.changes {
                let _ = writeln!(
                    out,
                    "      {}: {} -> {}",
                    c.field,
                    show(&c.old),
                    show(&c.new)
                );
            }
        }
        f.write_str(&out)?;
        writeln!(
            f,
            "\nPlan: {} to create, {} to update, {} to delete, {} unchanged.",
            self.summary.create, self.summary.update, self.summary.delete, self.summary.unchanged
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_reports_nested_fields_with_old_and_new() {
        let old = json!({"a": 1, "b": {"c": "x", "d": [1, 2]}, "gone": true});
        let new = json!({"a": 1.0, "b": {"c": "y", "d": [1, 2]}, "added": 5});
        let changes = diff(&old, &new);
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["b.c", "added", "gone"]);
        assert_eq!(changes[0].old, json!("x"));
        assert_eq!(changes[0].new, json!("y"));
    }

    #[test]
    fn arrays_compare_whole() {
        let changes = diff(&json!({"l": [1, 2]}), &json!({"l": [2, 1]}));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "l");
    }
}
