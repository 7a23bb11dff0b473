//! Models: the registered versions with their stages and lineage, the pending transition
//! requests with approve and reject, request and rollback forms, and the audit trail. Every
//! action is taken as the signed-in account through the same [`Registry`] calls as
//! `mlinfra models`, so the registry's rules (the two-person rule, automatic archiving) decide it.
//!
//! [`Registry`]: mlinfra_core::registry::Registry

use std::fmt::Write as _;

use mlinfra_core::registry::{
    ModelDoc, RegistryError, RequestStatus, RollbackOutcome, Stage, Store as _,
};

use super::Console;
use super::form::Form;
use super::page::{Page, csrf_field, esc, flash, num, table};
use super::session::Session;

fn short(s: &str, n: usize) -> String {
    s.trim_start_matches("sha256:").chars().take(n).collect()
}

/// The Models page, with the outcome of an action above it (`ok`, message, status).
pub async fn page(c: &Console, s: &Session, outcome: Option<(bool, String, u16)>) -> Page {
    let model = c.stack.model.name.as_str();
    let doc = match c.registry.doc(model).await {
        Ok(d) => d,
        Err(RegistryError::UnknownModel(_)) => ModelDoc::new(model),
        Err(e) => return Page::error(500, "Models", &e.to_string()),
    };
    let audit = match c.registry.store.audit(model).await {
        Ok(a) => a,
        Err(RegistryError::UnknownModel(_)) => vec![],
        Err(e) => return Page::error(500, "Models", &e.to_string()),
    };
    let mut b = String::new();
    let status = match &outcome {
        Some((ok, m, status)) => {
            b.push_str(&flash(*ok, m));
            *status
        }
        None => 200,
    };
    let _ = write!(b, "<p>Model <strong>{}</strong>.</p>", esc(model));
    if doc.versions.is_empty() {
        b.push_str("<p id=\"no-versions\">No versions yet: <code>mlinfra pipeline run</code> trains one and registers it when it is blessed.</p>");
    } else {
        let rows: Vec<Vec<String>> = doc
            .versions
            .iter()
            .rev()
            .map(|v| {
                let metric = |m: &str| v.metrics.get(m).map_or("–".into(), |x| num(*x));
                vec![
                    format!("v{}", v.version),
                    format!(
                        "<span class=\"stage-{0}\" id=\"stage-v{1}\">{0}</span>",
                        v.stage, v.version
                    ),
                    metric("roc_auc"),
                    metric("accuracy"),
                    metric("f1"),
                    // An imported model has no run of mlinfra's pipeline to show.
                    if v.run_id.starts_with("import-") {
                        format!(
                            "<code>{}</code> <small class=\"imported\">imported</small>",
                            esc(&v.run_id)
                        )
                    } else {
                        format!(
                            "<a href=\"/ui/runs/{0}\"><code>{0}</code></a>",
                            esc(&v.run_id)
                        )
                    },
                    format!("<code>{}</code>", esc(&short(&v.data_hash, 12))),
                    format!("<code>{}</code>", esc(&short(&v.schema_version, 12))),
                    format!(
                        "<code title=\"{}\">{}</code>",
                        esc(&v.sha256),
                        esc(&short(&v.sha256, 12))
                    ),
                    format!(
                        "{}<br><small>{}</small>",
                        esc(&v.created_by),
                        esc(&v.created_at)
                    ),
                ]
            })
            .collect();
        b.push_str(&table(
            "versions",
            &[
                "version",
                "stage",
                "roc_auc",
                "accuracy",
                "f1",
                "run",
                "data",
                "schema",
                "model sha256",
                "registered by",
            ],
            &rows,
        ));
    }
    let csrf = csrf_field(&s.csrf);
    b.push_str("<h2>Pending requests</h2>");
    let pending: Vec<_> = doc
        .requests
        .iter()
        .filter(|r| r.status == RequestStatus::Pending)
        .collect();
    if pending.is_empty() {
        b.push_str("<p id=\"no-requests\">None.</p>");
    } else {
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|r| {
                let id = esc(&r.id);
                vec![
                    format!("<code>{id}</code>"),
                    format!(
                        "v{} {} → {}{}",
                        r.version,
                        r.from,
                        r.to,
                        if r.rollback { " (rollback)" } else { "" }
                    ),
                    format!("{}<br><small>{}</small>", esc(&r.requested_by), esc(&r.requested_at)),
                    esc(&r.comment),
                    format!(
                        "<form method=\"post\" action=\"/ui/models/approve\" class=\"inline\">{csrf}<input type=\"hidden\" name=\"request\" value=\"{id}\"><input name=\"comment\" placeholder=\"comment\" aria-label=\"comment\"> <button id=\"approve-{id}\">Approve</button></form> \
                         <form method=\"post\" action=\"/ui/models/reject\" class=\"inline\">{csrf}<input type=\"hidden\" name=\"request\" value=\"{id}\"><button id=\"reject-{id}\">Reject</button></form>"
                    ),
                ]
            })
            .collect();
        b.push_str(&table(
            "requests",
            &["request", "transition", "requested by", "comment", "decide"],
            &rows,
        ));
        let _ = write!(
            b,
            "<p><small>Someone other than the requester decides a request; you act as <strong>{}</strong>.</small></p>",
            esc(&s.account)
        );
    }
    if !doc.versions.is_empty() {
        let options: String = doc
            .versions
            .iter()
            .rev()
            .map(|v| {
                format!(
                    "<option value=\"{0}\">v{0} ({1})</option>",
                    v.version, v.stage
                )
            })
            .collect();
        let _ = write!(
            b,
            "<h2>Request a transition</h2><form method=\"post\" action=\"/ui/models/request\" id=\"request-form\">{csrf}\
             <label for=\"version\">Version</label><select id=\"version\" name=\"version\">{options}</select> \
             <label for=\"to\">to</label><select id=\"to\" name=\"to\"><option value=\"staging\">Staging</option><option value=\"production\">Production</option></select> \
             <input name=\"comment\" id=\"request-comment\" placeholder=\"why\" aria-label=\"comment\"> <button id=\"request\">Request</button></form>\
             <h2>Roll back</h2><form method=\"post\" action=\"/ui/models/rollback\" id=\"rollback-form\">{csrf}\
             <input name=\"comment\" placeholder=\"why\" aria-label=\"comment\"> <button id=\"rollback\">Roll back to the last archived Production version</button></form>"
        );
    }
    b.push_str("<h2>Audit trail</h2>");
    let rows: Vec<Vec<String>> = audit
        .iter()
        .rev()
        .map(|e| {
            let stage = |s: Option<Stage>| s.map_or(String::new(), |s| s.to_string());
            vec![
                e.seq.to_string(),
                esc(&e.at),
                format!("<strong>{}</strong>", esc(&e.actor)),
                esc(&e.action.to_string()),
                format!("v{}", e.version),
                stage(e.from),
                stage(e.to),
                esc(e.request.as_deref().unwrap_or("")),
                esc(&e.comment),
                format!(
                    "run <code>{}</code> data <code>{}</code> model <code>{}</code>",
                    esc(&e.run_id),
                    esc(&short(&e.data_hash, 12)),
                    esc(&short(&e.model_sha256, 12))
                ),
            ]
        })
        .collect();
    b.push_str(&table(
        "audit",
        &[
            "#", "at", "who", "action", "version", "from", "to", "request", "comment", "lineage",
        ],
        &rows,
    ));
    let mut p = Page::ok("Models", b);
    p.status = status;
    p
}

/// The status a refused registry action answers with.
fn status_of(e: &RegistryError) -> u16 {
    match e {
        RegistryError::UnknownModel(_)
        | RegistryError::UnknownVersion { .. }
        | RegistryError::UnknownRequest { .. } => 404,
        RegistryError::Refused(_)
        | RegistryError::AlreadyRegistered { .. }
        | RegistryError::NoIdentity => 403,
        RegistryError::Conflict(_) => 409,
        RegistryError::Service {
            retryable: true, ..
        } => 503,
        RegistryError::Integrity(_) | RegistryError::Store(_) | RegistryError::Service { .. } => {
            500
        }
    }
}

/// `request`, `approve`, `reject` or `rollback`, as `s`'s account.
pub async fn act(c: &Console, s: &Session, action: &str, f: &Form) -> Page {
    let model = c.stack.model.name.as_str();
    let who = s.account.as_str();
    let comment = f.get("comment").unwrap_or("").trim();
    let invalid = |m: String| (false, m, 400);
    let outcome = match action {
        "request" => {
            let version = f.get("version").unwrap_or("");
            let to = f.get("to").unwrap_or("");
            match (version.parse::<u64>(), to) {
                (Err(_), _) => invalid(format!("version `{version}`: expected a version number")),
                (Ok(v), "staging" | "production") => {
                    let stage = if to == "staging" {
                        Stage::Staging
                    } else {
                        Stage::Production
                    };
                    match c.registry.request(model, v, stage, comment, who).await {
                        Ok(r) if r.status == RequestStatus::Pending => (
                            true,
                            format!(
                                "Requested `{}`: version {} {} → {}. Someone other than {who} approves it.",
                                r.id, r.version, r.from, r.to
                            ),
                            200,
                        ),
                        Ok(r) => (
                            true,
                            format!(
                                "Version {} moved {} → {} (automatic by policy).",
                                r.version, r.from, r.to
                            ),
                            200,
                        ),
                        Err(e) => (false, e.to_string(), status_of(&e)),
                    }
                }
                (Ok(_), other) => {
                    invalid(format!("to `{other}`: expected `staging` or `production`"))
                }
            }
        }
        "approve" | "reject" => {
            let id = f.get("request").unwrap_or("");
            let decided = if action == "approve" {
                c.registry.approve(model, id, comment, who).await
            } else {
                c.registry.reject(model, id, comment, who).await
            };
            match decided {
                Ok(r) => (
                    true,
                    format!(
                        "{} `{}`: version {} {} → {}.",
                        if action == "approve" {
                            "Approved"
                        } else {
                            "Rejected"
                        },
                        r.id,
                        r.version,
                        r.from,
                        r.to
                    ),
                    200,
                ),
                Err(e) => (false, e.to_string(), status_of(&e)),
            }
        }
        _ => match c.registry.rollback(model, comment, who).await {
            Ok(RollbackOutcome::Done(v)) => (
                true,
                format!("Rolled back: version {v} is in Production."),
                200,
            ),
            Ok(RollbackOutcome::Requested(r)) => (
                true,
                format!(
                    "Requested rollback `{}` to version {}. Someone other than {who} approves it.",
                    r.id, r.version
                ),
                200,
            ),
            Err(e) => (false, e.to_string(), status_of(&e)),
        },
    };
    page(c, s, Some(outcome)).await
}
