"""The course brief's serving stack, as the peer of `mlinfra serve`: FastAPI + a model, one
uvicorn worker. MODEL=sklearn (a scikit-learn pipeline) or MODEL=onnx (onnxruntime).

Run: MODEL=sklearn OUT=DIR .venv/bin/uvicorn --app-dir bench fastapi_app:app --port P --workers 1
"""
import os

import numpy as np
from fastapi import FastAPI

FEATURES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope", "ca", "thal"]
app = FastAPI()

if os.environ.get("MODEL", "sklearn") == "onnx":
    import onnxruntime as ort

    sess = ort.InferenceSession(os.environ["OUT"] + "/model.onnx", providers=["CPUExecutionProvider"])

    def proba(x):
        return sess.run(["probabilities"], {"features": x.astype(np.float32)})[0]
else:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    raw = np.genfromtxt("examples/heart-disease/processed.cleveland.csv", delimiter=",", skip_header=1,
                        missing_values="?", filling_values=np.nan)
    prep = ColumnTransformer([
        ("num", Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]), [0, 3, 4, 7, 9]),
        ("cat", Pipeline([("i", SimpleImputer(strategy="most_frequent")), ("o", OneHotEncoder(handle_unknown="ignore"))]),
         [1, 2, 5, 6, 8, 10, 11, 12]),
    ])
    model = Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=10000))]).fit(raw[:, :13], (raw[:, 13] > 0).astype(int))

    def proba(x):
        return model.predict_proba(x)


@app.post("/v1/predict")
def predict(body: dict):
    x = np.array([[float("nan") if i.get(f) is None else float(i[f]) for f in FEATURES] for i in body["instances"]])
    p = proba(x)
    return {"predictions": [{"label": int(r.argmax()), "confidence": float(r.max()),
                             "probabilities": {"0": float(r[0]), "1": float(r[1])}} for r in p]}
