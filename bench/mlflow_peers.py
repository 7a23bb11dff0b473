"""The MLflow API's figures: `log_metric` round trips and `log_batch` of 1,000 metrics against
`mlinfra serve` and against `mlflow server` (SQLite backend, one worker), in the same run.

Each server is measured twice: with a plain keep-alive HTTP client sending the bodies MLflow's
client sends (the server's own cost), and with MLflow's client itself (what a training script
sees). Prints one JSON object.

usage: python mlflow_peers.py NAME=URL[,TOKEN] ...
"""

import http.client
import json
import statistics
import sys
import time
import urllib.parse

from mlflow import MlflowClient
from mlflow.entities import Metric

ROUND_TRIPS = 2000
BATCHES = 30
CLIENT_ROUND_TRIPS = 500
CLIENT_BATCHES = 10


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measure(name, url, token):
    import os

    os.environ["MLFLOW_TRACKING_TOKEN"] = token or ""
    client = MlflowClient(url)
    exp = client.create_experiment(f"bench-{name}-{time.time_ns()}")
    run = client.create_run(exp).info.run_id
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def post(path, body):
        t = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, (r.status, data[:300])
        return time.perf_counter() - t

    ts = int(time.time() * 1000)
    metric = [
        post(
            "/api/2.0/mlflow/runs/log-metric",
            json.dumps({"run_id": run, "key": "loss", "value": 1.0 / (i + 1), "timestamp": ts + i, "step": i}),
        )
        for i in range(ROUND_TRIPS)
    ]
    batch = []
    for b in range(BATCHES):
        metrics = [
            {"key": f"m{j % 50}", "value": j * 0.5, "timestamp": ts + b * 1000 + j, "step": b * 1000 + j}
            for j in range(1000)
        ]
        batch.append(post("/api/2.0/mlflow/runs/log-batch", json.dumps({"run_id": run, "metrics": metrics})))
    # MLflow's own client.
    client_metric = []
    for i in range(CLIENT_ROUND_TRIPS):
        t = time.perf_counter()
        client.log_metric(run, "client_loss", 1.0 / (i + 1), step=i)
        client_metric.append(time.perf_counter() - t)
    client_batch = []
    for b in range(CLIENT_BATCHES):
        ms = [Metric(f"c{j % 50}", j * 0.5, ts + b * 1000 + j, b * 1000 + j) for j in range(1000)]
        t = time.perf_counter()
        client.log_batch(run, metrics=ms)
        client_batch.append(time.perf_counter() - t)
    history = client.get_metric_history(run, "loss")
    assert len(history) == ROUND_TRIPS, len(history)
    us = lambda xs: round(statistics.median(xs) * 1e6, 1)
    return {
        "log_metric_median_us": us(metric),
        "log_metric_p99_us": round(percentile(metric, 0.99) * 1e6, 1),
        "log_batch_1000_median_ms": round(statistics.median(batch) * 1e3, 2),
        "client_log_metric_median_us": us(client_metric),
        "client_log_batch_1000_median_ms": round(statistics.median(client_batch) * 1e3, 2),
    }


def main():
    out = {}
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        url, _, token = rest.partition(",")
        out[name] = measure(name, url, token)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
