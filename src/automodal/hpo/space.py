"""Search spaces a script can write without importing ray, and the split of `hyperparameters` into fixed values
and searched ones (automodal's spaces or Ray Tune's own objects)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..config.loader import canonical_key, flatten_user
from ..errors import ConfigError

# Ray Tune's sampling functions, with the arguments each takes; automodal's spaces become these at search time
KINDS = {
    "uniform": ("lower", "upper"),
    "quniform": ("lower", "upper", "q"),
    "loguniform": ("lower", "upper"),
    "qloguniform": ("lower", "upper", "q"),
    "randint": ("lower", "upper"),          # upper excluded, as in Ray Tune
    "qrandint": ("lower", "upper", "q"),    # upper included unless q is 1, as in Ray Tune
    "lograndint": ("lower", "upper"),
    "choice": ("categories",),
}


@dataclass(frozen=True)
class Space:
    """A searched value: `kind` is one of Ray Tune's sampling functions; `default` is tried in the first trial
    (when None, the configuration's own value if the space holds it, else the middle of the space)."""
    kind: str
    args: tuple
    default: object = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown search space '{self.kind}'; use one of {', '.join(KINDS)}.")
        if self.kind == "choice":
            if not list(self.args[0]):
                raise ConfigError("choice() needs at least one value.")
        elif not self.args[0] < self.args[1]:
            raise ConfigError(f"{self.kind}({', '.join(map(repr, self.args))}): lower must be below upper.")
        elif self.kind.startswith(("log", "qlog")) and self.args[0] <= 0:
            raise ConfigError(f"{self.kind} needs a positive lower bound, got {self.args[0]!r}.")

    def to_ray(self):
        from ray import tune

        args = (list(self.args[0]),) if self.kind == "choice" else self.args
        return getattr(tune, self.kind)(*args)

    def __repr__(self):
        return f"{self.kind}({', '.join(map(repr, self.args))})"


def uniform(lower: float, upper: float, default=None) -> Space:
    return Space("uniform", (float(lower), float(upper)), default)


def quniform(lower: float, upper: float, q: float, default=None) -> Space:
    return Space("quniform", (float(lower), float(upper), float(q)), default)


def loguniform(lower: float, upper: float, default=None) -> Space:
    return Space("loguniform", (float(lower), float(upper)), default)


def qloguniform(lower: float, upper: float, q: float, default=None) -> Space:
    return Space("qloguniform", (float(lower), float(upper), float(q)), default)


def randint(lower: int, upper: int, default=None) -> Space:
    """Integers in [lower, upper)."""
    return Space("randint", (int(lower), int(upper)), default)


def qrandint(lower: int, upper: int, q: int = 1, default=None) -> Space:
    """Multiples of q in [lower, upper] (upper excluded when q is 1, as in Ray Tune)."""
    return Space("qrandint", (int(lower), int(upper), int(q)), default)


def lograndint(lower: int, upper: int, default=None) -> Space:
    return Space("lograndint", (int(lower), int(upper)), default)


def choice(categories, default=None) -> Space:
    return Space("choice", (tuple(categories),), default)


# AutoGluon's names, for scripts that come from it
def Real(lower: float, upper: float, default=None, log: bool = False) -> Space:  # noqa: N802
    return (loguniform if log else uniform)(lower, upper, default)


def Int(lower: int, upper: int, default=None) -> Space:  # noqa: N802
    """Integers in [lower, upper], both included, as in AutoGluon."""
    return randint(lower, upper + 1, default)


def Categorical(*categories, default=None) -> Space:  # noqa: N802
    return choice(categories, default)


def is_ray_domain(value) -> bool:
    """A Ray Tune space (tune.uniform(...), ...), recognised without importing ray."""
    return any(cls.__module__.startswith("ray.tune.search") and cls.__name__ == "Domain"
               for cls in type(value).__mro__)


def is_space(value) -> bool:
    return isinstance(value, Space) or is_ray_domain(value)


def split_hyperparameters(hyperparameters) -> tuple[object, dict]:
    """(the fixed part, in the form it came, {key: space}) of fit's `hyperparameters`. Only a dict (dotted or
    nested keys) can hold spaces; the keys are checked and mapped to their canonical names."""
    if not isinstance(hyperparameters, Mapping):
        return hyperparameters, {}
    flat = flatten_user(hyperparameters)
    spaces = {canonical_key(key): value for key, value in flat.items() if is_space(value)}
    if not spaces:
        return hyperparameters, {}
    return {key: value for key, value in flat.items() if not is_space(value)}, spaces


def middle(kind: str, lower, upper):
    """The centre of a numeric space: the geometric mean on a log scale."""
    if kind.startswith(("log", "qlog")):
        value = math.sqrt(lower * upper)
    else:
        value = (lower + upper) / 2
    return value
