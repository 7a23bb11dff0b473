"""Ask an mlinfra API with Triton's own HTTP client (tritonclient), as a KServe or Triton user
would: the server's and the model's health and metadata, then an inference. Prints what it got
as JSON, for the tests to compare with mlinfra's own /predict.

Usage: python triton_check.py HOST:PORT/BASE API_KEY MODEL INPUT DATATYPE < VALUES.json
VALUES.json is the input's values, one per row (texts for a BYTES input).
"""
import json
import sys

import numpy as np
import tritonclient.http as http

url, key, model, name, datatype = sys.argv[1:6]
values = json.load(sys.stdin)
headers = {"x-api-key": key}
client = http.InferenceServerClient(url=url)
meta = client.get_model_metadata(model, headers=headers)
if datatype == "BYTES":
    array = np.array([v.encode("utf-8") for v in values], dtype=np.object_)
else:
    array = np.array(values, dtype=np.float64)
tensor = http.InferInput(name, list(array.shape), datatype)
tensor.set_data_from_numpy(array, binary_data=False)
outputs = [http.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")]
result = client.infer(model, [tensor], outputs=outputs, headers=headers)
json.dump({
    "live": client.is_server_live(headers=headers),
    "ready": client.is_server_ready(headers=headers),
    "model_ready": client.is_model_ready(model, headers=headers),
    "metadata": meta,
    "label": [b.decode() if isinstance(b, bytes) else b for b in result.as_numpy("label").tolist()],
    "probabilities": result.as_numpy("probabilities").tolist(),
}, sys.stdout)
