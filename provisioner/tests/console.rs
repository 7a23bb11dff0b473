//! The console (`mlinfra serve`'s `/ui`) in a real browser, headless Debian Chromium driven over
//! WebDriver: alice signs in, compares two runs, requests Production for version 2 and is refused
//! when she approves it herself; bob approves; the Models page and the audit trail show both;
//! Try it gives the probabilities `POST /v1/predict` gives; the Monitoring page shows the feature
//! that drifts after shifted traffic. Screenshots of each page go to `$MLINFRA_SCREENSHOTS`, or
//! `screenshots/console` in the build directory (`$CARGO_TARGET_DIR`, else `target`).
//!
//! And its guards over plain HTTP: a form without the CSRF token, a cross-site post, a forged
//! session, five wrong passwords and a self-approval are refused and change nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Project;
use common::server::{Server, http};
use common::webdriver::Browser;
use serde_json::{Value, json};

const ALICE: &str = "alice-password-1";
const BOB: &str = "bob-password-123";

/// Two runs (v1 in Production, v2 in Staging) and the accounts alice and bob.
fn platform() -> (Project, Vec<String>) {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let run = |who: &str| -> String {
        let r = p.run(&["pipeline", "run", "--as", who, "--output", "json"]);
        r.ok();
        let v: Value = serde_json::from_str(&r.raw_stdout).unwrap();
        v["run"]["run_id"].as_str().unwrap().to_string()
    };
    let run1 = run("alice");
    p.approve_to_production("1", "alice", "bob");
    p.edit_stack(
        "families: [logistic_regression, gradient_boosted_trees]",
        "families: [gradient_boosted_trees]",
    );
    let run2 = run("alice");
    assert_ne!(run1, run2);
    p.run_stdin(&["users", "add", "alice"], &format!("{ALICE}\n"))
        .ok();
    p.run_stdin(&["users", "add", "bob"], &format!("{BOB}\n"))
        .ok();
    (p, vec![run1, run2])
}

fn screenshots() -> PathBuf {
    if let Some(d) = std::env::var_os("MLINFRA_SCREENSHOTS") {
        return PathBuf::from(d);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| common::repo_root().join("target"), PathBuf::from)
        .join("screenshots/console")
}

fn audit(p: &Project) -> String {
    let r = p.run(&["models", "audit", "--output", "json"]);
    r.ok();
    r.raw_stdout
}

fn models(p: &Project) -> String {
    let r = p.run(&["models", "list", "--output", "json"]);
    r.ok();
    r.raw_stdout
}

fn sign_in(b: &Browser, base: &str, name: &str, password: &str) {
    b.goto(&format!("{base}/ui/runs"));
    b.find("#signin");
    b.fill("#name", name);
    b.fill("#password", password);
    b.click("#signin-button");
    b.find("#who");
    assert_eq!(b.text("#who"), name, "{}", b.body_text());
}

fn rows_of(b: &Browser, table: &str) -> usize {
    b.script(&format!(
        "return document.querySelectorAll('#{table} tbody tr').length"
    ))
    .as_u64()
    .unwrap() as usize
}

#[test]
fn console_in_headless_chromium() {
    let (p, runs) = platform();
    let server = Server::start(&p);
    let base = format!("http://localhost:{}", server.port);
    let shots = screenshots();
    let b = Browser::start();

    // Signed out, a page sends to the sign-in form; alice signs in and lands on Runs.
    sign_in(&b, &base, "alice", ALICE);
    assert!(b.url().ends_with("/ui/runs"), "{}", b.url());
    let cookies = b.cookies();
    let session = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mlinfra_session")
        .unwrap_or_else(|| panic!("{cookies}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_eq!(rows_of(&b, "runs"), 2);
    b.screenshot(&shots.join("runs.png"));

    // Compare the two runs side by side.
    for r in &runs {
        b.click(&format!("input[name=run][value='{r}']"));
    }
    b.click("#compare");
    let compared = b.text("#compare");
    for r in &runs {
        assert!(compared.contains(r.as_str()), "{compared}");
    }
    assert!(
        compared.contains("logistic_regression") || compared.contains("gradient_boosted_trees")
    );
    assert!(compared.contains("cv score"), "{compared}");
    b.screenshot(&shots.join("compare.png"));

    // One run: its trials and its evaluation charts.
    b.goto(&format!("{base}/ui/runs/{}", runs[1]));
    assert!(rows_of(&b, "trials") >= 2);
    assert!(b.exists("svg[aria-label^='ROC curve']"));
    assert!(b.exists("svg[aria-label^='calibration']"));
    assert!(b.exists("table.cm"));
    b.screenshot(&shots.join("run.png"));

    // alice requests Production for version 2 ...
    b.goto(&format!("{base}/ui/models"));
    assert_eq!(b.text("#stage-v1"), "Production");
    assert_eq!(b.text("#stage-v2"), "Staging");
    b.set("#version", "2");
    b.set("#to", "production");
    b.fill("#request-comment", "trees only: better on every metric");
    b.click("#request");
    let ok = b.text(".flash.ok");
    assert!(ok.contains("Requested") && ok.contains("version 2"), "{ok}");
    let request = ok.split('`').nth(1).unwrap().to_string();
    // ... and her own approve button is refused, with nothing changed.
    let before = (audit(&p), models(&p));
    let audit_rows = rows_of(&b, "audit");
    b.click(&format!("#approve-{request}"));
    let refused = b.text(".flash.error");
    assert!(
        refused.contains("a different person must approve it"),
        "{refused}"
    );
    assert_eq!(b.text("#stage-v2"), "Staging");
    assert_eq!(rows_of(&b, "audit"), audit_rows);
    assert_eq!((audit(&p), models(&p)), before, "nothing changed");
    b.screenshot(&shots.join("models-refused.png"));

    // bob signs in and approves.
    b.click("nav form button");
    b.find("#signin");
    sign_in(&b, &base, "bob", BOB);
    b.goto(&format!("{base}/ui/models"));
    b.click(&format!("#approve-{request}"));
    let ok = b.text(".flash.ok");
    assert!(ok.contains("Approved"), "{ok}");
    assert_eq!(b.text("#stage-v2"), "Production");
    assert_eq!(b.text("#stage-v1"), "Archived");
    let trail: Value = serde_json::from_str(&audit(&p)).unwrap();
    let events = trail.as_array().unwrap_or_else(|| panic!("{trail}"));
    let by = |action: &str, version: u64| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["action"] == action && e["version"] == version)
            .map(|e| e["actor"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(by("request", 2).contains(&"alice".to_string()), "{trail}");
    assert!(by("approve", 2).contains(&"bob".to_string()), "{trail}");
    let shown = b.text("#audit");
    assert!(shown.contains("alice") && shown.contains("bob"), "{shown}");
    b.screenshot(&shots.join("models.png"));

    // Try it: the form's probabilities are those of POST /v1/predict.
    server.wait_for("production", 2);
    let (header, data) = common::heart_cells(&p);
    b.goto(&format!("{base}/ui/try"));
    for (h, c) in header.iter().zip(&data[0]).take(13) {
        b.set(&format!("#x-{h}"), c);
    }
    b.click("#predict");
    b.find("#result");
    let (status, api) = server.post(
        "/v1/predict?explain=true",
        &json!({ "instances": [common::heart_instance(&header, &data[0])] }).to_string(),
    );
    assert_eq!(status, 200, "{api}");
    let expected = api["predictions"][0]["probabilities"].as_object().unwrap();
    for (class, v) in expected {
        let shown: f64 = b.text(&format!("#p-{class}")).parse().unwrap();
        assert_eq!(shown, v.as_f64().unwrap(), "class {class}");
    }
    assert_eq!(
        b.text("#label"),
        api["predictions"][0]["label"].to_string().trim_matches('"')
    );
    assert!(b.text("#explanation").contains("base value"));
    b.screenshot(&shots.join("try.png"));

    // A small batch from a CSV file.
    let csv: String = std::iter::once(header.join(","))
        .chain(data.iter().take(5).map(|r| r.join(",")))
        .map(|l| l + "\n")
        .collect();
    let file = p.write("batch.csv", csv.as_bytes());
    b.fill("#csv", file.to_str().unwrap());
    b.click("#upload");
    b.find("#batch");
    assert_eq!(rows_of(&b, "batch"), 5);
    b.screenshot(&shots.join("try-batch.png"));

    // Data: the curated data's statistics and schema.
    b.goto(&format!("{base}/ui/data"));
    assert!(
        b.text("#curated").contains("303 rows"),
        "{}",
        b.text("#curated")
    );
    b.screenshot(&shots.join("data.png"));

    // Monitoring: traffic with `chol` moved by 2 standard deviations drifts on `chol`.
    let _ = std::fs::remove_dir_all(p.env_dir().join("lake/predictions"));
    let c = header.iter().position(|h| h == "chol").unwrap();
    let shifted: Vec<Value> = data
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[c] = format!("{}", r[c].parse::<f64>().unwrap() + 2.0 * 51.8);
            common::heart_instance(&header, &r)
        })
        .collect();
    let (status, body) = server.post("/v1/predict", &json!({ "instances": shifted }).to_string());
    assert_eq!(status, 200, "{body}");
    let logs = p.env_dir().join("lake/predictions");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !logs.is_dir() || std::fs::read_dir(&logs).unwrap().next().is_none() {
        assert!(Instant::now() < deadline, "the predictions were not logged");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
    p.run(&["monitor", "check"]);
    b.goto(&format!("{base}/ui/monitoring"));
    let drifted = b.text("#drifted");
    assert!(drifted.contains("chol"), "{}", b.body_text());
    b.screenshot(&shots.join("monitoring.png"));
    eprintln!("screenshots in {}", shots.display());
}

/// Sign in over HTTP: the session cookie's value and the session's CSRF token.
fn http_sign_in(port: u16, name: &str, password: &str) -> Result<(String, String), (u16, String)> {
    let (st, page, cookie) = get(port, "/ui/signin", "");
    assert_eq!(st, 200);
    let token = csrf(&page);
    let signin = cookie_value(&cookie, "mlinfra_signin").unwrap();
    let (st, body, set) = request(
        port,
        "POST",
        "/ui/signin",
        &format!("mlinfra_signin={signin}"),
        &format!("csrf={token}&name={name}&password={password}"),
        None,
    );
    if st != 303 {
        return Err((st, body));
    }
    assert!(
        set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let session = cookie_value(&set, "mlinfra_session").unwrap();
    let (_, models, _) = get(port, "/ui/models", &format!("mlinfra_session={session}"));
    Ok((session, csrf(&models)))
}

fn csrf(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no CSRF field in {page}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn cookie_value(set_cookies: &str, name: &str) -> Option<String> {
    set_cookies.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}="))
            .map(|v| v.split(';').next().unwrap().to_string())
    })
}

fn get(port: u16, path: &str, cookie: &str) -> (u16, String, String) {
    request(port, "GET", path, cookie, "", None)
}

/// One request: (status, body, the `Set-Cookie` values, a line each).
fn request(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
    origin: Option<&str>,
) -> (u16, String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        form.len()
    );
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(o) = origin {
        req.push_str(&format!("Origin: {o}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(form);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let cookies = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().to_string())
        })
        .collect::<Vec<_>>()
        .join("\n");
    (status, body.to_string(), cookies)
}

#[test]
fn the_consoles_guards_refuse_and_change_nothing() {
    let (p, _) = platform();
    let server = Server::start(&p);
    let port = server.port;
    let unchanged = || (audit(&p), models(&p));
    let before = unchanged();

    // Signed out: pages send to the sign-in form, and actions change nothing.
    let (st, _, _) = get(port, "/ui/models", "");
    assert_eq!(st, 303);
    let (st, body, _) = request(
        port,
        "POST",
        "/ui/models/request",
        "",
        "version=2&to=production",
        None,
    );
    assert_eq!(st, 401, "{body}");

    let (session, token) = http_sign_in(port, "alice", ALICE).unwrap();
    let cookie = format!("mlinfra_session={session}");
    // No CSRF token, a wrong one, and a cross-site post with the right one: refused.
    for (form, origin) in [
        ("version=2&to=production".to_string(), None),
        ("version=2&to=production&csrf=0000".to_string(), None),
        (
            format!("version=2&to=production&csrf={token}"),
            Some("http://evil.example"),
        ),
    ] {
        let (st, body, _) = request(port, "POST", "/ui/models/request", &cookie, &form, origin);
        assert_eq!(st, 403, "{form} {origin:?}: {body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    // A forged session token: refused.
    let forged = format!("mlinfra_session={}", "ab".repeat(32));
    let (st, _, _) = request(
        port,
        "POST",
        "/ui/models/request",
        &forged,
        &format!("version=2&to=production&csrf={token}"),
        None,
    );
    assert_eq!(st, 401);
    let (st, _, _) = get(port, "/ui/models", &forged);
    assert_eq!(st, 303, "a forged session sees nothing");
    assert_eq!(unchanged(), before, "nothing changed");

    // The real thing works: alice requests; her own approval is refused.
    let (st, body, _) = request(
        port,
        "POST",
        "/ui/models/request",
        &cookie,
        &format!("version=2&to=production&csrf={token}"),
        None,
    );
    assert_eq!(st, 200, "{body}");
    let id = body
        .split("Requested `")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap()
        .to_string();
    let before = unchanged();
    let (st, body, _) = request(
        port,
        "POST",
        "/ui/models/approve",
        &cookie,
        &format!("request={id}&csrf={token}"),
        None,
    );
    assert_eq!(st, 403, "{body}");
    assert!(
        body.contains("a different person must approve it"),
        "{body}"
    );
    assert_eq!(unchanged(), before, "a self-approval changes nothing");

    // Sign-in without its own form's token (login CSRF): refused.
    let (st, _, set) = request(
        port,
        "POST",
        "/ui/signin",
        "",
        &format!("name=bob&password={BOB}"),
        None,
    );
    assert_eq!(st, 403);
    assert!(!set.contains("mlinfra_session="), "{set}");

    // Five wrong passwords lock the name: then even the right one is refused, with no session.
    for i in 0..5 {
        let e = http_sign_in(port, "bob", "not-bobs-password").unwrap_err();
        assert_eq!(e.0, 401, "attempt {i}: {}", e.1);
    }
    let e = http_sign_in(port, "bob", BOB).unwrap_err();
    assert_eq!(e.0, 429, "{}", e.1);
    assert!(e.1.contains("too many wrong passwords"), "{}", e.1);
    // Other names are not locked out by bob's lock.
    let (_, _) = http_sign_in(port, "alice", ALICE).unwrap();
    assert_eq!(unchanged(), before);

    // Signing out ends the session: the same cookie is refused afterwards.
    let (st, _, set) = request(
        port,
        "POST",
        "/ui/signout",
        &cookie,
        &format!("csrf={token}"),
        None,
    );
    assert_eq!(st, 303);
    assert!(set.contains("mlinfra_session=;"), "{set}");
    let (st, _, _) = get(port, "/ui/models", &cookie);
    assert_eq!(st, 303);
    let _ = http(port, "GET", "/v1/health", &[], "");
}

/// A model imported from another tool is listed as imported, without a link to a pipeline run
/// it does not have.
#[test]
fn an_imported_version_is_listed_as_imported() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    let fixtures = common::repo_root().join("tests/fixtures/imported");
    for f in ["sklearn_pipeline.onnx", "heart.csv"] {
        p.write(f, &std::fs::read(fixtures.join(f)).unwrap());
    }
    p.run(&["models", "import", "sklearn_pipeline.onnx"]);
    p.run(&[
        "models",
        "import",
        "sklearn_pipeline.onnx",
        "--data",
        "heart.csv",
        "--label",
        "target",
        "--as",
        "alice",
    ])
    .ok();
    p.run_stdin(&["users", "add", "alice"], &format!("{ALICE}\n"))
        .ok();
    let server = Server::start(&p);
    let (session, _) = http_sign_in(server.port, "alice", ALICE).unwrap();
    let (st, page, _) = get(
        server.port,
        "/ui/models",
        &format!("mlinfra_session={session}"),
    );
    assert_eq!(st, 200);
    assert!(
        page.contains("class=\"imported\">imported</small>"),
        "{page}"
    );
    assert!(!page.contains("href=\"/ui/runs/import-"), "{page}");

    // Try it with the imported model in Production: its form, and the API's answer (a model
    // from another tool has no explanation, and is not asked for one).
    p.approve_to_production("1", "alice", "bob");
    server.wait_for("production", 1);
    let cookie = format!("mlinfra_session={session}");
    let (st, page, _) = get(server.port, "/ui/try", &cookie);
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("name=\"x.cp\""), "{page}");
    let instance = json!({"age": 63.0, "trestbps": 145.0, "chol": 233.0, "thalach": 150.0,
        "oldpeak": 2.3, "cp": "typical", "thal": "fixed"});
    let mut form = format!("csrf={}&stage=production", csrf(&page));
    for (k, v) in instance.as_object().unwrap() {
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        form.push_str(&format!("&x.{k}={v}"));
    }
    let origin = format!("http://localhost:{}", server.port);
    let (st, page, _) = request(
        server.port,
        "POST",
        "/ui/try",
        &cookie,
        &form,
        Some(&origin),
    );
    assert_eq!(st, 200, "{page}");
    let (_, api) = server.post("/v1/predict", &json!({"instances": [instance]}).to_string());
    let p1 = api["predictions"][0]["probabilities"]["1"]
        .as_f64()
        .unwrap();
    assert!(
        page.contains(&format!("<span id=\"p-1\">{p1}</span>")),
        "{p1} not in {page}"
    );
}

/// A regression's run page: its metrics and interval, predicted against actual values and the
/// residuals with the interval's band, drawn from its evaluation rows.
#[test]
fn a_regressions_run_page_charts_predicted_against_actual_and_the_residuals() {
    let p = Project::new();
    std::fs::remove_file(p.stack_file()).unwrap();
    let cars =
        std::fs::read(common::repo_root().join("tests/fixtures/regression/cars.csv")).unwrap();
    p.write("cars.csv", &cars);
    p.run(&["init", "--data", "cars.csv", "--label", "mpg"])
        .ok();
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.run_stdin(&["users", "add", "alice"], &format!("{ALICE}\n"))
        .ok();
    let server = Server::start(&p);
    let (session, _) = http_sign_in(server.port, "alice", ALICE).unwrap();
    let cookie = format!("mlinfra_session={session}");
    let (st, runs, _) = get(server.port, "/ui/runs", &cookie);
    assert_eq!(st, 200, "{runs}");
    assert!(runs.contains("rmse "), "{runs}");
    let id: String = runs
        .split("href=\"/ui/runs/")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let (st, page, _) = get(server.port, &format!("/ui/runs/{id}"), &cookie);
    assert_eq!(st, 200, "{page}");
    for text in [
        "predicted against actual (",
        "residuals (actual − predicted)",
        "<strong>rmse</strong>",
        "<strong>interval</strong>",
        "90% ± ",
    ] {
        assert!(page.contains(text), "no `{text}` in the run page:\n{page}");
    }
    // One point per evaluation row in each chart (80 of them here).
    let points = page.matches("<circle").count();
    assert!(points >= 2 * 70, "{points} points");
    assert!(!page.contains("confusion matrix"), "{page}");
}
