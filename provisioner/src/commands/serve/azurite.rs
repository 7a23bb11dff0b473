//! `mlinfra serve --env azurite`: the platform's functions run on this machine as Azure
//! Functions runs them, over Azurite's storage. Each function app package in `--artifacts`
//! (`mlinfra build --target azure`) is unpacked and its custom handler started with the app
//! settings `up --env azurite` recorded ([`crate::serve::functions_host`]); the host answers the
//! API's HTTP trigger (its function key is the API key `up` made), fires the timers on their
//! NCRONTAB schedules and delivers the blobs created under the ETL's `raw/` trigger.

use std::sync::Arc;
use std::time::Duration;

use crate::app::{Context, Failure};
use crate::build::function_app::{AuthLevel, Binding};
use crate::cli::ServeArgs;
use crate::serve::functions_host::{App, Host, Worker};

pub async fn run(cx: &Context, args: &ServeArgs) -> Result<i32, Failure> {
    let stack = &cx.loaded.stack;
    let (_, state_store) = cx.infra().await?;
    let account = cx.azure_account()?;
    let records = cx.root.join("azurite");
    // The handlers reach the storage with a SAS, never the account key.
    let connection = account
        .sas_connection_string()
        .map_err(|e| Failure::new(e.0))?;
    let key = if stack.api.auth == crate::stack::schema::Auth::ApiKey {
        Some(super::api_key(&records)?)
    } else {
        None
    };
    let mut workers = Vec::new();
    for function in stack.functions.keys() {
        let f = function.as_str();
        let zip = cx.artifacts.join(f).join(crate::build::azure::PACKAGE);
        let app = App::unpack(f, &zip, &cx.root.join("serve").join("azurite").join(f))
            .map_err(Failure::new)?;
        let settings = app_settings(&records, f)?;
        let mut env: Vec<(String, String)> = settings;
        env.push((
            "AZURE_STORAGE_CONNECTION_STRING".to_string(),
            connection.clone(),
        ));
        workers.push(
            Worker::start(app, &env, crate::lambda::stderr_sink())
                .await
                .map_err(Failure::new)?,
        );
    }
    let host = Arc::new(Host::new(workers, key));
    host.start_timers().map_err(Failure::new)?;
    host.watch_blobs(&account, Duration::from_secs(2))
        .await
        .map_err(Failure::new)?;
    let (listener, addr) = super::listen(args, stack).await?;
    for (w, t) in host.triggers() {
        let what = match &t.binding {
            Binding::HttpTrigger {
                methods,
                route,
                auth_level,
                ..
            } => format!(
                "HTTP {} http://{addr}/api/{}{}",
                methods
                    .as_deref()
                    .unwrap_or_default()
                    .join(",")
                    .to_ascii_uppercase(),
                route.as_deref().unwrap_or_default(),
                if *auth_level == AuthLevel::Anonymous {
                    ""
                } else {
                    " (function key)"
                }
            ),
            Binding::TimerTrigger { schedule, .. } => format!("timer `{schedule}` (UTC)"),
            Binding::BlobTrigger { path, .. } => format!("blobs created at `{path}`"),
            Binding::Http { .. } | Binding::Other => "another binding".to_string(),
        };
        cx.out
            .progress(format!("{}/{}: {what}", w.app.function, t.name));
    }
    cx.out.progress(format!(
        "listening on http://{addr}/api/ (the function apps of `{}` on Azurite's storage); Ctrl-C stops",
        cx.artifacts.display()
    ));
    let beside = super::platform_beside(cx, args).await?;
    cx.out.progress(format!(
        "console on {} (accounts: `mlinfra users add NAME --env azurite`); the MLflow API on http://{addr} (MLFLOW_TRACKING_URI)",
        super::console_url("http", addr)
    ));
    let served = Arc::clone(&host);
    let handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let host = Arc::clone(&served);
        let beside = beside.clone();
        async move {
            if beside.owns(req.uri().path()) {
                beside.handle(req).await
            } else {
                host.handle(req).await
            }
        }
    };
    let served = super::serve_until_down(
        cx,
        listener,
        state_store,
        handler,
        "`mlinfra up --env azurite` builds the platform again, then `mlinfra serve --env azurite`",
    )
    .await;
    host.stop();
    served?;
    cx.out.progress("stopped");
    Ok(0)
}

/// The app settings `up --env azurite` recorded for `function`.
fn app_settings(
    records: &std::path::Path,
    function: &str,
) -> Result<Vec<(String, String)>, Failure> {
    let p = records.join("functions").join(format!("{function}.json"));
    let doc: serde_json::Value = std::fs::read(&p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            Failure::new(format!(
                "cannot read the `{function}` function's settings `{}`\nhint: run `mlinfra up --env azurite`",
                p.display()
            ))
        })?;
    Ok(doc["env"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect())
}
