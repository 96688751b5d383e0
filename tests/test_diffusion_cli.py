"""``sample`` and ``eval`` of diffusion runs: --steps, --eta, --guidance, --sampler, --spacing."""

import json

import numpy as np
import pytest

from imgenlib import presets
from imgenlib.cli import main
from imgenlib.images import to_unit
from imgenlib.io import save_json
from imgenlib.models import load_model
from imgenlib.models.diffusion import DiffusionConfig, build_diffusion
from imgenlib.runs import RunConfig
from imgenlib.sampling_options import DEFAULT_STEPS, sampling_settings


def make_run(directory, kind, conditional=False):
    """A run directory (run.json, model.keras) of an untrained tiny model on digits."""
    directory.mkdir()
    config = RunConfig(
        kind=kind, data="digits", out=directory, preset="tiny", conditional=conditional
    )
    model = presets.build(
        kind, config.model_config(), (28, 28, 1), num_classes=10 if conditional else None
    )
    model.build_for_training()
    model.save(directory / "model.keras")
    save_json(config.to_json(), directory / "run.json")
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "diffusion": make_run(root / "diffusion", "diffusion"),
        "conditional": make_run(root / "conditional", "diffusion", conditional=True),
        "gan": make_run(root / "gan", "gan"),
    }


def test_sample_uses_the_given_settings(runs, tmp_path, capsys):
    run, out, npy = runs["diffusion"], tmp_path / "s.png", tmp_path / "s.npy"
    args = ["sample", str(run), "--n", "3", "--seed", "2", "--out", str(out), "--npy", str(npy)]
    assert main([*args, "--steps", "3", "--eta", "0.5"]) == 0
    assert "steps 3, eta 0.5" in capsys.readouterr().out
    model = load_model(run / "model.keras")
    expected = to_unit(model.generate(3, seed=2, steps=3, eta=0.5))
    np.testing.assert_array_equal(np.load(npy), expected)
    assert not np.allclose(expected, to_unit(model.generate(3, seed=2, steps=3)))
    assert main([*args, "--steps", "2", "--sampler", "ddpm"]) == 0
    np.testing.assert_array_equal(
        np.load(npy), to_unit(model.generate(3, seed=2, steps=2, sampler="ddpm"))
    )
    assert main([*args, "--steps", "3", "--spacing", "quadratic"]) == 0
    assert "steps 3, eta 0.0, spacing quadratic" in capsys.readouterr().out
    expected = to_unit(model.generate(3, seed=2, steps=3, spacing="quadratic"))
    np.testing.assert_array_equal(np.load(npy), expected)
    assert main([*args]) == 0  # defaults: DDIM, min(50, T) steps (the tiny preset's T is 20), η = 0
    np.testing.assert_array_equal(np.load(npy), to_unit(model.generate(3, seed=2, steps=20)))


def test_sample_guidance_of_a_conditional_run(runs, tmp_path):
    run, npy = runs["conditional"], tmp_path / "s.npy"
    args = ["sample", str(runs["conditional"]), "--n", "2", "--out", str(tmp_path / "s.png")]
    assert main([*args, "--npy", str(npy), "--steps", "2", "--guidance", "3", "--label", "4"]) == 0
    model = load_model(run / "model.keras")
    expected = model.generate(2, seed=0, labels=4, steps=2, guidance=3.0)
    np.testing.assert_array_equal(np.load(npy), to_unit(expected))


@pytest.mark.parametrize(
    ("run", "options", "fragment"),
    [
        ("gan", ["--steps", "5"], "--steps is for diffusion models; this model's kind is 'gan'"),
        ("gan", ["--sampler", "ddpm"], "--sampler is for diffusion models"),
        ("diffusion", ["--steps", "0"], "--steps must be in 1..20"),
        ("diffusion", ["--steps", "21"], "(the model's timesteps T). Received: --steps=21"),
        ("diffusion", ["--eta", "-0.5"], "--eta must be >= 0. Received: --eta=-0.5"),
        ("diffusion", ["--guidance", "2"], "--guidance needs a class- or text-conditional model"),
        ("diffusion", ["--sampler", "ddpm", "--eta", "1"], "--eta is for the ddim sampler"),
        ("conditional", ["--guidance", "-1"], "--guidance must be >= 0. Received: --guidance=-1.0"),
        ("gan", ["--spacing", "quadratic"], "--spacing is for diffusion models"),
    ],
)
@pytest.mark.parametrize("command", ["sample", "eval"])
def test_bad_sampling_options_exit_2_with_one_line(
    runs, command, run, options, fragment, tmp_path, capsys
):
    out = ["--out", str(tmp_path / "s.png")] if command == "sample" else []
    assert main([command, str(runs[run]), *out, *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_unknown_spacing_is_a_usage_error(runs, command, capsys):
    assert main([command, str(runs["diffusion"]), "--spacing", "karras"]) == 2
    assert "argument --spacing: invalid choice: 'karras'" in capsys.readouterr().err


def test_settings_defaults_and_library_checks():
    model = build_diffusion(DiffusionConfig.tiny(timesteps=20), (16, 16, 1))
    assert sampling_settings(model) == {"sampler": "ddim", "steps": 20, "eta": 0.0}
    assert DEFAULT_STEPS == 50 and model.generate(1, seed=0).shape == (1, 16, 16, 1)
    assert sampling_settings(model, {"sampler": "ddpm", "eta": None}) == {
        "sampler": "ddpm",
        "steps": 20,
    }
    assert sampling_settings(object()) is None
    assert sampling_settings(model, {"spacing": "quadratic"})["spacing"] == "quadratic"
    assert "spacing" not in sampling_settings(model, {"spacing": "uniform"})  # as older records
    with pytest.raises(ValueError, match="Unknown spacing 'karras'"):
        sampling_settings(model, {"spacing": "karras"})
    with pytest.raises(ValueError, match="Unknown sampling setting"):
        sampling_settings(model, {"step": 3})
    with pytest.raises(ValueError, match="steps must be in 1..20"):
        sampling_settings(model, {"steps": 21})
    with pytest.raises(TypeError, match="steps must be an int"):
        sampling_settings(model, {"steps": 2.5})


@pytest.mark.slow
def test_eval_records_the_sampling_settings(runs, tmp_path, capsys):
    path = tmp_path / "m.json"
    args = ["eval", str(runs["conditional"]), "--n", "20", "--json", str(path)]
    assert main([*args, "--steps", "2", "--guidance", "2.5"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(path.read_text())
    assert report["sampling"] == {"sampler": "ddim", "steps": 2, "eta": 0.0, "guidance": 2.5}
    assert "sampling: sampler ddim, steps 2, eta 0.0, guidance 2.5" in printed
    assert np.isfinite(report["fid"]) and report["n"] == 20


@pytest.mark.slow
def test_bad_option_in_a_subprocess_is_one_line(runs, run_cli):
    result = run_cli("eval", str(runs["gan"]), "--steps", "5")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--steps is for diffusion models; this model's kind is 'gan'" in result.stderr


# `train` records how it sampled (summary and metrics.json): in tests/test_diffusion_training.py's
# conditional run, whose --eval-every FID it also checks (one traced training run for both).
