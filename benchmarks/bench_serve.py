"""The HTTP server against the model behind it: one-row requests on loopback, keep-alive HTTP/1.1.

    python benchmarks/bench_serve.py [--seconds 5] [--clients 1 8 32]

Per model (numbers only; numbers with categories and dates; numbers with text read by hashed_text; NYC Airbnb
from ../shared/data when present): a default fit (2 epochs), then
- the in-process one-row predict() of the loaded predictor (p50), on the rows the requests send;
- `automodal serve` (the real command, in a subprocess) under 1, 8 and 32 concurrent clients for --seconds each:
  requests/s, p50 / p99 latency, rows per batch; the server's added time is the one-client p50 less the in-process
  p50.
The clients are coroutines of one process speaking raw HTTP/1.1 over their own connections, so that the load
generator costs little of the machine it shares with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pandas as pd

from common import airbnb_frame, one_row_latency_ms, write_results


def frames(rng) -> dict:
    n = 2000
    numbers = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"x{i}" for i in range(8)])
    label = (numbers.x0 + numbers.x1 + rng.normal(size=n) > 0).astype(int)
    words = np.array("quiet sunny loft studio garden view cosy large bright central modern old".split())
    stamps = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 2000 * 24, n), unit="h")
    out = {
        "numbers": numbers,
        "categories_dates": numbers.iloc[:, :4].assign(
            colour=rng.choice(["red", "green", "blue"], n), city=[f"c{v}" for v in rng.integers(0, 50, n)],
            seen=pd.Series(stamps).dt.strftime("%Y-%m-%d %H:%M")),
        "text": numbers.iloc[:, :4].assign(
            note=[" ".join(rng.choice(words, rng.integers(2, 12))) for _ in range(n)]),
    }
    out = {name: frame.assign(label=label) for name, frame in out.items()}
    airbnb = airbnb_frame()
    if airbnb is not None:
        out["airbnb"] = airbnb
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url) as answer:
        return json.loads(answer.read())


async def client(port: int, bodies: list, offset: int, stop_at: float, latencies: list):
    """One keep-alive connection sending one request at a time until stop_at."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            sent = time.perf_counter()
            writer.write(b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the server answered {head[:40]!r}: {answer[:200]!r}")
            i += 1
    finally:
        writer.close()


def load(port: int, bodies: list, clients: int, seconds: float) -> dict:
    latencies: list = []

    async def run():
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(client(port, bodies, k * 37, stop_at, latencies) for k in range(clients)))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    values = np.asarray(latencies) * 1000
    return {"requests_per_second": round(len(values) / elapsed, 1), "p50_ms": round(float(np.median(values)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2)}


def serve_and_measure(path: str, rows: pd.DataFrame, args) -> dict:
    bodies = [json.dumps([record]).encode() for record in json.loads(rows.to_json(orient="records"))]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "automodal.cli", "serve", path, f"mode.port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                get_json(f"{url}/health")
                break
            except OSError:
                time.sleep(0.05)
        load(port, bodies, 1, 1.0)                      # warm up
        results = {}
        for clients in args.clients:
            before = get_json(f"{url}/metadata")
            results[f"{clients}_clients"] = load(port, bodies, clients, args.seconds)
            after = get_json(f"{url}/metadata")
            results[f"{clients}_clients"]["rows_per_batch"] = round(
                (after["rows"] - before["rows"]) / max(1, after["batches"] - before["batches"]), 2)
        return results
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "serve.json"))
    args = parser.parse_args()
    from automodal import MultiModalPredictor

    work = tempfile.mkdtemp(prefix="bench-serve-")
    results = {"seconds": args.seconds}
    try:
        for name, frame in frames(np.random.default_rng(0)).items():
            path = os.path.join(work, name)
            MultiModalPredictor(label="label", path=path, verbosity=0).fit(
                frame.iloc[:-500], hyperparameters={"optimization.max_epochs": 2})
            rows = frame.iloc[-500:].drop(columns="label")
            in_process = one_row_latency_ms(MultiModalPredictor.load(path), rows, 400)
            served = serve_and_measure(path, rows, args)
            one = served.get("1_clients")
            results[name] = {"in_process_p50_ms": in_process["predict_1_row_ms_median"], **served}
            if one is not None:
                results[name]["server_added_p50_ms"] = round(one["p50_ms"] - in_process["predict_1_row_ms_median"], 2)
                for clients in args.clients:
                    results[name][f"{clients}_clients"]["throughput_vs_1_client"] = round(
                        served[f"{clients}_clients"]["requests_per_second"] / one["requests_per_second"], 2)
        write_results(args.out, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
