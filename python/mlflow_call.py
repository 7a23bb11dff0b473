"""One call of MLflow's own client (`MlflowClient().<method>(*args)`), for the tests: the
tracking server and the credentials come from the environment as for any MLflow program.

usage: python mlflow_call.py METHOD [ARG ...]
Prints one JSON line: {"ok": <the result's stage/version/name when it has them>} or
{"error_code": ..., "message": ...} (MLflow's error, as the client raised it).
"""

import json
import sys
import warnings

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

warnings.simplefilter("ignore")  # the stage API's deprecation warning


def main() -> None:
    method, args = sys.argv[1], sys.argv[2:]
    try:
        out = getattr(MlflowClient(), method)(*args)
    except MlflowException as e:
        print(json.dumps({"error_code": e.error_code, "message": e.message}))
        return
    shown = {k: getattr(out, k) for k in ("name", "version", "current_stage") if hasattr(out, k)}
    print(json.dumps({"ok": shown}))


if __name__ == "__main__":
    main()
