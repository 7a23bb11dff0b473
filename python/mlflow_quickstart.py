"""A training script as MLflow's quickstart writes it, for the heart disease data: autolog of a
scikit-learn model, params, a metric over steps, an artifact, and the model logged as ONNX and
registered. Nothing in it knows about mlinfra: the tracking server is MLFLOW_TRACKING_URI (and
the credentials MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN), as for any MLflow
server.

usage: python mlflow_quickstart.py DATA.csv REGISTERED_MODEL_NAME
Prints one JSON line: the run id, the logged model id and the registered version.
"""

import json
import sys
import tempfile

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler


def main(data: str, registered_name: str) -> None:
    frame = pd.read_csv(data, na_values=["?"])
    X = frame.drop(columns=["num"]).astype("float32")
    y = (frame["num"] > 0).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

    mlflow.set_experiment("heart-disease-quickstart")
    mlflow.sklearn.autolog()

    params = {"C": 0.5, "max_iter": 500}
    with mlflow.start_run(run_name="logistic-regression") as run:
        model = make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(**params)
        )
        model.fit(X_train, y_train)

        mlflow.log_params({"imputer": "median", "test_size": 0.2})
        mlflow.sklearn.autolog(disable=True)  # the fits below are measurements, not models
        # A metric over steps: the held-out accuracy as the training set grows.
        for step, n in enumerate([60, 120, 180, len(X_train)]):
            m = make_pipeline(
                SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(**params)
            )
            m.fit(X_train[:n], y_train[:n])
            mlflow.log_metric("holdout_accuracy", accuracy_score(y_test, m.predict(X_test)), step=step)
        proba = model.predict_proba(X_test)[:, 1]
        mlflow.log_metric("test_roc_auc", roc_auc_score(y_test, proba))
        mlflow.set_tag("Training Info", "Logistic regression on the UCI heart disease data")

        with tempfile.TemporaryDirectory() as d:
            path = f"{d}/coefficients.json"
            with open(path, "w") as f:
                json.dump(dict(zip(X.columns, model[-1].coef_[0].round(6).tolist())), f)
            mlflow.log_artifact(path)

        onx = to_onnx(model, X_train[:1].to_numpy(), options={"zipmap": False})
        signature = infer_signature(X_train, model.predict(X_train))
        info = mlflow.onnx.log_model(
            onx, name="model", signature=signature, registered_model_name=registered_name
        )

    print(
        json.dumps(
            {
                "run_id": run.info.run_id,
                "model_id": info.model_id,
                "version": str(info.registered_model_version),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
