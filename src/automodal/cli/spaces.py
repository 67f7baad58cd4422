"""Search spaces written as text, as the command line and hp_file give them:

    hp.optimization.learning_rate='loguniform(1e-5,1e-2)'    hp.optimization.max_epochs='randint(2,6)'
    hp.optimization.optim_type='choice(adamw,sgd)'             hp.model.names='choice([numerical_mlp],[ft_transformer])'

Each becomes an automodal.hpo space (uniform, quniform, loguniform, qloguniform, randint, qrandint, lograndint,
choice); the arguments are read as a YAML list, so numbers, words, quoted text and lists all work."""

from __future__ import annotations

import difflib
import re

import yaml

from ..config.loader import canonical_key, flatten_user
from ..errors import ConfigError
from ..hpo import space as spaces
from ..hpo.space import KINDS, Space

CALL = re.compile(r"^\s*(?P<kind>[A-Za-z_]\w*)\s*\((?P<args>.*)\)\s*$", re.S)
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class SpaceError(ConfigError):
    """Text written as a search space that is not one."""


def is_space_text(value) -> bool:
    """Whether a value is written as a search space: NAME(...)."""
    return isinstance(value, str) and CALL.match(value) is not None


def _plain(value):
    """YAML 1.1 reads 1e-5 as text: numbers written so become numbers."""
    if isinstance(value, str) and NUMBER.match(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", value.strip()) else number
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def parse_space(text: str) -> Space:
    """The space that `text` (such as 'loguniform(1e-5, 1e-2)') writes; SpaceError says what is wrong."""
    match = CALL.match(text)
    if match is None:
        raise SpaceError(f"'{text}' is not a search space; write one as loguniform(1e-5,1e-2), uniform(0,0.3), "
                         "randint(2,8) or choice(a,b).")
    kind = match["kind"]
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SpaceError(f"'{kind}' is not a search space{hint}; use one of {', '.join(KINDS)}.")
    try:
        args = _plain(yaml.safe_load(f"[{match['args']}]"))
    except yaml.YAMLError:
        raise SpaceError(f"the arguments of {text} cannot be read; write them as {kind}("
                         f"{', '.join(KINDS[kind])}).") from None
    if kind == "choice":
        if not args:
            raise SpaceError("choice() needs at least one value: choice(a,b).")
        return spaces.choice(args)
    names = KINDS[kind]
    if len(args) != len(names) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise SpaceError(f"{kind} takes {len(names)} numbers, {kind}({', '.join(names)}).")
    if kind in ("randint", "qrandint", "lograndint") and not all(float(a).is_integer() for a in args):
        raise SpaceError(f"{kind} takes integers, {kind}({', '.join(names)}).")
    return getattr(spaces, kind)(*args)


def largest(space: Space):
    """The largest value a numeric space gives (Ray Tune's integer upper bounds are excluded unless q > 1)."""
    if space.kind in ("randint", "lograndint") or (space.kind == "qrandint" and space.args[2] == 1):
        return space.args[1] - 1
    return space.args[1]


def probe_values(space: Space) -> list:
    """Values every sample lies between or among: each must be valid for the searched key."""
    return list(space.args[0]) if space.kind == "choice" else [space.args[0], largest(space)]


def split_spaces(hyperparameters: dict) -> tuple[dict, dict]:
    """(the fixed keys {dotted: value}, the searched ones {canonical dotted key: text}) of nested predictor keys."""
    fixed, searched = {}, {}
    for key, value in flatten_user(hyperparameters).items():
        if is_space_text(value):
            searched[canonical_key(key)] = value.strip()
        else:
            fixed[key] = value
    return fixed, searched


def nest(flat: dict) -> dict:
    """{'optimization.learning_rate': x} -> {'optimization': {'learning_rate': x}}."""
    tree: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree
