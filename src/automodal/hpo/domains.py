"""What a search needs to know of a Ray Tune space before any trial: the values to validate up front, whether it
holds a value, and its middle (the first trial's value when the configuration's own lies outside)."""

from __future__ import annotations

from ray.tune.search import sample

from .space import middle


def _sampler(domain):
    sampler = domain.get_sampler()
    quantum = None
    if isinstance(sampler, sample.Quantized):
        quantum, sampler = sampler.q, sampler.sampler
    return sampler, quantum


def is_log(domain) -> bool:
    return isinstance(_sampler(domain)[0], sample.LogUniform)


def probe_values(domain) -> list:
    """Values every sample lies between (or among): each is checked against the key's type and allowed set."""
    if isinstance(domain, sample.Categorical):
        return list(domain.categories)
    if isinstance(domain, sample.Integer):
        return [domain.lower, domain.upper - 1]
    if isinstance(domain, sample.Float):
        return [domain.lower, domain.upper]
    raise TypeError(f"{type(domain).__name__} spaces (tune.sample_from, ...) cannot be checked or given a default; "
                    "use uniform, loguniform, quniform, randint, lograndint, qrandint or choice.")


def contains(domain, value) -> bool:
    if isinstance(domain, sample.Categorical):
        return any(value == c and type(value) is type(c) for c in domain.categories)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    upper_ok = value < domain.upper if isinstance(domain, sample.Integer) else value <= domain.upper
    _, quantum = _sampler(domain)
    on_grid = quantum is None or abs(round(value / quantum) * quantum - value) < 1e-9 * max(1.0, abs(value))
    return domain.lower <= value and upper_ok and on_grid


def centre(domain):
    """The first category, or the middle of a numeric range on its own scale, on its grid."""
    if isinstance(domain, sample.Categorical):
        return domain.categories[0]
    upper = domain.upper - 1 if isinstance(domain, sample.Integer) else domain.upper
    value = middle("log" if is_log(domain) else "uniform", domain.lower, upper)
    _, quantum = _sampler(domain)
    if quantum is not None:
        value = min(max(round(value / quantum) * quantum, domain.lower), upper)
    return int(round(value)) if isinstance(domain, sample.Integer) else float(value)
