//! Monitoring end to end on the local environment, through a real `mlinfra serve`: traffic
//! like the training data drifts nowhere; traffic with `chol` + 2 std and a new `thal`
//! category drifts on exactly those two features (2 of 13: no dataset drift, an alert); new
//! data ingested (a bad file quarantined, a good one curated) and traffic shifted on 7 of 13
//! features is dataset drift (share ≥ 0.5) that triggers one retraining, which registers a new
//! version in Staging and requests Production for a person to approve; a second check within
//! the cooldown alerts again but does not retrain. The alerts reach an HTTP webhook; the
//! report renders as HTML; `serve`'s `/metrics` carries the drift gauges.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Project;
use common::server::{Server, http};
use serde_json::{Value, json};

/// An HTTP endpoint that records each request body and answers 200.
fn webhook() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        g.lock().unwrap().push(body.to_string());
                        break;
                    }
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

fn std_dev(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// `rows` with each numeric column in `shift` moved by 2 standard deviations, and `thal` (and
/// `cp` when asked) set to a category never seen in training on every third row.
fn shifted(
    header: &[String],
    rows: &[Vec<String>],
    shift: &[&str],
    new_category: &[&str],
) -> Vec<Vec<String>> {
    let mut out = rows.to_vec();
    for name in shift {
        let c = header.iter().position(|h| h == name).unwrap();
        let vals: Vec<f64> = rows.iter().filter_map(|r| r[c].parse().ok()).collect();
        let sd = std_dev(&vals);
        for r in &mut out {
            if let Ok(v) = r[c].parse::<f64>() {
                r[c] = format!("{}", v + 2.0 * sd);
            }
        }
    }
    for name in new_category {
        let c = header.iter().position(|h| h == name).unwrap();
        for r in out.iter_mut().step_by(3) {
            r[c] = "5".into();
        }
    }
    out
}

/// Send the rows as predictions (one request each when `feedback`, with the true label sent
/// back) and wait until `serve` has logged all of them.
fn traffic(p: &Project, s: &Server, header: &[String], rows: &[Vec<String>], feedback: bool) {
    let logs = p.env_dir().join("lake/predictions");
    let _ = std::fs::remove_dir_all(&logs); // a fresh window
    let _ = std::fs::remove_dir_all(p.env_dir().join("lake/feedback"));
    if feedback {
        for r in rows {
            let (st, b) = s.post(
                "/v1/predict",
                &json!({"features": common::heart_instance(header, r)}).to_string(),
            );
            assert_eq!(st, 200, "{b}");
            let truth = i64::from(r[13].parse::<f64>().unwrap() > 0.0);
            let (st, b) = s.post(
                "/v1/feedback",
                &json!({"request_id": b["request_id"], "label": truth}).to_string(),
            );
            assert_eq!(st, 202, "{b}");
        }
    } else {
        for chunk in rows.chunks(50) {
            let inst: Vec<Value> = chunk
                .iter()
                .map(|r| common::heart_instance(header, r))
                .collect();
            let (st, b) = s.post("/v1/predict", &json!({"instances": inst}).to_string());
            assert_eq!(st, 200, "{b}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: usize = walk(&logs)
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<Value>(l)
                            .map_or(0, |v| v["instances"].as_array().map_or(0, Vec::len))
                    })
                    .sum::<usize>()
            })
            .sum();
        if n == rows.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve logged {n} of {} instances",
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(e.path());
            }
        }
    }
    out
}

/// `mlinfra monitor check --detailed-exitcode`: exit 0 when no threshold is crossed, 2 when
/// one is (asserted against the report it prints).
fn check(p: &Project) -> Value {
    let r = p.run(&[
        "monitor",
        "check",
        "--detailed-exitcode",
        "--output",
        "json",
    ]);
    let v: Value = serde_json::from_str(&r.raw_stdout).unwrap_or(Value::Null);
    let crossed = v["report"]["decision"]["violations"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    assert_eq!(
        r.code,
        if crossed { 2 } else { 0 },
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    v
}

fn drifted(v: &Value) -> Vec<String> {
    let mut d: Vec<String> = v["report"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    d.sort();
    d
}

fn csv(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = header.join(",") + "\n";
    for r in rows {
        s.push_str(&(r.join(",") + "\n"));
    }
    s
}

#[test]
fn drift_alerts_and_retraining_with_cooldown() {
    let p = Project::with_data();
    let (hook_port, hooks) = webhook();
    p.edit_stack(
        "webhook: https://hooks.example.com/mlinfra/on-call",
        &format!("webhook: http://127.0.0.1:{hook_port}/mlinfra/on-call"),
    );
    p.edit_stack("trials: 20", "trials: 4");
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.approve_to_production("1", "alice", "bob");
    let s = Server::start(&p);
    s.wait_for("production", 1);
    let (header, data) = common::heart_cells(&p);

    // 1. Traffic like the training data, every prediction labelled: nothing drifts.
    traffic(&p, &s, &header, &data, true);
    let v = check(&p);
    let r = &v["report"];
    assert_eq!(drifted(&v), Vec::<String>::new(), "{r:#}");
    assert_eq!(r["features"].as_array().unwrap().len(), 13);
    assert_eq!(r["dataset"]["drifted"], false);
    assert_eq!(r["current_rows"], 303);
    assert_eq!(r["performance"]["labelled"], 303);
    assert_eq!(r["performance"]["judged"], true);
    assert!(
        r["performance"]["accuracy"].as_f64().unwrap() >= 0.75,
        "{}",
        r["performance"]
    );
    assert_eq!(v["alert"], Value::Null);
    assert_eq!(v["retrain"], false);
    // The labelled predictions became training data, through ETL's validation.
    assert_eq!(v["feedback"]["outcome"], "curated", "{}", v["feedback"]);
    assert_eq!(v["feedback"]["rows_added"], 303);
    assert_eq!(v["feedback"]["rows"], 606);
    // Small reference (242 training rows ≤ 1000): KS for numeric features, chi-squared for
    // categorical ones, as Evidently chooses.
    let test_of = |v: &Value, name: &str| {
        v["report"]["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["test"]
            .clone()
    };
    assert_eq!(test_of(&v, "chol"), "ks");
    assert_eq!(test_of(&v, "thal"), "chi_square");
    assert!(hooks.lock().unwrap().is_empty());

    // 2. chol + 2 std and a new thal category: exactly those two drift; 2/13 < 0.5.
    let shifted2 = shifted(&header, &data, &["chol"], &["thal"]);
    traffic(&p, &s, &header, &shifted2, false);
    let v = check(&p);
    let r = &v["report"];
    assert_eq!(drifted(&v), vec!["chol", "thal"], "{r:#}");
    let thal = r["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "thal")
        .unwrap();
    assert_eq!(thal["new_categories"], json!(["5"]));
    assert_eq!(r["dataset"]["drifted"], false);
    assert!((r["dataset"]["share"].as_f64().unwrap() - 2.0 / 13.0).abs() < 1e-12);
    assert_eq!(
        r["decision"]["violations"],
        json!(["drift:chol", "drift:thal"])
    );
    assert_eq!(
        v["retrain"], false,
        "feature drift alone is not the dataset drift the policy retrains on"
    );
    let alert = &v["alert"];
    assert!(
        alert["summary"].as_str().unwrap().contains("drift:chol"),
        "{alert}"
    );
    let stored = p.env_dir().join(format!(
        "lake/artifacts/alerts/{}.json",
        alert["id"].as_str().unwrap()
    ));
    assert!(stored.is_file(), "the alert is recorded in the lake");
    let hooked = hooks.lock().unwrap().clone();
    assert_eq!(hooked.len(), 1, "{hooked:?}");
    let body: Value = serde_json::from_str(&hooked[0]).unwrap();
    assert_eq!(body["alert"]["id"], alert["id"]);
    assert_eq!(body["stack"], "heart-disease");

    // 3. New data: a file that fails validation is quarantined (and alerted), a good one is
    //    curated as a new version with the old rows and the new.
    let bad = p.write(
        "bad.csv",
        csv(
            &header,
            &[{
                let mut r = data[0].clone();
                r[0] = "old".into();
                r
            }],
        )
        .as_bytes(),
    );
    let r = p.run(&["data", "ingest", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        p.env_dir().join("lake/raw/quarantine/bad.csv").is_file(),
        "{} {}",
        r.stdout,
        r.stderr
    );
    assert!(!p.env_dir().join("lake/raw/bad.csv").exists());
    assert_eq!(hooks.lock().unwrap().len(), 2, "the quarantine is alerted");
    let fresh = shifted(&header, &data[..120], &["chol"], &[]);
    let good = p.write("week-2.csv", csv(&header, &fresh).as_bytes());
    let r = p.run(&["data", "ingest", good.to_str().unwrap(), "--output", "json"]);
    r.ok();
    let ing: Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(ing["outcome"], "curated");
    assert_eq!(ing["rows_added"], 120);
    assert_eq!(ing["rows"], 606 + 120);

    // 4. Seven of thirteen features shifted: dataset drift (7/13 ≥ 0.5) → one retraining.
    let shifted7 = shifted(
        &header,
        &data,
        &["age", "trestbps", "chol", "thalach", "oldpeak"],
        &["thal", "cp"],
    );
    traffic(&p, &s, &header, &shifted7, false);
    let v = check(&p);
    let r = &v["report"];
    assert_eq!(
        drifted(&v),
        vec![
            "age", "chol", "cp", "oldpeak", "thal", "thalach", "trestbps"
        ],
        "{r:#}"
    );
    assert_eq!(r["dataset"]["drifted"], true);
    assert!(
        r["decision"]["violations"]
            .as_array()
            .unwrap()
            .contains(&json!("dataset_drift"))
    );
    assert_eq!(r["decision"]["retrain_reasons"], json!(["drift"]));
    assert_eq!(v["retrain"], true);
    let t = &v["retrained"];
    assert_eq!(t["registered_version"], 2, "{t:#}");
    assert_eq!(t["stage"], "Staging");
    assert!(
        t["request"].is_string(),
        "Production is requested, for a person to approve"
    );
    assert_eq!(t["run"]["rows"], 726);
    let list = p.run(&["models", "list", "--output", "json"]);
    list.ok();
    assert!(
        list.raw_stdout.contains("\"Production\""),
        "version 1 stays in Production until approved"
    );

    // 5. Again within the cooldown: still drifting, alerted, not retrained.
    let v = check(&p);
    assert_eq!(v["report"]["dataset"]["drifted"], true);
    assert_eq!(v["retrain"], false);
    assert!(v["report"]["decision"]["cooldown_until"].is_string());
    assert!(v["retrained"].is_null());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(p.env_dir().join("lake/artifacts/monitoring/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["retrains"], 1,
        "retraining was triggered exactly once"
    );
    let versions = p.run(&["models", "list", "--output", "json"]);
    versions.ok();
    assert!(!versions.raw_stdout.contains("\"version\": 3"));
    let hooked = hooks.lock().unwrap().clone();
    assert_eq!(
        hooked.len(),
        5,
        "drift, quarantine, dataset drift, the retraining's notification, dataset drift again: {hooked:?}"
    );
    let note: Value = serde_json::from_str(&hooked[3]).unwrap();
    assert_eq!(note["alert"]["source"], "train", "{note}");
    let summary = note["alert"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("version 2 registered (Staging); Production requested"),
        "{summary}"
    );

    // The report as a page with charts, and the gauges on /metrics.
    let html = p.path().join("report.html");
    p.run(&["monitor", "report", "--out", html.to_str().unwrap()])
        .ok();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<svg") && page.contains("chol") && page.contains("DRIFT"));
    assert!(!page.contains("<script"), "self-contained, no script");
    let (st, m) = http(s.port, "GET", "/metrics", &[], "");
    assert_eq!(st, 200);
    assert!(m.contains("mlinfra_dataset_drift 1"), "{m}");
    assert!(
        m.contains("mlinfra_feature_drift{feature=\"chol\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mlinfra_feature_drift{feature=\"sex\"} 0"),
        "{m}"
    );
    // Every metric the Grafana dashboard queries is one `serve` exposes.
    let dashboard =
        std::fs::read_to_string(common::repo_root().join("monitoring/grafana-dashboard.json"))
            .unwrap();
    let exposed: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut queried = 0;
    for (i, _) in dashboard.match_indices("mlinfra_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        queried += 1;
        assert!(
            exposed.contains(name.as_str()),
            "the dashboard queries `{name}`, which /metrics does not expose"
        );
    }
    assert!(queried >= 8, "{queried}");

    // `serve` watches raw/: a file dropped there (as an upload to S3 would be) is curated;
    // a bad one is quarantined.
    let raw = p.env_dir().join("lake/raw");
    std::fs::write(raw.join("week-3.csv"), csv(&header, &data[..40])).unwrap();
    std::fs::write(raw.join("broken.csv"), "age,num\nold,1\n").unwrap();
    let latest = p.env_dir().join("lake/curated/latest.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = serde_json::from_str::<Value>(&std::fs::read_to_string(&latest).unwrap())
            .unwrap()["rows"]
            .clone();
        let quarantined = raw.join("quarantine/broken.csv").is_file();
        if rows == 726 + 40 && quarantined {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not curate week-3.csv ({rows}) or quarantine broken.csv ({quarantined})"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!raw.join("broken.csv").exists());
}

/// A project serving version 1 in Production, the data's header, and the data with seven of its
/// thirteen features shifted (dataset drift).
fn serving_production() -> (Project, Server, Vec<String>, Vec<Vec<String>>) {
    let p = Project::with_data();
    p.edit_stack("trials: 20", "trials: 4");
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.approve_to_production("1", "alice", "bob");
    let s = Server::start(&p);
    s.wait_for("production", 1);
    let (header, data) = common::heart_cells(&p);
    let shifted7 = shifted(
        &header,
        &data,
        &["age", "trestbps", "chol", "thalach", "oldpeak"],
        &["thal", "cp"],
    );
    (p, s, header, shifted7)
}

#[test]
fn drift_without_new_data_skips_the_retraining_and_keeps_the_cooldown() {
    let (p, s, header, shifted7) = serving_production();
    traffic(&p, &s, &header, &shifted7, false);
    let v = check(&p);
    let d = &v["report"]["decision"];
    assert_eq!(v["report"]["dataset"]["drifted"], true);
    assert_eq!(d["retrain_reasons"], json!(["drift"]));
    assert_eq!(v["retrain"], false, "{d}");
    assert!(
        d["retrain_skipped"]
            .as_str()
            .unwrap()
            .contains("no data arrived since the Production model's (version 1"),
        "{d}"
    );
    assert!(d["cooldown_until"].is_null(), "{d}");
    let state = p.env_dir().join("lake/artifacts/monitoring/state.json");
    assert!(
        !state.exists()
            || !std::fs::read_to_string(&state)
                .unwrap()
                .contains("last_retrain_at"),
        "the cooldown did not start"
    );
    let text = p.run(&["monitor", "check"]);
    assert!(
        text.stdout
            .contains("retrain   due (drift) but skipped: no data arrived"),
        "{}",
        text.stdout
    );
    assert!(
        !p.run(&["models", "list", "--output", "json"])
            .raw_stdout
            .contains("\"version\": 2")
    );
}

#[test]
fn test_traffic_can_be_kept_out_of_monitoring() {
    let (p, s, header, shifted7) = serving_production();
    // 1. A smoke test marked as such: answered, never logged.
    let inst: Vec<Value> = shifted7[..50]
        .iter()
        .map(|r| common::heart_instance(&header, r))
        .collect();
    let (st, body) = http(
        s.port,
        "POST",
        "/v1/predict",
        &[
            ("x-api-key", &s.key),
            ("content-type", "application/json"),
            ("x-mlinfra-monitor", "false"),
        ],
        &json!({"instances": inst}).to_string(),
    );
    assert_eq!(st, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["monitored"], false);
    assert_eq!(body["predictions"].as_array().unwrap().len(), 50);
    std::thread::sleep(Duration::from_millis(1500)); // the log writer flushes every second
    assert!(
        walk(&p.env_dir().join("lake/predictions")).is_empty(),
        "an unmonitored request is not logged"
    );

    // 2. A load test that was not marked: left out afterwards by its time range.
    let from = mlinfra_core::clock::rfc3339(mlinfra_core::jobs::now());
    traffic(&p, &s, &header, &shifted7, false);
    let to = mlinfra_core::clock::rfc3339(mlinfra_core::jobs::now());
    assert!(check(&p)["report"]["dataset"]["drifted"] == true);
    p.run(&[
        "monitor",
        "ignore",
        "--from",
        &from,
        "--to",
        &to,
        "--reason",
        "load test",
        "--as",
        "carol",
    ])
    .ok();
    let listed = p.run(&["monitor", "ignore"]);
    listed.ok();
    assert!(
        listed.stdout.contains("by carol") && listed.stdout.contains(": load test"),
        "{}",
        listed.stdout
    );
    let v = check(&p);
    assert_eq!(v["report"]["current_rows"], 0, "{}", v["report"]);
    assert_eq!(v["report"]["dataset"]["drifted"], false);
    let bad = p.run(&["monitor", "ignore", "--from", "yesterday", "--to", &to]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("`--from` is `yesterday`, not a time"),
        "{}",
        bad.stderr
    );
}
