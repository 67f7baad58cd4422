"""ONNX export of a fitted learner's network (predictor.export_onnx).

The ONNX graph takes the network's batch: one input per feature key that the processors produce (for example
`numerical` float32 (rows, columns), `categorical` int64 (rows, columns), `hf_text.input_ids` int64 (rows,
tokens), `timm_image.images` float32 (rows, images, 3, height, width)) and returns `logits` (rows, outputs): class
scores before the softmax, or the scaled regression value. The processors that turn a frame into those inputs
stay in the predictor; the input names, dtypes and meaning are also written into the model's doc string."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import torch

from ..data.batches import BatchDataset
from ..data.frames import read_frame
from ..errors import AutomodalError

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


def export_onnx(learner, data, path: str | None, batch_size: int | None, verbose: bool, opset_version: int,
                truncate: bool):
    """A learner's network in ONNX, checked against the learner on `data` (its first batch_size rows): see
    export_network."""
    learner.require("export_onnx", "export_onnx")
    model = learner.require_fitted()
    frame = read_frame(data, "data")
    if batch_size is not None:
        frame = frame.head(int(batch_size))
    meta = {"label": learner.label, "problem_type": learner.problem_type, "column_types": learner.column_types}
    return export_network(model, frame, path, verbose, opset_version, truncate, meta)


def export_network(model, frame, path: str | None, verbose: bool, opset_version: int, truncate: bool,
                   meta: dict | None = None):
    """The ONNX model as bytes (path None) or written to `path`: a file, or a directory that gets model.onnx with
    the processors (processors.json) and `meta` (automodal.json) beside it, which onnx_predictor.OnnxPredictor
    reads."""
    try:
        import onnxruntime as ort       # the onnx extra
    except ImportError:
        raise AutomodalError("export_onnx needs the onnx extra: pip install 'automodal[onnx]'.") from None
    batch = example_batch(model, frame, truncate)
    keys = sorted(batch)
    widen = {k for k, v in batch.items() if v.dtype == torch.int32} if truncate else set()
    wrapper = _Positional(model.net, keys, widen).eval()
    was_training = model.net.training
    dynamic = {k: _dynamic_axes(k) for k in keys}
    buffer = io.BytesIO()
    try:
        torch.onnx.export(wrapper, tuple(batch[k] for k in keys), buffer, input_names=keys, output_names=["logits"],
                          dynamic_axes={**dynamic, "logits": {0: "rows"}}, opset_version=opset_version,
                          verbose=verbose, dynamo=False)
    finally:
        model.net.train(was_training)       # the exporter leaves modules in the mode it found the wrapper in
    data = _describe(buffer.getvalue(), batch)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    # the exporter drops inputs the network does not read (such as an image column's `missing` flags)
    got = session.run(None, {i.name: batch[i.name].cpu().numpy() for i in session.get_inputs()})[0]
    with torch.inference_mode():
        expected = model.net(batch).float().cpu().numpy()
    difference = float(np.abs(got - expected).max()) if got.size else 0.0
    if difference > 1e-4:
        raise AutomodalError(f"ONNX Runtime's outputs differ from the predictor's by up to {difference:.2e} on the "
                             "given rows (more than 1e-4); the export cannot be trusted for this model.")
    if path is None:
        return data
    directory = os.path.isdir(path) or path.endswith(os.sep) or not os.path.splitext(path)[1]
    target = os.path.join(path, "model.onnx") if directory else path
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(data)
    if directory:
        with open(os.path.join(path, "processors.json"), "w", encoding="utf-8") as handle:
            json.dump({"features": model.pipeline.to_dict(), "label": model.label_processor.to_dict()}, handle,
                      indent=2)
        with open(os.path.join(path, "automodal.json"), "w", encoding="utf-8") as handle:
            json.dump(meta or {}, handle, indent=2, default=str)
        model.pipeline.save_assets(path)
    return target


def _describe(data: bytes, batch: dict) -> bytes:
    import onnx                         # the onnx extra, checked by export_network

    model = onnx.load_from_string(data)
    used = {i.name for i in model.graph.input}
    inputs = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in batch.items()
              if k in used}
    model.doc_string = json.dumps({"inputs": inputs, "output": "logits (rows, outputs)",
                                   "note": "inputs are the predictor's processed features"})
    return model.SerializeToString()
