"""The peer of the predict bootstrap's cold start for a text model: a Python process that imports
onnxruntime and tokenizers, loads the model and the tokenizer from local files (no S3: in its
favour) and answers one text. `bench/coldstart_text.sh` times whole processes.

Usage: python coldstart_text.py MODEL.onnx TOKENIZER.json
"""
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(sys.argv[2])
tok.enable_truncation(16)
e = tok.encode("Fire near the café in São Paulo")
feeds = {"input_ids": np.array([e.ids], dtype=np.int64),
         "attention_mask": np.array([e.attention_mask], dtype=np.int64),
         "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
session.run(None, feeds)
