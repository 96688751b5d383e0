"""Your own folder: the preset chosen from what it holds, step budgets, --max-minutes alone,
and image sizes the networks cannot build refused before anything is loaded or written."""

import json
import math
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from imgenlib import presets
from imgenlib.cli import main
from imgenlib.data import ImageLoadWarning, describe_folder
from imgenlib.models import GANConfig
from imgenlib.models.blocks import ARCHITECTURES, check_image_shape
from imgenlib.presets import Preset, choose_preset
from imgenlib.runs import RunConfig
from imgenlib.training import UNTIL_TIME_BUDGET, train

ICONS, BROKEN = 40, 3


def _write_icons(folder, rng, count=ICONS):
    """72×72 RGBA icons: a coloured disc on a transparent background, as a user's icons."""
    folder.mkdir()
    y, x = np.mgrid[:72, :72]
    for i in range(count):
        pixels = np.zeros((72, 72, 4), np.uint8)
        disc = (y - 36) ** 2 + (x - 36) ** 2 < (10 + i % 20) ** 2
        pixels[disc, :3] = rng.integers(0, 256, 3)
        pixels[disc, 3] = 255
        Image.fromarray(pixels, "RGBA").save(folder / f"icon_{i:03d}.png")
    return folder


@pytest.fixture
def icons(tmp_path, rng):
    folder = _write_icons(tmp_path / "icons", rng)
    (folder / "empty.png").write_bytes(b"")
    (folder / "cut.png").write_bytes((folder / "icon_000.png").read_bytes()[:60])
    (folder / "notes.png").write_text("not an image")
    return folder


@pytest.fixture
def grey(tmp_path, rng):
    """Grey images in the formats a scan or a photo export gives: L PNGs and RGB JPEGs."""
    folder = tmp_path / "grey"
    folder.mkdir()
    for i in range(20):
        values = rng.integers(0, 256, (72, 72), dtype=np.uint8)
        Image.fromarray(values, "L").save(folder / f"scan_{i:02d}.png")
        Image.fromarray(np.stack([values] * 3, -1), "RGB").save(folder / f"photo_{i:02d}.jpg")
    return folder


@pytest.fixture
def quick_small_colour(monkeypatch):
    """A tiny 16×16 stand-in for the small_colour GAN preset: batch 8, a 12-step budget."""
    tiny = Preset(
        GANConfig.tiny(ema_decay=0.9, augment="color,translation,cutout"),
        8,
        None,
        "tiny small_colour for tests",
        steps=12,
    )
    monkeypatch.setitem(presets.PRESETS["gan"], "small_colour", tiny)
    return tiny


def _run(argv, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        code = main(argv)
    return code, capsys.readouterr()


def test_describe_folder_counts_files_and_sees_colour(icons, grey):
    assert describe_folder(icons).files == ICONS + BROKEN
    assert describe_folder(icons).colour
    summary = describe_folder(grey)
    assert (summary.files, summary.sampled, summary.colour) == (40, 16, False)
    with pytest.raises(ValueError, match="Received: path="):
        describe_folder(icons / "icon_000.png")


def test_a_small_colour_folder_gets_small_colour_and_others_keep_default(
    icons, grey, tmp_path, monkeypatch
):
    name, reason = choose_preset("gan", str(icons))
    assert name == "small_colour" == choose_preset("vae", str(icons))[0]
    assert reason.startswith(f"preset small_colour: {ICONS + BROKEN} colour image files in {icons}")
    assert "20,000" in reason and "DiffAugment" in reason
    config = RunConfig("gan", icons, tmp_path / "run").resolved()
    assert (config.preset, config.batch_size, config.epochs) == ("small_colour", 64, None)
    assert RunConfig("gan", grey, tmp_path / "run").resolved().preset == "default"
    assert choose_preset("gan", str(grey))[1].startswith("preset default: 40 greyscale image")
    assert choose_preset("diffusion", str(icons))[0] == "default"
    assert choose_preset("gan", "fashion_mnist") == (
        "fashion_mnist",
        "preset fashion_mnist: recommended for fashion_mnist",
    )
    monkeypatch.setattr(presets, "SMALL_FOLDER_IMAGES", ICONS)  # now a large folder
    assert choose_preset("gan", str(icons))[0] == "default"


def test_small_colour_is_the_emoji_network_with_a_step_budget():
    for kind in ("gan", "vae"):
        small, emoji = presets.get(kind, "small_colour"), presets.get(kind, "emoji")
        assert small.model == emoji.model and small.batch_size == emoji.batch_size
        assert small.epochs is None and small.steps == presets.SMALL_COLOUR_STEPS
    assert presets.get("gan", "small_colour").model.augment
    assert presets.get("gan", "small_colour").model.ema_decay > 0


@pytest.mark.parametrize(("images", "batch_size"), [(500, 64), (1200, 64), (5000, 64), (40, 8)])
def test_a_step_budget_becomes_the_fewest_epochs_with_that_many_steps(images, batch_size):
    preset = Preset(GANConfig.tiny(), 64, None, "", steps=4000)
    epochs = preset.epochs_for(images, batch_size)
    steps_per_epoch = images // batch_size  # incomplete batches are dropped
    assert epochs * steps_per_epoch >= 4000 > (epochs - 1) * steps_per_epoch
    assert preset.epochs_for(1200) == math.ceil(4000 / 18) == 223


def test_presets_with_epochs_keep_them():
    for named in presets.PRESETS.values():
        for name, preset in named.items():
            if name != "small_colour":
                assert preset.steps is None and preset.epochs_for(10**6) == preset.epochs
    with pytest.raises(ValueError, match="either epochs or steps"):
        Preset(GANConfig.tiny(), 8, 3, "", steps=10)
    with pytest.raises(ValueError, match="either epochs or steps"):
        Preset(GANConfig.tiny(), 8, None, "")
    with pytest.raises(ValueError, match="Received: steps=0"):
        Preset(GANConfig.tiny(), 8, None, "", steps=0)
    with pytest.raises(ValueError, match=r"\(40\). Received: batch_size=64"):
        presets.get("gan", "small_colour").epochs_for(40)


def test_max_minutes_without_epochs_is_not_capped_by_the_preset(tmp_path):
    config = RunConfig("gan", "digits", tmp_path, preset="tiny", max_minutes=5)
    assert config.resolved().epochs is None and config.planned(1797).epochs is None
    explicit = RunConfig("gan", "digits", tmp_path, preset="tiny", max_minutes=5, epochs=7)
    assert explicit.planned(1797).epochs == 7
    without_budget = RunConfig("gan", "digits", tmp_path, preset="tiny")
    assert without_budget.planned(1797).epochs == presets.get("gan", "tiny").epochs == 2


class _StopAfter(keras.callbacks.Callback):
    """Records the epochs `fit` was given and stops training after `epochs` epochs."""

    def __init__(self, epochs):
        super().__init__()
        self.stop_after, self.planned = epochs, None

    def on_train_begin(self, logs=None):
        self.planned = self.params["epochs"]

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.stop_after:
            self.model.stop_training = True


@pytest.mark.parametrize("epochs", [None, 1])
def test_training_with_max_minutes_runs_past_the_presets_epochs_unless_epochs_is_given(
    tmp_path, icons, epochs
):
    """The `tiny` preset plans 2 epochs; with max_minutes alone fit gets no cap (the spy
    ends the run after 3), with an explicit epochs=1 that wins."""
    spy = _StopAfter(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        summary = train(
            "gan", icons, tmp_path / "run", preset="tiny", batch_size=8, image_size=16,
            max_minutes=10, epochs=epochs, callbacks=[spy], verbose=0,
        )  # fmt: skip
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    if epochs is None:
        assert spy.planned == UNTIL_TIME_BUDGET and summary["epochs_completed"] == 3
        assert record["epochs"] is None and summary["epochs_requested"] is None
    else:
        assert spy.planned == 1 and summary["epochs_completed"] == 1
        assert record["epochs"] == 1
    assert summary["preset_choice"] is None  # the preset was named
    assert not summary["stopped_by_time_budget"]


def test_cli_on_a_small_colour_folder_chooses_says_and_records_it(
    icons, tmp_path, capsys, monkeypatch, quick_small_colour
):
    """40 good icons, batch 8: 5 steps an epoch, so the 12-step budget is 3 epochs; an
    interrupted run resumes with the same plan."""
    out = tmp_path / "run"
    argv = ["train", "gan", "--data", str(icons), "--out", str(out), "--image-size", "16"]
    import imgenlib.training

    def interrupted_after_one_epoch(config, **kwargs):
        return train(config, callbacks=[_StopAfter(1)], **kwargs)

    monkeypatch.setattr(imgenlib.training, "train", interrupted_after_one_epoch)
    code, printed = _run(argv, capsys)
    monkeypatch.setattr(imgenlib.training, "train", train)
    assert code == 0, printed.err
    choice = [line for line in printed.out.splitlines() if line.startswith("preset ")]
    assert choice == [
        f"preset small_colour: {ICONS + BROKEN} colour image files in {icons} (at most "
        "20,000: small data, so DiffAugment, generator EMA and a budget of 12 steps rather "
        "than epochs)"
    ]
    assert "1/3 epochs done" in printed.out
    record = json.loads((out / "run.json").read_text())
    assert (record["preset"], record["epochs"], record["batch_size"]) == ("small_colour", 3, 8)
    assert json.loads((out / "metrics.json").read_text())["preset_choice"] == choice[0]

    code, printed = _run(argv, capsys)  # the same command resumes: two epochs left
    assert code == 0, printed.err
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["epochs_completed"] == 3 and summary["steps_this_session"] == 2 * 5
    assert json.loads((out / "run.json").read_text()) == record
    assert "3/3 epochs done" in printed.out


def test_cli_max_minutes_alone_reports_training_until_the_budget(
    icons, tmp_path, capsys, quick_small_colour
):
    out = tmp_path / "run"
    argv = ["train", "gan", "--data", str(icons), "--out", str(out), "--image-size", "16",
            "--max-minutes", "0.02"]  # fmt: skip
    code, printed = _run(argv, capsys)
    assert code == 0, printed.err
    assert "epochs (until the 0.02-minute budget) done" in printed.out
    assert "rather than epochs); no epochs given: training until the 0.02-minute budget\n" in (
        printed.out
    )
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped_by_time_budget"] and summary["epochs_requested"] is None


@pytest.mark.parametrize("size", [8, 24, 48, 100, 128])
def test_image_sizes_the_networks_cannot_build_are_refused_at_once(icons, tmp_path, size):
    with pytest.raises(ValueError, match=rf"one of 16, 28, 32, 64 for a gan .*image_size={size}$"):
        RunConfig("gan", icons, tmp_path / "run", image_size=size)
    for kind in ("vae", "diffusion"):
        with pytest.raises(ValueError, match=f"for a {kind} "):
            RunConfig(kind, icons, tmp_path / "run", image_size=size)
    with pytest.raises(ValueError, match=f"for the 'emoji' gan .*Received: image_size={size}"):
        train("gan", icons, tmp_path / "run", preset="emoji", image_size=size)
    with pytest.raises(ValueError, match="image_shape must be square"):
        check_image_shape((size, size, 3))  # the builders would refuse it too, later
    assert not (tmp_path / "run").exists()


def test_the_accepted_sizes_are_the_builders_sizes(tmp_path):
    assert sorted(ARCHITECTURES) == [16, 28, 32, 64]
    for size in ARCHITECTURES:
        assert RunConfig("gan", "digits", tmp_path, image_size=size).image_size == size
        assert check_image_shape((size, size, 3)) == (size, size, 3)


def test_cli_image_size_error_is_one_line_and_writes_nothing(icons, tmp_path, capsys):
    out = tmp_path / "run"
    code, printed = _run(
        ["train", "gan", "--data", str(icons), "--out", str(out), "--image-size", "48"], capsys
    )
    lines = printed.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in printed.err
    assert lines[0].startswith("python -m imgenlib train: error: image_size must be one of")
    assert lines[0].endswith("Received: image_size=48") and printed.out == ""
    assert not out.exists()
