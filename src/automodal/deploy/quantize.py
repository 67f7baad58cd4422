"""Faster CPU prediction: the network's Linear layers as int8 (dynamic quantisation), kept only when the
predictions on labelled rows score within a tolerance of the float network's (the accuracy guard)."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..data.frames import read_frame
from ..learners.tabular.labels import clean_labels

logger = logging.getLogger(__name__)


def _median_ms(run, repeats: int = 20) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def optimize_for_inference(learner, data, tolerance: float = 0.002) -> dict:
    """Try int8 Linear layers for a learner's CPU prediction; keep them if every checked metric moves by at most
    `tolerance` on `data` (labelled rows the model did not train on). Returns what was measured and decided."""
    learner.require("optimize_for_inference", "optimize_for_inference")
    model = learner.require_fitted()
    if model.device.type != "cpu":
        return {"kept": False, "reason": "int8 dynamic quantisation runs on the CPU; this model predicts on "
                                         f"{model.device}"}
    frame = clean_labels(read_frame(data, "data"), learner.label, "data")
    metrics = list(dict.fromkeys([learner.eval_metric] + (["accuracy"] if learner.class_labels else [])))
    one_row = frame.drop(columns=[learner.label]).head(1)
    model.fast_net = None
    before = learner.evaluate(frame, metrics=metrics)
    before_ms = _median_ms(lambda: learner.predict(one_row))
    model.fast_net = torch.ao.quantization.quantize_dynamic(model.net, {torch.nn.Linear}, dtype=torch.qint8).eval()
    after = learner.evaluate(frame, metrics=metrics)
    after_ms = _median_ms(lambda: learner.predict(one_row))
    changes = {m: abs(after[m] - before[m]) for m in metrics}
    kept = all(change <= tolerance for change in changes.values())
    if not kept:
        model.fast_net = None
        logger.warning("int8 prediction changes %s by more than %s on the given rows; the float network stays.",
                       ", ".join(f"{m} ({before[m]:.4f} -> {after[m]:.4f})" for m in metrics), tolerance)
    return {"kept": kept, "tolerance": tolerance, "rows": len(frame),
            "scores_float": before, "scores_int8": after, "one_row_ms_float": round(before_ms, 2),
            "one_row_ms_int8": round(after_ms, 2)}
