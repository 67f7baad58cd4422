"""How a run's plan is carried out: step by step in this process, or (mode.executor=ray) its independent chains of
steps side by side as Ray tasks, on an existing cluster (mode.address, else RAY_ADDRESS) or a local one.

A step with a group belongs to that group's chain (one predictor: its training, prediction and test, in plan
order); steps without a group (nested folds, a task's search, a task's report) wait for every chain before them
and run here. Each Ray
task rebuilds the scheduler from the run's stored configuration and runs its chain's steps in order, marking each
finished in the run's log as a local run does, so continue=latest resumes either way. The seeds and folds are the
run's, so the models are those of a sequential run.

The rule for a cluster: every node reads and writes the project at the same path (a shared file system, such as
NFS, mounted alike), because a step reads the project's data and writes its models and metrics there. A node that
does not see the project fails its first step with a message that says so.
"""

from __future__ import annotations

import os
import time

from omegaconf import OmegaConf
from rich.console import Console

from ..errors import AutomodalError
from ..hpo.cluster import connect
from ..progress import Bar
from .main import scheduler_class
from .runs import Run
from .workspace import Project, WorkspaceError


def run_locally(scheduler, steps: list, done: set, bar: Bar):
    run = scheduler.run_record
    for step in steps:
        if step.id in done:
            continue
        started = time.time()
        run.log(f"step {step.id}")
        step.action()
        run.mark_done(step.id, time.time() - started)
        bar.advance(note=step.id)


def chains(steps: list, done: set) -> list:
    """The plan as ("chain", [step ids]) per group, at its first step, and ("here", step) for the other steps."""
    out, members = [], {}
    for step in steps:
        if step.id in done:
            continue
        if step.group is None:
            out.append(("here", step))
        elif step.group in members:
            members[step.group].append(step.id)
        else:
            members[step.group] = [step.id]
            out.append(("chain", members[step.group]))
    return out


def run_chain(config_yaml: str, run_directory: str, step_ids: list) -> list:
    """In a Ray task: the scheduler rebuilt from the run's configuration runs these steps in order."""
    config = OmegaConf.create(config_yaml)
    scheduler = scheduler_class(config.mode.scheduler._target_)(config)
    scheduler.project = Project(config.root, config.proj)
    if not scheduler.project.exists:
        raise WorkspaceError(f"project {scheduler.project.path} is not on this node ({os.uname().nodename}): "
                             "mode.executor=ray needs the project at the same path on every node.")
    scheduler.run_record = Run(run_directory, Console(highlight=False, emoji=False, soft_wrap=True))
    scheduler.prepare()
    planned = {step.id: step for step in scheduler.plan()}
    scratch = os.path.join(scheduler.project.tmp, scheduler.run_record.id, f"task-{os.getpid()}")
    os.makedirs(scratch, exist_ok=True)
    os.environ["AUTOMODAL_SCRATCH"] = scratch
    import ray                                      # this runs in a Ray task

    node = ray.get_runtime_context().get_node_id()[:8]
    finished = []
    for step_id in step_ids:
        started = time.time()
        scheduler.run_record.log(f"step {step_id} (Ray node {node} on {os.uname().nodename})")
        planned[step_id].action()
        scheduler.run_record.mark_done(step_id, time.time() - started)
        finished.append(step_id)
    return finished


def run_on_ray(scheduler, steps: list, done: set, bar: Bar, config_yaml: str):
    try:
        import ray                                  # the hpo extra
    except ImportError:
        raise AutomodalError("mode.executor=ray needs Ray: pip install 'automodal[hpo]'.") from None
    options = scheduler.options
    remote = ray.remote(num_cpus=options.step_cpus, max_retries=0)(run_chain)
    pending: dict = {}

    def drain():
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ids = pending.pop(ready[0])
            try:
                ray.get(ready[0])
            except ray.exceptions.RayTaskError as error:    # the step's own error, as a local run gives it
                raise error.as_instanceof_cause() from None
            bar.advance(len(ids), note=ids[-1])

    run = scheduler.run_record
    for kind, item in chains(steps, done):
        if kind == "chain":
            if not ray.is_initialized():    # at the first chain, and after a search step ended its local session
                # a local cluster runs mode.slots steps at once, each with mode.step_cpus CPUs
                connect(options.address, 2, (options.slots or os.cpu_count()) * options.step_cpus)
            run.log(f"steps {', '.join(item)} sent to Ray")
            pending[remote.remote(config_yaml, run.directory, item)] = item
        else:
            drain()
            run_locally(scheduler, [item], done, bar)
    drain()
