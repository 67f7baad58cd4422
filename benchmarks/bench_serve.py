"""Load test of `automodal serve`: one-row requests from N concurrent clients for T seconds against the same
requests sent one at a time; p50 / p99 latency and rows per second.

    python benchmarks/bench_serve.py [--clients 8] [--seconds 5]

A tabular predictor is fitted on generated data first; the server runs as the real command (automodal serve) in a
subprocess on loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pandas as pd

from common import write_results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tabular_model(directory: str) -> tuple[str, pd.DataFrame]:
    from automodal import MultiModalPredictor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 12)), columns=[f"x{i}" for i in range(12)])
    frame["colour"] = rng.choice(["red", "green", "blue"], size=len(frame))
    frame["label"] = np.where(frame.x0 + (frame.colour == "red") > 0.2, "yes", "no")
    path = os.path.join(directory, "model")
    MultiModalPredictor(label="label", path=path, verbosity=0).fit(
        frame, hyperparameters={"optimization.max_epochs": 3})
    return path, frame.drop(columns="label")


def summary(latencies: list, seconds: float) -> dict:
    values = np.asarray(latencies) * 1000
    return {"requests": len(values), "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2), "rows_per_second": round(len(values) / seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "serve.json"))
    args = parser.parse_args()
    import httpx

    work = tempfile.mkdtemp(prefix="bench-serve-")
    server = None
    try:
        path, rows = tabular_model(work)
        records = rows.head(500).to_dict(orient="records")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "automodal.cli", "serve", path, f"mode.port={port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        with httpx.Client() as client:
            for record in records[:20]:                 # warm up
                client.post(f"{url}/predict", json=[record])
            latencies, started = [], time.perf_counter()
            while time.perf_counter() - started < args.seconds:
                record = records[len(latencies) % len(records)]
                sent = time.perf_counter()
                client.post(f"{url}/predict", json=[record])
                latencies.append(time.perf_counter() - sent)
            sequential = summary(latencies, time.perf_counter() - started)
        concurrent_latencies, lock = [], threading.Lock()
        stop_at = time.perf_counter() + args.seconds

        def client_loop(offset: int):
            with httpx.Client() as client:
                i = offset
                while time.perf_counter() < stop_at:
                    sent = time.perf_counter()
                    client.post(f"{url}/predict", json=[records[i % len(records)]])
                    with lock:
                        concurrent_latencies.append(time.perf_counter() - sent)
                    i += args.clients

        started = time.perf_counter()
        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        concurrent = summary(concurrent_latencies, time.perf_counter() - started)
        meta = httpx.get(f"{url}/metadata").json()
        write_results(args.out, {"model": "tabular MLP, 12 numbers + 1 category", "seconds": args.seconds,
                                 "sequential": sequential, f"{args.clients}_concurrent_clients": concurrent,
                                 "rows_per_batch": round(meta["rows"] / max(1, meta["batches"]), 2)})
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
