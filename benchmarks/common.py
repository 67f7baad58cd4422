"""Pieces every benchmark shares: one-row latency and writing results."""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np
import pandas as pd

AIRBNB = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "airbnb_nyc", "AB_NYC_2019.csv")


def airbnb_frame(rows: int = 3000) -> pd.DataFrame | None:
    """NYC Airbnb listings (../shared/data) with every column type: categories, numbers, a date column and the
    listing's name as text; label the log price. None when the file is not here."""
    if not os.path.exists(AIRBNB):
        return None
    frame = pd.read_csv(AIRBNB).sample(rows, random_state=0)
    frame = frame[["neighbourhood_group", "neighbourhood", "latitude", "longitude", "room_type", "minimum_nights",
                   "number_of_reviews", "last_review", "reviews_per_month", "calculated_host_listings_count",
                   "availability_365", "name", "price"]]
    return frame.assign(label=np.log1p(frame.pop("price")))


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
