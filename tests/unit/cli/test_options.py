"""Every option of every mode has a declared type, and a wrong value of any of them is refused before any work with
one line that names the option and exit code 2; the spellings OmegaConf reads as booleans are taken as booleans."""

import importlib

import pytest

from automodal.cli.main import main
from automodal.cli.options import MODES, OPEN_SECTIONS, compose, options
from automodal.config.loader import PRESETS

# what each declared type must refuse; a new type needs its wrong values here
WRONG = {
    "bool": ["maybe", "1", "[true]"],
    "str": ["[a,b]", "{x: 1}", "true"],
    "null | str": ["[a]", "2.5", "no"],
    "list[str]": ["name", "[[a]]", "[true]"],
    "int >= 0": ["abc", "-1", "2.5"],
    "int >= 1": ["abc", "0", "true"],
    "int > 1": ["abc", "1", "2.5"],
    "null | int > 1": ["1", "abc", "[2]"],
    "null | number > 0": ["0", "-3", "abc"],
    "number >= 0": ["-0.5", "abc"],
    "number in (0, 1)": ["0", "1", "abc"],
    "number in [0, 1]": ["1.5", "-0.1", "abc"],
    "int in [0, 65535]": ["65536", "-1", "http"],
    "null | medium_quality | high_quality | best_quality": ["fast", "true", "[best_quality]"],
    "performance | created | random": ["best", "[random]"],
    "val | test | quantify | list[number >= 0]": ["train", "[a,b]", "[-1,2]"],
    "false | int > 1": ["true", "1", "abc"],
    "random | list[str]": ["some_task", "[[a]]"],
    "null | list[number >= 0]": ["1", "[a]", "[-1,1]"],
    "null | str | list[str]": ["[[a]]", "true"],
    "number >= 1 | list[int >= 0]": ["0", "x", "[1.5]"],
    "list[model | data | optimization | env | distiller]": ["model", "[bogus]", "[[model]]"],
    "null | list[tensorboard | mlflow | csv]": ["mlflow", "[tensorbord]", "true"],
    "local | ray": ["dask", "true", "[ray]"],
    "null | int >= 1": ["0", "abc", "[2]"],
    "random | bayes": ["grid", "[random]", "true"],
    "FIFO | ASHA": ["fifo", "hyperband", "[ASHA]"],
    "predictor keys": ["hp.optimization.max_epochs=abc", "hp.bogus=1", "hp.optimization.learning_rate=[1]",
                       "hp.optimization.learning_rate=logunifrom(1e-5,1e-2)", "hp.optimization.max_epochs=randint(0,3)",
                       "hp.optimization.optim_type=choice(adamw,bogus)"],
    "data sets": ["data.x.path=[1,2]", "data.x.bogus=a", "data.x=5"],
    "reuse sources": ["reuse.blueprint=[1]", "reuse.other=a"],
}
REQUIRED = {"tl": ["mode.pretrain_task=a"], "serve": ["mode.path=p"], "upgrade": ["mode.version=1"],
            "downgrade": ["mode.version=1"]}


def subroutines(mode: str) -> list:
    return [option for option in options(mode) if option.key == "mode.subroutines"]


def wrong_values(option) -> list:
    """(override, the option it names) for each wrong value of an option."""
    if option.type.startswith("list[") and option.key == "mode.subroutines":
        return [(f"{option.key}={value}", option.key) for value in ("train_all", "[bogus]", "[[train]]")]
    assert option.type in WRONG, f"{option.key}: add its type {option.type} to WRONG"
    values = WRONG[option.type]
    if option.key in OPEN_SECTIONS:
        return [(value, value.split("=")[0]) for value in values]
    return [(f"{option.key}={value}", option.key) for value in values]


@pytest.mark.parametrize("mode", MODES)
def test_every_option_declares_a_type_and_its_default_passes_it(mode, tmp_path):
    assert all(option.type for option in options(mode))
    compose(mode, [*REQUIRED.get(mode, []), f"root={tmp_path}"])


def test_a_wrong_value_of_every_option_is_one_line_naming_it_with_exit_code_2(tmp_path, capsys):
    cases = [(mode, *case) for mode in MODES for option in options(mode) for case in wrong_values(option)]
    assert len(cases) > 250
    for mode, override, key in cases:
        assert main([mode, *REQUIRED.get(mode, []), f"root={tmp_path}", override]) == 2, (mode, override)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"automodal {mode}: error: "), (mode, override, captured.err)
        assert key in lines[0], (mode, override, lines[0])
        assert captured.out == ""
    assert list(tmp_path.iterdir()) == []                     # refused before any work: no project made


def test_the_words_omegaconf_reads_as_booleans_are_booleans_and_come_back_plain():
    for spelling, value in (("true", True), ("False", False), ("YES", True), ("no", False), ("On", True),
                            ("off", False)):
        config = compose("clean", [f"mode.force={spelling}", f"mode.all='{spelling}'"])
        assert config.mode.force is value and config.mode.all is value
    assert compose("train", ["mode.multitask=no"]).mode.multitask is False
    assert compose("create", ["proj=2024", "task_list=[7,b]"]).proj == "2024"
    assert list(compose("create", ["task_list=[7,b]"]).task_list) == ["7", "b"]


def test_a_name_that_reads_as_a_boolean_is_told_to_quote_it(capsys):
    assert main(["create", "proj=yes"]) == 2
    assert "proj='yes'" in capsys.readouterr().err
    assert compose("create", ["proj='yes'"]).proj == "yes"


def test_a_bad_predictor_key_in_hp_file_names_the_file_and_the_key(tmp_path, capsys):
    hp_file = tmp_path / "hp.yaml"
    hp_file.write_text("optimization:\n  max_epochs: many\n")
    assert main(["train", f"hp_file={hp_file}", f"root={tmp_path}"]) == 2
    message = capsys.readouterr().err
    assert "hp_file=" in message and "optimization.max_epochs" in message and len(message.splitlines()) == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_declared_subroutines_are_the_scheduler_s(mode):
    [option] = subroutines(mode)
    declared = set(option.type[len("list["):-1].replace(" ", "").split("|"))
    target = compose(mode, REQUIRED.get(mode, [])).mode.scheduler._target_
    module, _, name = target.rpartition(".")
    assert declared == set(getattr(importlib.import_module(module), name).subroutines)


def test_the_declared_presets_are_the_predictor_s():
    [option] = [o for o in options("train") if o.key == "presets"]
    assert set(option.type.replace(" ", "").split("|")) == {"null", *PRESETS}
