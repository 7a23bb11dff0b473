//! `mlinfra serve`: run the local API gateway until Ctrl-C, with the stack's schedules and the
//! ETL of `raw/`. On `azurite` the same gateway serves from the containers on Azure's storage,
//! with the schedules and the ETL of new blobs in `raw/`. On `localstack` and `aws` the
//! deployed platform is served instead, its functions run here as Lambda runs them
//! ([`super::serve_cloud`]).

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::{Context, Failure};
use crate::cli::{Global, ServeArgs};
use crate::serve;

pub async fn run(g: &Global, args: &ServeArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let stack = &cx.loaded.stack;
    let azurite = cx.env == crate::stack::EnvKind::Azurite;
    if !azurite && cx.env != crate::stack::EnvKind::Local {
        return super::serve_cloud::run(&cx, args).await;
    }
    // Where `up` kept the API key: the local environment's directory, or on `azurite` the
    // records of the compute it runs here.
    let records = if azurite {
        cx.root.join("azurite")
    } else {
        cx.root.clone()
    };
    let (_, state_store) = cx.infra().await?;
    let refresh = Duration::from_secs(args.refresh_seconds.unwrap_or(stack.api.model_refresh_s));
    let (lake, registry, _) = super::models::platform(&cx, &None).await?;
    let api_key = if stack.api.auth == crate::stack::schema::Auth::ApiKey {
        Some(api_key(&records)?)
    } else {
        None
    };
    let bg = Arc::new(serve::background::Background {
        lake: lake.clone(),
        store: registry.store.clone(),
        stack: stack.clone(),
    });
    let gw = serve::gateway(lake.clone(), registry.store, api_key, stack, refresh);
    let problems = gw.service.refresh(true).await;
    for p in &problems {
        cx.out.progress(format!("warning: {p}"));
    }
    tokio::spawn(mlinfra_core::serving::logs::write_logs(
        lake,
        gw.service.logs(),
        Duration::from_secs(1),
        Default::default(),
    ));
    tokio::spawn(serve::background::schedules(Arc::clone(&bg)));
    if azurite {
        tokio::spawn(serve::background::watch_raw_blobs(
            bg,
            Duration::from_secs(2),
        ));
    } else {
        tokio::spawn(serve::background::watch_raw(
            bg,
            cx.root.clone(),
            Duration::from_secs(2),
        ));
    }
    let (listener, addr) = listen(args, stack).await?;
    let serving = match gw
        .service
        .serving(mlinfra_core::registry::Stage::Production)
    {
        Some(m) => format!("`{}` version {} in Production", m.model, m.version),
        None => "no Production model yet (requests get 503 until one is approved)".to_string(),
    };
    cx.out.progress(format!(
        "listening on http://{addr}/{}/ ({serving}); metrics on /metrics, OpenAPI on /openapi.json; Ctrl-C stops",
        stack.api.stage
    ));
    for (name, s) in stack.schedules.iter().filter(|(_, s)| s.enabled) {
        cx.out.progress(format!(
            "schedule.{name}: `{}` runs {}",
            s.expression, s.function
        ));
    }
    cx.out
        .progress("etl: new files in the lake's raw/ are validated and curated");
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    // Serving stops when `mlinfra down` removes the platform.
    let taken_down = taken_down(state_store, cx.stack_name().to_string(), cx.env.as_str());
    tokio::pin!(taken_down);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            why = &mut taken_down => {
                return Err(Failure::new(format!(
                    "stopped serving: {why}\nhint: `mlinfra up` builds the platform again, then `mlinfra serve`"
                )));
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let gw = Arc::clone(&gw);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let gw = Arc::clone(&gw);
                        async move { Ok::<_, std::convert::Infallible>(gw.handle(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
    cx.out.progress("stopped");
    Ok(0)
}

/// Listen on `--host` and `--port` (the stack's local port by default).
pub(super) async fn listen(
    args: &ServeArgs,
    stack: &crate::stack::Stack,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), Failure> {
    let port = args.port.unwrap_or(stack.environments.local.port);
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), port))
        .await
        .map_err(|e| {
            Failure::new(format!(
                "cannot listen on {}:{port}: {e}\nhint: pass another `--port`",
                args.host
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    Ok((listener, addr))
}

/// The key requests must carry: the secret file `up` wrote under `records`.
fn api_key(records: &std::path::Path) -> Result<String, Failure> {
    let p = records.join("secrets/api-key");
    std::fs::read_to_string(&p)
        .map(|k| k.trim().to_string())
        .map_err(|e| {
            Failure::new(format!(
                "cannot read the API key `{}`: {e}\nhint: run `mlinfra up`",
                p.display()
            ))
        })
}

/// Resolves once the platform `serve` fronts is gone (`mlinfra down` deleted its API from the
/// state, or the state itself), so that nothing keeps answering or running schedules for a
/// platform that no longer exists. Checked every second.
async fn taken_down(store: crate::engine::store::Store, stack: String, env: &str) -> String {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match store.load(&stack, env).await {
            Ok(None) => {
                return format!(
                    "the platform was taken down (`{}` is gone)",
                    store.location()
                );
            }
            Ok(Some(state)) if !state.resources.contains_key("api") => {
                return format!(
                    "the platform's API was deleted (`mlinfra down`; `{}` no longer records it)",
                    store.location()
                );
            }
            // Unreadable for a moment (being replaced, the emulator busy): look again.
            _ => {}
        }
    }
}
