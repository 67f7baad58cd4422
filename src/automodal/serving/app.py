"""The FastAPI application: POST /predict and /predict_proba (rows as records), GET /health and /metadata, for a
learner of any problem family. A table's rows hold its feature columns and get a value (or class probabilities)
each; detection and segmentation rows hold an `image` path readable on the server and get the image's boxes, or its
mask as run lengths.

Requests are checked one by one as JSON gave them, then grouped into micro-batches: a batch takes every request
that waits when the model is free (those that came while the last batch ran), up to max_batch_rows, and may wait
max_wait_ms (0 by default) for more; when fewer requests wait than the last batch answered plus those that waited
then, it also waits for them up to half the model's last time (at most 2 ms), since clients answered a moment ago
are sending their next requests. Its rows become one frame and one prediction serves every request in it. Alone, a
request is predicted at once; under load, batches grow and so does throughput.

No `from __future__ import annotations` here: FastAPI reads the handlers' annotations (Request) at run time."""

import asyncio
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..errors import AutomodalError
from ..learners.contract import json_values
from ..learners.registry import load_learner
from .validation import RequestError, RowChecker, request_rows, rows_frame


CATCH_UP = 0.5             # of the last batch's model time: the longest wait for the clients it answered
CATCH_UP_LIMIT = 0.002     # seconds


@dataclass
class Pending:
    rows: list                  # records, checked
    kind: str                   # "predict" or "predict_proba"
    future: asyncio.Future = field(default=None)


class MicroBatcher:
    def __init__(self, learner, max_batch_rows: int, max_wait_ms: float):
        self.learner = learner
        self.max_batch_rows, self.max_wait = max_batch_rows, max_wait_ms / 1000
        self.queue: asyncio.Queue | None = None
        self.batches = self.rows = 0
        self._task = None

    def start(self):
        self.queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()

    async def submit(self, rows: list, kind: str):
        pending = Pending(rows, kind, asyncio.get_running_loop().create_future())
        await self.queue.put(pending)
        return await pending.future

    async def _run(self):
        loop = asyncio.get_running_loop()
        answered, model_seconds = 0, 0.0
        while True:
            # the clients the last batch answered are likely sending their next requests now: a batch may wait a
            # moment for them (a fraction of the model's last time), so that steady clients share one batch instead
            # of splitting into two that take turns
            expected = self.queue.qsize() + answered
            batch = [await self.queue.get()]
            rows = len(batch[0].rows)
            started = loop.time()
            deadline = started + self.max_wait
            catch_up = started + min(CATCH_UP_LIMIT, CATCH_UP * model_seconds)
            while rows < self.max_batch_rows:
                if not self.queue.empty():      # requests that came while the last batch ran join at once
                    item = self.queue.get_nowait()
                else:
                    timeout = max(deadline, catch_up if len(batch) < expected else 0.0) - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), timeout)
                    except asyncio.TimeoutError:
                        break
                batch.append(item)
                rows += len(item.rows)
            # one thread runs the model: predictions do not compete with each other for the cores
            answered, began = len(batch), loop.time()
            try:
                results = await loop.run_in_executor(None, self._predict, batch)
                model_seconds = loop.time() - began
            except Exception as error:  # the checks passed, so this is the server's fault: 500 to each caller
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, result in zip(batch, results):
                if not item.future.done():
                    item.future.set_result(result)

    def _predict(self, batch: list) -> list:
        frame = rows_frame([row for item in batch for row in item.rows])
        self.batches += 1
        self.rows += len(frame)
        answers = {kind: self.learner.served(frame, kind) for kind in dict.fromkeys(item.kind for item in batch)}
        results, start = [], 0
        for item in batch:
            stop = start + len(item.rows)
            if item.kind == "predict":
                results.append({"predictions": answers["predict"][start:stop]})
            else:
                results.append({"classes": json_values(self.learner.class_labels),
                                "probabilities": answers["predict_proba"][start:stop]})
            start = stop
        return results


def create_app(model, max_batch_rows: int = 256, max_wait_ms: float = 0.0, max_rows: int = 10_000,
               max_body_bytes: int = 10_000_000):
    """The application serving `model`: a fitted learner, or a MultiModalPredictor (its learner is served)."""
    try:
        from fastapi import FastAPI, Request            # the serve extra
        from fastapi.responses import JSONResponse
        from starlette.routing import Route
    except ImportError:
        raise AutomodalError("serving needs the serve extra: pip install 'automodal[serve]'.") from None

    learner = getattr(model, "learner", model)
    learner.require_fitted()
    checker = RowChecker(learner.request_schema())
    batcher = MicroBatcher(learner, max_batch_rows, max_wait_ms)

    @asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="automodal", lifespan=lifespan)
    app.state.batcher = batcher

    async def handle(request: Request, kind: str):
        started = time.perf_counter()
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > max_body_bytes:
                raise RequestError(413, f"the request body has {length} bytes; the limit is {max_body_bytes}.")
            body = await request.body()
            if len(body) > max_body_bytes:
                raise RequestError(413, f"the request body has {len(body)} bytes; the limit is {max_body_bytes}.")
            try:
                parsed = json.loads(body)
            except ValueError as error:
                raise RequestError(400, f"the body is not JSON: {error}.") from None
            rows = request_rows(parsed, max_rows)
            checker.check(rows)
            refusal = learner.serving_refusal(kind)
            if refusal is not None:
                raise RequestError(400, refusal)
        except RequestError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        result = await batcher.submit(rows, kind)
        return JSONResponse({**result, "milliseconds": round(1000 * (time.perf_counter() - started), 2)})

    async def predict(request: Request):
        return await handle(request, "predict")

    async def predict_proba(request: Request):
        return await handle(request, "predict_proba")

    # Starlette's own routes: FastAPI's dependency resolution would cost each one-row request about a tenth of
    # its time, for a request object these handlers read themselves
    app.router.routes.append(Route("/predict", predict, methods=["POST"]))
    app.router.routes.append(Route("/predict_proba", predict_proba, methods=["POST"]))

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata():
        return {"label": learner.label, "problem_type": learner.problem_type,
                "classes": None if learner.class_labels is None else json_values(learner.class_labels),
                "column_types": checker.column_types, "eval_metric": learner.eval_metric,
                "batches": batcher.batches, "rows": batcher.rows,
                "max_batch_rows": max_batch_rows, "max_wait_ms": max_wait_ms}

    return app


def serve(path: str, host: str = "127.0.0.1", port: int = 8000, **options):
    """Load the predictor saved at `path` (of any problem family) and serve it until interrupted."""
    try:
        import uvicorn                                  # the serve extra
    except ImportError:
        raise AutomodalError("automodal serve needs the serve extra: pip install 'automodal[serve]'.") from None
    uvicorn.run(create_app(load_learner(path), **options), host=host, port=port, log_level="warning")
