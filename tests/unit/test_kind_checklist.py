"""DEVELOPERS.md's "adding a model kind" checklist, checked for every kind in ``registry.KINDS``.

Each test is one item of the checklist; ``tests/unit/test_registry.py`` adds the round trip (train, save, load,
predict, capabilities) of every registered kind.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import inspect
import subprocess
from pathlib import Path

import pytest

from cpc_models import files
from cpc_models.kinds.config import KindConfig
from cpc_models.registry import BACKENDS, KINDS, Kind

ROOT = Path(__file__).resolve().parents[2]
KIND_HOMES = ("cpc_models/registry.py", "cpc_models/kinds/")  # the only places that may spell a kind's name


def _extras() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return set(parser["options.extras_require"])


def _tracked_python() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.split()]


def _literals(path: Path):
    """(line, value) of every string constant in the file that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


@pytest.mark.parametrize("name", list(KINDS))
def test_1_one_module_defines_config_train_load(name):
    kind = KINDS[name]
    assert kind.module.startswith("cpc_models.kinds."), kind.module
    code = kind.code()
    config_class = code.Config
    assert dataclasses.is_dataclass(config_class) and issubclass(config_class, KindConfig)
    config = config_class()  # every field has a default
    assert config_class.from_dict(config.to_dict()) == config  # what train_config.json / --config FILE round-trip
    train = list(inspect.signature(code.train).parameters.values())
    assert train[0].name == "config"  # `cpc train` calls train(config): anything else must be optional
    assert all(p.default is not inspect.Parameter.empty for p in train[1:]), train
    assert list(inspect.signature(code.load).parameters)[:2] == ["model_dir", "backend"]
    if kind.auto_choice:
        assert list(inspect.signature(code.auto_backend).parameters) == ["model_dir"]


@pytest.mark.parametrize("name", list(KINDS))
def test_2_one_registry_line_with_backends_and_extras(name):
    kind, extras = KINDS[name], _extras()
    assert isinstance(kind, Kind) and kind.name == name
    assert kind.backends and set(kind.backends) <= set(BACKENDS) - {"auto"}
    assert kind.summary and "\n" not in kind.summary
    for needs in (*kind.backends.values(), kind.train_needs):
        assert needs.extra in extras, f"{name}: extra {needs.extra!r} is not in setup.cfg"
    if kind.stock_pipeline:
        assert "torch" in kind.backends, f"{name}: a stock pipeline folder has torch weights"


@pytest.mark.parametrize("name", list(KINDS))
def test_3_cpc_train_kind_is_generated(name):
    from click.testing import CliRunner

    from spaces.cli import cli

    result = CliRunner().invoke(cli, ["train", name, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())
    for f in dataclasses.fields(KINDS[name].config_class()):
        assert "--" + f.name.replace("_", "-") in help_text, (name, f.name)


def test_4_model_folder_file_names_are_spelled_only_in_files_py():
    """A file the kind writes gets a constant in ``cpc_models/files.py``; no other module spells one."""
    names = {v for k, v in vars(files).items() if k.isupper() and isinstance(v, str) and "." in v}
    names |= set(files.TORCH_WEIGHTS_FILES)
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in _tracked_python()
        if path.relative_to(ROOT).parts[0] == "cpc_models" and path.name != "files.py"
        for line, value in _literals(path)
        if value in names
    ]
    assert not found, "model-folder file names outside cpc_models/files.py:\n" + "\n".join(found)


def test_5_no_module_outside_the_registry_and_the_kinds_tests_a_kind_name():
    """What other modules need to know of a kind is a capability on ``Kind`` (stock_pipeline, neighbour_bank, ...)."""
    found = [
        f"{rel}:{line}: {value!r}"
        for path in _tracked_python()
        if not (rel := path.relative_to(ROOT).as_posix()).startswith((*KIND_HOMES, "tests/"))
        for line, value in _literals(path)
        if value in KINDS
    ]
    assert not found, "kind names outside the registry and the kinds:\n" + "\n".join(found)
