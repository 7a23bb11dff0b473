//! The Azure Functions package of a function: one function app per function (as the ARM
//! template deploys them), zipped as `<artifacts>/<function>/functionapp.zip` with
//!
//! - `host.json`: the custom handler (`handler`, started with `FUNCTIONS_CUSTOMHANDLER_PORT`),
//!   the HTTP route prefix `api`, HTTP requests proxied as the client sent them
//!   (`enableProxyingHttpRequest`, for the API), the function's timeout, the extension bundle
//!   that brings the blob trigger;
//! - one `<name>/function.json` per trigger, from the desired graph: `predict` an HTTP trigger on
//!   `<stage>/{*path}` (function keys when the stack's API takes an API key), `etl` a blob
//!   trigger on the lake's `raw/` through Event Grid, one timer per enabled schedule of the
//!   function, named after the schedule, in NCRONTAB. A disabled schedule has no trigger: the
//!   Functions runtime (v4) no longer reads `disabled` from `function.json`;
//! - `handler`: the function's binary built with its `azure` feature, mode 0755.
//!
//! `mlinfra serve --env azurite` runs these packages as the Functions host does
//! ([`crate::serve::functions_host`]).

use std::io::Write as _;
use std::path::Path;

use super::function_app::{
    AuthLevel, Binding, CustomHandler, Direction, ExtensionBundle, Extensions, FunctionJson,
    HandlerDescription, HostJson, HttpExtension,
};
use super::{Package, write_package};
use crate::engine::{Graph, ResourceKind};

/// The package's file name in `<artifacts>/<function>/`.
pub const PACKAGE: &str = "functionapp.zip";
/// The handler executable's name in the package.
pub const HANDLER: &str = "handler";
/// The route prefix of HTTP triggers.
pub const ROUTE_PREFIX: &str = "api";

/// `host.json` and each trigger's `(name, function.json)` of `function`'s app, from `graph` (the
/// desired graph with [`crate::providers::azure::add_defaults`] applied).
pub fn app_files(graph: &Graph, function: &str) -> (HostJson, Vec<(String, FunctionJson)>) {
    let mut triggers = Vec::new();
    let mut http = false;
    for r in graph.resources.values() {
        match r.kind {
            ResourceKind::Api => {
                let routes = r.props["routes"].as_array().cloned().unwrap_or_default();
                if !routes.iter().any(|x| x["function"] == function) {
                    continue;
                }
                let mut methods: Vec<String> = routes
                    .iter()
                    .filter(|x| x["function"] == function)
                    .filter_map(|x| x["method"].as_str().map(str::to_ascii_lowercase))
                    // API Gateway's `ANY` (the Open Inference Protocol's `/v2/{proxy+}`) is the
                    // methods its routes take.
                    .flat_map(|m| match m.as_str() {
                        "any" => vec!["get".to_string(), "post".to_string()],
                        _ => vec![m],
                    })
                    .collect();
                methods.sort();
                methods.dedup();
                let auth = if r.props["auth"] == "api_key" {
                    AuthLevel::Function
                } else {
                    AuthLevel::Anonymous
                };
                let stage = r.props["stage"].as_str().unwrap_or("v1");
                http = true;
                triggers.push((
                    function.to_string(),
                    FunctionJson {
                        bindings: vec![
                            Binding::HttpTrigger {
                                direction: Direction::In,
                                name: "req".into(),
                                auth_level: auth,
                                methods: Some(methods),
                                route: Some(format!("{stage}/{{*path}}")),
                            },
                            Binding::Http {
                                direction: Direction::Out,
                                name: "res".into(),
                            },
                        ],
                    },
                ));
            }
            ResourceKind::Notification if r.props["function"] == function => {
                let (bucket, prefix) = (
                    r.props["bucket"].as_str().unwrap_or_default(),
                    r.props["prefix"].as_str().unwrap_or_default(),
                );
                triggers.push((
                    function.to_string(),
                    FunctionJson {
                        bindings: vec![Binding::BlobTrigger {
                            direction: Direction::In,
                            name: "blob".into(),
                            path: format!("{bucket}/{prefix}{{name}}"),
                            source: Some("EventGrid".into()),
                            connection: Some("AzureWebJobsStorage".into()),
                            data_type: Some("binary".into()),
                        }],
                    },
                ));
            }
            ResourceKind::Schedule
                if r.props["function"] == function && r.props["enabled"] != false =>
            {
                let name = r.addr.strip_prefix("schedule.").unwrap_or(&r.addr);
                triggers.push((
                    name.to_string(),
                    FunctionJson {
                        bindings: vec![Binding::TimerTrigger {
                            direction: Direction::In,
                            name: "timer".into(),
                            schedule: r.props["ncrontab"].as_str().unwrap_or_default().into(),
                            run_on_startup: false,
                            use_monitor: true,
                        }],
                    },
                ));
            }
            _ => {}
        }
    }
    let timeout = graph
        .resources
        .get(&format!("function.{function}"))
        .and_then(|r| r.props["timeout_s"].as_u64())
        .unwrap_or(300);
    let host = HostJson {
        version: "2.0".into(),
        extension_bundle: Some(ExtensionBundle {
            id: "Microsoft.Azure.Functions.ExtensionBundle".into(),
            version: "[4.*, 5.0.0)".into(),
        }),
        custom_handler: CustomHandler {
            description: HandlerDescription {
                default_executable_path: HANDLER.into(),
                working_directory: String::new(),
                arguments: vec![],
            },
            enable_proxying_http_request: http,
        },
        extensions: Extensions {
            http: HttpExtension {
                route_prefix: Some(ROUTE_PREFIX.into()),
            },
        },
        function_timeout: Some(format!(
            "{:02}:{:02}:{:02}",
            timeout / 3600,
            timeout % 3600 / 60,
            timeout % 60
        )),
    };
    (host, triggers)
}

/// A file of the app as JSON, through a JSON value, whose keys are sorted: the same bytes
/// whatever the order of the types' fields.
fn pretty<T: serde::Serialize>(v: &T) -> std::io::Result<String> {
    let mut s = serde_json::to_string_pretty(&serde_json::to_value(v)?)?;
    s.push('\n');
    Ok(s)
}

/// Zip the app's files and its handler, deterministically; `level` is deflate's (1 fast … 9
/// small).
pub fn zip_app(
    host: &HostJson,
    triggers: &[(String, FunctionJson)],
    handler: &[u8],
    level: i64,
) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = |mode: u32| {
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(level))
                .unix_permissions(mode)
                .last_modified_time(zip::DateTime::default())
        };
        z.start_file("host.json", opts(0o644))
            .map_err(std::io::Error::other)?;
        z.write_all(pretty(host)?.as_bytes())?;
        for (name, function) in triggers {
            z.start_file(format!("{name}/function.json"), opts(0o644))
                .map_err(std::io::Error::other)?;
            z.write_all(pretty(function)?.as_bytes())?;
        }
        z.start_file(HANDLER, opts(0o755))
            .map_err(std::io::Error::other)?;
        z.write_all(handler)?;
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}

/// Write `<out>/<function>/functionapp.zip` from a built binary; `small` compresses hardest
/// (release builds), otherwise quickly (a debug build's binary is large).
pub fn package(
    graph: &Graph,
    function: &str,
    binary: &Path,
    out: &Path,
    small: bool,
) -> Result<Package, String> {
    let bytes = std::fs::read(binary)
        .map_err(|e| format!("cannot read the built binary `{}`: {e}", binary.display()))?;
    let (host, triggers) = app_files(graph, function);
    let zip = zip_app(&host, &triggers, &bytes, if small { 9 } else { 1 })
        .map_err(|e| format!("cannot zip `{function}`: {e}"))?;
    write_package(function, PACKAGE, &zip, bytes.len(), out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read as _;

    use serde_json::{Value, json};

    use super::*;

    /// The app's files as JSON, as the Functions host reads them.
    fn app_json(g: &Graph, function: &str) -> (Value, Vec<(String, Value)>) {
        let (host, triggers) = app_files(g, function);
        let triggers = triggers
            .iter()
            .map(|(n, f)| (n.clone(), serde_json::to_value(f).unwrap()))
            .collect();
        (serde_json::to_value(&host).unwrap(), triggers)
    }

    fn graph() -> Graph {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks/heart-disease.yaml");
        let stack = crate::stack::load(&path).unwrap().stack;
        let mut g = crate::engine::graph::desired(&stack).unwrap();
        crate::providers::azure::add_defaults(&mut g).unwrap();
        g
    }

    fn read(zip: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut b = vec![];
                f.read_to_end(&mut b).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap() & 0o777, b)
            })
            .collect()
    }

    #[test]
    fn each_app_holds_its_host_its_triggers_and_an_executable_handler() {
        let g = graph();
        let mut seen = vec![];
        for f in crate::build::FUNCTIONS {
            let (host, triggers) = app_files(&g, f);
            let zip = zip_app(&host, &triggers, b"\x7fELF", 9).unwrap();
            assert_eq!(
                zip,
                zip_app(&host, &triggers, b"\x7fELF", 9).unwrap(),
                "deterministic"
            );
            let files = read(&zip);
            let names: Vec<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
            assert_eq!(names[0], "host.json");
            assert_eq!(*names.last().unwrap(), HANDLER);
            assert_eq!(files.last().unwrap().1, 0o755);
            let host: Value = serde_json::from_slice(&files[0].2).unwrap();
            assert_eq!(
                host["customHandler"]["description"]["defaultExecutablePath"],
                HANDLER
            );
            assert_eq!(host["extensions"]["http"]["routePrefix"], "api");
            assert_eq!(
                host["enableProxyingHttpRequest"],
                Value::Null,
                "under customHandler"
            );
            for (name, function) in &app_json(&g, f).1 {
                let b = &function["bindings"][0];
                seen.push((f, name.clone(), b["type"].as_str().unwrap().to_string()));
                match b["type"].as_str().unwrap() {
                    "httpTrigger" => {
                        assert_eq!(b["route"], "v1/{*path}");
                        assert_eq!(b["authLevel"], "function", "the stack's API takes a key");
                        assert_eq!(b["methods"], json!(["get", "post"]));
                        assert_eq!(host["customHandler"]["enableProxyingHttpRequest"], true);
                    }
                    "blobTrigger" => {
                        assert_eq!(b["path"], "mlinfra-heart-disease-lake/raw/{name}");
                        assert_eq!(b["source"], "EventGrid");
                    }
                    "timerTrigger" => {
                        assert!(b["schedule"].as_str().unwrap().split(' ').count() == 6)
                    }
                    other => panic!("{other}"),
                }
            }
        }
        let seen: Vec<(&str, &str, &str)> = seen
            .iter()
            .map(|(f, n, t)| (*f, n.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("etl", "etl", "blobTrigger"),
                ("train", "retrain", "timerTrigger"),
                ("predict", "predict", "httpTrigger"),
                ("monitor", "monitor", "timerTrigger"),
            ]
        );
        let (_, t) = app_json(&g, "train");
        assert_eq!(t[0].1["bindings"][0]["schedule"], "0 0 3 * * 1");
        let (host, _) = app_json(&g, "train");
        assert_eq!(host["customHandler"]["enableProxyingHttpRequest"], false);
    }

    #[test]
    fn a_disabled_schedule_has_no_timer_and_an_open_api_no_key() {
        let mut g = graph();
        for r in g.resources.values_mut() {
            if r.addr == "schedule.retrain" {
                r.props["enabled"] = json!(false);
            }
            if r.kind == ResourceKind::Api {
                r.props["auth"] = json!("none");
            }
        }
        assert!(app_files(&g, "train").1.is_empty());
        let (_, t) = app_json(&g, "predict");
        assert_eq!(t[0].1["bindings"][0]["authLevel"], "anonymous");
    }
}
