"""The peer of `mlinfra serve` for an imported text model: FastAPI + Hugging Face's tokenizers +
onnxruntime, one uvicorn worker, the same `/v1/predict` body and answer (label, confidence,
probabilities, tokens, truncated).

Run: MODEL=M.onnx TOKENIZER=T.json .venv/bin/uvicorn --app-dir bench fastapi_text:app --port P --workers 1
"""
import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from tokenizers import Tokenizer

CLASSES = ["fire", "flood", "other"]
app = FastAPI()
sess = ort.InferenceSession(os.environ["MODEL"], providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(os.environ["TOKENIZER"])
tok.enable_truncation(16)
tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")


@app.post("/v1/predict")
def predict(body: dict):
    enc = tok.encode_batch([i["text"] for i in body["instances"]])
    feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
             "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
             "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    z = sess.run(["logits"], feeds)[0]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return {"predictions": [{"label": CLASSES[int(r.argmax())], "confidence": float(r.max()),
                             "probabilities": dict(zip(CLASSES, map(float, r))),
                             "tokens": sum(e.attention_mask), "truncated": len(e.overflowing) > 0}
                            for r, e in zip(p, enc)]}
