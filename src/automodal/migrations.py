"""Saved-predictor formats and the migrations between them.

Format 1 kept one numerical and one categorical processor under fixed keys of processors.json and knew no
periodic number embedding, quantile transform or date columns; format 2 (the current one) keeps named processors,
each with its kind, and records "format_version" in automodal.json and processors.json. A migration rewrites only
processors.json, config.yaml and automodal.json; the weights are the same in both formats.

Both directions give back the same bytes. An upgrade then a downgrade does, as each step inverts the other. A
downgrade then an upgrade does too: what a format-2 file holds that format 1 has no place for (settings of the
numerical processor that format 1 implies, such as date_width) is kept in processors.json under KEPT, a key that
format-1 readers never look at (they read its "features" and "label" only), and the upgrade puts it back. What
format 1 cannot express (a quantile transform, date columns, a periodic embedding, other processors) is refused
before anything is written.
"""

from __future__ import annotations

import json
import os

import yaml

from .errors import AutomodalError

CURRENT = 2
FILES = ("processors.json", "config.yaml", "automodal.json")
KEPT = "kept_from_format_2"
# keys of the numerical processor that format 2 added; format 1 means "standard", no dates and seconds by them
NUMERICAL_2_KEYS = ("day_first", "date_width", "transform", "quantiles", "quantile_rows")


class MigrationError(AutomodalError):
    """A saved predictor cannot be moved to the format asked for."""


def _read(path: str, name: str):
    with open(os.path.join(path, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle) if name.endswith(".yaml") else json.load(handle)


def _dumps(name: str, content) -> str:
    # the writers' own settings (persistence.save), so that an upgrade and a downgrade give back the same bytes
    if name.endswith(".yaml"):
        return yaml.safe_dump(content, sort_keys=False)
    return json.dumps(content, indent=2, default=str)


def predictor_format(path: str) -> int:
    meta = _read(path, "automodal.json")
    if "format_version" in meta:
        return int(meta["format_version"])
    return CURRENT if "processors" in _read(path, "processors.json").get("features", {}) else 1


def is_predictor(path: str) -> bool:
    return all(os.path.isfile(os.path.join(path, name)) for name in FILES)


# ---------------------------------------------------------------- 1 <-> 2
# format 1 fed numbers to the MLP as they were: format 2's keys for a periodic embedding and step features, at the
# values that build neither, which a format-1 predictor gains going up and a format-2 one must have to go down
PLAIN_NUMBERS = {"embedding": "none", "piecewise_bins": 0}


def _up_1_2(files: dict) -> dict:
    processors, config, meta = files["processors.json"], files["config.yaml"], files["automodal.json"]
    kept = processors.get(KEPT, {})
    features = processors["features"]
    named = {}
    for kind in ("numerical", "categorical"):
        if features.get(kind):
            named[kind] = {"kind": kind, **features[kind], **kept.get(kind, {})}
    rest = {k: v for k, v in processors.items() if k not in ("format_version", KEPT)}
    processors = dict(rest, features={"column_types": features["column_types"], "processors": named})
    if kept.get("format_version", True):
        processors = {"format_version": 2, **processors}
    model = dict(config.get("model", {}))
    model["numerical_mlp"] = {**model.get("numerical_mlp", {}), **PLAIN_NUMBERS}
    config = dict(config, model=model)
    return {"processors.json": processors, "config.yaml": config, "automodal.json": dict(meta, format_version=2)}


def _down_2_1(files: dict) -> dict:
    processors, config, meta = files["processors.json"], files["config.yaml"], files["automodal.json"]
    if "features" not in processors:
        raise MigrationError(f"format 1 holds table predictors only; this one is {meta.get('problem_type')}.")
    features = processors["features"]
    named = features["processors"]
    extra = sorted(set(named) - {"numerical", "categorical"})
    if extra:
        raise MigrationError(f"format 1 holds numerical and categorical processors only; this predictor also has "
                             f"{', '.join(extra)}.")
    numerical = named.get("numerical")
    if numerical and (numerical.get("transform", "standard") != "standard"
                      or any(d is not None for d in numerical.get("day_first") or [])):
        raise MigrationError("format 1 scales numbers by mean and standard deviation only; this predictor maps them "
                             "through quantiles (data.numerical.transform=quantile) or reads dates.")
    numerical_mlp = config.get("model", {}).get("numerical_mlp", {})
    if numerical_mlp.get("embedding", "none") != "none":
        raise MigrationError("format 1 has no periodic number embedding; this predictor was trained with one "
                             "(model.numerical_mlp.embedding).")
    if numerical_mlp.get("piecewise_bins", 0):
        raise MigrationError("format 1 has no step features of numbers; this predictor was trained with them "
                             "(model.numerical_mlp.piecewise_bins).")
    old, kept = {"column_types": features["column_types"]}, {}
    for kind in ("numerical", "categorical"):
        state = dict(named[kind]) if kind in named else None
        if state is not None:
            state.pop("kind")
            moved = {key: state.pop(key) for key in NUMERICAL_2_KEYS if key in state}
            if moved:
                kept[kind] = moved
        old[kind] = state
    if "format_version" not in processors:      # saved before processors.json carried one
        kept["format_version"] = False
    processors = {k: v for k, v in processors.items() if k != "format_version"}
    processors = dict(processors, features=old, **({KEPT: kept} if kept else {}))
    model = dict(config["model"])
    model["numerical_mlp"] = {k: v for k, v in model["numerical_mlp"].items() if k not in PLAIN_NUMBERS}
    meta = {k: v for k, v in meta.items() if k != "format_version"}
    return {"processors.json": processors, "config.yaml": dict(config, model=model), "automodal.json": meta}


STEPS = {(1, 2): _up_1_2, (2, 1): _down_2_1}


def plan(path: str, target: int) -> list:
    """The (from, to) steps that take the predictor at `path` to format `target`."""
    current = predictor_format(path)
    if target not in (1, CURRENT):
        raise MigrationError(f"format {target} is not one this version knows (1 to {CURRENT}).")
    step = 1 if target > current else -1
    return [(v, v + step) for v in range(current, target, step)]


def migrate(path: str, target: int) -> dict:
    """{file name: new text} for the files of `path` that change on the way to format `target`; writes nothing."""
    files = {name: _read(path, name) for name in FILES}
    for step in plan(path, target):
        files = STEPS[step](files)
    changed = {}
    for name, content in files.items():
        text = _dumps(name, content)
        with open(os.path.join(path, name), encoding="utf-8") as handle:
            if handle.read() != text:
                changed[name] = text
    return changed
