"""What the command prints: log lines as written, and --help that keeps every option name whole on one line when
it is not printed to a terminal."""

from automodal.cli.options import compose
from automodal.cli.schedulers.base import Scheduler


def test_log_lines_are_printed_as_written(capsys):
    scheduler = Scheduler(compose("clean", ["proj=p", "task_list=[a]"]))
    scheduler.log("step train:a:fold0 [b] :x:")        # a task named a is not an emoji, brackets are not markup
    assert capsys.readouterr().out == "step train:a:fold0 [b] :x:\n"
