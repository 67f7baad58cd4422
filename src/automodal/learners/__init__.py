"""Problem families with their own data, network and metrics, each behind the same MultiModalPredictor facade.

The tabular / text / image classifier and regressor live in automodal.learner; the families here (object
detection, semantic segmentation) read images with boxes or masks instead of table rows."""

from __future__ import annotations

import importlib

OBJECT_DETECTION = "object_detection"
SEMANTIC_SEGMENTATION = "semantic_segmentation"

_PREDICTORS = {
    OBJECT_DETECTION: ("automodal.learners.detection.predictor", "DetectionPredictor"),
    SEMANTIC_SEGMENTATION: ("automodal.learners.segmentation.predictor", "SegmentationPredictor"),
}
IMAGE_TASKS = tuple(_PREDICTORS)


def predictor_class(problem_type: str | None):
    """The predictor class of a problem family here, or None for the table problem types."""
    if problem_type not in _PREDICTORS:
        return None
    module, name = _PREDICTORS[problem_type]
    return getattr(importlib.import_module(module), name)
