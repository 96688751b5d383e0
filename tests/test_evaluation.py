"""`python -m imgenlib eval DIR`: a real GAN run end to end, a VAE-like model, bad input."""

import json
import math

import numpy as np
import pytest

from imgenlib.cli import main
from imgenlib.data import load_images
from imgenlib.evaluation import format_report
from imgenlib.io import save_json

FEATURE_KEYS = (
    "fid", "kid", "kid_std", "precision", "recall",
    "density", "coverage", "inception_score", "class_entropy",
)  # fmt: skip


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from imgenlib.training import train

    out = tmp_path_factory.mktemp("runs") / "gan_digits"
    train("gan", "digits", out, preset="tiny", epochs=1, verbose=0)
    return out


@pytest.mark.slow
def test_eval_cli_on_a_trained_gan(gan_run, run_cli, tmp_path):
    out = tmp_path / "sub" / "metrics.json"
    result = run_cli("eval", str(gan_run), "--n", "300", "--json", str(out), "--seed", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    for key in FEATURE_KEYS:
        assert math.isfinite(report[key]), key
        assert key.split("_")[0] in result.stdout.lower() or key == "kid_std"
    assert report["n"] == 300 and report["n_real"] == 300 and report["split"] == "train"
    assert report["data"] == "digits" and report["kind"] == "gan" and report["seed"] == 1
    assert "reconstruction" not in report
    assert not list(out.parent.glob(".*.tmp*"))  # written atomically, no leftovers


class FakeVAE:
    """VAE-like: 'generates' and 'reconstructs' real digits with a little noise."""

    num_classes = None

    def __init__(self):
        self.images, _ = load_images("digits")

    def generate(self, n, seed=0, labels=None):
        return self.images[-n:]

    def reconstruct(self, images, labels=None):
        noise = np.random.default_rng(0).standard_normal(images.shape).astype(np.float32)
        return np.clip(images + 0.1 * noise, -1, 1)

    def negative_elbo(self, images, labels=None, *, batch_size=256, seed=0):
        return np.full(len(images), 123.0) + np.arange(len(images)) % 2


def test_eval_of_a_vae_like_run_adds_reconstruction_and_elbo(tmp_path, monkeypatch, capsys):
    save_json({"kind": "vae", "data": "digits"}, tmp_path / "run.json")
    monkeypatch.setattr("imgenlib.runs.load_run_model", lambda run_dir: FakeVAE())
    monkeypatch.setattr("imgenlib.evaluation.QUICK_MAX_EVAL", 150)  # --n 5000 is capped
    assert main(["eval", str(tmp_path), "--n", "5000", "--json", str(tmp_path / "m.json")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "m.json").read_text())
    reconstruction = report["reconstruction"]
    assert report["quick_mode"] and report["n"] == report["n_real"] == 150
    assert reconstruction["n"] == 150
    assert reconstruction["negative_elbo"] == pytest.approx(123.5)
    assert reconstruction["negative_elbo_std"] == pytest.approx(0.5)
    assert 0 < reconstruction["mse"] < 0.01 and 0.5 < reconstruction["ssim"] < 1
    assert "-ELBO (nats/image)" in printed and "PSNR (dB)" in printed
    assert printed == format_report(report) + f"\nWrote {tmp_path / 'm.json'}\n"


@pytest.mark.parametrize(
    ("setup", "args", "fragment"),
    [
        (None, ["--n", "100"], "Run directory does not exist"),
        ({}, ["--n", "100"], "No run.json"),
        ({"kind": "gan", "data": "/data/photos"}, [], "No feature extractor for this run's data"),
        ({"kind": "gan", "data": "mnist"}, [], "No shipped classifier weights for 'mnist'"),
        ({"kind": "gan", "data": "digits"}, ["--n", "5"], "--n must be an int >= 10"),
        ({"kind": "gan", "data": "digits"}, ["--json", "out.txt"], "--json must be a .json"),
        ({"kind": "gan", "data": "digits"}, [], "No model.keras"),
    ],
)
def test_bad_input_exits_2_with_one_line(setup, args, fragment, tmp_path, capsys):
    run = tmp_path / "run"
    if setup is not None:
        run.mkdir()
        if setup:
            save_json(setup, run / "run.json")
    assert main(["eval", str(run), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_bad_input_in_a_subprocess_has_no_traceback(run_cli, tmp_path):
    result = run_cli("eval", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
