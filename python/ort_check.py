"""Run an ONNX model with onnxruntime on raw rows; print labels and probabilities (a
regression's graph: its values) as JSON.

Usage: python ort_check.py MODEL.onnx INPUT.f32 ROWS FEATURES [TEXT.json]
INPUT.f32 holds ROWS x FEATURES little-endian float32 values (the features that are numbers),
NaN for missing; FEATURES may be 0 when every feature is text. TEXT.json, when given, maps each
text feature's input name to its ROWS strings ("" for missing).
"""
import json
import sys

import numpy as np
import onnxruntime as ort

model, data, rows, features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
inputs = {}
if features > 0:
    inputs["features"] = np.fromfile(data, dtype="<f4").reshape(rows, features)
if len(sys.argv) > 5:
    with open(sys.argv[5], encoding="utf-8") as f:
        for name, cells in json.load(f).items():
            inputs[name] = np.array(cells, dtype=object).reshape(rows, 1)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
if [o.name for o in session.get_outputs()] == ["variable"]:
    (values,) = session.run(["variable"], inputs)
    print(json.dumps({"values": values.reshape(-1).astype(float).tolist(),
                      "onnxruntime": ort.__version__}))
    sys.exit(0)
label, proba = session.run(["label", "probabilities"], inputs)
print(json.dumps({"labels": label.tolist(), "probabilities": proba.astype(float).tolist(),
                  "onnxruntime": ort.__version__}))
