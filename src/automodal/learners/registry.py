"""The problem families: registry name -> learner class, and which family answers a problem_type.

Registering a family (register_family) is all it takes to put it behind the facade, the command line, the server and
the shared test that runs every family through every surface (tests/integration/test_families.py), as timm's
register_model puts a model under its tests. The classes are imported on first use: a table fit does not load the
detectors' torchvision modules nor SAM's."""

from __future__ import annotations

import importlib

from .. import persistence
from ..errors import DataError

_FAMILIES: dict = {}            # name -> "module:Class"
_PROBLEM_TYPES: dict = {}       # problem_type -> name (None: the type is inferred from the label)


def register_family(name: str, target: str, problem_types: tuple):
    """Register the learner class at `target` ("package.module:Class") for `problem_types`."""
    _FAMILIES[name] = target
    for problem_type in problem_types:
        _PROBLEM_TYPES[problem_type] = name


register_family("tabular", "automodal.learners.tabular.learner:TabularLearner",
                (None, "binary", "multiclass", "regression", "classification"))
register_family("detection", "automodal.learners.detection.learner:DetectionLearner", ("object_detection",))
register_family("segmentation", "automodal.learners.segmentation.learner:SegmentationLearner",
                ("semantic_segmentation",))


def list_families() -> list:
    return list(_FAMILIES)


def family_named(name: str):
    module, _, attribute = _FAMILIES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def family_of(problem_type: str | None):
    """The learner class that answers problem_type; an unknown one is an error that lists the known ones."""
    name = None if problem_type is None else str(problem_type).lower()
    if name not in _PROBLEM_TYPES:
        known = ", ".join(str(p) for p in _PROBLEM_TYPES if p)
        raise DataError(f"problem_type '{problem_type}' is not supported; use one of {known}, or None to infer it "
                        "from the label.")
    return family_named(_PROBLEM_TYPES[name])


def load_learner(path: str, verbosity: int = 2):
    """The learner of the predictor saved at path, of the family its saved problem_type names."""
    meta, config, processors, weights = persistence.read(path)
    return family_of(meta["problem_type"]).from_saved(path, meta, config, processors, weights, verbosity)
