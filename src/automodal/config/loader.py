"""Load the group defaults, apply a preset and the user's dotted overrides, validate every value."""

from __future__ import annotations

import difflib
import functools
import math
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml

from ..errors import ConfigError
from .schema import CHOICES, RANGES, SPECIAL_TYPES

GROUPS = ("optimization", "env", "model", "data", "distiller")
PRESETS = ("medium_quality", "high_quality", "best_quality")

# Later AutoGluon releases renamed some keys; users bring configurations that use either name.
KEY_ALIASES = {
    "optim.lr": "optimization.learning_rate",
    "optim.peft": "optimization.efficient_finetune",
    "env.inference_batch_size_ratio": "env.eval_batch_size_ratio",
    "env.num_workers_inference": "env.num_workers_evaluation",
}
PREFIX_ALIASES = {"optim.": "optimization."}


def _read_yaml(name: str) -> Any:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def flatten(tree: Mapping, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def unflatten(flat: Mapping) -> dict:
    tree: dict = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


@functools.lru_cache(maxsize=1)
def _defaults() -> tuple:
    flat = {}
    for group in GROUPS:
        flat.update(flatten(_read_yaml(f"{group}.yaml"), group + "."))
    return tuple(flat.items())


def default_flat() -> dict:
    """Every key with its documented default, as {dotted key: value}."""
    return {key: _copy(value) for key, value in _defaults()}


@functools.lru_cache(maxsize=1)
def _presets() -> dict:
    return _read_yaml("presets.yaml")


def _copy(value):
    return list(value) if isinstance(value, list) else value


class Config:
    """The resolved configuration: a flat mapping of dotted keys, plus which keys the user set (explicit) and which
    a preset set; the others hold documented defaults, which fit may replace with values chosen for the data."""

    def __init__(self, values: Mapping[str, Any], explicit: Iterable[str] = (), preset: Iterable[str] = ()):
        self._values = dict(values)
        self.explicit = set(explicit)
        self.preset = set(preset)

    def chosen(self, key: str) -> bool:
        """Whether the user or a preset chose this key's value (then fit keeps it as it is)."""
        return key in self.explicit or key in self.preset

    def __getitem__(self, key: str):
        try:
            return self._values[key]
        except KeyError:
            raise ConfigError(_unknown_key_message(key)) from None

    def __contains__(self, key):
        return key in self._values

    def get(self, key, default=None):
        return self._values.get(key, default)

    def group(self, prefix: str) -> dict:
        """Keys under `prefix.` with the prefix removed, e.g. group("model.ft_transformer")."""
        start = prefix + "."
        return {k[len(start):]: v for k, v in self._values.items() if k.startswith(start)}

    def items(self):
        return self._values.items()

    def updated(self, overrides: Mapping[str, Any]) -> "Config":
        """A copy with validated overrides applied (used for choices made during fit)."""
        values = dict(self._values)
        for key, value in overrides.items():
            values[key] = validate_value(key, value)
        return Config(values, self.explicit | set(overrides), self.preset)

    def with_defaults(self, defaults: Mapping[str, Any]) -> "Config":
        """A copy where keys nobody chose take these values; they stay unchosen, so a later fit chooses again."""
        values = dict(self._values)
        values.update({k: validate_value(k, v) for k, v in defaults.items() if not self.chosen(k)})
        return Config(values, self.explicit, self.preset)

    def to_nested(self) -> dict:
        return unflatten({k: _plain(v) for k, v in self._values.items()})

    @classmethod
    def from_nested(cls, tree: Mapping) -> "Config":
        """A saved predictor's configuration: every key counts as chosen, those added since it was saved included
        (their documented defaults are what the saved network was built with), so that a fit continuing from it
        chooses nothing for the data that its weights would not fit."""
        flat = flatten(tree)
        defaults = default_flat()
        defaults.update({canonical_key(k): validate_value(canonical_key(k), v) for k, v in flat.items()})
        return cls(defaults, explicit=defaults.keys())


def _plain(value):
    """Values that YAML can hold; transform objects are recorded by their repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def _unknown_key_message(key: str) -> str:
    known = list(dict(_defaults()))
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in known if k.rsplit(".", 1)[-1] == leaf][:1]
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (f"Unknown configuration key '{key}'.{hint} Keys are dotted names under "
            f"{', '.join(GROUPS)}; see automodal/config/*.yaml for every key.")


def canonical_key(key: str) -> str:
    """Map an alias to its key and check the key exists."""
    if not isinstance(key, str):
        raise ConfigError(f"Configuration keys must be dotted strings such as 'optimization.learning_rate', got {key!r}.")
    key = key.strip()
    key = KEY_ALIASES.get(key, key)
    for old, new in PREFIX_ALIASES.items():
        if key.startswith(old):
            key = KEY_ALIASES.get(key, new + key[len(old):])
    if key not in dict(_defaults()):
        raise ConfigError(_unknown_key_message(key))
    return key


def parse_hyperparameters(hyperparameters) -> dict:
    """Accept a dict of dotted (or nested) keys, a list of "key=value" strings, or one such string."""
    if hyperparameters is None:
        return {}
    if isinstance(hyperparameters, str):
        hyperparameters = [hyperparameters]
    if isinstance(hyperparameters, Mapping):
        pairs = flatten_user(hyperparameters)
    elif isinstance(hyperparameters, (list, tuple)):
        pairs = {}
        for item in hyperparameters:
            if not isinstance(item, str) or "=" not in item:
                raise ConfigError(f"hyperparameters list items must be 'key=value' strings, got {item!r}.")
            key, raw = item.split("=", 1)
            value = yaml.safe_load(raw) if raw.strip() else ""
            if (isinstance(value, bool) and raw.strip().lower() not in ("true", "false")
                    and SPECIAL_TYPES.get(canonical_key(key)) == "any"):
                value = raw.strip()  # YAML 1.1 reads no / yes / on / off as booleans; "data.pos_label=no" is a class
            pairs[key.strip()] = value
    else:
        raise ConfigError("hyperparameters must be a dict of dotted keys, a list of 'key=value' strings, or one "
                          f"such string; got {type(hyperparameters).__name__}.")
    return {canonical_key(k): v for k, v in pairs.items()}


def flatten_user(tree: Mapping, prefix: str = "") -> dict:
    """Flatten nested dicts, but keep dict values of known leaf keys intact (none today)."""
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in dict(_defaults()):
            flat.update(flatten_user(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def resolve_config(presets: str | None = None, hyperparameters=None, base: Config | None = None,
                   preset_section: str | None = None) -> Config:
    """Defaults (or `base`), then the preset, then the user's overrides, each validated. `preset_section` names a
    problem family's own presets in presets.yaml (an image task's problem_type); None: the table presets."""
    values = dict(base.items()) if base is not None else default_flat()
    explicit = set(base.explicit) if base is not None else set()
    preset = set(base.preset) if base is not None else set()
    if presets is not None:
        name = str(presets).lower()
        if name not in PRESETS:
            close = difflib.get_close_matches(name, PRESETS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"Unknown presets '{presets}'.{hint} Use one of {', '.join(PRESETS)}.")
        chosen = _presets()[preset_section] if preset_section else _presets()
        for key, value in (chosen[name] or {}).items():
            key = canonical_key(key)
            if key not in explicit:  # keys the user set on `base` win over a preset chosen later
                values[key] = _copy(value)
                preset.add(key)
    for key, value in parse_hyperparameters(hyperparameters).items():
        values[key] = validate_value(key, value)
        explicit.add(key)
    return Config(values, explicit, preset)


# ---------------------------------------------------------------- validation

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and not (isinstance(value, float) and math.isnan(value))


def _coerce_number(key, value, integer: bool):
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            pass
    if integer:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}.")
    elif not _is_number(value):
        raise ConfigError(f"'{key}' must be a number, got {value!r}.")
    return value


def _coerce_bool(key, value):
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise ConfigError(f"'{key}' must be true or false, got {value!r}.")
    return value


def _check_range(key, value):
    if key not in RANGES or not _is_number(value):
        return
    low, high, low_inc, high_inc = RANGES[key]
    too_low = low is not None and (value < low or (value == low and not low_inc))
    too_high = high is not None and (value > high or (value == high and not high_inc))
    if too_low or too_high:
        left = "[" if low_inc else "("
        right = "]" if high_inc else ")"
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ConfigError(f"'{key}' must lie in {span}, got {value!r}.")


def _check_choice(key, value):
    allowed = CHOICES[key]
    if isinstance(value, str) and value.lower() in ("none", "null") and None in allowed:
        value = None
    if isinstance(value, str) and _is_int(_maybe_int(value)) and _maybe_int(value) in allowed:
        value = str(value)
    if isinstance(value, float) and value.is_integer() and int(value) in allowed:
        value = int(value)  # 16.0 means 16 (and "16.0" would not be a known precision later)
    if value not in allowed:
        shown = ", ".join("null" if a is None else repr(a) if a == "" else str(a) for a in allowed)
        raise ConfigError(f"'{key}' must be one of: {shown}; got {value!r}.")
    return value


def _number_from_string(text: str):
    """"3" -> 3 (batches), "0.5" or "1e-1" -> float (fraction of an epoch); anything else is returned as is."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _maybe_int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def validate_value(key: str, value):
    """Return the value, coerced to the key's type, or raise ConfigError naming the key and what is allowed."""
    default = dict(_defaults())[key]
    kind = SPECIAL_TYPES.get(key)
    if kind == "any":
        return value
    if kind == "choice" or (kind is None and key in CHOICES):
        return _check_choice(key, value)
    if kind == "val_check_interval":
        if isinstance(value, str):
            value = _number_from_string(value)
        if _is_int(value) and value >= 1:
            return value
        if isinstance(value, float) and 0 < value <= 1:
            return value
        raise ConfigError(f"'{key}' must be a float in (0, 1] (fraction of an epoch) or an int >= 1 "
                          f"(training batches); got {value!r}.")
    if kind == "grad_norm":
        if isinstance(value, str) and value.lower() == "inf":
            return "inf"
        value = _coerce_number(key, value, integer=False)
        if value == -1 or value > 0:
            return value
        raise ConfigError(f"'{key}' must be -1 (off), a positive p, or 'inf'; got {value!r}.")
    if kind == "steps":
        value = _coerce_number(key, value, integer=True)
        if value == -1 or value >= 1:
            return value
        raise ConfigError(f"'{key}' must be -1 (off) or a positive number of steps; got {value!r}.")
    if kind == "optional_str":
        if value is None or isinstance(value, str):
            return value or None
        raise ConfigError(f"'{key}' must be a string path or null; got {value!r}.")
    if kind == "optional_int":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none")):
            return None
        value = _coerce_number(key, value, integer=True)
        _check_range(key, value)
        return value
    if kind == "transforms":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) or callable(v) for v in value):
            raise ConfigError(f"'{key}' must be a list of transform names or torchvision transform objects; "
                              f"got {value!r}.")
        return list(value)
    if kind == "number" or isinstance(default, float):
        value = _coerce_number(key, value, integer=False)
    elif kind == "int" or _is_int(default):
        value = _coerce_number(key, value, integer=True)
    elif isinstance(default, bool):
        value = _coerce_bool(key, value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}.")
    elif isinstance(default, list):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"'{key}' must be a list of strings, got {value!r}.")
        value = list(value)
    _check_range(key, value)
    return value
