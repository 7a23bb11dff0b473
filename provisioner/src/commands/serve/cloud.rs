//! `mlinfra serve --env localstack|aws`: the deployed platform run on this machine as AWS runs it.
//! The deployed REST API (its routes, keys and throttle, read from the environment) is served
//! over HTTPS by the API Gateway front ([`crate::lambda::gateway`]), and each function it
//! integrates runs from its package in `--artifacts` (checked against the deployed code) in the
//! Lambda executor, with the deployed configuration, against the environment's S3 and DynamoDB.
//! The events AWS would deliver are delivered here too ([`crate::lambda::events`]): the enabled
//! EventBridge rules fire on their expressions, new objects under the bucket's notification
//! prefix go to their function, and the functions' Lambda `Invoke` calls reach the executors.
//! The console and the MLflow API are answered beside the REST API, on the same data.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{Context, Failure};
use crate::cli::ServeArgs;
use crate::lambda::gateway::Gateway;
use crate::lambda::{Executor, stderr_sink};
use crate::lambda::{deployed, events};

/// The account in the events' bodies (the functions do not read it).
const ACCOUNT: &str = "000000000000";

pub async fn run(cx: &Context, args: &ServeArgs) -> Result<i32, Failure> {
    let stack = &cx.loaded.stack;
    let p = cx.aws_provider().await?;
    let env = cx.env.as_str();
    let api = deployed::api(&p, &p.name("api"), &stack.api.stage)
        .await
        .map_err(|e| {
            Failure::new(format!(
                "{e}\nhint: deploy it with `mlinfra up --env {env}`"
            ))
        })?;
    // The functions invoke each other here: the Lambda API on loopback.
    let invoke_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::new(format!("cannot serve the Lambda Invoke API: {e}")))?;
    let invoke_addr = invoke_listener
        .local_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    let mut executors = HashMap::new();
    for function in stack.functions.keys() {
        let short = function.as_str();
        let name = crate::engine::graph::physical_name(stack, short);
        let package = cx.package(short)?;
        let dir = cx.root.join("serve").join(short);
        let mut spec = deployed::function(&p, &name, &package, &dir, args.local_build)
            .await
            .map_err(Failure::new)?;
        deployed::unpack(&package, &dir).map_err(Failure::new)?;
        spec.concurrency = args.concurrency.max(1);
        spec.env.push((
            "AWS_ENDPOINT_URL_LAMBDA".to_string(),
            format!("http://{invoke_addr}"),
        ));
        executors.insert(name, Arc::new(Executor::new(spec, stderr_sink())));
    }
    let functions: events::Functions = Arc::new(executors);
    events::serve_invoke_api(invoke_listener, Arc::clone(&functions));
    let region = p.settings.region.clone();
    let rules = events::rules(&p, &format!("{}-", stack.name))
        .await
        .map_err(Failure::new)?;
    for r in &rules {
        cx.out.progress(format!(
            "rule `{}`: `{}` -> {}",
            r.name, r.expression, r.function
        ));
    }
    events::fire_rules(
        rules,
        Arc::clone(&functions),
        region.clone(),
        ACCOUNT.into(),
    );
    let bucket = stack.lake.bucket.clone();
    let watched = events::notifications(&p, &bucket)
        .await
        .map_err(Failure::new)?;
    for (function, prefix) in &watched {
        cx.out.progress(format!(
            "s3://{bucket}/{prefix}…: new objects -> {function}"
        ));
    }
    events::watch_bucket(
        p.clients.s3.clone(),
        region,
        bucket,
        watched,
        Arc::clone(&functions),
        Duration::from_secs(2),
    );
    let tls = if args.plain_http {
        None
    } else {
        Some(tls(cx, args)?)
    };
    let (listener, addr) = super::listen(args, stack).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    for r in &api.routes {
        cx.out.progress(format!(
            "{} /{}{} -> {}{}",
            r.method,
            api.stage,
            r.path,
            r.function.as_deref().unwrap_or("(not a Lambda proxy: 502)"),
            if r.key_required { " (API key)" } else { "" }
        ));
    }
    if let Some((_, Some(cert))) = &tls {
        cx.out.progress(format!(
            "self-signed certificate for localhost and {}: {} (e.g. `curl --cacert {}`)",
            args.host,
            cert.display(),
            cert.display()
        ));
    }
    cx.out.progress(format!(
        "listening on {scheme}://{addr}/{}/ (REST API `{}` of {env}, functions run here from `{}`); Ctrl-C stops",
        api.stage,
        api.id,
        cx.artifacts.display()
    ));
    let beside = super::platform_beside(cx, args).await?;
    cx.out.progress(format!(
        "console on {} (accounts: `mlinfra users add NAME --env {env}`); the MLflow API on {scheme}://{addr} (MLFLOW_TRACKING_URI)",
        super::console_url(scheme, addr)
    ));
    let gw = Arc::new(Gateway::new(api, functions.as_ref().clone()));
    let acceptor = tls.map(|(a, _)| a);
    crate::lambda::gateway::serve(Arc::clone(&gw), beside, listener, acceptor, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    for e in gw.executors() {
        e.shutdown(Duration::from_secs(2)).await;
    }
    cx.out.progress("stopped");
    Ok(0)
}

/// The TLS acceptor: the given certificate and key, or a self-signed certificate made now
/// (written to `serve/cert.pem` for clients to trust; its key stays in memory).
fn tls(
    cx: &Context,
    args: &ServeArgs,
) -> Result<(tokio_rustls::TlsAcceptor, Option<std::path::PathBuf>), Failure> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (chain, key, written) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Failure::new(format!(
                        "`--tls-cert {}`: not a PEM certificate: {e}",
                        cert.display()
                    ))
                })?;
            let k = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Failure::new(format!(
                    "`--tls-key {}`: not a PEM private key: {e}",
                    key.display()
                ))
            })?;
            (chain, k, None)
        }
        _ => {
            let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            if !names.contains(&args.host) {
                names.push(args.host.clone());
            }
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| Failure::new(format!("cannot make a certificate: {e}")))?;
            let path = cx.root.join("serve").join("cert.pem");
            let path = std::path::absolute(&path).unwrap_or(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::new(format!("cannot create `{}`: {e}", dir.display())))?;
            }
            std::fs::write(&path, made.cert.pem())
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", path.display())))?;
            let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
            (vec![made.cert.der().clone()], key, Some(path))
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| Failure::new(format!("cannot serve HTTPS with this certificate: {e}")))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), written))
}
