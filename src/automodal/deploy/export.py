"""ONNX export of a fitted learner's network (predictor.export_onnx): each family gives its graph
(FamilyLearner.onnx_graph: the module, example inputs, output names, dynamic axes); here it is exported, checked
against the network with ONNX Runtime, and written to a file or a directory."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import torch

from ..errors import AutomodalError

TOLERANCE = 1e-4        # of ONNX Runtime's outputs against the network's, relative to the outputs' scale


def export_onnx(learner, data, path: str | None, batch_size: int | None, verbose: bool, opset_version: int,
                truncate: bool):
    """The ONNX model as bytes (path None) or written to `path`: a file, or a directory that gets model.onnx with
    what the family writes beside it (a table's processors, which onnx_predictor.OnnxPredictor reads). It is
    checked on `data` (its first batch_size rows or images) against the learner's network."""
    learner.require("export_onnx", "export_onnx")
    try:
        import onnxruntime as ort       # the onnx extra
    except ImportError:
        raise AutomodalError("export_onnx needs the onnx extra: pip install 'automodal[onnx]'.") from None
    graph = learner.onnx_graph(data, batch_size, truncate)
    names = list(graph.inputs)
    inputs = tuple(graph.inputs.values())
    module = graph.module
    was_training = module.training
    buffer = io.BytesIO()
    try:
        torch.onnx.export(module.eval(), inputs, buffer, input_names=names, output_names=graph.outputs,
                          dynamic_axes=graph.dynamic_axes, opset_version=opset_version, verbose=verbose,
                          dynamo=False)
        with torch.inference_mode():
            expected = module(*inputs)
    finally:
        module.train(was_training)      # the exporter leaves modules in the mode it found them in
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    model = _describe(buffer.getvalue(), graph)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    # the exporter drops inputs the network does not read (such as an image column's `missing` flags)
    got = session.run(None, {i.name: graph.inputs[i.name].cpu().numpy() for i in session.get_inputs()})
    for name, ours, theirs in zip(graph.outputs, got, expected):
        theirs = theirs.float().cpu().numpy() if theirs.is_floating_point() else theirs.cpu().numpy()
        if ours.shape != theirs.shape:
            raise AutomodalError(f"ONNX Runtime's '{name}' has shape {ours.shape} where the network gives "
                                 f"{theirs.shape} on the given data; the export cannot be trusted for this model.")
        scale = max(1.0, float(np.abs(theirs).max())) if theirs.size else 1.0
        difference = float(np.abs(ours.astype(np.float64) - theirs).max()) if theirs.size else 0.0
        if difference > TOLERANCE * scale:
            raise AutomodalError(f"ONNX Runtime's '{name}' differs from the network's by up to {difference:.2e} on "
                                 f"the given data (more than {TOLERANCE * scale:.0e}); the export cannot be trusted "
                                 "for this model.")
    if path is None:
        return model
    directory = os.path.isdir(path) or path.endswith(os.sep) or not os.path.splitext(path)[1]
    target = os.path.join(path, "model.onnx") if directory else path
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(model)
    if directory and graph.save_beside is not None:
        graph.save_beside(path)
    return target


def _describe(data: bytes, graph) -> bytes:
    import onnx                         # the onnx extra, checked by export_onnx

    model = onnx.load_from_string(data)
    used = {i.name for i in model.graph.input}
    inputs = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
              for k, v in graph.inputs.items() if k in used}
    model.doc_string = json.dumps({"inputs": inputs, "outputs": graph.described})
    return model.SerializeToString()
