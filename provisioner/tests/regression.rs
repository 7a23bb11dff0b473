//! A regression's whole lifecycle on the local environment, from `init` on the cars data (a text
//! category, missing features, eight rows without a target): the stack `init` writes, `up`,
//! `pipeline run` (ridge and trees searched on RMSE, an interval calibrated on out-of-fold
//! errors), the two-person approval, predictions with intervals and explanations over HTTP,
//! feedback, the monitor's RMSE, MAE and coverage from it, batch prediction, and a retraining
//! on the data the feedback added; and bad targets refused or dropped, each said.

#![allow(clippy::unwrap_used)]

mod common;

use common::server::Server;
use common::{Project, repo_root};
use serde_json::{Value, json};

/// A project holding `cars.csv` and no stack yet.
fn cars_project() -> Project {
    let p = Project::new();
    std::fs::remove_file(p.stack_file()).unwrap();
    let data = std::fs::read(repo_root().join("tests/fixtures/regression/cars.csv")).unwrap();
    p.write("cars.csv", &data);
    p
}

/// The rows of `cars.csv` as instances and their true `mpg` (rows with one only).
fn cars_rows(p: &Project) -> Vec<(Value, f64)> {
    let text = std::fs::read_to_string(p.path().join("cars.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let mpg: f64 = cells[header.len() - 1].parse().ok()?;
            let mut o = serde_json::Map::new();
            for (h, c) in header.iter().zip(&cells).take(header.len() - 1) {
                let v = match (c.parse::<f64>(), *h) {
                    (_, "origin") => json!(c),
                    (Ok(n), _) => json!(n),
                    (Err(_), _) => Value::Null,
                };
                o.insert((*h).to_string(), v);
            }
            Some((Value::Object(o), mpg))
        })
        .collect()
}

#[test]
fn a_regression_is_initialised_trained_approved_served_monitored_and_retrained() {
    let p = cars_project();
    let init = p.run(&["init", "--data", "cars.csv", "--label", "mpg"]);
    init.ok();
    assert!(
        init.stderr.contains("regression: `mpg` is a number"),
        "{}",
        init.stderr
    );
    let stack = std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap();
    for line in [
        "task: regression",
        "families: [ridge, gradient_boosted_trees]",
        "metric: rmse",
        "interval_level: 0.9",
        "early_stopping_rounds: 10",
    ] {
        assert!(stack.contains(line), "no `{line}` in:\n{stack}");
    }
    p.run(&["validate"]).ok();
    p.run(&["up", "--yes"]).ok();

    // Trained: eight rows without a target dropped, an interval calibrated and checked.
    let run = p.run(&["pipeline", "run", "--as", "alice"]);
    run.ok();
    assert!(
        run.stdout.contains("398 rows (8 without a label dropped)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("eval      rmse "), "{}", run.stdout);
    // The trees stopped early on each validation fold: the rounds kept are what was refitted.
    assert!(
        run.stdout.contains("early stopping kept "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("interval  90%: value ± "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("registered as version 1"),
        "{}",
        run.stdout
    );
    let runs = p.run(&["runs", "list", "--output", "json"]);
    runs.ok();
    let listed: Value = serde_json::from_str(&runs.raw_stdout).unwrap();
    let run_id = listed["executions"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(format!(
            ".mlinfra/cars/lake/artifacts/runs/{run_id}/run.json"
        )))
        .unwrap(),
    )
    .unwrap();
    let interval = &record["interval"];
    let half_width = interval["half_width"].as_f64().unwrap();
    assert_eq!(interval["level"], 0.9, "{record}");
    assert!(
        interval["calibration_rows"].as_u64().unwrap() > 300,
        "{record}"
    );
    assert!(
        record["metrics"]["rmse"].as_f64().unwrap() > 0.0,
        "{record}"
    );
    assert!(record["metrics"]["coverage"].as_f64().is_some(), "{record}");

    // Approved by a second person, served: each answer a value and its interval, explained.
    p.approve_to_production("1", "alice", "bob");
    let server = Server::start(&p);
    server.wait_for("production", 1);
    let rows = cars_rows(&p);
    let instances: Vec<Value> = rows.iter().take(40).map(|r| r.0.clone()).collect();
    let (status, body) = server.post(
        "/v1/predict?explain=true",
        &json!({ "instances": instances }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 40);
    for pred in preds {
        let v = pred["value"].as_f64().unwrap();
        assert_eq!(pred["interval"]["level"], 0.9, "{pred}");
        assert!((pred["interval"]["low"].as_f64().unwrap() - (v - half_width)).abs() < 1e-9);
        assert!((pred["interval"]["high"].as_f64().unwrap() - (v + half_width)).abs() < 1e-9);
        let e = &pred["explanation"];
        assert_eq!(e["output"], "value", "{pred}");
        let sum: f64 = e["contributions"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c.as_f64().unwrap())
            .sum();
        assert!(
            (e["base"].as_f64().unwrap() + sum - v).abs() < 1e-4,
            "{pred}"
        );
    }

    // Feedback: one request per row, its true value back; a word is refused.
    let mut pairs = Vec::new();
    for (instance, mpg) in rows.iter().skip(100).take(30) {
        let (status, a) = server.post(
            "/v1/predict",
            &json!({ "instances": [instance] }).to_string(),
        );
        assert_eq!(status, 200, "{a}");
        let id = a["request_id"].as_str().unwrap();
        let (status, fb) = server.post(
            "/v1/feedback",
            &json!({"request_id": id, "label": mpg}).to_string(),
        );
        assert_eq!(status, 202, "{fb}");
        pairs.push((a["predictions"][0]["value"].as_f64().unwrap(), *mpg));
    }
    let (status, fb) = server.post(
        "/v1/feedback",
        &json!({"request_id": body["request_id"], "label": "high"}).to_string(),
    );
    assert_eq!(status, 400, "{fb}");
    assert!(fb.to_string().contains("is not a number"), "{fb}");

    // The monitor: RMSE, MAE and coverage of the feedback, as computed here.
    let n = pairs.len() as f64;
    let rmse = (pairs.iter().map(|(p, t)| (t - p).powi(2)).sum::<f64>() / n).sqrt();
    let mae = pairs.iter().map(|(p, t)| (t - p).abs()).sum::<f64>() / n;
    let covered = pairs
        .iter()
        .filter(|(p, t)| (t - p).abs() <= half_width)
        .count() as f64
        / n;
    // The log is written in the background: look until the 30 answers are in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let doc = loop {
        let m = p.run(&["monitor", "check", "--output", "json"]);
        m.ok();
        let doc: Value = serde_json::from_str(&m.raw_stdout).unwrap();
        if doc["report"]["performance"]["labelled"] == 30 || std::time::Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    drop(server);
    let q = &doc["report"]["performance"]["regression"];
    assert_eq!(doc["report"]["performance"]["labelled"], 30, "{doc}");
    assert!(
        (q["rmse"].as_f64().unwrap() - rmse).abs() < 1e-9,
        "{q} vs {rmse}"
    );
    assert!(
        (q["mae"].as_f64().unwrap() - mae).abs() < 1e-9,
        "{q} vs {mae}"
    );
    assert!(
        (q["coverage"].as_f64().unwrap() - covered).abs() < 1e-12,
        "{q}"
    );
    assert!(doc["report"]["prediction"]["test"].is_string(), "{doc}");
    let text = p.run(&["monitor", "check"]);
    text.ok();
    assert!(
        text.stdout.contains("quality   30 labelled: rmse "),
        "{}",
        text.stdout
    );

    // Batch prediction: the served values, with their intervals.
    p.run(&["predict", "--input", "cars.csv", "--out", "values.csv"])
        .ok();
    let written = std::fs::read_to_string(p.path().join("values.csv")).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,value,interval_low,interval_high,model,version"
    );
    let first: Vec<f64> = lines
        .next()
        .unwrap()
        .split(',')
        .take(4)
        .map(|c| c.parse().unwrap())
        .collect();
    assert!((first[1] - preds[0]["value"].as_f64().unwrap()).abs() < 1e-5);
    assert!((first[3] - first[1] - half_width).abs() < 1e-9);

    // Retraining: the feedback became training data, so a new model is trained on it and
    // compared with Production on the same rows by RMSE.
    let r = p.run(&["retrain", "--as", "alice"]);
    r.ok();
    assert!(r.stdout.contains("428 rows"), "{}", r.stdout);
    assert!(r.stdout.contains("rmse "), "{}", r.stdout);
    assert!(r.stdout.contains("vs production"), "{}", r.stdout);
}

#[test]
fn bad_targets_are_refused_or_dropped_and_each_is_said() {
    let p = cars_project();
    p.run(&["init", "--data", "cars.csv", "--label", "mpg"])
        .ok();
    p.run(&["up", "--yes"]).ok();
    let text = std::fs::read_to_string(p.path().join("cars.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let with_target = |line: usize, value: &str| -> String {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let (head, _) = out[line - 1].rsplit_once(',').unwrap();
        out[line - 1] = format!("{head},{value}");
        out.join("\n") + "\n"
    };
    // Not finite: dropped, counted and named by line.
    let mut data = with_target(3, "inf");
    data = {
        let mut l: Vec<&str> = data.lines().collect();
        let row = format!("{},NaN", l[4].rsplit_once(',').unwrap().0);
        l[4] = &row;
        l.join("\n") + "\n"
    };
    p.write("odd.csv", data.as_bytes());
    let r = p.run(&["pipeline", "run", "--data", "odd.csv", "--as", "alice"]);
    r.ok();
    assert!(
        r.stdout
            .contains("2 with a label that is not a finite number dropped (line 3, 5)"),
        "{}",
        r.stdout
    );
    // A word: refused, naming the line and the value; nothing trained.
    p.write("words.csv", with_target(4, "high").as_bytes());
    let r = p.run(&["pipeline", "run", "--data", "words.csv", "--as", "alice"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stderr
            .contains("label column `mpg`, line 4: `high` is not a number"),
        "{}",
        r.stderr
    );
    // A constant target: refused.
    let constant: String = std::iter::once(lines[0].to_string())
        .chain(
            lines[1..]
                .iter()
                .map(|l| format!("{},20", l.rsplit_once(',').unwrap().0)),
        )
        .collect::<Vec<_>>()
        .join("\n");
    p.write("constant.csv", constant.as_bytes());
    let r = p.run(&["pipeline", "run", "--data", "constant.csv", "--as", "alice"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(r.stderr.contains("is `20` on every row"), "{}", r.stderr);
    // The wrong family or a classification's label rule for a regression: the stack says.
    let stack = std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap();
    p.write(
        "mlinfra.yaml",
        stack
            .replace("families: [ridge,", "families: [logistic_regression,")
            .as_bytes(),
    );
    let v = p.run(&["validate"]);
    assert_eq!(v.code, 1, "{}", v.snapshot());
    assert!(
        v.stderr.contains(
            "`logistic_regression` is a classification's family; `model.task` is `regression`"
        ),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("use `ridge`"), "{}", v.stderr);
}
