//! Parquet files as users' pandas and pyarrow jobs write them (pyarrow writes them here) are read
//! wherever a data file is: the same data as CSV and as Parquet give byte-identical runs (the
//! same data hash, the same model), through `pipeline run`, `data ingest` (the ETL job),
//! `init` and batch `predict`; a column mlinfra cannot take is named in a clear error.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::Project;
use serde_json::Value;

const HEART: &str = "examples/heart-disease/processed.cleveland.csv";

/// `python/to_parquet.py IN OUT CODEC EXTRA` in the test venv.
fn to_parquet(p: &Project, csv: &str, out: &str, codec: &str, extra: &str) {
    let o = std::process::Command::new(common::repo_root().join(".venv/bin/python"))
        .arg(common::repo_root().join("python/to_parquet.py"))
        .args([p.path().join(csv), p.path().join(out)])
        .args([codec, extra])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(p.path().join(out))
            .unwrap()
            .starts_with(b"PAR1")
    );
}

fn json(r: &common::Run) -> Value {
    serde_json::from_str(&r.raw_stdout).unwrap_or_else(|_| panic!("{}", r.snapshot()))
}

fn pipeline(p: &Project, data: &str) -> Value {
    let r = p.run(&["pipeline", "run", "--data", data, "--output", "json"]);
    r.ok();
    json(&r)["run"].clone()
}

#[test]
fn the_same_data_as_csv_and_as_parquet_gives_the_same_run() {
    let p = Project::with_data();
    p.edit_stack("trials: 20", "trials: 4");
    to_parquet(&p, HEART, "heart.parquet", "snappy", "");
    to_parquet(&p, HEART, "heart-zstd.parquet", "zstd", "");
    to_parquet(&p, HEART, "heart-gzip.parquet", "gzip", "");
    p.run(&["up", "--yes"]).ok();
    let csv = pipeline(&p, HEART);
    for file in ["heart.parquet", "heart-zstd.parquet", "heart-gzip.parquet"] {
        let parquet = pipeline(&p, file);
        assert_eq!(parquet["data_hash"], csv["data_hash"], "{file}");
        assert_eq!(parquet["model_sha256"], csv["model_sha256"], "{file}");
        assert_eq!(parquet["metrics"], csv["metrics"], "{file}");
    }
    // The raw file is kept as it came; the curated data is the same CSV.
    let lake = p.env_dir().join("lake");
    assert!(
        std::fs::read(lake.join("raw/heart.parquet"))
            .unwrap()
            .starts_with(b"PAR1")
    );

    // Batch predictions from either file are the same.
    p.approve_to_production("1", "alice", "bob");
    p.run(&["predict", "--input", HEART, "--out", "from-csv.csv"])
        .ok();
    p.run(&[
        "predict",
        "--input",
        "heart.parquet",
        "--out",
        "from-parquet.csv",
    ])
    .ok();
    let a = std::fs::read_to_string(p.path().join("from-csv.csv")).unwrap();
    let b = std::fs::read_to_string(p.path().join("from-parquet.csv")).unwrap();
    assert_eq!(a.lines().count(), 304);
    assert_eq!(a, b);

    // Predictions written as Parquet: pyarrow reads them, with the CSV output's values.
    p.run(&[
        "predict",
        "--input",
        "heart.parquet",
        "--out",
        "preds.parquet",
    ])
    .ok();
    let o = std::process::Command::new(common::repo_root().join(".venv/bin/python"))
        .args([
            "-c",
            "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(t.num_rows, ','.join(t.column_names), t.schema.field('label').type, t.schema.field('p_1').type)",
        ])
        .arg(p.path().join("preds.parquet"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "303 row,label,confidence,p_0,p_1,model,version int64 double"
    );
    let bytes = std::fs::read(p.path().join("preds.parquet")).unwrap();
    let back = mlinfra_core::data::parquet::to_csv(&bytes)
        .unwrap()
        .into_owned();
    let back = String::from_utf8(back).unwrap();
    for (x, y) in a.lines().zip(back.lines()).skip(1) {
        let (x, y): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
        assert_eq!((x[0], x[1], x[5], x[6]), (y[0], y[1], y[5], y[6]));
        for c in 2..5 {
            let (u, v): (f64, f64) = (x[c].parse().unwrap(), y[c].parse().unwrap());
            assert!((u - v).abs() < 1e-6, "{x:?} vs {y:?}");
        }
    }
    assert!(!p.path().join("preds.parquet.partial").exists());

    // `data stats` reads it too.
    let r = p.run(&[
        "data",
        "stats",
        "--data",
        "heart.parquet",
        "--output",
        "json",
    ]);
    r.ok();
    assert!(r.raw_stdout.contains("\"thalach\""), "{}", r.raw_stdout);
}

#[test]
fn a_parquet_file_goes_through_the_etl_job_to_the_same_curated_data() {
    let hash = |file: &str, name: &str| -> String {
        let p = Project::with_data();
        if file.ends_with(".parquet") {
            to_parquet(&p, HEART, file, "snappy", "");
        }
        p.run(&["up", "--yes"]).ok();
        let r = p.run(&["data", "ingest", file, "--output", "json"]);
        r.ok();
        let v = json(&r);
        let pointer: Value = serde_json::from_slice(
            &std::fs::read(p.env_dir().join("lake/curated/latest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(pointer["rows"], 303, "{name}: {pointer}");
        assert_eq!(
            pointer["sources"][0],
            format!(
                "raw/{}",
                Path::new(file).file_name().unwrap().to_string_lossy()
            ),
            "{name}: {v}"
        );
        pointer["data_hash"].as_str().unwrap().to_string()
    };
    assert_eq!(hash("heart.parquet", "parquet"), hash(HEART, "csv"));
}

#[test]
fn init_reads_parquet_and_columns_it_cannot_take_are_named() {
    let p = Project::with_data();
    to_parquet(&p, HEART, "heart.parquet", "snappy", "");
    let r = p.run(&[
        "-f",
        "from-parquet.yaml",
        "init",
        "--data",
        "heart.parquet",
        "--label",
        "num",
        "--positive-when",
        "> 0",
    ]);
    r.ok();
    let text = std::fs::read_to_string(p.path().join("from-parquet.yaml")).unwrap();
    assert!(text.contains("heart.parquet"), "{text}");
    p.run(&["up", "--yes"]).ok();

    for (extra, column, what) in [
        ("timestamp", "seen_at", "timestamps"),
        ("struct", "point", "nested"),
    ] {
        let file = format!("{extra}.parquet");
        to_parquet(&p, HEART, &file, "snappy", extra);
        let r = p.run(&["pipeline", "run", "--data", &file]);
        assert_eq!(r.code, 1, "{}", r.snapshot());
        assert!(r.stderr.contains(&format!("`{column}`")), "{}", r.stderr);
        assert!(r.stderr.contains(what), "{}", r.stderr);
        assert!(r.stderr.contains(&file), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let r = p.run(&[
            "-f",
            "never.yaml",
            "init",
            "--data",
            &file,
            "--label",
            "num",
        ]);
        assert_eq!(r.code, 1, "{}", r.snapshot());
        assert!(r.stderr.contains(&format!("`{column}`")), "{}", r.stderr);
        assert!(!p.path().join("never.yaml").exists());
    }
}
