"""Progress bars for long steps: the training loop's epochs, chunked and Ray prediction, searches and command-line
runs. A bar shows only where someone watches: on a terminal, at verbosity 2 or more (the level that shows the
Trainer's bar), and once the work has run `after` seconds, so that short steps stay quiet."""

from __future__ import annotations

import sys
import time


def watched(console=None) -> bool:
    """Whether the bar's stream (the console's, else standard error) is a terminal someone reads, not a pipe, a
    file or a notebook's captured stream."""
    return console.is_terminal if console is not None else sys.stderr.isatty()


class Bar:
    """Counts work done; draws a rich progress bar once it is worth showing, on `console` (a rich Console whose
    other output the bar keeps above it) or standard error."""

    def __init__(self, description: str, total: int | None = None, verbosity: int = 2, after: float = 0.0,
                 console=None):
        self.description, self.total, self.console = description, total, console
        self.wanted = verbosity >= 2 and watched(console)
        self.after, self.started = after, time.perf_counter()
        self.done, self.fields = 0, ""
        self._progress = self._task = None

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def advance(self, amount: int = 1, note: str = ""):
        self.done += amount
        self.fields = note or self.fields
        if not self.wanted:
            return
        if self._progress is None and time.perf_counter() - self.started >= self.after:
            # loaded when a bar first shows: 20 ms that loading a predictor to predict would pay otherwise
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                      console=self.console or Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.done,
                                                 note=self.fields)
        elif self._progress is not None:
            self._progress.update(self._task, completed=self.done, note=self.fields)

    def close(self):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc):
        self.close()
