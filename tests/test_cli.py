import json
import re

import pytest
from PIL import Image

from imgenlib import pretrained
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
def test_bad_input_is_one_line_and_exit_2(args, fragment, capsys):
    """In process (an exception escaping `main` fails the test; `python -m imgenlib` itself
    is run by test_help_lists_commands and the CLI run tests)."""
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert fragment in lines[0]
    assert "Traceback" not in captured.err and not captured.out


def test_unwritable_output(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["show", "digits", "--out", str(tmp_path / "file" / "g.png")]) == 2
    assert "Output path must be a directory" in capsys.readouterr().err
    assert main(["show", "digits", "--out", "/proc/imgenlib/g.png"]) == 2
    assert "Cannot write to output directory '/proc/imgenlib'" in capsys.readouterr().err


@pytest.mark.slow
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
    page = (tmp_path / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(images) == sorted(p.name for p in tmp_path.glob("*.png"))
    zoo = report["pretrained"]
    assert set(zoo) == set(pretrained.available())
    for name, model in zoo.items():
        side = pretrained.info(name)["image_shape"][0]  # 28 (Fashion-MNIST) or 64 (emoji)
        assert Image.open(tmp_path / model["samples"]).size == (2 * (8 * (side + 1) - 1),) * 2
        stated = pretrained.info(name)["quality"]
        if "prompt_accuracy" in stated:  # a text model, drawn from test captions
            assert model["quality"]["prompt_accuracy"] == stated["prompt_accuracy"]
            held_out = stated["prompt_accuracy"]["test_compositional"]["colour"]
            assert f"test_compositional: colour {held_out:.2f}" in page
            continue
        if "category_accuracy" in stated:  # an emoji text model, drawn from known test names
            assert model["quality"]["category_accuracy"] == stated["category_accuracy"]
            unseen = stated["category_accuracy"]["test"]
            assert f"test: {unseen['category']:.2f} (majority {unseen['majority']:.2f}" in page
            assert f"shuffled prompts {unseen['shuffled']:.2f}, real emoji" in page
            continue
        keys = ("n", "fid", "kid", "precision", "recall")
        assert model["quality"] == {key: stated[key] for key in keys}
        assert f"Pretrained {name}" in page and f"FID {model['quality']['fid']}" in page
    assert page.count("<figcaption>") == len(images) == 5 + len(zoo)
    assert '<a href="gan_digits/">' in page and '<a href="vae_digits/">' in page
    assert "img/s" in page and "ELBO" in page


def test_train_options_build_the_run_config_of_the_library_call(tmp_path):
    """`train` has one option per RunConfig field, with the field's default, and the parsed
    options build the RunConfig that ``train(kind, data, out, **settings)`` builds."""
    import dataclasses

    from imgenlib.cli import build_parser, run_config
    from imgenlib.runs import RunConfig

    parser = build_parser()
    out = str(tmp_path / "r")
    plain = parser.parse_args(["train", "gan", "--data", "digits", "--out", out])
    assert run_config(plain) == RunConfig("gan", "digits", out)
    settings = {
        "preset": "tiny", "epochs": 3, "max_minutes": 1.5, "conditional": True, "loss": "hinge",
        "batch_size": 16, "seed": 7, "image_size": 32, "learning_rate": 1e-4,
        "strategy": "mirrored", "deterministic": True, "eval_every": 2, "patience": 4,
        "eval_n": 300, "precision": "mixed_bfloat16", "tensorboard": True, "background": "white",
        "style": "all", "condition": "category_style",
    }  # fmt: skip
    # DP-SGD runs on one device: its options are tested apart from strategy="mirrored"
    private = {"dp_epsilon": 3.0, "dp_delta": 1e-6, "dp_clip": 0.5, "dp_sigma": 1.2}
    private["dp_accountant"] = "pld"
    text = {"text": True, "text_encoder": "clip"}  # a text run is not conditional
    assert set(settings) | set(private) | set(text) | {"kind", "data", "out"} == {
        f.name for f in dataclasses.fields(RunConfig)
    }
    for data, chosen in (("emoji", settings), ("digits", private), ("shapes_captions", text)):
        argv = ["train", "gan", "--data", data, "--out", out]
        for name, value in chosen.items():
            flag = "--" + name.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        assert run_config(parser.parse_args(argv)) == RunConfig("gan", data, out, **chosen)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "gan", "--data", "digits", "--out", "r", "--precision", "fp8"], "'fp8'"),
        (["train", "gan", "--data", "digits", "--out", "r", "--strategy", "tpu"], "'tpu'"),
        (["train", "gan", "--data", "digits", "--out", "r", "--loss", "wgan"], "'wgan'"),
        (["reconstruct", "r", "--out", "x.png", "--split", "val"], "'val'"),
        (["export", "r", "--format", "tflite", "--quantize", "int4", "--out", "x"], "'int4'"),
    ],
)
def test_closed_sets_are_argparse_choices(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"invalid choice: {fragment} (choose from" in err[0]


@pytest.mark.slow
def test_help_and_datasets_do_not_import_tensorflow():
    import subprocess
    import sys

    script = (
        "import sys\nfrom imgenlib.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nsys.exit(3 if 'tensorflow' in sys.modules else 0)"
    )
    for args, code in ((["--help"], 0), (["datasets"], 0), (["presets"], 3)):  # presets: control
        result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True)
        assert result.returncode == code, (args, result.stderr)


def test_typos_are_refused_before_tensorflow_loads(tmp_path):
    """A wrong dataset name, a missing run or a bad number costs a third of a second, not
    TensorFlow's ~6-s import: the commands' TensorFlow-free checks run first."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom imgenlib.cli import main\ncode = main(sys.argv[1:])\n"
        "sys.exit(3 if 'tensorflow' in sys.modules else code)"
    )
    missing, out = str(tmp_path / "missing"), str(tmp_path / "x.png")
    for args, fragment in (
        (["train", "gan", "--data", "nowhere", "--out", out], "Unknown dataset 'nowhere'"),
        (["show", "imagenet", "--out", out], "Unknown dataset 'imagenet'"),
        (["show", "digits", "--out", "x.jpg"], "--out must be a .png"),
        (["sample", missing, "--out", out], "Run directory does not exist"),
        (["sample", str(tmp_path), "--out", out], "No model.keras"),
        (["sample", missing, "--out", out, "--n", "0"], "--n=0"),
        (["eval", missing, "--n", "5"], "--n=5"),
        (["eval", missing], "Run directory does not exist"),
        (["export", missing, "--format", "savedmodel", "--out", out], "does not exist"),
        (["reconstruct", missing, "--out", out], "does not exist"),
    ):
        result = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True
        )
        assert result.returncode == 2 and fragment in result.stderr, (args, result.stderr)
    assert not (tmp_path / "r").exists()


def test_show_uses_the_runs_split_rule_for_folders(tmp_path, capsys):
    """`show` reads a folder through `imgenlib.runs.load_split`: only a 'train' split."""
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "a.png")
    out = str(tmp_path / "grid.png")
    assert main(["show", str(tmp_path), "--out", out, "--split", "test"]) == 2
    assert "only a 'train' split. Received: split='test'" in capsys.readouterr().err


@pytest.mark.slow
def test_merf_releases_once_fits_and_refuses_a_second_release(tmp_path, capsys):
    out = str(tmp_path / "merf")
    args = ["merf", "--data", "digits", "--out", out, "--steps", "10", "--steps-per-epoch", "5",
            "--features", "600", "--dp-epsilon", "5"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "epsilon 5 (delta 1e-05) spent once, by the release" in printed
    metrics = json.loads((tmp_path / "merf" / "metrics.json").read_text())
    assert metrics["kind"] == "mean_embedding" and metrics["privacy"]["epsilon"] == pytest.approx(5)
    assert main([*args[:-1], "3"]) == 2
    error = capsys.readouterr().err
    assert "error:" in error and "spend privacy again" in error and "epsilon=3.0" in error
    assert main(["merf", "--data", "digits", "--out", str(tmp_path / "x"), "--steps", "10",
                 "--steps-per-epoch", "5", "--features", "600"]) == 2  # fmt: skip
    assert "exactly one of epsilon and noise_multiplier" in capsys.readouterr().err
