"""The searched keys before any trial: each space as a Ray Tune domain whose every value is valid for its key, and
the first trial's values."""

from __future__ import annotations

from ray.tune.search import sample

from ..config import Config
from ..config.loader import validate_value
from ..errors import ConfigError
from .space import Space, middle


def _sampler(domain):
    sampler = domain.get_sampler()
    quantum = None
    if isinstance(sampler, sample.Quantized):
        quantum, sampler = sampler.q, sampler.sampler
    return sampler, quantum


def is_log(domain) -> bool:
    return isinstance(_sampler(domain)[0], sample.LogUniform)


def describe(domain) -> str:
    """A Ray Tune space as the function call that makes it."""
    if isinstance(domain, sample.Categorical):
        return f"choice({list(domain.categories)!r})"
    sampler, quantum = _sampler(domain)
    kind = "log" if isinstance(sampler, sample.LogUniform) else ""
    kind += "randint" if isinstance(domain, sample.Integer) else "uniform"
    args = [domain.lower, domain.upper] + ([quantum] if quantum is not None else [])
    return f"{'q' if quantum is not None else ''}{kind}({', '.join(map(repr, args))})"


def is_categorical(domain) -> bool:
    return isinstance(domain, sample.Categorical)


def _largest(domain):
    """The largest value a numeric space gives: Ray Tune's integer upper bound is excluded, except for quantized
    integers with q > 1."""
    if isinstance(domain, sample.Integer) and _sampler(domain)[1] in (None, 1):
        return domain.upper - 1
    return domain.upper


def probe_values(domain) -> list:
    """Values every sample lies between (or among): each is checked against the key's type and allowed set."""
    if isinstance(domain, sample.Categorical):
        return list(domain.categories)
    if isinstance(domain, (sample.Integer, sample.Float)):
        return [domain.lower, _largest(domain)]
    raise TypeError(f"{type(domain).__name__} spaces (tune.sample_from, ...) cannot be checked or given a default; "
                    "use uniform, loguniform, quniform, randint, lograndint, qrandint or choice.")


def contains(domain, value) -> bool:
    if isinstance(domain, sample.Categorical):
        return any(value == c and type(value) is type(c) for c in domain.categories)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    _, quantum = _sampler(domain)
    on_grid = quantum is None or abs(round(value / quantum) * quantum - value) < 1e-9 * max(1.0, abs(value))
    return domain.lower <= value <= _largest(domain) and on_grid


def centre(domain):
    """The first category, or the middle of a numeric range on its own scale, on its grid."""
    if isinstance(domain, sample.Categorical):
        return domain.categories[0]
    upper = _largest(domain)
    value = middle("log" if is_log(domain) else "uniform", domain.lower, upper)
    _, quantum = _sampler(domain)
    if quantum is not None:
        value = min(max(round(value / quantum) * quantum, domain.lower), upper)
    return int(round(value)) if isinstance(domain, sample.Integer) else float(value)


def ray_spaces(spaces: dict) -> dict:
    """{key: Ray Tune domain}, each checked: every value it can give must be valid for its key."""
    domains = {}
    for key, space in spaces.items():
        domain = space.to_ray() if isinstance(space, Space) else space
        try:
            probes = probe_values(domain)
        except TypeError as error:
            raise ConfigError(f"hyperparameters['{key}']: {error}") from None
        for value in probes:
            try:
                validate_value(key, value)
            except ConfigError as error:
                raise ConfigError(f"The search space of '{key}' can give {value!r}, which is not valid: {error}") \
                    from None
        domains[key] = domain
    return domains


def first_point(spaces: dict, domains: dict, config: Config) -> dict:
    """The default configuration, tried first: a space's own default, else the value fit would use (the data-aware
    one when nobody set it) if the space holds it, else the space's middle."""
    point = {}
    for key, domain in domains.items():
        space = spaces[key]
        if isinstance(space, Space) and space.default is not None:
            point[key] = space.default
        elif contains(domain, config[key]):
            point[key] = config[key]
        else:
            point[key] = centre(domain)
    return point
