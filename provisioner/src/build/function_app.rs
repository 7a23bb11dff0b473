//! The files of an Azure Functions app, typed: `host.json` (the custom handler, the HTTP route
//! prefix, the timeout) and each function's `function.json` (its bindings). `mlinfra build`
//! writes them ([`super::azure`]) and `mlinfra serve --env azurite` reads them back
//! ([`crate::serve::functions_host`]), so both sides agree by construction. Reading is lenient
//! as the Functions host is: fields mlinfra does not use are ignored, and a binding of another
//! type is kept as [`Binding::Other`].

use serde::{Deserialize, Serialize};

/// `host.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostJson {
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_bundle: Option<ExtensionBundle>,
    pub custom_handler: CustomHandler,
    pub extensions: Extensions,
    /// `hh:mm:ss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_timeout: Option<String>,
}

impl HostJson {
    /// The HTTP triggers' route prefix, without slashes (`api` when not set, as Azure's default).
    pub fn route_prefix(&self) -> String {
        let p = self
            .extensions
            .http
            .route_prefix
            .as_deref()
            .unwrap_or("api");
        p.trim_matches('/').to_string()
    }
}

/// The extension bundle that brings the bindings (the blob trigger).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtensionBundle {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomHandler {
    pub description: HandlerDescription,
    /// HTTP requests go to the handler as the client sent them.
    pub enable_proxying_http_request: bool,
}

/// How the host starts the handler.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HandlerDescription {
    /// The executable, relative to the app's directory.
    pub default_executable_path: String,
    /// Relative to the app's directory; empty for the app's directory itself.
    pub working_directory: String,
    pub arguments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Extensions {
    pub http: HttpExtension,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpExtension {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_prefix: Option<String>,
}

/// `<function>/function.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionJson {
    pub bindings: Vec<Binding>,
}

impl FunctionJson {
    /// The binding that starts the function (each function has one).
    pub fn trigger(&self) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.is_trigger())
    }
}

/// Which way a binding's data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// Who may call an HTTP trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthLevel {
    /// Anyone.
    Anonymous,
    /// A caller with a function key (`x-functions-key` or `?code=`).
    Function,
    /// A caller with the host's admin key.
    Admin,
}

/// One binding of a function, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Binding {
    #[serde(rename = "httpTrigger", rename_all = "camelCase")]
    HttpTrigger {
        direction: Direction,
        name: String,
        auth_level: AuthLevel,
        /// Lower case; absent for every method.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        methods: Option<Vec<String>>,
        /// Absent for the function's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<String>,
    },
    /// The HTTP answer.
    #[serde(rename = "http")]
    Http { direction: Direction, name: String },
    #[serde(rename = "blobTrigger", rename_all = "camelCase")]
    BlobTrigger {
        direction: Direction,
        name: String,
        /// `<container>/<pattern>`, such as `lake/raw/{name}`.
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_type: Option<String>,
    },
    #[serde(rename = "timerTrigger", rename_all = "camelCase")]
    TimerTrigger {
        direction: Direction,
        name: String,
        /// NCRONTAB, six fields.
        schedule: String,
        #[serde(default)]
        run_on_startup: bool,
        #[serde(default)]
        use_monitor: bool,
    },
    /// A binding mlinfra does not use.
    #[serde(other)]
    Other,
}

impl Binding {
    pub fn is_trigger(&self) -> bool {
        matches!(
            self,
            Binding::HttpTrigger { .. }
                | Binding::BlobTrigger { .. }
                | Binding::TimerTrigger { .. }
        )
    }

    /// The binding's name: the key its data has in an invocation's `Data`.
    pub fn name(&self) -> Option<&str> {
        match self {
            Binding::HttpTrigger { name, .. }
            | Binding::Http { name, .. }
            | Binding::BlobTrigger { name, .. }
            | Binding::TimerTrigger { name, .. } => Some(name),
            Binding::Other => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The files as the Functions host documents them read into the types and back, and what
    /// mlinfra does not use is ignored, not refused.
    #[test]
    fn function_json_as_azure_writes_it() {
        let text = r#"{"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function",
             "methods": ["get", "post"], "route": "v1/{*path}"},
            {"type": "http", "direction": "out", "name": "res"},
            {"type": "queue", "direction": "out", "name": "q", "queueName": "x"}
        ], "disabled": false}"#;
        let f: FunctionJson = serde_json::from_str(text).unwrap();
        assert_eq!(
            f.trigger(),
            Some(&Binding::HttpTrigger {
                direction: Direction::In,
                name: "req".into(),
                auth_level: AuthLevel::Function,
                methods: Some(vec!["get".into(), "post".into()]),
                route: Some("v1/{*path}".into()),
            })
        );
        assert_eq!(f.bindings[2], Binding::Other);
        let timer: Binding = serde_json::from_str(
            r#"{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 0 3 * * 1"}"#,
        )
        .unwrap();
        assert_eq!(timer.name(), Some("timer"));
        assert!(timer.is_trigger());
        let back = serde_json::to_value(&f.bindings[0]).unwrap();
        assert_eq!(back["type"], "httpTrigger");
        assert_eq!(back["authLevel"], "function");
        let bad = serde_json::from_str::<Binding>(
            r#"{"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "everyone"}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("everyone"));
    }

    #[test]
    fn host_json_defaults_as_azure_does() {
        let h: HostJson = serde_json::from_str(r#"{"version": "2.0"}"#).unwrap();
        assert_eq!(h.route_prefix(), "api");
        let h: HostJson = serde_json::from_str(
            r#"{"version": "2.0", "extensions": {"http": {"routePrefix": "/x/"}},
                "customHandler": {"description": {"defaultExecutablePath": "handler"}}}"#,
        )
        .unwrap();
        assert_eq!(h.route_prefix(), "x");
        assert_eq!(
            h.custom_handler.description.default_executable_path,
            "handler"
        );
    }
}
