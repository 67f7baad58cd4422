"""Faster CPU prediction: the network's Linear layers as int8 (dynamic quantisation), kept only when the
predictions on labelled rows score within a tolerance of the float network's (the accuracy guard)."""

from __future__ import annotations

import logging
import time

import numpy as np

logger = logging.getLogger(__name__)


def _median_ms(run, repeats: int = 20) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def optimize_for_inference(predictor, data, tolerance: float = 0.002) -> dict:
    """Try int8 Linear layers for CPU prediction; keep them if every checked metric moves by at most
    `tolerance` on `data` (labelled rows the model did not train on). Returns what was measured and decided."""
    import torch

    from .learner import clean_labels

    model = predictor._require_fitted()
    if model.device.type != "cpu":
        return {"kept": False, "reason": "int8 dynamic quantisation runs on the CPU; this model predicts on "
                                         f"{model.device}"}
    frame = clean_labels(predictor._frame(data), predictor.label, "data")
    metrics = list(dict.fromkeys([predictor.eval_metric] + (["accuracy"] if predictor.class_labels else [])))
    one_row = frame.drop(columns=[predictor.label]).head(1)
    model.fast_net = None
    before = predictor.evaluate(frame, metrics=metrics)
    before_ms = _median_ms(lambda: predictor.predict(one_row))
    model.fast_net = torch.ao.quantization.quantize_dynamic(model.net, {torch.nn.Linear}, dtype=torch.qint8).eval()
    after = predictor.evaluate(frame, metrics=metrics)
    after_ms = _median_ms(lambda: predictor.predict(one_row))
    changes = {m: abs(after[m] - before[m]) for m in metrics}
    kept = all(change <= tolerance for change in changes.values())
    if not kept:
        model.fast_net = None
        logger.warning("int8 prediction changes %s by more than %s on the given rows; the float network stays.",
                       ", ".join(f"{m} ({before[m]:.4f} -> {after[m]:.4f})" for m in metrics), tolerance)
    return {"kept": kept, "tolerance": tolerance, "rows": len(frame),
            "scores_float": before, "scores_int8": after, "one_row_ms_float": round(before_ms, 2),
            "one_row_ms_int8": round(after_ms, 2)}
