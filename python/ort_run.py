"""Run an ONNX model with onnxruntime on the rows of a CSV file; print its outputs as JSON.

Usage: python ort_run.py MODEL.onnx DATA.csv [COLUMNS]
Each graph input named after a column of DATA.csv gets that column ([N, 1]: text as strings,
else float32). A graph input named otherwise gets the COLUMNS (comma-separated) as one float32
tensor [N, F]. Outputs are printed by name; a sequence of maps (ZipMap's) as one list of
values per row, in the map's order.
"""
import csv
import json
import sys

import numpy as np
import onnxruntime as ort

model, data = sys.argv[1], sys.argv[2]
columns = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else []
with open(data, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inputs = {}
for i in session.get_inputs():
    if i.name in rows[0]:
        cells = [r[i.name] for r in rows]
        if i.type == "tensor(string)":
            inputs[i.name] = np.array(cells, dtype=object).reshape(-1, 1)
        else:
            inputs[i.name] = np.array(cells, dtype=np.float32).reshape(-1, 1)
    else:
        inputs[i.name] = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float32)
out = {}
for o, v in zip(session.get_outputs(), session.run(None, inputs)):
    if isinstance(v, list):
        out[o.name] = [list(m.values()) for m in v]
    else:
        out[o.name] = np.asarray(v).astype(float).tolist()
print(json.dumps(out))
