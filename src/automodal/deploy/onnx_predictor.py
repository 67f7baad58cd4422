"""Predictions from an exported network with ONNX Runtime and the predictor's saved processors, without torch:
for predictors whose columns are numbers, categories, text (through the saved tokenizer.json and the `tokenizers`
library) and image paths (decoded with PIL, named val transforms done in NumPy).

    from automodal.onnx_predictor import OnnxPredictor
    OnnxPredictor("exported/").predict_proba(frame)

`predictor.export_onnx(data, path=DIRECTORY)` writes model.onnx with processors.json and automodal.json beside it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from ..data.frames import read_frame
from ..data.image import ImageProcessor
from ..data.pipeline import FeaturePipeline, processor_class
from ..data.processors import LabelProcessor
from ..data.text import TextProcessor
from ..data.types import REGRESSION
from ..errors import AutomodalError

TORCH_FREE_KINDS = ("numerical", "categorical")         # text has its own path below
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def _processor(name: str, state: dict, directory: str):
    """A saved processor that prepares inputs without torch: numbers, categories, and text through the saved
    tokenizer.json."""
    kind = state["kind"]
    if kind in TORCH_FREE_KINDS:
        return processor_class(kind).from_dict(state, os.path.join(directory, name))
    if kind == "text":
        return TextProcessor.for_onnx(state, os.path.join(directory, name))
    if kind == "image":
        return ImageProcessor.for_onnx(state)
    raise AutomodalError(f"this predictor reads {kind} columns ({name}), whose inputs are prepared with torch; "
                         "use MultiModalPredictor.load and feed the ONNX model the inputs its processors produce.")


class OnnxPredictor:
    def __init__(self, directory: str):
        try:
            import onnxruntime as ort
        except ImportError:
            raise AutomodalError("OnnxPredictor needs onnxruntime: pip install 'automodal[onnx]'.") from None
        files = {name: os.path.join(directory, name) for name in ("model.onnx", "processors.json", "automodal.json")}
        missing = [name for name, path in files.items() if not os.path.isfile(path)]
        if missing:
            raise AutomodalError(f"'{directory}' lacks {', '.join(missing)}: write it with "
                                 "predictor.export_onnx(data, path=DIRECTORY).")
        with open(files["processors.json"], encoding="utf-8") as handle:
            processors = json.load(handle)
        with open(files["automodal.json"], encoding="utf-8") as handle:
            self.meta = json.load(handle)
        self.pipeline = FeaturePipeline(processors["features"]["column_types"],
                                        {name: _processor(name, state, directory)
                                         for name, state in processors["features"]["processors"].items()})
        self.labels = LabelProcessor.from_dict(processors["label"])
        self.session = ort.InferenceSession(files["model.onnx"], providers=["CPUExecutionProvider"])
        self.inputs = {i.name: ONNX_TYPES.get(i.type) for i in self.session.get_inputs()}

    @property
    def problem_type(self) -> str:
        return self.meta["problem_type"]

    @property
    def class_labels(self) -> list | None:
        return None if self.problem_type == REGRESSION else list(self.labels.classes)

    def _outputs(self, data) -> tuple[pd.DataFrame, np.ndarray]:
        frame = read_frame(data, "data")
        features = self.pipeline.transform(frame, "prediction data")
        rows = np.arange(len(frame))
        for processor in self.pipeline.processors.values():
            if hasattr(processor, "collate_arrays"):
                features.update(processor.collate_arrays(features, rows, training=False))
        feed = {name: np.ascontiguousarray(features[name], dtype=dtype) for name, dtype in self.inputs.items()}
        logits = self.session.run(None, feed)[0].astype(np.float64)
        if self.problem_type == REGRESSION:
            return frame, self.labels.inverse_regression(logits[:, 0])
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return frame, shifted / shifted.sum(axis=1, keepdims=True)

    def predict_proba(self, data) -> pd.DataFrame:
        if self.problem_type == REGRESSION:
            raise AutomodalError("predict_proba needs a classification task; this one is regression.")
        frame, proba = self._outputs(data)
        return pd.DataFrame(proba, index=frame.index, columns=self.class_labels)

    def predict(self, data) -> pd.Series:
        frame, outputs = self._outputs(data)
        if self.problem_type != REGRESSION:
            outputs = np.asarray(self.class_labels, dtype=object)[outputs.argmax(axis=1)]
        return pd.Series(outputs, index=frame.index, name=self.meta["label"])
