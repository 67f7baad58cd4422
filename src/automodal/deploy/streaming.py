"""Predictions over a CSV or Parquet file larger than memory: the file is read in chunks of rows, each chunk is
predicted, and the results are written to a file as they come (or gathered, when no output file is given), so
memory holds one chunk of input at a time."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError

DEFAULT_CHUNK = 100_000


def file_format(path: str) -> str:
    """"parquet" or "csv", for a file that exists; else a DataError naming it."""
    if not os.path.isfile(path):
        raise DataError(f"data: file '{path}' does not exist.")
    if path.lower().endswith((".parquet", ".pq")):
        return "parquet"
    if path.lower().endswith(".csv"):
        return "csv"
    raise DataError(f"data: '{path}' is neither a .csv nor a .parquet file; chunked prediction reads those.")


def row_count(path: str) -> int | None:
    """Rows of a Parquet file, from its footer; None for a CSV file (counting would read it)."""
    return pq.ParquetFile(path).metadata.num_rows if file_format(path) == "parquet" else None


def chunks(path: str, chunk_size: int):
    """DataFrames of at most chunk_size rows, in file order, indexed by their row number in the file."""
    offset = 0
    if file_format(path) == "parquet":
        parts = (batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size))
    else:
        parts = pd.read_csv(path, chunksize=chunk_size)
    for part in parts:
        part.index = pd.RangeIndex(offset, offset + len(part))
        offset += len(part)
        yield part


class ResultWriter:
    """Appends result frames to a .parquet or .csv file."""

    def __init__(self, path: str):
        if not path.lower().endswith((".parquet", ".pq", ".csv")):
            raise DataError(f"output_path '{path}' must end in .parquet or .csv.")
        self.path, self._writer, self._rows = path, None, 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, frame: pd.DataFrame):
        frame = frame.reset_index(names="row")
        frame.columns = [str(c) for c in frame.columns]
        if self.path.lower().endswith(".csv"):
            frame.to_csv(self.path, mode="w" if self._rows == 0 else "a", header=self._rows == 0, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        self._rows += len(frame)

    def close(self):
        if self._writer is not None:
            self._writer.close()


def check_chunk_size(chunk_size: int | None) -> int:
    chunk_size = int(chunk_size or DEFAULT_CHUNK)
    if chunk_size < 1:
        raise DataError(f"chunk_size must be a positive number of rows, got {chunk_size}.")
    return chunk_size


def collect(results, output_path: str | None, bar=None):
    """Write result frames to output_path as they come and return it, or return them gathered into one frame;
    `bar` (automodal.progress.Bar) counts the rows."""
    writer = ResultWriter(output_path) if output_path else None
    gathered = []
    try:
        for result in results:
            if writer is not None:
                writer.write(result)
            else:
                gathered.append(result)
            if bar is not None:
                bar.advance(len(result))
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    if writer is not None:
        return output_path
    return pd.concat(gathered) if gathered else pd.DataFrame()


def predicted_frame(learner, method: str, kwargs: dict, chunk: pd.DataFrame) -> pd.DataFrame:
    """A learner's predict or predict_proba of a chunk, as a frame indexed as the chunk."""
    result = getattr(learner, method)(chunk, as_pandas=True, **kwargs)
    return result.to_frame() if isinstance(result, pd.Series) else pd.DataFrame(result)
