//! `mlinfra predict --input FILE.csv [--out out.csv | sqlite://out.db] [--stage staging]
//! [--explain]`: batch prediction with the registry's Production (or Staging) model, on every environment
//! (the model read from the local lake or from S3, verified against its registered sha256).
//!
//! Rows are read and scored in chunks of [`CHUNK`]. Output is all or nothing: a CSV is written
//! to a temporary file renamed at the end; SQLite rows are written in one transaction. The run id
//! (input sha256 + model sha256) keys the SQLite rows, so a rerun replaces its own rows.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mlinfra_core::registry::Stage;
use mlinfra_core::serving::sources::RegistrySource;
use mlinfra_core::serving::{ModelSource, Served};
use serde_json::json;
use sha2::Digest as _;

use super::{Context, Failure};
use crate::cli::{Global, PredictArgs};

/// Rows scored per call of the model.
pub const CHUNK: usize = 8192;

type ParquetWriter = mlinfra_core::data::parquet::Writer<std::io::BufWriter<std::fs::File>>;

enum Sink {
    Csv {
        tmp: PathBuf,
        path: PathBuf,
        w: csv::Writer<std::io::BufWriter<std::fs::File>>,
    },
    Stdout(csv::Writer<std::io::Stdout>),
    Parquet {
        tmp: PathBuf,
        path: PathBuf,
        w: Box<ParquetWriter>,
    },
    Sqlite {
        conn: rusqlite::Connection,
        path: PathBuf,
    },
}

/// The registry's model of `stage` on the environment, loaded for scoring.
pub async fn load(cx: &Context, stage: Stage) -> Result<Served, Failure> {
    let model = cx.loaded.stack.model.name.clone();
    let (lake, registry, _) = crate::app::platform::platform(cx, &None).await?;
    let source = RegistrySource {
        store: registry.store,
        lake,
        model: model.clone(),
    };
    let current = source.current().await.map_err(Failure::new)?;
    let pointer = current
        .and_then(|c| {
            if stage == Stage::Staging {
                c.staging
            } else {
                c.production
            }
        })
        .ok_or_else(|| {
            Failure::new(format!(
                "model `{model}` has no {stage} version\nhint: see `mlinfra models list`"
            ))
        })?;
    let bytes = source.fetch(&pointer).await.map_err(Failure::new)?;
    Served::load(&bytes, &model, pointer.version, stage, &pointer.sha256).map_err(Failure::new)
}

pub async fn run(g: &Global, args: &PredictArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let stage: Stage = args.stage.parse().map_err(Failure::new)?;
    let model = load(&cx, stage).await?;
    if model.scorer.image_spec().is_some() {
        return Err(Failure::new(format!(
            "version {} of `{}` takes pictures: batch prediction of pictures is not built yet\nhint: score them through the API (`POST /v1/predict`, `mlinfra serve`)",
            model.version, model.model
        )));
    }
    // A text model's one feature is its text, tokenized by the scorer.
    let text_model = model.scorer.takes_text();
    if args.explain && !model.is_native() {
        return Err(Failure::new(format!(
            "`--explain`: version {} of `{}` cannot be explained: its file does not carry the model's own evaluator\nhint: retrain with this mlinfra (`mlinfra retrain`), or predict without `--explain`",
            model.version, model.model
        )));
    }
    let explain = args.explain;
    let input = &args.input;
    let bytes_len = std::fs::metadata(input)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", input.display())))?
        .len();
    // Hashed by streaming, like the rows themselves: the file is never held in memory.
    let input_sha = {
        let read_error =
            |e: std::io::Error| Failure::new(format!("cannot read `{}`: {e}", input.display()));
        let mut file = std::fs::File::open(input).map_err(read_error)?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(read_error)?;
        hex::encode(hasher.finalize())
    };
    let run_id =
        mlinfra_core::pipeline::sha256_hex(format!("{input_sha}{}", model.sha256).as_bytes())[..16]
            .to_string();
    let missing = cx.loaded.stack.dataset.missing_values.clone();
    let started = std::time::Instant::now();

    // CSV is streamed; a Parquet file is converted to CSV in memory first.
    let read_error =
        |e: std::io::Error| Failure::new(format!("cannot read `{}`: {e}", input.display()));
    let mut file = std::fs::File::open(input).map_err(read_error)?;
    let mut magic = [0u8; 4];
    let parquet = std::io::Read::read_exact(&mut file, &mut magic).is_ok()
        && mlinfra_core::data::parquet::is_parquet(&magic);
    let source: Box<dyn std::io::Read> = if parquet {
        let raw = crate::app::input::read_bytes(input)?;
        let csv = crate::app::input::as_csv(input, &raw)?.into_owned();
        Box::new(std::io::Cursor::new(csv))
    } else {
        std::io::Seek::rewind(&mut file).map_err(read_error)?;
        Box::new(file)
    };
    let mut rdr = csv::ReaderBuilder::new().from_reader(source);
    let header = rdr
        .headers()
        .map_err(|e| Failure::new(format!("`{}`: {e}", input.display())))?
        .clone();
    let columns: Vec<usize> = model
        .features
        .iter()
        .map(|f| {
            header
                .iter()
                .position(|h| h.trim() == f.name)
                .ok_or_else(|| {
                    Failure::new(format!(
                        "`{}` has no column `{}`; the model needs {}",
                        input.display(),
                        f.name,
                        model
                            .features
                            .iter()
                            .map(|f| format!("`{}`", f.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect::<Result<_, _>>()?;

    let k = model.classes.len();
    let mut sink = open_sink(args.out.as_deref(), &model, k, explain)?;
    let mut rows: Vec<f32> = Vec::with_capacity(CHUNK * columns.len());
    let mut texts: Vec<String> = Vec::new();
    let mut n = 0u64;
    let mut first_row = 0u64;
    let mut record = csv::StringRecord::new();
    let result = (|| -> Result<(), Failure> {
        loop {
            let more = rdr
                .read_record(&mut record)
                .map_err(|e| Failure::new(format!("`{}`: {e}", input.display())))?;
            if more && text_model {
                texts.push(record.get(columns[0]).unwrap_or("").to_string());
                n += 1;
            } else if more {
                for (f, &c) in model.features.iter().zip(&columns) {
                    let cell = record.get(c).unwrap_or("").trim();
                    let v = if cell.is_empty() || missing.iter().any(|m| m == cell) {
                        f32::NAN
                    } else if f.text {
                        f.text_cell(cell)
                    } else {
                        cell.parse::<f32>().map_err(|_| {
                            let line = record.position().map_or(0, |p| p.line());
                            Failure::new(format!(
                                "`{}` line {line}: column `{}` is `{cell}`, expected a number",
                                input.display(),
                                f.name
                            ))
                        })?
                    };
                    rows.push(v);
                }
                n += 1;
            }
            let count = if text_model {
                texts.len()
            } else {
                rows.len() / columns.len().max(1)
            };
            if count == CHUNK || (!more && count > 0) {
                let scores = if text_model {
                    model
                        .scorer
                        .score_texts(&texts)
                        .map(|(s, _)| s)
                        .map_err(|e| e.to_string())
                } else {
                    model.score(count, &rows)
                }
                .map_err(|e| Failure::new(format!("scoring failed: {e}")))?;
                let explanations = if explain {
                    Some(
                        model
                            .explain(count, &rows, &scores.labels)
                            .map_err(|e| Failure::new(format!("`--explain`: {e}")))?,
                    )
                } else {
                    None
                };
                let chunk = Chunk {
                    scores: &scores,
                    explanations: explanations.as_deref(),
                };
                write_chunk(&mut sink, &model, &run_id, first_row, &chunk)?;
                first_row += count as u64;
                rows.clear();
                texts.clear();
            }
            if !more {
                return Ok(());
            }
        }
    })();
    if let Err(e) = result {
        if let Sink::Csv { tmp, .. } | Sink::Parquet { tmp, .. } = &sink {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    let target = finish(sink)?;
    let secs = started.elapsed().as_secs_f64();
    cx.out.progress(format!(
        "{n} rows ({bytes_len} bytes) scored with `{}` version {} ({}) in {:.3} s ({:.0} rows/s){}",
        model.model,
        model.version,
        model.stage,
        secs,
        n as f64 / secs.max(1e-9),
        target
            .as_ref()
            .map_or(String::new(), |t| format!(" -> {t}"))
    ));
    if target.is_some() {
        cx.out.result(String::new(), &json!({"rows": n, "run_id": run_id, "model": model.model, "version": model.version, "output": target}));
    }
    Ok(0)
}

/// A chunk's scores, and their explanations with `--explain`.
struct Chunk<'a> {
    scores: &'a mlinfra_core::scorer::Scores,
    explanations: Option<&'a [mlinfra_core::explain::Explanation]>,
}

impl Chunk<'_> {
    /// Row `i`'s explanation columns: `base`, then each feature's contribution.
    fn explained(&self, i: usize) -> Vec<f64> {
        self.explanations.map_or_else(Vec::new, |e| {
            std::iter::once(e[i].base)
                .chain(e[i].contributions.iter().map(|(_, c)| *c))
                .collect()
        })
    }
}

/// A regression's answer columns: `value`, and its interval's `interval_low, interval_high`
/// when it has one.
fn value_columns(model: &Served) -> Vec<String> {
    let mut h = vec!["value".to_string()];
    if model.interval.is_some() {
        h.extend(["interval_low".to_string(), "interval_high".to_string()]);
    }
    h
}

/// A regression's answer cells of row `i`: its value, and its interval's bounds.
fn value_cells(model: &Served, scores: &mlinfra_core::scorer::Scores, i: usize) -> Vec<f64> {
    let v = f64::from(scores.values[i]);
    let mut out = vec![v];
    if let Some(iv) = &model.interval {
        out.extend([v - iv.half_width, v + iv.half_width]);
    }
    out
}

/// The rows a chunk answers.
fn rows_of(model: &Served, scores: &mlinfra_core::scorer::Scores) -> usize {
    if model.regression {
        scores.values.len()
    } else {
        scores.labels.len()
    }
}

/// The output's columns: `row, label, confidence, p_<class>..., model, version` (a regression:
/// `row, value, interval_low, interval_high, model, version`), and with `--explain` `base,
/// shap_<feature>...`.
fn header(model: &Served, explain: bool) -> Vec<String> {
    if model.regression {
        let mut h = vec!["row".to_string()];
        h.extend(value_columns(model));
        h.extend(["model".to_string(), "version".to_string()]);
        if explain {
            h.push("base".to_string());
            h.extend(model.features.iter().map(|f| format!("shap_{}", f.name)));
        }
        return h;
    }
    let mut h = vec![
        "row".to_string(),
        "label".to_string(),
        "confidence".to_string(),
    ];
    h.extend(model.classes.iter().map(|c| format!("p_{c}")));
    h.extend(["model".to_string(), "version".to_string()]);
    if explain {
        h.push("base".to_string());
        h.extend(model.features.iter().map(|f| format!("shap_{}", f.name)));
    }
    h
}

/// Whether every class's label is an integer (the label column is then numeric).
fn integer_labels(model: &Served) -> bool {
    model
        .class_values
        .iter()
        .all(|&v| model.label_value(v).is_i64())
}

fn open_sink(
    output: Option<&str>,
    model: &Served,
    k: usize,
    explain: bool,
) -> Result<Sink, Failure> {
    match output {
        Some(o) if o.starts_with("sqlite://") => {
            let path = PathBuf::from(o.trim_start_matches("sqlite://"));
            let conn = rusqlite::Connection::open(&path)
                .map_err(|e| Failure::new(format!("cannot open `{}`: {e}", path.display())))?;
            // The same column names as the CSV: `p_<class>`, quoted as SQL identifiers.
            let probs: String = model
                .classes
                .iter()
                .map(|c| format!(", \"p_{}\" REAL NOT NULL", c.replace('"', "\"\"")))
                .collect();
            debug_assert_eq!(model.classes.len(), k);
            let explained: String = if explain {
                std::iter::once("base".to_string())
                    .chain(model.features.iter().map(|f| format!("shap_{}", f.name)))
                    .map(|c| format!(", \"{}\" REAL NOT NULL", c.replace('"', "\"\"")))
                    .collect()
            } else {
                String::new()
            };
            let label_type = if integer_labels(model) {
                "INTEGER"
            } else {
                "TEXT"
            };
            if model.regression {
                let values: String = value_columns(model)
                    .iter()
                    .map(|c| format!(", {c} REAL NOT NULL"))
                    .collect();
                conn.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS predictions (run_id TEXT NOT NULL, row INTEGER NOT NULL{values}, model TEXT NOT NULL, version INTEGER NOT NULL{explained}, PRIMARY KEY (run_id, row)); BEGIN;"
                ))
                .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
                return Ok(Sink::Sqlite { conn, path });
            }
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS predictions (run_id TEXT NOT NULL, row INTEGER NOT NULL, label {label_type} NOT NULL, confidence REAL NOT NULL{probs}, model TEXT NOT NULL, version INTEGER NOT NULL{explained}, PRIMARY KEY (run_id, row)); BEGIN;"
            ))
            .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
            Ok(Sink::Sqlite { conn, path })
        }
        Some(o) if o.ends_with(".parquet") => {
            let path = PathBuf::from(o);
            let tmp = path.with_extension("parquet.partial");
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", tmp.display())))?;
            let empty = mlinfra_core::scorer::Scores::default();
            let chunk = Chunk {
                scores: &empty,
                explanations: explain.then_some(&[]),
            };
            let w = mlinfra_core::data::parquet::Writer::new(
                std::io::BufWriter::new(f),
                &header(model, explain),
                &parquet_columns(model, 0, &chunk),
            )
            .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
            Ok(Sink::Parquet {
                tmp,
                path,
                w: Box::new(w),
            })
        }
        Some(o) => {
            let path = PathBuf::from(o);
            let tmp = path.with_extension("csv.partial");
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", tmp.display())))?;
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            w.write_record(header(model, explain))
                .map_err(|e| Failure::new(e.to_string()))?;
            Ok(Sink::Csv { tmp, path, w })
        }
        None => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(header(model, explain))
                .map_err(|e| Failure::new(e.to_string()))?;
            Ok(Sink::Stdout(w))
        }
    }
}

fn write_chunk(
    sink: &mut Sink,
    model: &Served,
    run_id: &str,
    first: u64,
    chunk: &Chunk<'_>,
) -> Result<(), Failure> {
    let scores = chunk.scores;
    let k = model.classes.len();
    let extra = chunk.explanations.map_or(0, |_| 1 + model.features.len());
    let fail = |e: &dyn std::fmt::Display| Failure::new(format!("cannot write predictions: {e}"));
    match sink {
        Sink::Sqlite { conn, .. } if model.regression => {
            let width = 4 + value_columns(model).len() + extra;
            let placeholders = vec!["?"; width].join(", ");
            let mut stmt = conn
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO predictions VALUES ({placeholders})"
                ))
                .map_err(|e| fail(&e))?;
            for i in 0..rows_of(model, scores) {
                let mut values: Vec<rusqlite::types::Value> = vec![
                    run_id.to_string().into(),
                    ((first + i as u64) as i64).into(),
                ];
                values.extend(value_cells(model, scores, i).into_iter().map(Into::into));
                values.push(model.model.clone().into());
                values.push((model.version as i64).into());
                values.extend(chunk.explained(i).into_iter().map(Into::into));
                stmt.execute(rusqlite::params_from_iter(values))
                    .map_err(|e| fail(&e))?;
            }
            Ok(())
        }
        Sink::Sqlite { conn, .. } => {
            let placeholders: String = (0..k + 6 + extra)
                .map(|i| {
                    if i == 0 {
                        "?".to_string()
                    } else {
                        ", ?".to_string()
                    }
                })
                .collect();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO predictions VALUES ({placeholders})"
                ))
                .map_err(|e| fail(&e))?;
            for (i, label) in scores.labels.iter().enumerate() {
                let p = &scores.probabilities[i * k..(i + 1) * k];
                let idx = model.class_index(*label);
                let label: rusqlite::types::Value = match model.label_value(*label) {
                    serde_json::Value::String(s) => s.into(),
                    v => v.as_i64().unwrap_or(*label).into(),
                };
                let mut values: Vec<rusqlite::types::Value> = vec![
                    run_id.to_string().into(),
                    ((first + i as u64) as i64).into(),
                    label,
                    f64::from(p[idx]).into(),
                ];
                values.extend(
                    p.iter()
                        .map(|x| rusqlite::types::Value::from(f64::from(*x))),
                );
                values.push(model.model.clone().into());
                values.push((model.version as i64).into());
                values.extend(
                    chunk
                        .explained(i)
                        .into_iter()
                        .map(rusqlite::types::Value::from),
                );
                stmt.execute(rusqlite::params_from_iter(values))
                    .map_err(|e| fail(&e))?;
            }
            Ok(())
        }
        Sink::Csv { w, .. } => csv_rows(w, model, first, chunk).map_err(|e| fail(&e)),
        Sink::Parquet { w, .. } => w
            .write(&parquet_columns(model, first, chunk))
            .map_err(|e| fail(&e)),
        Sink::Stdout(w) => csv_rows(w, model, first, chunk).map_err(|e| {
            if let csv::ErrorKind::Io(io) = e.kind() {
                crate::output::exit_if_closed(io);
            }
            fail(&e)
        }),
    }
}

/// The columns of the CSV output (`row`, `label`, `confidence`, `p_<class>`..., `model`,
/// `version`, with `--explain` `base`, `shap_<feature>`...), typed: the label is an integer
/// when every class is one, else text.
fn parquet_columns(
    model: &Served,
    first: u64,
    chunk: &Chunk<'_>,
) -> Vec<mlinfra_core::data::parquet::Column> {
    use mlinfra_core::data::parquet::Column;
    let scores = chunk.scores;
    let k = model.classes.len();
    let n = rows_of(model, scores);
    let explained = |cols: &mut Vec<Column>| {
        if chunk.explanations.is_some() {
            let rows: Vec<Vec<f64>> = (0..n).map(|i| chunk.explained(i)).collect();
            cols.extend(
                (0..=model.features.len())
                    .map(|j| Column::Double(rows.iter().map(|r| r[j]).collect())),
            );
        }
    };
    if model.regression {
        let rows: Vec<Vec<f64>> = (0..n).map(|i| value_cells(model, scores, i)).collect();
        let mut cols = vec![Column::Int64(
            (0..n).map(|i| (first + i as u64) as i64).collect(),
        )];
        cols.extend(
            (0..value_columns(model).len())
                .map(|j| Column::Double(rows.iter().map(|r| r[j]).collect())),
        );
        cols.push(Column::Text(vec![model.model.clone(); n]));
        cols.push(Column::Int64(vec![model.version as i64; n]));
        explained(&mut cols);
        return cols;
    }
    let idx: Vec<usize> = scores
        .labels
        .iter()
        .map(|l| model.class_index(*l))
        .collect();
    let p = |i: usize, c: usize| f64::from(scores.probabilities[i * k + c]);
    let mut cols = vec![
        Column::Int64((0..n).map(|i| (first + i as u64) as i64).collect()),
        if integer_labels(model) {
            Column::Int64(idx.iter().map(|&c| model.class_values[c]).collect())
        } else {
            Column::Text(idx.iter().map(|&c| model.classes[c].clone()).collect())
        },
        Column::Double((0..n).map(|i| p(i, idx[i])).collect()),
    ];
    cols.extend((0..k).map(|c| Column::Double((0..n).map(|i| p(i, c)).collect())));
    cols.push(Column::Text(vec![model.model.clone(); n]));
    cols.push(Column::Int64(vec![model.version as i64; n]));
    explained(&mut cols);
    cols
}

fn csv_rows<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    model: &Served,
    first: u64,
    chunk: &Chunk<'_>,
) -> csv::Result<()> {
    let scores = chunk.scores;
    let k = model.classes.len();
    let version = model.version.to_string();
    if model.regression {
        for i in 0..rows_of(model, scores) {
            let mut rec = vec![(first + i as u64).to_string()];
            rec.extend(value_cells(model, scores, i).iter().map(f64::to_string));
            rec.push(model.model.clone());
            rec.push(version.clone());
            rec.extend(chunk.explained(i).iter().map(|x| x.to_string()));
            w.write_record(&rec)?;
        }
        return Ok(());
    }
    for (i, label) in scores.labels.iter().enumerate() {
        let p = &scores.probabilities[i * k..(i + 1) * k];
        let idx = model.class_index(*label);
        let mut rec = vec![
            (first + i as u64).to_string(),
            model.classes[idx].clone(),
            p[idx].to_string(),
        ];
        rec.extend(p.iter().map(|x| x.to_string()));
        rec.push(model.model.clone());
        rec.push(version.clone());
        rec.extend(chunk.explained(i).iter().map(|x| x.to_string()));
        w.write_record(&rec)?;
    }
    Ok(())
}

/// Flush and close the temporary file `tmp`, then rename it to `path` (all or nothing).
fn put_in_place(
    mut out: std::io::BufWriter<std::fs::File>,
    tmp: &Path,
    path: &Path,
) -> Result<Option<String>, Failure> {
    out.flush().map_err(|e| Failure::new(e.to_string()))?;
    drop(out);
    std::fs::rename(tmp, path)
        .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", path.display())))?;
    Ok(Some(path.display().to_string()))
}

fn finish(sink: Sink) -> Result<Option<String>, Failure> {
    match sink {
        Sink::Sqlite { conn, path } => {
            conn.execute_batch("COMMIT;")
                .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
            Ok(Some(format!("sqlite://{}", path.display())))
        }
        Sink::Csv { tmp, path, w } => {
            let inner = w.into_inner().map_err(|e| Failure::new(e.to_string()))?;
            put_in_place(inner, &tmp, &path)
        }
        Sink::Parquet { tmp, path, w } => {
            let inner = w
                .finish()
                .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
            put_in_place(inner, &tmp, &path)
        }
        Sink::Stdout(mut w) => {
            w.flush().map_err(|e| {
                crate::output::exit_if_closed(&e);
                Failure::new(e.to_string())
            })?;
            Ok(None)
        }
    }
}

/// `mlinfra api spec`.
pub async fn spec(g: &Global) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let model = load(&cx, Stage::Production).await?;
    let stack = &cx.loaded.stack;
    use mlinfra_core::serving::openapi::{Contract, KeyCheck, spec};
    // On Azure Functions the routes are under `/api` and a function key guards them.
    let azure = cx.env == crate::stack::EnvKind::Azurite;
    let base_path = if azure {
        format!("/api/{}", stack.api.stage)
    } else {
        format!("/{}", stack.api.stage)
    };
    let keyed = stack.api.auth == crate::stack::schema::Auth::ApiKey;
    let doc = spec(
        &Contract {
            model: &stack.model.name,
            base_path: &base_path,
            key: keyed.then_some(if azure {
                KeyCheck::AzureFunctions
            } else {
                KeyCheck::ApiGateway
            }),
            max_batch: crate::engine::graph::serving(stack).max_batch as usize,
        },
        Some(&model),
    );
    crate::output::print(format_args!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    ));
    Ok(0)
}
