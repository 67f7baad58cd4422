"""Where trials run: the Ray cluster (an existing one, or a local one kept for the session), the resources each
trial gets, and the trial hosts on one machine."""

from __future__ import annotations

import importlib.util
import logging
import os

from ..errors import AutomodalError
from .settings import TuneSettings

logger = logging.getLogger(__name__)


def require_ray(searcher: str = "random"):
    needed = ["ray", "optuna"] if searcher == "bayes" else ["ray"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise AutomodalError(f"A hyperparameter search runs on Ray Tune{' and Optuna' if searcher == 'bayes' else ''}"
                             f", which is not installed ({', '.join(missing)} missing). Install it with: "
                             "pip install 'automodal[hpo]'")


# whether the Ray session running in this process is the local one connect() started (kept for the session)
_LOCAL_SESSION = {"started": False}


def _connected_to(ray) -> str | None:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:   # a client connection (ray://) has no GCS address of its own
        return None


def release_local():
    """Shut down the local Ray session that connect() started in this process, if any (a command-line run does
    after each search, so that its fits run without Ray's processes beside them); a cluster joined is left alone."""
    if _LOCAL_SESSION["started"]:
        import ray

        ray.shutdown()
        _LOCAL_SESSION["started"] = False


def connect(address: str | None, verbosity: int, num_cpus: int | None = None):
    """Join the cluster at `address` (else RAY_ADDRESS), or start a local one kept for the session (with `num_cpus`,
    else one per CPU). When Ray already
    runs in this process: it is used if no address is asked for or it is the one asked for; the local session
    started here is left for the cluster asked for; another connection is an error naming both."""
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if ray.is_initialized():
        current = _connected_to(ray)
        if address is None or address == "auto" or address.split("://", 1)[-1] == current:
            return
        if not _LOCAL_SESSION["started"]:
            raise AutomodalError(f"Ray in this process is connected to {current or 'a cluster'}, and the cluster "
                                 f"asked for is {address} (a search's hyperparameter_tune_kwargs['address'], or "
                                 "RAY_ADDRESS). Call ray.shutdown() first to use that one, or leave the address out "
                                 "to use the connected cluster.")
        logger.info("Leaving the local Ray session for the cluster at %s.", address)
        ray.shutdown()
        _LOCAL_SESSION["started"] = False
    options = {"include_dashboard": False, "log_to_driver": verbosity >= 4, "logging_level": logging.WARNING}
    if address is None:
        if verbosity < 3:   # a new local cluster turns on token authentication and says so on every start
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(**options, **({} if num_cpus is None else {"num_cpus": num_cpus}))
        _LOCAL_SESSION["started"] = True
        return
    try:
        ray.init(address=address, **options)
    except Exception as error:   # Ray raises ConnectionError, AuthenticationError, RuntimeError ...
        hint = ""
        if "auth" in f"{type(error).__name__} {error}".lower():
            hint = (" The cluster asks for a token: put it in RAY_AUTH_TOKEN or ~/.ray/auth_token "
                    "(`ray get-auth-token` on the head node prints it).")
        raise AutomodalError(f"Could not join the Ray cluster at {address}: {error}.{hint}") from None


def trial_resources(settings: TuneSettings) -> tuple[dict, int]:
    """({"cpu", "gpu"} per trial, trials at once): a GPU each when there are GPUs, else the CPUs shared by the
    concurrent trials."""
    import ray

    cluster = ray.cluster_resources()
    cpus, gpus = int(cluster.get("CPU", 1)), int(cluster.get("GPU", 0))
    if settings.resources_per_trial is not None:
        resources = dict(settings.resources_per_trial)
    elif gpus:
        resources = {"cpu": max(1, cpus // gpus), "gpu": 1}
    else:
        concurrent = min(settings.num_trials, settings.max_concurrent_trials or cpus, cpus)
        resources = {"cpu": max(1, cpus // max(1, concurrent)), "gpu": 0}
    fit = cpus // max(1, resources["cpu"])
    if resources["gpu"]:
        fit = min(fit, int(gpus // resources["gpu"]))
    slots = max(1, min(settings.num_trials, settings.max_concurrent_trials or fit, fit))
    return resources, slots


def trial_pool(resources: dict, slots: int):
    """The trial hosts' pool for CPU trials on one machine (None elsewhere: trials train in Tune's workers)."""
    import ray

    if resources["gpu"] or sum(1 for node in ray.nodes() if node.get("Alive")) != 1:
        return None
    from .hosts import ready_pool       # hosts imports Ray (the hpo extra); this module loads without it

    return ready_pool(slots)
