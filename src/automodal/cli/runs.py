"""One invocation of a mode: its resolved configuration, its plan of steps and a log of the steps it finished, so
that `continue=latest` (or a run id) resumes an interrupted run without redoing what is done."""

from __future__ import annotations

import json
import os
import secrets
import time

from .workspace import WorkspaceError, write_json


class Run:
    def __init__(self, directory: str, console):
        self.directory, self.console = directory, console
        self.id = os.path.basename(directory)

    @staticmethod
    def new_id(mode: str) -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}-{secrets.token_hex(2)}"

    @classmethod
    def start(cls, runs_dir: str, run_id: str, config_yaml: str, console) -> "Run":
        directory = os.path.join(runs_dir, run_id)
        os.makedirs(directory)
        with open(os.path.join(directory, "config.yaml"), "w", encoding="utf-8") as handle:
            handle.write(config_yaml)
        return cls(directory, console)

    @classmethod
    def find(cls, runs_dir: str, mode: str, which: str) -> str:
        """The directory of run `which` (an id, or latest: the newest run of this mode)."""
        if which != "latest":
            directory = os.path.join(runs_dir, str(which))
            if not os.path.isdir(directory):
                raise WorkspaceError(f"continue={which}: no such run in {runs_dir}.")
            return directory
        runs = sorted(n for n in os.listdir(runs_dir) if f"-{mode}-" in n) if os.path.isdir(runs_dir) else []
        if not runs:
            raise WorkspaceError(f"continue=latest: this project has no earlier {mode} run to resume.")
        return os.path.join(runs_dir, runs[-1])

    def config_yaml(self) -> str:
        with open(os.path.join(self.directory, "config.yaml"), encoding="utf-8") as handle:
            return handle.read()

    def write_plan(self, steps: list):
        write_json(os.path.join(self.directory, "plan.json"), {"steps": steps})

    @property
    def finished(self) -> set:
        path = os.path.join(self.directory, "done.jsonl")
        if not os.path.exists(path):
            return set()
        done = set()
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    done.add(json.loads(line)["step"])
                except (ValueError, KeyError):    # a line cut short by a kill: that step did not finish
                    pass
        return done

    def mark_done(self, step: str, seconds: float):
        with open(os.path.join(self.directory, "done.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, "seconds": round(seconds, 3), "at": time.time()}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def log(self, message: str):
        with open(os.path.join(self.directory, "run.log"), "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self.console.print(message, markup=False, highlight=False)
