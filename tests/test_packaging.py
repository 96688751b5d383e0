"""The package's metadata: public names, version, and environment.yml kept in sync."""

import importlib
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

import imgenlib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    return conda, pip_sections[0]


def test_every_public_name_resolves():
    assert imgenlib.__version__ == _pyproject()["project"].get("version", imgenlib.__version__)
    for name in imgenlib.__all__:
        assert getattr(imgenlib, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        imgenlib.nope  # noqa: B018


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    for extra in ("test", "notebooks"):
        wanted.update(
            {
                Requirement(r).name.lower(): Requirement(r)
                for r in project["optional-dependencies"][extra]
            }
        )
    conda, pip = _environment_requirements()
    assert any(item.replace(" ", "").startswith("python>=3.10") for item in conda)
    editable = [line for line in pip if line.startswith("-e")]
    assert editable == ["-e .[test,notebooks]"], (
        "the pip section must install this package with its extras"
    )
    listed = {
        Requirement(line).name.lower(): Requirement(line)
        for line in pip
        if not line.startswith("-")
    }
    assert set(listed) == set(wanted), (
        f"only in env.yml: {set(listed) - set(wanted)}; only in pyproject: {set(wanted) - set(listed)}"
    )
    for name, requirement in wanted.items():
        assert listed[name].specifier == requirement.specifier, name


def test_modules_import_without_tensorflow_side_effects():
    # Importing the data and plotting modules must not need a display or a GPU.
    for module in ("imgenlib.data", "imgenlib.plotting", "imgenlib.cli", "imgenlib.io"):
        importlib.import_module(module)
