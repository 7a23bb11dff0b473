"""The peer of bench_neural: Hugging Face's tokenizers (or Pillow) and onnxruntime on one
thread, one input at a time, preprocessing included; prints the mean µs per input and, after a
space, that of the preprocessing alone, each over every input repeated until at least two
seconds have passed.

Usage: python bench_ort_neural.py text MODEL.onnx TOKENIZER.json TEXTS.csv
       python bench_ort_neural.py image MODEL.onnx PICTURE...
"""
import csv
import sys
import time

import numpy as np
import onnxruntime as ort

kind, model = sys.argv[1], sys.argv[2]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

if kind == "text":
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[3])
    tok.enable_truncation(16)
    with open(sys.argv[4], newline="", encoding="utf-8") as f:
        inputs = [r["text"] for r in csv.DictReader(f)][:200]

    def pre(text):
        return tok.encode(text)

    def one(text):
        e = tok.encode(text)
        feeds = {"input_ids": np.array([e.ids], dtype=np.int64),
                 "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                 "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
        return session.run(None, feeds)
else:
    from PIL import Image
    import io
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    inputs = [open(p, "rb").read() for p in sys.argv[3:]]
    name = session.get_inputs()[0].name

    def pre(data):
        return Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64), Image.BILINEAR)

    def one(data):
        img = Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64), Image.BILINEAR)
        x = ((np.asarray(img, dtype=np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
        return session.run(None, {name: x[None]})

def per_input(f):
    for x in inputs[:8]:
        f(x)
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < 2.0:
        for x in inputs:
            f(x)
            n += 1
    return (time.perf_counter() - start) * 1e6 / n


print(f"{per_input(one):.1f} {per_input(pre):.1f}")
