"""The scheduler every mode shares: options checked before any work, the project locked for the run, and a plan
of named steps of which the finished ones are logged, so that an interrupted run resumes where it stopped."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import Callable

from ...progress import Bar
from ..executors import run_locally, run_on_ray
from ..options import OptionError
from ..runs import Run
from ..workspace import Project


@dataclass
class Step:
    id: str                     # stable across runs of the same configuration: the key of the finished-steps log
    action: Callable[[], None]
    group: str | None = None    # steps of one group run in plan order, apart from other groups (cli.executors)


class Scheduler:
    creates_project = False     # create makes the project; every other mode needs it to exist
    subroutines: tuple = ()

    def __init__(self, config):
        from rich.console import Console

        self.config = config
        self.mode = config.mode_name
        self.console = Console(highlight=False, emoji=False, soft_wrap=True)   # step ids such as train:a:fold0
        self.project = None
        self.run_record = None

    # ---------------------------------------------------------------- for the modes
    def prepare(self):
        """Check the options against the project; raise before any work."""

    def plan(self) -> list:
        raise NotImplementedError

    def finish(self):
        """After the last step."""

    @property
    def options(self):
        return self.config.mode

    def log(self, message: str):
        if self.run_record is not None:
            self.run_record.log(message)
        else:
            self.console.print(message, markup=False)

    def check_subroutines(self):
        unknown = [s for s in self.options.subroutines if s not in self.subroutines]
        if unknown or not self.options.subroutines:
            raise OptionError(f"mode.subroutines={list(self.options.subroutines)}: mode {self.mode} knows "
                              f"{list(self.subroutines)}.")

    def task_list(self) -> list:
        tasks = list(self.config.task_list or [])
        if not tasks:
            raise OptionError(f"mode {self.mode} needs task_list=[NAME,...]: the tasks to work on.")
        return [str(t) for t in tasks]

    # ---------------------------------------------------------------- the run
    def _resume(self) -> str | None:
        from omegaconf import OmegaConf

        which = self.config.get("continue")
        if which is None:
            return None
        directory = Run.find(self.project.runs, self.mode, str(which))
        stored = OmegaConf.create(Run(directory, self.console).config_yaml())
        self.console.print(f"resuming run {os.path.basename(directory)} with its own configuration", markup=False)
        self.config = stored
        return directory

    def run(self):
        from omegaconf import OmegaConf

        self.project = Project(self.config.root, self.config.proj)
        if not self.creates_project:
            self.project.require()
        resumed = self._resume() if self.project.exists else None
        self.check_subroutines()
        self.prepare()
        if self.creates_project:    # after the checks: a refused command leaves no empty project behind
            self.project.ensure()
        run_id = os.path.basename(resumed) if resumed else Run.new_id(self.mode)
        with self.project.locked(run_id, note=lambda m: self.console.print(m, markup=False)):
            if resumed:
                self.run_record = Run(resumed, self.console)
            else:
                stored = OmegaConf.to_yaml(OmegaConf.merge(self.config, {"continue": None}))
                self.run_record = Run.start(self.project.runs, run_id, stored, self.console)
            scratch = os.path.join(self.project.tmp, self.run_record.id)
            os.makedirs(scratch, exist_ok=True)
            previous = os.environ.get("AUTOMODAL_SCRATCH")
            os.environ["AUTOMODAL_SCRATCH"] = scratch      # fits keep their scratch files inside the project
            try:
                self._do(self.plan())
            finally:
                if previous is None:
                    os.environ.pop("AUTOMODAL_SCRATCH", None)
                else:
                    os.environ["AUTOMODAL_SCRATCH"] = previous
                shutil.rmtree(scratch, ignore_errors=True)

    def _do(self, steps: list):
        run = self.run_record
        run.write_plan([step.id for step in steps])
        done = run.finished
        before = len(done & {s.id for s in steps})
        run.log(f"run {run.id}: {len(steps)} steps, {before} done before")
        with Bar(f"{self.mode} run", len(steps), console=self.console) as bar:
            bar.advance(before)
            if self.options.get("executor", "local") == "ray":
                run_on_ray(self, steps, done, bar, run.config_yaml())
            else:
                run_locally(self, steps, done, bar)
        self.finish()
        run.log(f"run {run.id} finished")
