"""Pieces every benchmark shares: one-row latency and writing results."""

from __future__ import annotations

import json
import os
import statistics
import time


def one_row_latency_ms(predictor, frame, count: int, warm_up: int = 20) -> dict:
    """Median and 95th percentile of predict() on single rows (one-row frames cut beforehand, as a request
    arrives); the first `warm_up` calls are not counted."""
    rows = [frame.iloc[[i % len(frame)]] for i in range(warm_up + count)]
    latencies = []
    for i, row in enumerate(rows):
        start = time.perf_counter()
        predictor.predict(row)
        if i >= warm_up:
            latencies.append(1000 * (time.perf_counter() - start))
    latencies.sort()
    return {"predict_1_row_ms_median": round(statistics.median(latencies), 2),
            "predict_1_row_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2)}


def peak_mb() -> float:
    """This process's peak resident memory in MB: its own address space's high-water mark (VmHWM), which a process
    started by another does not inherit, as getrusage's ru_maxrss does through fork and exec."""
    with open("/proc/self/status") as status:
        kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return round(kilobytes / 1024, 1)


def write_results(path: str, results):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
