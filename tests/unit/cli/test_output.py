"""What the command prints: log lines as written, and --help that keeps every option name whole on one line when
it is not printed to a terminal."""

from automodal.cli.main import main
from automodal.cli.options import MODES, compose, options
from automodal.cli.schedulers.base import Scheduler


def test_log_lines_are_printed_as_written(capsys):
    scheduler = Scheduler(compose("clean", ["proj=p", "task_list=[a]"]))
    scheduler.log("step train:a:fold0 [b] :x:")        # a task named a is not an emoji, brackets are not markup
    assert capsys.readouterr().out == "step train:a:fold0 [b] :x:\n"


def test_help_not_on_a_terminal_keeps_every_option_name_whole_on_its_line(capsys):
    assert main(["--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(any(line.split()[:1] == [mode] for line in lines) for mode in MODES)
    for mode in MODES:
        assert main([mode, "--help"]) == 0
        lines = capsys.readouterr().out.splitlines()
        for option in options(mode):
            [line] = [line for line in lines if line.startswith(f"{option.key}=")]
            assert option.description in line                      # unwrapped: the whole description too
