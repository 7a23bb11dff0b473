"""Preprocess pictures with Pillow as an image model card says (RGB, bilinear resize to the
model's size, scaled to [0, 1], mean and std) and score them with onnxruntime; print the resized
pixels (0-255, row-major H×W×3) and the model's outputs as JSON: the reference of mlinfra's
image models.

Usage: python image_run.py MODEL.onnx SIZE PICTURE...
The model takes `[N, 3, SIZE, SIZE]` float32 normalised with ImageNet's mean and std.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

model, size, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
pixels = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
          for p in paths]
x = np.stack([((p.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1) for p in pixels])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
out = {"pixels": [p.reshape(-1).tolist() for p in pixels]}
for o, v in zip(session.get_outputs(), session.run(None, {session.get_inputs()[0].name: x})):
    out[o.name] = v.astype(float).tolist()
json.dump(out, sys.stdout)
