"""clean: remove what the tool left behind inside the project, never anything else.

temp: scratch directories of runs that no longer hold the project, half-written files (*.tmp-PID), staging and
backup directories of interrupted saves, and model directories that never got their record (a fit killed
between saving and recording). download: the copies of source files that create stored (datasets/NAME/raw)."""

from __future__ import annotations

import os
import shutil
import sys

from ..options import OptionError
from ..tasks import NESTED
from .base import Scheduler, Step


class CleanScheduler(Scheduler):
    subroutines = ("temp", "download")

    def prepare(self):
        if not self.config.mode.all:
            self.task_list()

    def _tasks(self) -> set | None:
        """The tasks in task_list (None: all of them)."""
        return None if self.options.all else set(self.task_list())

    def _belongs(self, name: str, tasks: set | None) -> bool:
        return tasks is None or name.split(NESTED)[0].split(".tmp-")[0] in tasks

    def targets(self) -> list:
        project, tasks, found = self.project, self._tasks(), []
        if "temp" in self.options.subroutines:
            if os.path.isdir(project.tmp):
                found += [os.path.join(project.tmp, n) for n in os.listdir(project.tmp)
                          if n != self.run_record.id]
            for top in (project.datasets, project.tasks, project.models, project.predictions, project.metrics):
                if not os.path.isdir(top):
                    continue
                for root, directories, files in os.walk(top):
                    relative = os.path.relpath(root, top).split(os.sep)[0]
                    if relative != "." and not self._belongs(relative, tasks):
                        directories.clear()
                        continue
                    for name in files:
                        if ".tmp-" in name or name.endswith(".migrating"):
                            found.append(os.path.join(root, name))
                    for name in list(directories):
                        full = os.path.join(root, name)
                        if (".tmp-" in name or name.startswith(".automodal-save-") or name.endswith(".previous")
                                or (top == project.models and root != top and name.startswith("fold")
                                    and not os.path.exists(full + ".json"))):
                            if root == top and not self._belongs(name, tasks):
                                continue
                            found.append(full)
                            directories.remove(name)
        if "download" in self.options.subroutines and os.path.isdir(project.datasets):
            for name in sorted(os.listdir(project.datasets)):
                raw = os.path.join(project.datasets, name, "raw")
                if os.path.isdir(raw) and self._belongs(name, tasks):
                    found.append(raw)
        return sorted(set(found))

    def plan(self) -> list:
        return [Step("clean:" + "+".join(self.options.subroutines), self.clean)]

    def clean(self):
        targets = self.targets()
        if not targets:
            self.log("nothing to remove")
            return
        for path in targets:
            self.log(f"  {os.path.relpath(path, self.project.path)}")
        if not self.options.force:
            if not sys.stdin.isatty():
                raise OptionError(f"clean would remove the {len(targets)} item(s) above and needs a confirmation: "
                                  "run it in a terminal, or add mode.force=true.")
            answer = input(f"remove these {len(targets)} item(s)? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                self.log("nothing removed")
                return
        for path in targets:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)
        self.log(f"removed {len(targets)} item(s)")
