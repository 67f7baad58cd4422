"""MultiModalPredictor(problem_type="semantic_segmentation")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..predictor import ImageTaskPredictor
from .learner import SegmentationLearner
from .masks import decode_labels


class SegmentationPredictor(ImageTaskPredictor):
    """Data: a frame with an `image` column of image paths and a label column (default `label`) of mask paths:
    binary masks (mode "1", values {0, 255} or {0, 1}) or class-index masks, the size of their image. predict()
    gives one mask per image at the image's own size, in the training masks' values."""
    learner_class = SegmentationLearner

    def _predictions(self, frame: pd.DataFrame, outputs: list, as_pandas: bool | None = None):
        masks = [decode_labels(p.argmax(0).numpy(), self._labels) for p in outputs]
        return self._shaped(frame, masks, as_pandas)

    def _shaped(self, frame: pd.DataFrame, rows: list, as_pandas: bool | None):
        """A Series (one array per image, indexed as the frame) or a list of arrays."""
        return pd.Series(rows, index=frame.index, name=self._label) if as_pandas else rows

    def predict(self, data, as_pandas: bool | None = None):
        """A mask per image (an array of the training masks' values, the image's height x width); a Series when
        data is a DataFrame (or as_pandas), else a list."""
        as_pandas = isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas
        return super().predict(data, as_pandas=as_pandas)

    def predict_proba(self, data, as_pandas: bool | None = None, as_multiclass: bool = True):
        """Per-pixel class probabilities per image, (classes, height, width) in the order of class_labels; for a
        binary task with as_multiclass=False the foreground's (height, width) alone."""
        frame, outputs, _ = self._run(data, labelled=False)
        binary = self._labels["num_classes"] == 2
        rows = [p[1].numpy() if binary and not as_multiclass else p.numpy() for p in outputs]
        rows = [np.ascontiguousarray(r, dtype=np.float32) for r in rows]
        return self._shaped(frame, rows, isinstance(data, pd.DataFrame) if as_pandas is None else as_pandas)
