"""A project's 5-fold train run one step after another, on a local Ray cluster with 2 step slots, and on a cluster
of two Ray nodes started on this machine (`ray start --head`, then `ray start --address`, one CPU each), which shows
the steps going to both nodes.

    python benchmarks/bench_cli_ray.py [--rows 2000] [--epochs 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from common import write_results


def command(home: str, *args, env=None) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "automodal.cli", *args, f"root={home}"], check=True,
                   env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def ray_cli(env: dict, *args):
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ray"), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scores(home: str, proj: str) -> list:
    return [round(json.load(open(os.path.join(home, proj, "models", "t", f"fold{k}.json")))["val_score"], 4)
            for k in range(5)]


def nodes_used(home: str, proj: str) -> int:
    runs = os.path.join(home, proj, "runs")
    log = "".join(open(os.path.join(runs, run, "run.log")).read() for run in os.listdir(runs) if "-train-" in run)
    return len(set(re.findall(r"Ray node (\w+)", log)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cli_ray.json"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-cli-ray-")
    home = os.path.join(work, "home")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(args.rows, 12)), columns=[f"x{i}" for i in range(12)])
    frame["y"] = (frame.x0 * frame.x1 + frame.x2 > 0).astype(int)
    data = os.path.join(work, "train.csv")
    frame.to_csv(data, index=False)
    train = ["task_list=[t]", "mode.nested=false", f"hp.optimization.max_epochs={args.epochs}",
             "hp.optimization.patience=100"]
    results = {"rows": args.rows, "epochs": args.epochs, "folds": 5}
    try:
        for proj, extra, env in (("sequential", ["mode.executor=local"], None),
                                 ("local_ray_2_slots", ["mode.executor=ray", "mode.slots=2"], None)):
            command(home, "create", f"proj={proj}", "task_list=[t]", f"data.t.path={data}", "data.t.label=y",
                    "mode.n_folds=5")
            results[proj] = {"seconds": command(home, "train", f"proj={proj}", *train, *extra, env=env),
                             "val_scores": scores(home, proj)}
        # the cluster's token where Ray reads it (HOME/.ray/auth_token), for both nodes and the command
        os.makedirs(os.path.join(work, ".ray"))
        with open(os.path.join(work, ".ray", "auth_token"), "w") as token:
            token.write(secrets.token_hex(32))
        env = dict(os.environ, RAY_AUTH_MODE="token", HOME=work)
        env.pop("RAY_ADDRESS", None)
        ray_cli(env, "start", "--head", "--num-cpus=1", "--port=6390", "--include-dashboard=false")
        try:
            ray_cli(env, "start", "--address=127.0.0.1:6390", "--num-cpus=1")
            proj = "two_nodes"
            command(home, "create", f"proj={proj}", "task_list=[t]", f"data.t.path={data}", "data.t.label=y",
                    "mode.n_folds=5")
            seconds = command(home, "train", f"proj={proj}", *train, "mode.executor=ray",
                              "mode.address=127.0.0.1:6390", env=env)
            results[proj] = {"seconds": seconds, "val_scores": scores(home, proj),
                             "nodes_used": nodes_used(home, proj)}
        finally:
            ray_cli(env, "stop", "--force")
        write_results(args.out, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
