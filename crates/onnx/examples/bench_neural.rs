//! The imported text and image models scored one input at a time, as a single-instance request
//! is, preprocessing included: `bench_neural text MODEL.onnx TOKENIZER.json TEXTS.csv` (the
//! `text` column) or `bench_neural image MODEL.onnx PICTURE...`. Prints the mean time per input
//! (µs) and, after a space, that of the preprocessing alone (tokenizing; decoding and resizing),
//! each over every input repeated until at least two seconds have passed. `bench/neural.sh` runs it beside Python's
//! tokenizers, Pillow and onnxruntime on the same inputs.

use std::time::{Duration, Instant};

use mlinfra_onnx::import::Imported;

/// Mean µs per call of `f` over `n` inputs, repeated for two seconds.
fn time(n: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..n.min(8) {
        f(i);
    }
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        for i in 0..n {
            f(i);
        }
        calls += n;
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut m = Imported::load(&std::fs::read(&args[2]).expect("model")).expect("load");
    let mut card = m.infer_card();
    match args[1].as_str() {
        "text" => {
            card.input.text.as_mut().expect("a text model").max_length = 16;
            m.use_text(&card, Some(&std::fs::read(&args[3]).expect("tokenizer")))
                .expect("tokenizer");
            let mut r = csv::Reader::from_path(&args[4]).expect("texts");
            let texts: Vec<String> = r
                .records()
                .take(200)
                .map(|x| x.expect("row")[0].to_string())
                .collect();
            let all = time(texts.len(), |i| {
                std::hint::black_box(
                    m.predict_text(&card, std::slice::from_ref(&texts[i]))
                        .expect("predict"),
                );
            });
            let encoder = m.text().expect("tokenizer");
            let pre = time(texts.len(), |i| {
                std::hint::black_box(
                    encoder
                        .encode(std::slice::from_ref(&texts[i]))
                        .expect("encode"),
                );
            });
            println!("{all:.1} {pre:.1}");
        }
        _ => {
            let spec = card.input.image.clone().expect("an image model");
            let files: Vec<Vec<u8>> = args[3..]
                .iter()
                .map(|p| std::fs::read(p).expect("picture"))
                .collect();
            let all = time(files.len(), |i| {
                let img = mlinfra_onnx::images::decode(&files[i]).expect("decode");
                let img = mlinfra_onnx::images::resized(&img, &spec).into_owned();
                std::hint::black_box(
                    m.predict_images(&card, std::slice::from_ref(&img))
                        .expect("predict"),
                );
            });
            let pre = time(files.len(), |i| {
                let img = mlinfra_onnx::images::decode(&files[i]).expect("decode");
                std::hint::black_box(mlinfra_onnx::images::resized(&img, &spec));
            });
            println!("{all:.1} {pre:.1}");
        }
    }
}
