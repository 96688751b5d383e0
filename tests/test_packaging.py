"""The package's metadata: public names, version, and environment.yml kept in sync."""

import importlib.metadata
import subprocess
import sys
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


def test_installed_version_is_the_package_version():
    assert _pyproject()["project"]["dynamic"] == ["version"]
    assert importlib.metadata.version("imgenlib") == imgenlib.__version__


def test_every_public_name_resolves():
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


def test_light_modules_do_not_import_tensorflow():
    # `import imgenlib`, the CLI's --help and the data/plotting helpers must stay fast.
    modules = (
        "imgenlib", "imgenlib.data", "imgenlib.plotting", "imgenlib.cli", "imgenlib.io",
        "imgenlib.sampling_options",
    )  # fmt: skip
    code = (
        f"import sys; [__import__(m) for m in {modules!r}]; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def _fresh_python(code, cwd):
    env = {**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize("order", ["imgenlib, keras", "keras, imgenlib"])
def test_keras_load_model_works_after_import_imgenlib(tmp_path, order):
    from imgenlib.models import GANConfig, build_gan

    gan = build_gan(GANConfig.tiny(), (16, 16, 1))
    gan.save(tmp_path / "model.keras")
    code = (
        f"import {order}; model = keras.saving.load_model('model.keras'); "
        "print(type(model).__module__, type(model).__name__, model.generate(2, seed=0).shape)"
    )
    result = _fresh_python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[:2] == ["imgenlib.models.gan", "GAN"]


@pytest.mark.slow
def test_submodules_are_attributes_after_import_imgenlib(tmp_path):
    code = (
        "import imgenlib; print(callable(imgenlib.pretrained.load), callable(imgenlib.presets.get))"
    )
    result = _fresh_python(code, tmp_path)
    assert result.stdout.split() == ["True", "True"], result.stderr[-2000:]
    for name in imgenlib.SUBMODULES:
        assert importlib.import_module(f"imgenlib.{name}") is getattr(imgenlib, name)


# Modules whose import may be the one that first imports keras: keras' import hook
# (`imgenlib._register_keras_classes`) then imports the registered modules from inside them.
FIRST_IMPORTS = (
    "imgenlib.models.base", "imgenlib.models.hard_negatives", "imgenlib.models.text_gan",
    "imgenlib.text", "imgenlib.clip",
)  # fmt: skip


@pytest.mark.slow
def test_any_first_import_registers_every_keras_class(tmp_path):
    env = {**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = (
        "import imgenlib, {}, keras; "
        "print(all(keras.saving.get_registered_object(f'imgenlib>{{n}}') is not None "
        "for n in ('GAN', 'VAE', 'Diffusion', 'TextGAN', 'TextDiffusion', 'MiniCLIP')))"
    )
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", code.format(name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        for name in FIRST_IMPORTS
    }
    for name, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert out.split() == ["True"], f"import {name} first:\n{err[-2000:]}"


def test_type_checking_imports_equal_the_lazy_exports():
    import ast

    tree = ast.parse((ROOT / "imgenlib" / "__init__.py").read_text())
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    seen = {
        alias.asname: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    }
    assert seen == imgenlib._EXPORTS
