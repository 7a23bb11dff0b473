"""Run an ONNX model with onnxruntime on raw float32 rows; print labels and probabilities as JSON.

Usage: python ort_check.py MODEL.onnx INPUT.f32 ROWS FEATURES
INPUT.f32 holds ROWS x FEATURES little-endian float32 values, NaN for missing.
"""
import json
import sys

import numpy as np
import onnxruntime as ort

model, data, rows, features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x = np.fromfile(data, dtype="<f4").reshape(rows, features)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
label, proba = session.run(["label", "probabilities"], {"features": x})
print(json.dumps({"labels": label.tolist(), "probabilities": proba.astype(float).tolist(),
                  "onnxruntime": ort.__version__}))
