"""upgrade / downgrade: move the project's saved predictors (or one predictor directory, mode.path) between format
versions, after a backup of every file that changes and a listing of the changes."""

from __future__ import annotations

import os
import secrets
import shutil
import time

from ... import migrations
from ..options import OptionError
from ..workspace import write_json
from .base import Scheduler, Step


def format_version(value) -> int:
    """mode.version as written: 1, "1", [1] or "1.0" (the first number is the format)."""
    from omegaconf import ListConfig

    text = ".".join(str(v) for v in value) if isinstance(value, (list, tuple, ListConfig)) else str(value)
    head = text.strip().split(".")[0]
    if not head.isdigit():
        raise OptionError(f"mode.version={value!r} is not a format version; write mode.version=1 or [1].")
    return int(head)


class UpgradeScheduler(Scheduler):
    subroutines = ("upgrade", "downgrade")

    def prepare(self):
        if len(self.options.subroutines) != 1:
            raise OptionError("mode.subroutines takes one of upgrade or downgrade.")
        version = format_version(self.options.version)
        if not 1 <= version <= migrations.CURRENT:
            raise OptionError(f"mode.version={version}: formats run from 1 to {migrations.CURRENT}.")

    def run(self):
        if self.options.path is None:
            return super().run()
        self.check_subroutines()
        self.prepare()
        path = os.path.abspath(str(self.options.path))
        if not migrations.is_predictor(path):
            raise OptionError(f"mode.path={path} is not a saved predictor directory.")
        backup = f"{path}.backup-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        self.migrate([path], os.path.dirname(path), backup)

    def plan(self) -> list:
        predictors = []
        for root, directories, files in os.walk(self.project.models):
            if migrations.is_predictor(root):
                predictors.append(root)
                directories.clear()
        backup = os.path.join(self.project.path, "backups", self.run_record.id)
        return [Step(f"{self.options.subroutines[0]}:models", lambda: self.migrate(sorted(predictors),
                                                                                  self.project.path, backup))]

    def migrate(self, predictors: list, base: str, backup: str):
        from rich.table import Table

        upgrade = self.options.subroutines[0] == "upgrade"
        version = format_version(self.options.version)
        target = migrations.CURRENT if upgrade else version
        changes, notes = {}, []
        for path in predictors:
            current = migrations.predictor_format(path)
            if upgrade and current != version:
                notes.append(f"{os.path.relpath(path, base)}: format {current}, not {version}; left as it is")
                continue
            if current == target:
                notes.append(f"{os.path.relpath(path, base)}: format {target} already")
                continue
            changes[path] = (current, migrations.migrate(path, target))
        for note in notes:
            self.log(note)
        if not changes:
            self.log("nothing to change")
            return
        table = Table(title=f"{'upgrade' if upgrade else 'downgrade'} to format {target}; backup in {backup}")
        for column in ("predictor", "from", "files that change"):
            table.add_column(column)
        for path, (current, files) in changes.items():
            table.add_row(os.path.relpath(path, base), str(current), ", ".join(files))
        self.console.print(table)
        for path, (_, files) in changes.items():      # every backup before any change
            for name in files:
                copy = os.path.join(backup, os.path.relpath(path, base), name)
                os.makedirs(os.path.dirname(copy), exist_ok=True)
                shutil.copy2(os.path.join(path, name), copy)
        write_json(os.path.join(backup, "changes.json"), {
            "target_format": target, "changes": {os.path.relpath(p, base): {"from": c, "files": sorted(f)}
                                                 for p, (c, f) in changes.items()}})
        for path, (_, files) in changes.items():
            for name, text in files.items():
                temporary = os.path.join(path, f".{name}.migrating")
                with open(temporary, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(temporary, os.path.join(path, name))
        self.log(f"{len(changes)} predictor(s) now in format {target}")
