"""The types of the command's options, declared in its YAML files at the start of each option's comment:

    cv: true                    # {bool} one model per fold ...

A type is one alternative or several joined by |:

    bool                        true or false; also yes / no / on / off, in any case (the words OmegaConf reads as
                                booleans), and nothing else
    int, number                 optionally bounded: int > 1, int >= 0, number > 0, number in [0, 1], number in (0, 1)
    str                         a name, a path or a word (an integer is taken as its digits: proj=2024)
    null                        no value
    list[TYPE]                  a list whose items each have TYPE: list[train | predict | test], list[number]
    any other word              that word itself: val, random, false

A value is checked against its option's type before any work, and comes back in its plain form (yes -> true)."""

from __future__ import annotations

import math
import re

TRUE, FALSE = ("true", "yes", "on"), ("false", "no", "off")
_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
_BOUND = re.compile(rf"^(int|number)\s*(>=|>|<=|<)\s*({_NUMBER})$")
_SPAN = re.compile(rf"^(int|number) in ([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])$")
_LIST = re.compile(r"^list\[(.+)\]$")


class Invalid(ValueError):
    """A value outside its option's type."""


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise Invalid


def _int(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Invalid


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return value
    raise Invalid


def _str(value):
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Invalid


def _null(value):
    if value is None:
        return None
    raise Invalid


BASIC = {"bool": _bool, "int": _int, "number": _number, "str": _str, "null": _null}
COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


def _bounded(kind: str, test):
    def check(value):
        value = BASIC[kind](value)
        if not test(value):
            raise Invalid
        return value
    return check


def _literal(word: str):
    if word in TRUE + FALSE:
        def check(value):
            if _bool(value) != (word in TRUE):
                raise Invalid
            return word in TRUE
        return check

    def same(value):
        if value != word:
            raise Invalid
        return word
    return same


def _list(inner: "OptionType"):
    def check(value):
        if not isinstance(value, (list, tuple)):
            raise Invalid
        return [inner(item) for item in value]
    return check


def split(text: str) -> list:
    """The alternatives of a type: its parts between the | that stand outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "[(") - (char in "])")
        if char == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [part.strip() for part in parts + [text[start:]]]


def _alternative(text: str):
    if text in BASIC:
        return BASIC[text]
    bound = _BOUND.match(text)
    if bound:
        kind, operator, limit = bound.groups()
        return _bounded(kind, lambda v: COMPARE[operator](v, float(limit)))
    span = _SPAN.match(text)
    if span:
        kind, left, low, high, right = span.groups()
        return _bounded(kind, lambda v: COMPARE[">=" if left == "[" else ">"](v, float(low))
                        and COMPARE["<=" if right == "]" else "<"](v, float(high)))
    listed = _LIST.match(text)
    if listed:
        return _list(OptionType(listed.group(1)))
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", text):
        raise ValueError(f"'{text}' is not an option type (see automodal.cli.option_types)")
    return _literal(text)


class OptionType:
    def __init__(self, text: str):
        self.text = text.strip()
        self._checks = [_alternative(part) for part in split(self.text)]

    def __call__(self, value):
        """The value in its plain form; Invalid when no alternative takes it."""
        for check in self._checks:
            try:
                return check(value)
            except Invalid:
                pass
        raise Invalid

    def allowed(self) -> str:
        """The type as a user reads it: seed takes an integer >= 0, task_list takes [text, ...]."""
        return " | ".join(_readable(part) for part in split(self.text))

    def takes_text(self) -> bool:
        return any(part == "str" for part in split(self.text))


def _readable(part: str) -> str:
    listed = _LIST.match(part)
    if listed:
        return f"[{OptionType(listed.group(1)).allowed()}, ...]"
    words = {"bool": "true | false", "str": "text", "int": "an integer", "number": "a number"}
    head, _, rest = part.partition(" ")
    return (words.get(head, head) + (" " + rest if rest else "")) if head in words else part
