//! One imported model scored by tract one row at a time, as a single-instance request is:
//! `bench_imported MODEL.onnx DATA.csv [COLUMNS]` prints the mean time per row (µs) over
//! every row of the file, repeated until at least a second has passed. `bench/imported.sh`
//! runs it beside onnxruntime on the same rows.

use std::time::{Duration, Instant};

use mlinfra_onnx::card::FeatureKind;
use mlinfra_onnx::import::{Column, Imported};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, data) = (&args[1], &args[2]);
    let columns: Vec<String> = args
        .get(3)
        .map(|c| c.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let m = Imported::load(&std::fs::read(model).expect("model")).expect("load");
    let mut card = m.infer_card();
    if card.input.tensor.is_some() {
        for (f, c) in card.input.features.iter_mut().zip(&columns) {
            f.name = c.clone();
        }
    }
    let mut r = csv::Reader::from_path(data).expect("data");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.expect("row").iter().map(str::to_string).collect())
        .collect();
    let one = |row: &[String]| -> Vec<Column> {
        card.input
            .features
            .iter()
            .map(|f| {
                let j = header.iter().position(|h| h == &f.name).expect("column");
                match f.kind {
                    FeatureKind::Text | FeatureKind::Image => Column::Texts(vec![row[j].clone()]),
                    FeatureKind::Number => Column::Numbers(vec![row[j].parse().expect("number")]),
                }
            })
            .collect()
    };
    // `MLINFRA_BENCH_BATCH=all`: every row in one batch (to tell a per-call cost from a per-row one).
    let batches: Vec<Vec<Column>> = if std::env::var("MLINFRA_BENCH_BATCH").as_deref() == Ok("all")
    {
        let cols: Vec<Vec<Column>> = rows.iter().map(|r| one(r)).collect();
        let merged = (0..card.input.features.len())
            .map(|j| match &cols[0][j] {
                Column::Numbers(_) => Column::Numbers(
                    cols.iter()
                        .flat_map(|c| match &c[j] {
                            Column::Numbers(v) => v.clone(),
                            Column::Texts(_) => vec![],
                        })
                        .collect(),
                ),
                Column::Texts(_) => Column::Texts(
                    cols.iter()
                        .flat_map(|c| match &c[j] {
                            Column::Texts(v) => v.clone(),
                            Column::Numbers(_) => vec![],
                        })
                        .collect(),
                ),
            })
            .collect();
        vec![merged]
    } else {
        rows.iter().map(|r| one(r)).collect()
    };
    let per_batch = if batches.len() == 1 { rows.len() } else { 1 };
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        for b in &batches {
            std::hint::black_box(m.predict(&card, b).expect("predict"));
            n += per_batch;
        }
    }
    println!("{:.2}", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}
