"""Tokenize texts with Hugging Face's Python tokenizer and score them with onnxruntime; print
the token ids and the model's outputs as JSON: the reference of mlinfra's text models.

Usage: python text_run.py MODEL.onnx TOKENIZER.json MAX_LENGTH < TEXTS.json
TEXTS.json is a list of strings. They are truncated to MAX_LENGTH tokens and padded to the
longest of them, as a model card with `padding: longest` says. Each graph input named
`input_ids`, `attention_mask` or `token_type_ids` gets the tokenizer's; the outputs are printed
by name, with `input_ids`, `attention_mask`, `token_type_ids` and `overflowing` (whether each
text was cut).
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model, tokenizer, max_length = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = json.load(sys.stdin)
tok = Tokenizer.from_file(tokenizer)
tok.enable_truncation(max_length)
pad = tok.token_to_id("[PAD]") or 0
tok.enable_padding(pad_id=pad, pad_token="[PAD]")
enc = tok.encode_batch(texts)
out = {
    "input_ids": [e.ids for e in enc],
    "attention_mask": [e.attention_mask for e in enc],
    "token_type_ids": [e.type_ids for e in enc],
    "overflowing": [len(e.overflowing) > 0 for e in enc],
}
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
feeds = {i.name: np.array(out[i.name], dtype=np.int64) for i in session.get_inputs()}
for o, v in zip(session.get_outputs(), session.run(None, feeds)):
    out[o.name] = v.astype(float).tolist()
json.dump(out, sys.stdout)
