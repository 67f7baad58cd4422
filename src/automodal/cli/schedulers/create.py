"""create: store each task's data set (dataset) and make the task with its folds (task); present ones are
skipped, so both subroutines can always be given."""

from __future__ import annotations

from ..tasks import create_task, data_spec, store_dataset
from .base import Scheduler, Step


class CreateScheduler(Scheduler):
    creates_project = True
    subroutines = ("dataset", "task")

    def prepare(self):
        tasks = self.task_list()
        if "dataset" in self.options.subroutines:
            for name in tasks:
                data_spec(self.config, name, single=len(tasks) == 1)

    def plan(self) -> list:
        tasks, steps = self.task_list(), []
        for name in tasks:
            if "dataset" in self.options.subroutines:
                spec = data_spec(self.config, name, single=len(tasks) == 1)
                steps.append(Step(f"dataset:{name}", lambda n=name, s=spec: store_dataset(self.project, n, s,
                                                                                        self.log)))
            if "task" in self.options.subroutines:
                steps.append(Step(f"task:{name}", lambda n=name: create_task(
                    self.project, n, self.options.n_folds, bool(self.options.ensure_balancing), self.config.seed,
                    self.log)))
        return steps
