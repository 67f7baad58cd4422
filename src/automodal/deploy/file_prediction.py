"""predict / predict_proba of a file too large for memory: in chunks here, or on a Ray cluster."""

from __future__ import annotations

import os

from ..data.types import BINARY
from ..errors import AutomodalError
from ..progress import Bar
from .ray_predict import predict_on_ray, use_ray
from .streaming import check_chunk_size, chunks, collect, file_format, predicted_frame, row_count

SHOW_AFTER = 2.0        # seconds before a bar of rows predicted appears


def predict_file(learner, saved: str | None, data, chunk_size: int | None, output_path: str | None,
                 on_ray: bool | None, method: str, kwargs: dict):
    """predict / predict_proba of a CSV or Parquet file in chunks: written to output_path as they come (which is
    returned), or gathered into one frame. With on_ray (or, with on_ray None, RAY_ADDRESS) the chunks run on a Ray
    cluster through Ray Data, each worker loading the predictor saved at `saved`."""
    learner.require_fitted()
    if chunk_size is None and output_path is None:
        raise AutomodalError("on_ray=True predicts a file in chunks: pass chunk_size or output_path too.")
    if not isinstance(data, (str, os.PathLike)):
        raise AutomodalError("chunk_size and output_path read the data in chunks from a file: pass the path of a "
                             "CSV or Parquet file as data.")
    if method == "predict_proba":
        if learner.class_labels is None:
            raise AutomodalError(f"predict_proba needs a classification task; this one is {learner.problem_type}. "
                                 "Use predict().")
        binary_column = learner.problem_type == BINARY and not kwargs.get("as_multiclass", True)
        columns = [learner.positive_class] if binary_column else learner.class_labels
    else:
        columns = [learner.label]
    chunk_size = check_chunk_size(chunk_size)
    file_format(os.fspath(data))
    ray = use_ray(on_ray)
    if ray:
        results = predict_on_ray(data, saved, method, kwargs, chunk_size, columns)
    else:
        results = (predicted_frame(learner, method, kwargs, chunk) for chunk in chunks(os.fspath(data), chunk_size))
    bar = Bar(f"{method} on Ray" if ray else method, row_count(os.fspath(data)), learner.verbosity, SHOW_AFTER)
    return collect(results, output_path, bar)
