"""serve: an HTTP server for a saved predictor (no project; see automodal.serving)."""

from __future__ import annotations

from .base import Scheduler


class ServeScheduler(Scheduler):
    subroutines = ("serve",)

    def run(self):
        # deferred: FastAPI and uvicorn are the optional extra automodal[serve]
        from ...serving.app import serve

        self.check_subroutines()
        options = self.options
        self.console.print(f"serving {options.path} on http://{options.host}:{options.port} "
                           "(POST /predict, /predict_proba; GET /health, /metadata)", markup=False)
        serve(str(options.path), host=str(options.host), port=int(options.port),
              max_batch_rows=int(options.max_batch_rows), max_wait_ms=float(options.max_wait_ms),
              max_rows=int(options.max_rows), max_body_bytes=int(options.max_body_bytes))
