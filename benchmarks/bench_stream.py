"""Peak memory of predicting a Parquet file ten times the chunk size: in chunks to an output file, against
reading it whole. Each way runs in a fresh process, whose peak is read from /proc/self/status (VmHWM): getrusage's
ru_maxrss would carry over the parent's peak through fork and exec.

    python benchmarks/bench_stream.py [--rows 1000000] [--chunk 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from common import peak_mb, write_results

COLUMNS = 24


def child(model: str, data: str, chunk: int, out: str | None):
    from automodal import MultiModalPredictor

    predictor = MultiModalPredictor.load(model)
    before = peak_mb()
    started = time.perf_counter()
    if out:
        predictor.predict_proba(data, chunk_size=chunk, output_path=out)
    else:
        predictor.predict_proba(pd.read_parquet(data))
    print(json.dumps({"seconds": round(time.perf_counter() - started, 2),
                      "peak_mb": peak_mb(), "peak_mb_before_predicting": before}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "stream.json"))
    args = parser.parse_args()
    if args.child:
        model, data, chunk, out = args.child
        return child(model, data, int(chunk), None if out == "-" else out)
    from automodal import MultiModalPredictor

    work = tempfile.mkdtemp(prefix="bench-stream-")
    try:
        rng = np.random.default_rng(0)
        train = pd.DataFrame(rng.normal(size=(2000, COLUMNS)), columns=[f"x{i}" for i in range(COLUMNS)])
        train["label"] = (train["x0"] + train["x1"] > 0).astype(int)
        model = os.path.join(work, "model")
        MultiModalPredictor(label="label", path=model, verbosity=0).fit(
            train, hyperparameters={"optimization.max_epochs": 2})
        data = os.path.join(work, "rows.parquet")
        pd.DataFrame(rng.normal(size=(args.rows, COLUMNS)).astype(np.float64),
                     columns=[f"x{i}" for i in range(COLUMNS)]).to_parquet(data, row_group_size=args.chunk)
        results = {"rows": args.rows, "chunk_rows": args.chunk, "file_mb": round(os.path.getsize(data) / 1e6, 1)}
        for name, out in (("chunked_to_file", os.path.join(work, "out.parquet")), ("whole_in_memory", "-")):
            run = subprocess.run([sys.executable, __file__, "--child", model, data, str(args.chunk), out],
                                 capture_output=True, text=True, check=True)
            results[name] = json.loads(run.stdout.strip().splitlines()[-1])
        write_results(args.out, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
