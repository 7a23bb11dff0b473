//! Delivering an alert on the local environment: always to the log (stderr), and to each of
//! the stack's `monitoring.alerts` targets that can be reached from here: `http://` webhooks get
//! the alert as a JSON POST. Email and `https://` webhooks are delivered by SNS on AWS; locally
//! they are reported as not delivered, with the reason. The alert itself is already recorded
//! in the lake (`artifacts/alerts/`) before delivery is tried, so a failed delivery loses
//! nothing.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use mlinfra_core::jobs::Alert;
use mlinfra_core::lake::Lake;
use mlinfra_core::notify::Notifier;
use serde::Serialize;

use crate::stack::Stack;
use crate::stack::schema::AlertTarget;

/// What happened to one target.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub target: String,
    pub delivered: bool,
    pub detail: String,
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// POST `body` to an `http://host[:port]/path` URL; the response's status line.
fn post(url: &str, body: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        "only http:// webhooks are called locally (https ones by SNS on AWS)".to_string()
    })?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{hostport}`: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve `{hostport}`"))?;
    let mut s = TcpStream::connect_timeout(&sock, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nUser-Agent: mlinfra\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp.lines().next().unwrap_or("").to_string();
    if status
        .split_whitespace()
        .nth(1)
        .is_some_and(|c| c.starts_with('2'))
    {
        Ok(status)
    } else {
        Err(format!("answered `{status}`"))
    }
}

/// Log `alert` and send it to the stack's alert targets.
fn deliver(stack: &Stack, alert: &Alert) -> Vec<Delivery> {
    eprintln!("alert: {}", alert.summary);
    for d in &alert.details {
        eprintln!("  {d}");
    }
    let body = serde_json::json!({"stack": stack.name, "alert": alert}).to_string();
    let mut out = vec![Delivery {
        target: "log".into(),
        delivered: true,
        detail: "stderr".into(),
    }];
    for name in &stack.monitoring.alerts {
        let Some(a) = stack.alerts.iter().find(|a| &a.name == name) else {
            continue;
        };
        let d = match &a.target {
            AlertTarget::Webhook(url) => match post(url, &body) {
                Ok(s) => Delivery {
                    target: format!("{name} ({url})"),
                    delivered: true,
                    detail: s,
                },
                Err(e) => Delivery {
                    target: format!("{name} ({url})"),
                    delivered: false,
                    detail: e,
                },
            },
            AlertTarget::Email(to) => Delivery {
                target: format!("{name} ({to})"),
                delivered: false,
                detail: "email is sent by the SNS topic on AWS; not from the local environment"
                    .into(),
            },
        };
        eprintln!(
            "  -> {}: {}",
            d.target,
            if d.delivered {
                "delivered".to_string()
            } else {
                format!("not delivered: {}", d.detail)
            }
        );
        out.push(d);
    }
    out
}

/// The local environment's [`Notifier`] (the CLI's and `serve`'s): the log, and an alert POSTed
/// to the stack's `http://` webhooks ([`deliver`]). Each target's outcome is printed and kept
/// ([`WebhookNotifier::deliveries`]); delivery to the log always succeeds, so the result is `Ok`.
pub struct WebhookNotifier<'a> {
    stack: &'a Stack,
    sent: std::sync::Mutex<Vec<Delivery>>,
}

impl<'a> WebhookNotifier<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        WebhookNotifier {
            stack,
            sent: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What became of each target of the alerts delivered so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Notifier for WebhookNotifier<'_> {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), String> {
        eprintln!("alert: {subject}\n{message}");
        Ok(())
    }

    async fn deliver(&self, alert: &Alert, _: &impl Lake) -> Result<(), String> {
        let sent = deliver(self.stack, alert);
        if let Ok(mut s) = self.sent.lock() {
            s.extend(sent);
        }
        Ok(())
    }
}
