//! `mlinfra export arm`: the ARM template of the example stack is a golden file, and is checked
//! structurally for what must hold on Azure whatever else changes: no public blob access, no
//! plain HTTP, no account key anywhere, identities scoped to containers, the schedules as
//! NCRONTAB timers. No ARM emulator exists; deploying the template is not tried here.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Project, assert_golden, manifest_dir};
use serde_json::Value;

fn template(p: &Project) -> (String, Value) {
    let run = p.run(&["export", "arm"]);
    run.ok();
    let v: Value = serde_json::from_str(&run.raw_stdout).unwrap();
    (run.raw_stdout.clone(), v)
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<&'a Value> {
    t["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == ty)
        .collect()
}

#[test]
fn the_template_is_the_golden_file() {
    let p = Project::new();
    let (text, _) = template(&p);
    assert_golden(
        &manifest_dir().join("tests/snapshots/arm-heart-disease.json"),
        &text,
    );
}

#[test]
fn storage_is_private_https_only_and_keyless() {
    let p = Project::new();
    let (text, t) = template(&p);
    let accounts = of_type(&t, "Microsoft.Storage/storageAccounts");
    assert_eq!(accounts.len(), 1);
    for a in accounts {
        let props = &a["properties"];
        assert_eq!(props["supportsHttpsTrafficOnly"], true);
        assert_eq!(props["minimumTlsVersion"], "TLS1_2");
        assert_eq!(props["allowBlobPublicAccess"], false);
        assert_eq!(props["allowSharedKeyAccess"], false);
    }
    let blob = &of_type(&t, "Microsoft.Storage/storageAccounts/blobServices")[0]["properties"];
    assert_eq!(blob["deleteRetentionPolicy"]["enabled"], true);
    assert_eq!(blob["containerDeleteRetentionPolicy"]["enabled"], true);
    let containers = of_type(
        &t,
        "Microsoft.Storage/storageAccounts/blobServices/containers",
    );
    assert!(containers.len() >= 2);
    for c in &containers {
        assert_eq!(c["properties"]["publicAccess"], "None", "{c}");
    }
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("/default/mlinfra-heart-disease-lake')]")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("/default/heart-disease-registry')]")),
        "{names:?}"
    );
    // No key or SAS anywhere, and no way to list one.
    for secret in [
        "AccountKey",
        "SharedAccessSignature",
        "listKeys(resourceId('Microsoft.Storage",
    ] {
        assert!(!text.contains(secret), "the template mentions `{secret}`");
    }
}

#[test]
fn function_apps_are_https_only_with_identities_and_no_keys_in_settings() {
    let p = Project::new();
    let (_, t) = template(&p);
    let sites = of_type(&t, "Microsoft.Web/sites");
    assert_eq!(sites.len(), 4, "one app per function");
    for s in sites {
        assert_eq!(s["identity"]["type"], "SystemAssigned", "{s}");
        assert_eq!(s["properties"]["httpsOnly"], true);
        assert_eq!(s["properties"]["siteConfig"]["minTlsVersion"], "1.2");
        assert_eq!(
            s["properties"]["functionAppConfig"]["runtime"]["name"],
            "custom"
        );
        let settings = s["properties"]["siteConfig"]["appSettings"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = settings
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"AzureWebJobsStorage__accountName"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"AzureWebJobsStorage"),
            "no connection string: {names:?}"
        );
        for x in settings {
            let v = x["value"].as_str().unwrap();
            assert!(!v.contains("AccountKey") && !v.contains("sig="), "{x}");
        }
        for var in [
            "MLINFRA_FUNCTION",
            "MLINFRA_LAKE",
            "MLINFRA_REGISTRY",
            "MLINFRA_STACK",
        ] {
            assert!(names.contains(&var), "{var} missing: {names:?}");
        }
    }
}

#[test]
fn every_role_assignment_is_scoped_to_one_container() {
    let p = Project::new();
    let (_, t) = template(&p);
    let roles = of_type(&t, "Microsoft.Authorization/roleAssignments");
    assert!(!roles.is_empty());
    for r in &roles {
        let scope = r["scope"].as_str().unwrap();
        assert!(
            scope.contains("/blobServices/default/containers/"),
            "not container-scoped: {scope}"
        );
        assert_eq!(r["properties"]["principalType"], "ServicePrincipal");
    }
    // predict reads the registry and writes the lake (predictions, feedback); it never writes
    // the registry.
    let of = |f: &str, container: &str| -> Vec<String> {
        roles
            .iter()
            .filter(|r| {
                r["name"].as_str().unwrap().contains(&format!("'{f}'"))
                    && r["scope"].as_str().unwrap().ends_with(&format!(
                        "/{container}', parameters('storageAccountName'))]"
                    ))
            })
            .map(|r| r["properties"]["description"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of("predict", "heart-disease-registry"),
        ["reads the registry"]
    );
    assert_eq!(
        of("predict", "mlinfra-heart-disease-lake"),
        ["writes the lake"]
    );
    assert_eq!(
        of("train", "heart-disease-registry"),
        ["writes the registry"]
    );
    assert!(
        of("etl", "heart-disease-registry").is_empty(),
        "etl never touches the registry"
    );
}

#[test]
fn timers_etl_trigger_and_alerts_follow_the_stack() {
    let p = Project::new();
    let (_, t) = template(&p);
    assert_eq!(t["metadata"]["timers"]["train"], "0 0 3 * * 1");
    assert_eq!(t["metadata"]["timers"]["monitor"], "0 0 0 * * *");
    let subs = of_type(&t, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
    assert_eq!(
        subs[0]["properties"]["filter"]["subjectBeginsWith"],
        "/blobServices/default/containers/mlinfra-heart-disease-lake/blobs/raw/"
    );
    let alerts = of_type(&t, "Microsoft.Insights/metricAlerts");
    let latency = alerts
        .iter()
        .find(|a| a["name"] == "heart-disease-latency-p99")
        .unwrap();
    let c = &latency["properties"]["criteria"]["allOf"][0];
    assert_eq!(
        (c["operator"].as_str(), c["threshold"].as_f64()),
        (Some("GreaterThan"), Some(100.0))
    );
    let group = &of_type(&t, "Microsoft.Insights/actionGroups")[0]["properties"];
    assert_eq!(
        group["emailReceivers"][0]["emailAddress"],
        "ml-team@example.com"
    );
    assert_eq!(
        group["webhookReceivers"][0]["serviceUri"],
        "https://hooks.example.com/mlinfra/on-call"
    );
    // A schedule Azure cannot express is an error, as for `up --env azurite`.
    p.edit_stack("cron(0 3 ? * MON *)", "cron(0 3 L * ? *)");
    let run = p.run(&["export", "arm"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("`L` means the last day"),
        "{}",
        run.stderr
    );
}
