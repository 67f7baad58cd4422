"""The table network as an ONNX graph: one input per feature key that the processors produce (for example
`numerical` float32 (rows, columns), `categorical` int64 (rows, columns), `hf_text.input_ids` int64 (rows, tokens),
`timm_image.images` float32 (rows, images, 3, height, width)) and `logits` (rows, outputs) out: class scores before
the softmax, or the scaled regression value. The processors that turn a frame into those inputs are written beside
the model for automodal.onnx_predictor.OnnxPredictor."""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ... import migrations
from ...data.batches import BatchDataset
from ..contract import OnnxGraph

TEXT_AXIS = ("input_ids", "token_type_ids", "attention_mask")
IMAGE_AXIS = (".images", ".image_mask")


class _Positional(torch.nn.Module):
    """The network with its batch dict spread into named positional inputs (what the exporter can trace)."""

    def __init__(self, net, keys: list, widen: set):
        super().__init__()
        self.net, self.keys, self.widen = net, keys, widen

    def forward(self, *inputs):
        batch = {k: (x.long() if k in self.widen else x) for k, x in zip(self.keys, inputs)}
        return self.net(batch)


def _dynamic_axes(key: str) -> dict:
    """Rows vary for every input; tokens per row for text, images per row for image columns."""
    if key.endswith(TEXT_AXIS):
        return {0: "rows", 1: "tokens"}
    if key.endswith(IMAGE_AXIS):
        return {0: "rows", 1: "images"}
    return {0: "rows"}


def example_batch(model, frame, truncate: bool) -> dict:
    features = model.pipeline.transform(frame, "export data")
    batch = BatchDataset(features, model.pipeline.collators)[np.arange(len(frame))]
    batch = {k: v.to(model.device) for k, v in batch.items() if k != "label"}
    if truncate:
        batch = {k: (v.int() if v.dtype == torch.int64 else v.float() if v.dtype == torch.float64 else v)
                 for k, v in batch.items()}
    return batch


def table_graph(learner, frame, truncate: bool) -> OnnxGraph:
    model = learner.require_fitted()
    batch = example_batch(model, frame, truncate)
    keys = sorted(batch)
    widen = {k for k, v in batch.items() if v.dtype == torch.int32} if truncate else set()
    meta = {"label": learner.label, "problem_type": learner.problem_type, "column_types": learner.column_types}

    def save_beside(directory: str):
        with open(os.path.join(directory, "processors.json"), "w", encoding="utf-8") as handle:
            json.dump({"format_version": migrations.CURRENT, "features": model.pipeline.to_dict(),
                       "label": model.label_processor.to_dict()}, handle, indent=2)
        with open(os.path.join(directory, "automodal.json"), "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2, default=str)
        model.pipeline.save_assets(directory)

    return OnnxGraph(_Positional(model.net, keys, widen).eval(), {k: batch[k] for k in keys}, ["logits"],
                     {**{k: _dynamic_axes(k) for k in keys}, "logits": {0: "rows"}},
                     "logits (rows, outputs); inputs are the predictor's processed features", save_beside)
