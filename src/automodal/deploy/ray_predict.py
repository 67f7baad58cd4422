"""Chunked prediction of a file on a Ray cluster through Ray Data: workers each load the saved predictor once and
predict batches of chunk_size rows; the results come back in file order, so the caller writes them as a local
chunked prediction would."""

from __future__ import annotations

import importlib.util
import logging
import os

import pandas as pd

from ..errors import AutomodalError
from ..hpo.cluster import connect
from ..learners.registry import load_learner
from .streaming import file_format, predicted_frame


def numpy_backed(frame: pd.DataFrame) -> pd.DataFrame:
    """Ray Data hands out Arrow-backed columns; the predictor and its callers work with NumPy-backed ones."""
    return frame.apply(lambda column: column.astype(column.dtype.numpy_dtype)
                       if isinstance(column.dtype, pd.ArrowDtype) else column)


class ChunkPredictor:
    """Ray Data's callable class: one loaded learner per worker."""

    def __init__(self, path: str, method: str, kwargs: dict):
        self.learner = load_learner(path)
        self.method, self.kwargs = method, kwargs

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        frame = predicted_frame(self.learner, self.method, self.kwargs, numpy_backed(batch))
        frame.columns = [str(c) for c in frame.columns]     # Arrow blocks need string column names
        return frame.reset_index(drop=True)


def use_ray(on_ray: bool | None) -> bool:
    """on_ray, or when it is None, whether RAY_ADDRESS names a cluster."""
    return bool(os.environ.get("RAY_ADDRESS")) if on_ray is None else bool(on_ray)


def predict_on_ray(path: str, saved: str | None, method: str, kwargs: dict, chunk_size: int, columns: list):
    """Result frames in file order, indexed by row number, with `columns` as their column names."""
    if importlib.util.find_spec("ray") is None:
        raise AutomodalError("Prediction on Ray needs Ray Data: pip install 'automodal[hpo]' (or 'ray[data]'), or "
                             "pass on_ray=False.")
    if saved is None or not os.path.isdir(saved):
        raise AutomodalError("Prediction on Ray loads the saved predictor in every worker: save it first "
                             "(predictor.save(path)), or pass on_ray=False.")
    import ray     # the hpo extra, checked above

    path = os.path.abspath(os.fspath(path))
    kind = file_format(path)
    connect(None, 0)
    dataset = ray.data.read_parquet(path) if kind == "parquet" else ray.data.read_csv(path)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    predicted = dataset.map_batches(ChunkPredictor, fn_constructor_args=(os.path.abspath(saved), method, kwargs),
                                    batch_size=chunk_size, batch_format="pandas", concurrency=(1, workers),
                                    max_restarts=0)
    offset = 0
    for batch in predicted.iter_batches(batch_size=chunk_size, batch_format="pandas"):
        batch = numpy_backed(batch)
        batch.columns = columns
        batch.index = pd.RangeIndex(offset, offset + len(batch))
        offset += len(batch)
        yield batch
