//! `mlinfra serve`: run the local API gateway until Ctrl-C, with the stack's schedules and the
//! ETL of `raw/`. On `azurite` the function app packages run here as Azure Functions runs them
//! ([`azurite`]); on `localstack` and `aws` the deployed platform is served, its
//! functions run here as Lambda runs them ([`cloud`]). On each, the console and the MLflow API
//! are answered beside ([`serve::Beside`]).

mod azurite;
mod cloud;

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
    match cx.env {
        crate::stack::EnvKind::Local => {}
        crate::stack::EnvKind::Azurite => return azurite::run(&cx, args).await,
        crate::stack::EnvKind::Localstack | crate::stack::EnvKind::Aws => {
            return cloud::run(&cx, args).await;
        }
    }
    let (_, state_store) = cx.infra().await?;
    let refresh = Duration::from_secs(args.refresh_seconds.unwrap_or(stack.api.model_refresh_s));
    let (lake, registry, _) = crate::app::platform::platform(&cx, &None).await?;
    let api_key = if stack.api.auth == crate::stack::schema::Auth::ApiKey {
        Some(api_key(&cx.root)?)
    } else {
        None
    };
    let bg = Arc::new(serve::background::Background {
        lake: lake.clone(),
        store: registry.store.clone(),
        stack: stack.clone(),
        stack_dir: cx.loaded.dir().to_path_buf(),
        root: cx.root.clone(),
    });
    let gw = serve::gateway(
        lake.clone(),
        registry.store.clone(),
        api_key,
        stack,
        refresh,
    );
    let beside = serve::Beside {
        mlflow: Some(Arc::new(serve::mlflow::Tracking::new(
            lake.clone(),
            mlinfra_core::registry::Registry::new(registry.store.clone(), registry.policy.clone()),
            crate::accounts::Accounts::at(&cx.root),
            mlinfra_core::mlflow::Access::None,
        ))),
        console: Some(Arc::new(crate::console::Console::new(
            stack,
            lake.clone(),
            registry,
            crate::accounts::Accounts::at(&cx.root),
            Arc::clone(&gw),
        ))),
    };
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
    tokio::spawn(serve::background::watch_raw(
        bg,
        cx.root.clone(),
        Duration::from_secs(2),
    ));
    let (listener, addr) = listen(args, stack).await?;
    let serving = match gw
        .service
        .serving(mlinfra_core::registry::Stage::Production)
    {
        Some(m) => format!("`{}` version {} in Production", m.model, m.version),
        None => "no Production model yet (requests get 404 until one is approved)".to_string(),
    };
    cx.out.progress(format!(
        "listening on http://{addr}/{}/ ({serving}); console on {} (accounts: `mlinfra users add NAME`), metrics on /metrics, OpenAPI on /openapi.json, the MLflow API on http://{addr} (MLFLOW_TRACKING_URI); Ctrl-C stops",
        stack.api.stage,
        console_url("http", addr)
    ));
    for (name, s) in stack.schedules.iter().filter(|(_, s)| s.enabled) {
        cx.out.progress(format!(
            "schedule.{name}: `{}` runs {}",
            s.expression, s.function
        ));
    }
    cx.out
        .progress("etl: new files in the lake's raw/ are validated and curated");
    let handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let gw = Arc::clone(&gw);
        let beside = beside.clone();
        async move {
            if beside.owns(req.uri().path()) {
                beside.handle(req).await
            } else {
                gw.handle(req).await
            }
        }
    };
    serve_until_down(
        &cx,
        listener,
        state_store,
        handler,
        "`mlinfra up` builds the platform again, then `mlinfra serve`",
    )
    .await?;
    cx.out.progress("stopped");
    Ok(0)
}

/// The console's address for a browser: `localhost` for a loopback address, because browsers
/// keep the console's `Secure` cookie over plain HTTP only for `localhost`.
pub(super) fn console_url(scheme: &str, addr: std::net::SocketAddr) -> String {
    if addr.ip().is_loopback() {
        format!("{scheme}://localhost:{}/ui", addr.port())
    } else {
        format!("{scheme}://{addr}/ui")
    }
}

/// The console and the MLflow API of a deployed platform (`azurite`, `localstack`, `aws`): its
/// lake and registry through the environment's SDKs, the accounts of this machine's environment
/// directory, and Try it served from the same model files as the API (its predictions logged as
/// the API's are).
pub(super) async fn platform_beside(
    cx: &Context,
    args: &ServeArgs,
) -> Result<serve::Beside, Failure> {
    let stack = &cx.loaded.stack;
    let refresh = Duration::from_secs(args.refresh_seconds.unwrap_or(stack.api.model_refresh_s));
    let (lake, registry, _) = crate::app::platform::platform(cx, &None).await?;
    let gw = serve::gateway(lake.clone(), registry.store.clone(), None, stack, refresh);
    for p in gw.service.refresh(true).await {
        cx.out.progress(format!("warning: console: {p}"));
    }
    tokio::spawn(mlinfra_core::serving::logs::write_logs(
        lake.clone(),
        gw.service.logs(),
        Duration::from_secs(1),
        Default::default(),
    ));
    let mlflow = Arc::new(serve::mlflow::Tracking::new(
        lake.clone(),
        mlinfra_core::registry::Registry::new(registry.store.clone(), registry.policy.clone()),
        crate::accounts::Accounts::at(&cx.root),
        mlinfra_core::mlflow::Access::None,
    ));
    let console = Arc::new(crate::console::Console::new(
        stack,
        lake,
        registry,
        crate::accounts::Accounts::at(&cx.root),
        gw,
    ));
    Ok(serve::Beside {
        console: Some(console),
        mlflow: Some(mlflow),
    })
}

/// Answer each connection on `listener` with `handle` until Ctrl-C, or until `mlinfra down`
/// removes the platform (then an error with `hint`).
pub(super) async fn serve_until_down<H, F>(
    cx: &Context,
    listener: tokio::net::TcpListener,
    state_store: crate::engine::store::Store,
    handle: H,
    hint: &str,
) -> Result<(), Failure>
where
    H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = hyper::Response<http_body_util::Full<hyper::body::Bytes>>>
        + Send
        + 'static,
{
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    let taken_down = taken_down(state_store, cx.stack_name().to_string(), cx.env.as_str());
    tokio::pin!(taken_down);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            why = &mut taken_down => {
                return Err(Failure::new(format!("stopped serving: {why}\nhint: {hint}")));
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let handle = handle.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
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
pub(super) fn api_key(records: &std::path::Path) -> Result<String, Failure> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_console_is_announced_on_localhost_for_a_loopback_address() {
        let at = |a: &str| super::console_url("http", a.parse().expect("an address"));
        assert_eq!(at("127.0.0.1:8080"), "http://localhost:8080/ui");
        assert_eq!(at("[::1]:8080"), "http://localhost:8080/ui");
        assert_eq!(at("10.0.0.5:8080"), "http://10.0.0.5:8080/ui");
    }
}
