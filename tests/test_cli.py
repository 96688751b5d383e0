import json

import pytest
from PIL import Image

from imgenlib.cli import main


def test_help_lists_commands(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("datasets", "show", "demo"):
        assert command in result.stdout


def test_datasets_lists_every_dataset_with_location(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "shapes", "fashion_mnist", "mnist", "cifar10"):
        assert name in out
    assert "embedded" in out and "60,000" in out


def test_show_writes_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["show", "shapes", "--out", str(out), "--n", "16", "--scale", "1"]) == 0
    assert Image.open(out).size == (4 * 33 - 1, 4 * 33 - 1)


def test_show_folder(tmp_path):
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "a.png")
    out = tmp_path / "grid.png"
    assert (
        main(["show", str(tmp_path), "--out", str(out), "--image-size", "8", "--scale", "1"]) == 0
    )
    assert Image.open(out).size == (8, 8)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["show", "imagenet", "--out", "x.png"], "Unknown dataset 'imagenet'"),
        (["show", "digits", "--out", "x.png", "--n", "0"], "--n=0"),
        (["show", "digits", "--out", "x.jpg"], "--out must be a .png"),
        (["show", "digits", "--split", "test", "--out", "x.png"], "Unknown split 'test'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment, run_cli):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_unwritable_output(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["show", "digits", "--out", str(tmp_path / "file" / "g.png")]) == 2
    assert "Output path must be a directory" in capsys.readouterr().err
    assert main(["show", "digits", "--out", "/proc/imgenlib/g.png"]) == 2
    assert "Cannot write to output directory '/proc/imgenlib'" in capsys.readouterr().err


def test_demo_writes_grids_and_metrics(tmp_path, run_cli):
    result = run_cli("demo", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["datasets"]["digits"]["images"] == 1797
    assert sum(report["datasets"]["shapes"]["class_counts"]) == 10000
    for name in ("digits", "shapes"):
        assert Image.open(tmp_path / f"{name}_data.png").size[0] > 100
    gan = report["models"]["gan_digits"]
    assert gan["epochs_completed"] == 1 and gan["final"]["g_loss"] > 0
    assert Image.open(tmp_path / "gan_digits_samples.png").size == (2 * (8 * 29 - 1),) * 2
    assert (tmp_path / "gan_digits" / "model.keras").is_file()
    vae = report["models"]["vae_digits"]
    assert vae["epochs_completed"] == 1 and vae["evaluation"]["negative_elbo_nats"] > 0
    assert Image.open(tmp_path / "vae_digits_samples.png").size == (2 * (8 * 29 - 1),) * 2
    assert Image.open(tmp_path / "vae_digits_reconstructions.png").size == (
        2 * (16 * 29 - 1),
        2 * (4 * 29 - 1),
    )
