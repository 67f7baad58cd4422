"""A default fit on real tables with text, offline: the text is read by the built-in hashed_text model (no
pretrained checkpoint is available), against TF-IDF word 1-2-grams with logistic regression / ridge on the text
alone, on the same split.

    python benchmarks/bench_text_offline.py [--tasks tweets clothing clothing_rating] [--seed 0]
                                            [--hyperparameters model.linear_start=false ...]

Data come from ../shared/data (see its README); every column is given to automodal except those that leak the
label. Scores: accuracy (tweets), ROC AUC (clothing), R² (clothing_rating).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ["HF_HUB_OFFLINE"] = "1"      # no download: the default text checkpoint is missing, as on a new machine

import pandas as pd  # noqa: E402

from common import write_results  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
CLOTHING = os.path.join(DATA, "womens_clothing", "Womens Clothing E-Commerce Reviews.csv")


def tweets():
    frame = pd.read_csv(os.path.join(DATA, "airline_tweets", "Tweets.csv")).drop(columns=[
        "airline_sentiment_confidence", "negativereason", "negativereason_confidence", "airline_sentiment_gold",
        "negativereason_gold"])
    return frame, "airline_sentiment", "multiclass", lambda f: f["text"]


def clothing_text(frame):
    return frame["Title"].fillna("") + " " + frame["Review Text"].fillna("")


TASKS = {
    "tweets": tweets,
    "clothing": lambda: (pd.read_csv(CLOTHING).drop(columns="Rating"), "Recommended IND", "binary", clothing_text),
    "clothing_rating": lambda: (pd.read_csv(CLOTHING).drop(columns="Recommended IND"), "Rating", "regression",
                                clothing_text),
}


def score(problem_type, y_true, predict, predict_proba) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if problem_type == "regression":
        return float(r2_score(y_true, predict()))
    if problem_type == "multiclass":
        return float(accuracy_score(y_true, predict()))
    proba = predict_proba()
    return float(roc_auc_score(y_true == proba.columns[-1], proba.iloc[:, -1]))


def baseline(problem_type, train, test, label, text) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train, x_test = vectorizer.fit_transform(text(train)), vectorizer.transform(text(test))
    model = (Ridge() if problem_type == "regression" else LogisticRegression(C=4, max_iter=2000)).fit(
        x_train, train[label])
    return score(problem_type, test[label], lambda: model.predict(x_test),
                 lambda: pd.DataFrame(model.predict_proba(x_test), columns=model.classes_))


def run_task(name, args) -> dict:
    from sklearn.model_selection import train_test_split

    from automodal import MultiModalPredictor

    frame, label, problem_type, text = TASKS[name]()
    train, test = train_test_split(frame, test_size=0.25, random_state=args.seed,
                                   stratify=None if problem_type == "regression" else frame[label])
    started = time.perf_counter()
    predictor = MultiModalPredictor(label=label, problem_type=problem_type, path=tempfile.mkdtemp(prefix="bench-"),
                                    verbosity=0).fit(train, hyperparameters=args.hyperparameters, seed=args.seed)
    seconds = time.perf_counter() - started
    summary = predictor.fit_summary()
    row = {"task": name, "problem_type": problem_type, "train_rows": len(train), "test_rows": len(test),
           "models": summary["models"], "linear_start": summary["linear_start"], "fit_seconds": round(seconds, 1),
           "automodal": score(problem_type, test[label], lambda: predictor.predict(test),
                              lambda: predictor.predict_proba(test)),
           "tfidf_linear": baseline(problem_type, train, test, label, text)}
    print(row, flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hyperparameters", nargs="+", default=None, metavar="KEY=VALUE",
                        type=lambda item: item.split("=", 1))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "text_offline.json"))
    args = parser.parse_args()
    if args.hyperparameters:
        args.hyperparameters = dict(args.hyperparameters)
    write_results(args.out, {"seed": args.seed, "hyperparameters": args.hyperparameters,
                             "tasks": [run_task(name, args) for name in args.tasks]})


if __name__ == "__main__":
    main()
