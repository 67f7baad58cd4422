"""A detector as an ONNX graph: one image in (`image`, float32 (3, height, width) with values in [0, 1], of any size:
the detector resizes and normalises it inside the graph) and its detections out: `boxes` (n, 4; x1, y1, x2, y2 in
the image's pixels), `labels` (n; the class index plus one, as torchvision counts them) and `scores` (n)."""

from __future__ import annotations

import json
import os

import torch

from ..contract import OnnxGraph
from .data import DetectionDataset

OUTPUTS = ["boxes", "labels", "scores"]


class _OneImage(torch.nn.Module):
    """The detector on one image tensor, with its detections as a tuple (what the exporter traces)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        detections = self.net([image])[0]
        return tuple(detections[name] for name in OUTPUTS)


def detector_graph(learner, frame) -> OnnxGraph:
    """The graph, traced on the frame's first image."""
    net = learner.require_fitted()
    image, _ = DetectionDataset(frame.head(1), None, training=False)[0]
    image = image.to(next(net.parameters()).device)
    meta = {"problem_type": learner.problem_type, "classes": learner.labels["classes"],
            "labels": "class index + 1 (classes[label - 1])", "boxes": "x1, y1, x2, y2 in pixels"}

    def save_beside(directory: str):
        with open(os.path.join(directory, "automodal.json"), "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2, default=str)

    return OnnxGraph(_OneImage(net), {"image": image}, list(OUTPUTS),
                     {"image": {1: "height", 2: "width"}, **{name: {0: "detections"} for name in OUTPUTS}},
                     "boxes (n, 4) x1 y1 x2 y2 in pixels; labels (n) class index + 1; scores (n)", save_beside)
