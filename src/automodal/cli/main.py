"""Entry point of the `automodal` command."""

from __future__ import annotations

import importlib
import logging
import sys
from contextlib import contextmanager

from ..errors import AutomodalError, ConfigError
from .option_types import TRUE
from .options import MODES, allowed, compose, mode_summary, options

USAGE = "usage: automodal MODE [key=value ...]   (automodal MODE --help lists a mode's options)"


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=True)


def print_modes():
    from rich.table import Table

    console = _console()
    console.print(USAGE, markup=False)
    if not console.is_terminal:         # piped: one whole line per mode, for grep and the like
        width = max(len(mode) for mode in MODES)
        for mode in MODES:
            console.print(f"{mode:<{width}}  {mode_summary(mode)}", markup=False)
        return
    table = Table(title="modes", show_header=False, box=None)
    for mode in MODES:
        table.add_row(mode, mode_summary(mode))
    console.print(table)


def print_options(mode: str):
    """A table on a terminal; elsewhere (a pipe, a file) one unwrapped line per option, KEY=DEFAULT first, so that
    no option name is ever broken across lines."""
    from rich.markup import escape
    from rich.table import Table

    console, title = _console(), f"automodal {mode}: {mode_summary(mode)}"
    rows = [(o.key, o.default, allowed(o), o.description) for o in options(mode)]
    if not console.is_terminal:
        console.print(title, markup=False)
        for key, default, values, description in rows:
            console.print(f"{key}={default}  ({values})  {description}", markup=False)
        return
    table = Table(title=title)
    table.add_column("option", no_wrap=True, min_width=max(len(key) for key, _, _, _ in rows))
    table.add_column("default", overflow="fold")
    table.add_column("values")
    table.add_column("description")
    for key, default, values, description in rows:
        table.add_row(*(escape(cell) for cell in (key, default, values, description)))
    console.print(table)


@contextmanager
def console_logging():
    """Every log record printed once on stderr while a command runs. The automodal logger gets its own handler and
    stops passing records to the root, whose handler prints the libraries beneath; otherwise the handler that a
    predictor adds for notebook users and the root's would both print each of automodal's messages."""
    root, own = logging.getLogger(), logging.getLogger("automodal")
    saved = (root.level, list(own.handlers), own.propagate)
    libraries, messages = logging.StreamHandler(sys.stderr), logging.StreamHandler(sys.stderr)
    libraries.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    messages.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(libraries)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    own.handlers, own.propagate = [messages], False
    try:
        yield
    finally:
        root.removeHandler(libraries)
        root.setLevel(saved[0])
        own.handlers, own.propagate = saved[1], saved[2]


def scheduler_class(target: str):
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def main(argv: list | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print_modes()
        return 0
    mode, rest = argv[0], argv[1:]
    show_traceback = "--traceback" in rest or any(item.partition("=")[0].strip() == "traceback"
                                                  and item.partition("=")[2].strip().lower() in TRUE for item in rest)
    rest = [item for item in rest if item != "--traceback"]
    err = _console(stderr=True)
    if mode not in MODES:
        err.print(f"automodal: error: unknown mode '{mode}'; modes are {', '.join(MODES)}.\n{USAGE}", markup=False)
        return 2
    if "-h" in rest or "--help" in rest:
        print_options(mode)
        return 0
    if mode == "serve" and rest and "=" not in rest[0]:      # automodal serve PATH [key=value ...]
        rest = [f"mode.path={rest[0]}", *rest[1:]]
    try:
        config = compose(mode, rest)
        scheduler = scheduler_class(config.mode.scheduler._target_)(config)
        with console_logging():
            scheduler.run()
        return 0
    except KeyboardInterrupt:
        err.print(f"automodal {mode}: interrupted; resume with continue=latest")
        return 130
    except Exception as error:  # one line per error; the traceback only when asked for
        if show_traceback:
            raise
        code = 2 if isinstance(error, ConfigError) else 1     # an option (OptionError) or a predictor key
        kind = "" if isinstance(error, AutomodalError) else f"{type(error).__name__}: "
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        err.print(f"automodal {mode}: error: {kind}{message}", markup=False)
        return code


if __name__ == "__main__":
    sys.exit(main())
