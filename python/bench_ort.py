"""onnxruntime on one thread, one row at a time, as bench_imported runs tract: prints the mean
time per row (µs) over every row of DATA.csv, repeated until at least a second has passed.

Usage: python bench_ort.py MODEL.onnx DATA.csv [COLUMNS]
"""
import csv
import sys
import time

import numpy as np
import onnxruntime as ort

model, data = sys.argv[1], sys.argv[2]
columns = sys.argv[3].split(",") if len(sys.argv) > 3 else []
with open(data, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
batches = []
for r in rows:
    inputs = {}
    for i in session.get_inputs():
        if i.name in r:
            if i.type == "tensor(string)":
                inputs[i.name] = np.array([[r[i.name]]], dtype=object)
            else:
                inputs[i.name] = np.array([[float(r[i.name])]], dtype=np.float32)
        else:
            inputs[i.name] = np.array([[float(r[c]) for c in columns]], dtype=np.float32)
    batches.append(inputs)
start = time.perf_counter()
n = 0
while time.perf_counter() - start < 1.0:
    for b in batches:
        session.run(None, b)
        n += 1
print(f"{(time.perf_counter() - start) * 1e6 / n:.2f}")
