//! The platform as an Azure Resource Manager template, generated from the desired graph (with
//! Azure's defaults added: the functions' `custom` runtime, the schedules' NCRONTAB):
//!
//! - a storage account: HTTPS only, TLS 1.2 at least, no public blob access, no shared-key
//!   access (every caller is an Entra ID identity), blob and container soft delete, versioning;
//!   the lake and registry containers (private), and one deployment container per function app;
//! - Log Analytics and Application Insights;
//! - a Flex Consumption plan and one function app per function (the custom handler of
//!   `mlinfra build --target azure`), each with a system-assigned identity, HTTPS only, its
//!   `MLINFRA_*` settings naming the containers by URL, and `AzureWebJobsStorage` by account
//!   name (identity-based): no account key in any app setting;
//! - role assignments from each function's permissions, scoped to the containers: Storage Blob
//!   Data Reader where it only reads, Contributor where it writes (the S3 policies' per-prefix
//!   limits have no counterpart here yet: Azure's ABAC conditions could give them);
//! - the ETL's Event Grid subscription to blobs created under the lake's `raw/`;
//! - an action group from the stack's alert subscriptions, and a metric alert per alarm on the
//!   functions' custom metrics in Application Insights.
//!
//! No emulator of ARM exists: the template is checked structurally by the tests, and deploying it
//! to a subscription has not been tried.

use serde_json::{Value, json};

use crate::engine::{Graph, ResourceKind};

const STORAGE_API: &str = "2023-05-01";
const WEB_API: &str = "2024-04-01";
/// Storage Blob Data Reader and Contributor, built-in role definition ids.
const BLOB_READER: &str = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
const BLOB_CONTRIBUTOR: &str = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
/// Storage Blob Data Owner: the Functions host's own containers (timers' leases, keys).
const BLOB_OWNER: &str = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
/// The containers the Functions host keeps its state in.
const HOST_CONTAINERS: [&str; 2] = ["azure-webjobs-hosts", "azure-webjobs-secrets"];

fn container_id(name: &str) -> String {
    format!(
        "[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', parameters('storageAccountName'), 'default', '{name}')]"
    )
}

fn site_id(app: &str) -> String {
    format!("[resourceId('Microsoft.Web/sites', '{app}')]")
}

/// The template for `graph` (the desired graph of `--env azure`, with [`super::add_defaults`]
/// applied); `lake` and `registry` are the containers' names.
pub fn template(graph: &Graph, stack: &str, lake: &str, registry: &str) -> Value {
    let blob_url = |c: &str| {
        format!(
            "[concat('https://', parameters('storageAccountName'), '.blob.', environment().suffixes.storage, '/{c}')]"
        )
    };
    let mut resources = vec![];
    let account =
        "[resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))]";
    resources.push(json!({
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": STORAGE_API,
        "name": "[parameters('storageAccountName')]",
        "location": "[parameters('location')]",
        "kind": "StorageV2",
        "sku": { "name": "Standard_LRS" },
        "properties": {
            "supportsHttpsTrafficOnly": true,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": false,
            "allowSharedKeyAccess": false,
            "defaultToOAuthAuthentication": true,
            "encryption": {
                "keySource": "Microsoft.Storage",
                "services": { "blob": { "enabled": true } }
            }
        }
    }));
    resources.push(json!({
        "type": "Microsoft.Storage/storageAccounts/blobServices",
        "apiVersion": STORAGE_API,
        "name": "[concat(parameters('storageAccountName'), '/default')]",
        "dependsOn": [account],
        "properties": {
            "isVersioningEnabled": true,
            "deleteRetentionPolicy": { "enabled": true, "days": 7 },
            "containerDeleteRetentionPolicy": { "enabled": true, "days": 7 }
        }
    }));
    let functions: Vec<(String, Value)> = graph
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Function)
        .map(|r| {
            (
                r.props["function"].as_str().unwrap_or_default().to_string(),
                r.props.clone(),
            )
        })
        .collect();
    let app = |f: &str| format!("{stack}-{f}");
    let deploy = |f: &str| format!("{}-package", app(f));
    let mut containers: Vec<String> = vec![lake.to_string(), registry.to_string()];
    containers.extend(HOST_CONTAINERS.iter().map(|c| c.to_string()));
    containers.extend(functions.iter().map(|(f, _)| deploy(f)));
    for c in &containers {
        resources.push(json!({
            "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
            "apiVersion": STORAGE_API,
            "name": format!("[concat(parameters('storageAccountName'), '/default/{c}')]"),
            "dependsOn": [format!("[resourceId('Microsoft.Storage/storageAccounts/blobServices', parameters('storageAccountName'), 'default')]")],
            "properties": { "publicAccess": "None" }
        }));
    }
    resources.push(json!({
        "type": "Microsoft.OperationalInsights/workspaces",
        "apiVersion": "2023-09-01",
        "name": format!("{stack}-logs"),
        "location": "[parameters('location')]",
        "properties": { "sku": { "name": "PerGB2018" }, "retentionInDays": 30 }
    }));
    let insights = format!("[resourceId('Microsoft.Insights/components', '{stack}-insights')]");
    resources.push(json!({
        "type": "Microsoft.Insights/components",
        "apiVersion": "2020-02-02",
        "name": format!("{stack}-insights"),
        "location": "[parameters('location')]",
        "kind": "web",
        "dependsOn": [format!("[resourceId('Microsoft.OperationalInsights/workspaces', '{stack}-logs')]")],
        "properties": {
            "Application_Type": "web",
            "WorkspaceResourceId": format!("[resourceId('Microsoft.OperationalInsights/workspaces', '{stack}-logs')]"),
            "DisableLocalAuth": true
        }
    }));
    let plan = format!("[resourceId('Microsoft.Web/serverfarms', '{stack}-plan')]");
    resources.push(json!({
        "type": "Microsoft.Web/serverfarms",
        "apiVersion": WEB_API,
        "name": format!("{stack}-plan"),
        "location": "[parameters('location')]",
        "kind": "functionapp",
        "sku": { "name": "FC1", "tier": "FlexConsumption" },
        "properties": { "reserved": true }
    }));
    for (f, props) in &functions {
        let mut settings = vec![
            json!({ "name": "AzureWebJobsStorage__accountName", "value": "[parameters('storageAccountName')]" }),
            json!({ "name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": format!("[reference(resourceId('Microsoft.Insights/components', '{stack}-insights'), '2020-02-02').ConnectionString]") }),
            json!({ "name": "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "value": "Authorization=AAD" }),
            json!({ "name": "MLINFRA_FUNCTION", "value": f }),
            json!({ "name": "MLINFRA_STACK", "value": stack }),
            json!({ "name": "MLINFRA_LAKE", "value": blob_url(lake) }),
            json!({ "name": "MLINFRA_REGISTRY", "value": blob_url(registry) }),
        ];
        for (k, var) in [
            ("memory_mb", "MLINFRA_MEMORY_MB"),
            ("timeout_s", "MLINFRA_TIMEOUT_S"),
        ] {
            if let Some(v) = props[k].as_u64() {
                settings.push(json!({ "name": var, "value": v.to_string() }));
            }
        }
        let memory = props["memory_mb"].as_u64().unwrap_or(2048).clamp(512, 4096);
        // Flex Consumption offers 512, 2048 and 4096 MB instances.
        let instance = [512, 2048, 4096]
            .into_iter()
            .find(|m| *m >= memory)
            .unwrap_or(4096);
        resources.push(json!({
            "type": "Microsoft.Web/sites",
            "apiVersion": WEB_API,
            "name": app(f),
            "location": "[parameters('location')]",
            "kind": "functionapp,linux",
            "identity": { "type": "SystemAssigned" },
            "dependsOn": [plan, insights, container_id(&deploy(f))],
            "properties": {
                "serverFarmId": plan,
                "httpsOnly": true,
                "siteConfig": {
                    "minTlsVersion": "1.2",
                    "ftpsState": "Disabled",
                    "appSettings": settings
                },
                "functionAppConfig": {
                    "deployment": {
                        "storage": {
                            "type": "blobContainer",
                            "value": blob_url(&deploy(f)),
                            "authentication": { "type": "SystemAssignedIdentity" }
                        }
                    },
                    "runtime": { "name": "custom", "version": "1.0" },
                    "scaleAndConcurrency": {
                        "maximumInstanceCount": 40,
                        "instanceMemoryMB": instance
                    }
                }
            }
        }));
    }
    // Role assignments from each function's permissions, at container scope.
    let mut grant = |f: &str, container: &str, role: &str, why: &str| {
        let principal = format!(
            "[reference(resourceId('Microsoft.Web/sites', '{}'), '{WEB_API}', 'full').identity.principalId]",
            app(f)
        );
        resources.push(json!({
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "scope": format!("[format('Microsoft.Storage/storageAccounts/{{0}}/blobServices/default/containers/{container}', parameters('storageAccountName'))]"),
            "name": format!("[guid(parameters('storageAccountName'), '{container}', '{f}', '{role}')]"),
            "dependsOn": [site_id(&app(f)), container_id(container)],
            "properties": {
                "roleDefinitionId": format!("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{role}')]"),
                "principalId": principal,
                "principalType": "ServicePrincipal",
                "description": why
            }
        }));
    };
    for r in graph
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Role)
    {
        let f = r.props["function"].as_str().unwrap_or_default();
        let p = &r.props["permissions"];
        let has = |k: &str| p[k].as_array().is_some_and(|a| !a.is_empty());
        if has("lake_write") {
            grant(f, lake, BLOB_CONTRIBUTOR, "writes the lake");
        } else if has("lake_read") {
            grant(f, lake, BLOB_READER, "reads the lake");
        }
        match p["registry"].as_str() {
            Some("read-write" | "write") => {
                grant(f, registry, BLOB_CONTRIBUTOR, "writes the registry")
            }
            Some("read") => grant(f, registry, BLOB_READER, "reads the registry"),
            _ => {}
        }
        for c in HOST_CONTAINERS {
            grant(f, c, BLOB_OWNER, "the Functions host's leases and keys");
        }
        grant(f, &deploy(f), BLOB_READER, "reads its deployment package");
    }
    // The ETL's trigger: blobs created under the lake's raw/, through Event Grid.
    resources.push(json!({
        "type": "Microsoft.EventGrid/systemTopics",
        "apiVersion": "2022-06-15",
        "name": format!("{stack}-storage-events"),
        "location": "[parameters('location')]",
        "dependsOn": [account],
        "properties": { "source": account, "topicType": "Microsoft.Storage.StorageAccounts" }
    }));
    resources.push(json!({
        "type": "Microsoft.EventGrid/systemTopics/eventSubscriptions",
        "apiVersion": "2022-06-15",
        "name": format!("{stack}-storage-events/etl-raw"),
        "dependsOn": [
            format!("[resourceId('Microsoft.EventGrid/systemTopics', '{stack}-storage-events')]"),
            site_id(&app("etl"))
        ],
        "properties": {
            "destination": {
                "endpointType": "WebHook",
                "properties": {
                    "endpointUrl": format!("[concat('https://', reference(resourceId('Microsoft.Web/sites', '{}'), '{WEB_API}').defaultHostName, '/runtime/webhooks/blobs?functionName=Host.Functions.etl&code=', listKeys(resourceId('Microsoft.Web/sites/host', '{}', 'default'), '{WEB_API}').systemKeys.blobs_extension)]", app("etl"), app("etl"))
                }
            },
            "filter": {
                "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
                "subjectBeginsWith": format!("/blobServices/default/containers/{lake}/blobs/raw/"),
                "subjectEndsWith": ""
            },
            "eventDeliverySchema": "EventGridSchema"
        }
    }));
    // Alerts: an action group of the stack's subscriptions, a metric alert per alarm.
    let mut emails = vec![];
    let mut hooks = vec![];
    for r in graph
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Topic)
    {
        for s in r.props["subscriptions"].as_array().into_iter().flatten() {
            let (name, endpoint) = (
                s["name"].as_str().unwrap_or_default(),
                s["endpoint"].as_str().unwrap_or_default(),
            );
            match s["protocol"].as_str() {
                Some("email") => emails.push(
                    json!({ "name": name, "emailAddress": endpoint, "useCommonAlertSchema": true }),
                ),
                _ => hooks.push(
                    json!({ "name": name, "serviceUri": endpoint, "useCommonAlertSchema": true }),
                ),
            }
        }
    }
    let group = format!("[resourceId('Microsoft.Insights/actionGroups', '{stack}-alerts')]");
    resources.push(json!({
        "type": "Microsoft.Insights/actionGroups",
        "apiVersion": "2023-01-01",
        "name": format!("{stack}-alerts"),
        "location": "Global",
        "properties": {
            "groupShortName": stack.chars().take(12).collect::<String>(),
            "enabled": true,
            "emailReceivers": emails,
            "webhookReceivers": hooks
        }
    }));
    for r in graph
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Alarm)
    {
        let operator = match r.props["comparison"].as_str() {
            Some(">") => "GreaterThan",
            Some(">=") => "GreaterThanOrEqual",
            Some("<") => "LessThan",
            _ => "LessThanOrEqual",
        };
        resources.push(json!({
            "type": "Microsoft.Insights/metricAlerts",
            "apiVersion": "2018-03-01",
            "name": r.props["name"],
            "location": "global",
            "dependsOn": [insights, group],
            "properties": {
                "severity": 2,
                "enabled": true,
                "scopes": [insights],
                "evaluationFrequency": "PT1H",
                "windowSize": "P1D",
                "criteria": {
                    "odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    "allOf": [{
                        "name": r.props["metric"],
                        "metricNamespace": "azure.applicationinsights",
                        "metricName": r.props["metric"],
                        "operator": operator,
                        "threshold": r.props["threshold"],
                        "timeAggregation": "Maximum",
                        "criterionType": "StaticThresholdCriterion",
                        "skipMetricValidation": true
                    }]
                },
                "actions": [{ "actionGroupId": group }]
            }
        }));
    }
    let timers: Value = graph
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Schedule)
        .map(|r| {
            (
                r.props["function"].as_str().unwrap_or_default().to_string(),
                r.props["ncrontab"].clone(),
            )
        })
        .collect::<serde_json::Map<String, Value>>()
        .into();
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "metadata": {
            "generator": "mlinfra",
            "stack": stack,
            "timers": timers
        },
        "parameters": {
            "location": { "type": "string", "defaultValue": "[resourceGroup().location]" },
            "storageAccountName": {
                "type": "string",
                "defaultValue": "[concat('mlinfra', uniqueString(resourceGroup().id))]",
                "maxLength": 24
            }
        },
        "resources": resources,
        "outputs": {
            "lake_uri": { "type": "string", "value": blob_url(lake) },
            "registry_uri": { "type": "string", "value": blob_url(registry) },
            "api_url": {
                "type": "string",
                "value": format!("[concat('https://', reference(resourceId('Microsoft.Web/sites', '{}'), '{WEB_API}').defaultHostName, '/api/v1/')]", app("predict"))
            }
        }
    })
}
