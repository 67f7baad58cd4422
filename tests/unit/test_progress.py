"""Progress bars appear only where someone watches: on a terminal, at verbosity 2 or more, after their delay."""

import io

import pytest
from rich.console import Console

from automodal import progress
from automodal.progress import Bar


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(progress, "watched", lambda console=None: True)


def test_a_bar_shows_on_a_terminal_and_counts(terminal):
    screen = Console(file=io.StringIO(), force_terminal=True, width=100)
    with Bar("rows", 10, verbosity=2, console=screen) as bar:
        bar.advance(4)
        assert bar.shown and bar.done == 4
    assert not bar.shown


def test_verbosity_0_is_silent_even_on_a_terminal(terminal):
    screen = io.StringIO()
    bar = Bar("rows", 10, verbosity=0, console=Console(file=screen, force_terminal=True))
    bar.advance(10)
    bar.close()
    assert not bar.shown and bar.done == 10 and screen.getvalue() == ""


def test_a_short_step_stays_quiet_until_its_delay(terminal):
    bar = Bar("epoch 0", 100, verbosity=2, after=60.0, console=Console(file=io.StringIO(), force_terminal=True))
    bar.advance(99)
    assert not bar.shown


def test_no_bar_when_output_is_not_a_terminal():
    bar = Bar("rows", 10, verbosity=4, console=Console(file=io.StringIO()))
    bar.advance(3)
    assert not bar.shown
