"""Style and category × style conditioning on emoji: settings, labels, class names, style swap."""

import dataclasses
import json

import numpy as np
import pytest

from imgenlib.data import fetch_emoji, label_names, load_emoji, load_split
from imgenlib.io import save_json
from imgenlib.models import GANConfig, VAEConfig, build_gan, build_vae
from imgenlib.plotting import labelled_grid
from imgenlib.runs import RunConfig, check_same_run, load_run_config, load_run_model
from imgenlib.styles import category_style_figure, category_style_grid, style_accuracy, style_swap

# Written here, not imported: the test's own statement of the dataset's classes.
EMOJI_CATEGORIES = (
    "Smileys & Emotion", "People & Body", "Component", "Animals & Nature", "Food & Drink",
    "Travel & Places", "Activities", "Objects", "Symbols", "Flags",
)  # fmt: skip
STYLE_ORDER = ("twitter", "google")


def emoji_config(tmp_path, **changes):
    settings = {"data": "emoji", "style": "all", "conditional": True,
                "condition": "category_style", **changes}  # fmt: skip
    return RunConfig(kind="gan", out=tmp_path, preset="tiny", **settings)


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": "digits", "condition": None}, "Received: style='all' for data='digits'"),
        ({"style": "apple"}, "Unknown style 'apple'"),
        ({"condition": "shape"}, "Unknown condition 'shape'"),
        ({"conditional": False}, "Received: condition='category_style' with conditional=False"),
        ({"style": "twitter"}, "Received: condition='category_style', data='emoji', style='twitter'"),
        ({"style": None, "condition": "style"}, "Received: condition='style', data='emoji', style=None"),
        ({"data": "digits", "style": None}, "Received: condition='category_style', data='digits'"),
    ],
)  # fmt: skip
def test_bad_style_and_condition_name_the_received_value(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        emoji_config(tmp_path, **changes)


def test_resolved_defaults_and_valid_combinations(tmp_path):
    emoji = RunConfig(kind="gan", data="emoji", out=tmp_path)
    assert (emoji.style, emoji.condition) == (None, None)
    assert (emoji.resolved().style, emoji.resolved().condition) == ("twitter", None)
    digits = RunConfig(kind="gan", data="digits", out=tmp_path, conditional=True)
    assert (digits.resolved().style, digits.resolved().condition) == (None, "category")
    for condition in ("category", "style", "category_style"):
        assert emoji_config(tmp_path, condition=condition).resolved().condition == condition
    assert emoji_config(tmp_path, style="google", condition="category").style == "google"


def test_run_json_round_trip_and_an_old_run_json_without_the_fields(tmp_path):
    config = emoji_config(tmp_path).resolved()
    record = json.loads(json.dumps(config.to_json()))
    assert (record["style"], record["condition"]) == ("all", "category_style")
    save_json(record, tmp_path / "run.json")
    assert load_run_config(tmp_path) == config
    check_same_run(config, record)
    old = {key: value for key, value in record.items() if key not in ("style", "condition")}
    old["conditional"] = True
    save_json(old, tmp_path / "run.json")
    loaded = load_run_config(tmp_path)
    assert (loaded.style, loaded.condition) == (None, None)  # the defaults
    plain = dataclasses.replace(config, style=None, condition=None).resolved()
    check_same_run(plain, old)  # an old record meant twitter and category: it resumes
    with pytest.raises(ValueError, match=r"other settings \(style: 'twitter' → 'all'; "):
        check_same_run(config, old)


def test_cli_flags_build_the_run_config(tmp_path, capsys):
    from imgenlib.cli import build_parser, main, run_config

    out = str(tmp_path / "r")
    argv = ["train", "gan", "--data", "emoji", "--out", out, "--preset", "tiny", "--style", "all"]
    argv += ["--conditional", "--condition", "category_style"]
    assert run_config(build_parser().parse_args(argv)) == emoji_config(out)
    bad = ["train", "gan", "--data", "digits", "--out", out, "--style", "google"]
    assert main(bad) == 2
    assert "Received: style='google' for data='digits'" in capsys.readouterr().err


# --- labels and their names -----------------------------------------------------------------


@pytest.fixture(scope="module")
def emoji_test_split():
    fetch_emoji()  # a no-op when cached; CI fetches before the tests
    return load_emoji("test", style="all", n=300)


def test_labels_of_each_condition_match_the_emoji_record(emoji_test_split):
    record = emoji_test_split
    assert set(record.style) == set(STYLE_ORDER)  # the first n images hold both styles
    for condition, expected in (
        ("category", [EMOJI_CATEGORIES.index(c) for c in record.category]),
        ("style", [STYLE_ORDER.index(s) for s in record.style]),
        ("category_style", [EMOJI_CATEGORIES.index(c) * 2 + STYLE_ORDER.index(s)
                            for c, s in zip(record.category, record.style, strict=True)]),
    ):  # fmt: skip
        images, labels, split = load_split(
            "emoji", "test", conditional=True, n=300, style="all", condition=condition
        )
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(images, record.images)
        names = label_names("emoji", condition)
        assert len(names) == {"category": 10, "style": 2, "category_style": 20}[condition]
    names = label_names("emoji", "category_style")
    for label, category, style in zip(labels, record.category, record.style, strict=True):
        assert names[label] == f"{category} / {style}"
    assert label_names("emoji") == EMOJI_CATEGORIES


def test_style_labels_refused_for_other_datasets():
    with pytest.raises(ValueError, match="Received: data='digits'"):
        label_names("digits", "style")
    with pytest.raises(ValueError, match="style='all' is for the 'emoji' dataset only"):
        load_split("digits", style="all")
    with pytest.raises(ValueError, match="Unknown condition 'colour'"):
        load_split("emoji", condition="colour")


# --- models that know their classes ---------------------------------------------------------


def test_models_keep_their_class_names(tmp_path):
    from imgenlib.models import GAN, load_model

    names = label_names("emoji", "category_style")
    gan = build_gan(GANConfig.tiny(), (16, 16, 3), 20, class_names=names).build_for_training()
    gan.save(tmp_path / "gan.keras")
    assert load_model(tmp_path / "gan.keras").class_names == names
    config = gan.get_config()
    del config["class_names"]  # what files saved before class names hold
    assert GAN.from_config(config).class_names is None
    for bad, message in ((["a", "b"], "Received: 2 names"), (["a"] * 20, "distinct non-empty")):
        with pytest.raises(ValueError, match=message):
            build_gan(GANConfig.tiny(), (16, 16, 3), 20, class_names=bad)
    with pytest.raises(ValueError, match="conditional models"):
        build_gan(GANConfig.tiny(), (16, 16, 3), class_names=["a", "b"])
    with pytest.raises(TypeError, match="Received: class_names='ab'"):
        build_gan(GANConfig.tiny(), (16, 16, 3), 2, class_names="ab")


class RecordingModel:
    """A conditional model whose images show their label and z: pixel 0 = label / 20,
    pixel 1 = tanh(z[0]); it records every ``generate`` call."""

    latent_dim = 4

    def __init__(self, condition="category_style", class_names=None):
        self.class_names = class_names or label_names("emoji", condition)
        self.num_classes = len(self.class_names)
        self.calls = []

    def generate(self, n=None, z=None, seed=None, labels=None):
        self.calls.append((np.array(z), np.array(labels)))
        images = np.zeros((len(z), 1, 2, 1), np.float32)
        images[:, 0, 0, 0] = np.asarray(labels) / 20
        images[:, 0, 1, 0] = np.tanh(z[:, 0])
        return images


def test_style_swap_draws_each_row_from_one_z_in_both_styles():
    model = RecordingModel()
    z = np.random.default_rng(0).standard_normal((3, 4))
    swapped = style_swap(model, z, categories=["Animals & Nature", 0, 9])
    assert swapped.shape == (3, 2, 1, 2, 1)
    (called_z, called_labels), = model.calls  # fmt: skip
    np.testing.assert_array_equal(called_z, np.repeat(z, 2, axis=0).astype(np.float32))
    np.testing.assert_array_equal(called_labels, [6, 7, 0, 1, 18, 19])
    np.testing.assert_allclose(swapped[:, :, 0, 0, 0], [[6, 7], [0, 1], [18, 19]] / np.float32(20))
    np.testing.assert_allclose(swapped[:, 0, 0, 1, 0], swapped[:, 1, 0, 1, 0])
    np.testing.assert_allclose(swapped[:, 0, 0, 1, 0], np.tanh(z[:, 0]), rtol=1e-6)
    default = style_swap(model, seed=5)
    assert default.shape == (10, 2, 1, 2, 1)  # every category, one latent each
    assert len(np.unique(model.calls[-1][0], axis=0)) == 10
    np.testing.assert_array_equal(style_swap(model, seed=5), default)
    grid = category_style_grid(model, seed=5)
    assert grid.shape == (10, 2, 1, 2, 1) and len(np.unique(model.calls[-1][0], axis=0)) == 1
    np.testing.assert_allclose(grid[:, :, 0, 0, 0], np.arange(20).reshape(10, 2) / 20)
    style_only = RecordingModel("style")
    assert style_swap(style_only, z).shape == (3, 2, 1, 2, 1)
    np.testing.assert_array_equal(style_only.calls[-1][1], [0, 1] * 3)
    assert style_swap(style_only).shape == (8, 2, 1, 2, 1)


@pytest.mark.parametrize(
    ("model", "call", "error", "message"),
    [
        ("category", lambda m: style_swap(m), ValueError, "trained with a style condition"),
        ("unnamed", lambda m: style_swap(m), ValueError, "num_classes=20 and no class_names"),
        ("style", lambda m: style_swap(m, categories=1), ValueError, "Received: categories=1"),
        ("style", lambda m: category_style_grid(m), ValueError, "Received: condition='style'"),
        ("category_style", lambda m: style_swap(m, categories="Dogs"), ValueError,
         "Unknown category 'Dogs'"),
        ("category_style", lambda m: style_swap(m, categories=10), ValueError,
         "Received: categories=10"),
        ("category_style", lambda m: style_swap(m, np.zeros((2, 4)), categories=[0, 1, 2]),
         ValueError, "Received: 2 latents and 3 categories"),
        ("category_style", lambda m: style_swap(m, np.zeros(5)), ValueError,
         r"Received: z.shape=\(1, 5\)"),
        ("category_style", lambda m: category_style_grid(m, np.zeros((2, 4))), ValueError,
         r"one latent vector.*Received: z.shape=\(2, 4\)"),
        ("category_style", lambda m: style_swap(m, seed=-1), ValueError, "Received: seed=-1"),
        ("not a model", lambda m: style_swap(m), TypeError, "Received: model='not a model'"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_clearly(model, call, error, message):
    models = {
        "category": RecordingModel("category"),
        "unnamed": RecordingModel(class_names=[str(k) for k in range(20)]),
        "style": RecordingModel("style"),
        "category_style": RecordingModel(),
    }
    unnamed = models["unnamed"]
    unnamed.class_names = None
    with pytest.raises(error, match=message):
        call(models.get(model, model))


class EmojiPicker(RecordingModel):
    """Draws real test emoji: for each (z, label) an image of the label's category in the
    label's style (`faithful`), or always in Twemoji (a model that ignores the style)."""

    latent_dim = 4

    def __init__(self, record, faithful=True):
        super().__init__("category_style")
        self.record, self.faithful = record, faithful

    def generate(self, n=None, z=None, seed=None, labels=None):
        images = []
        for row, label in zip(z, labels, strict=True):
            category, style = divmod(int(label), 2)
            style = STYLE_ORDER[style] if self.faithful else "twitter"
            pool = np.flatnonzero((np.array(self.record.style) == style) & (np.array(self.record.category) == EMOJI_CATEGORIES[category]))  # fmt: skip
            images.append(self.record.images[pool[int(abs(row[0]) * 1000) % len(pool)]])
        return np.stack(images)


def test_style_accuracy_tells_a_style_swap_from_a_style_blind_model():
    fetch_emoji()
    record = load_emoji("test", style="all")
    faithful = style_accuracy(EmojiPicker(record), n=60, batch_size=25)
    # the classifier reads 93 % of the real test emoji's styles (classifiers.json)
    assert faithful["n"] == 60 and faithful["real_accuracy"] > 0.9
    assert faithful["accuracy"] > 0.8 and faithful["both_right"] > 0.7
    blind = style_accuracy(EmojiPicker(record, faithful=False), n=60)
    assert blind["per_style"]["twitter"] > 0.8 and blind["per_style"]["google"] < 0.2
    assert blind["accuracy"] == pytest.approx(0.5, abs=0.06) and blind["both_right"] < 0.15
    with pytest.raises(ValueError, match="Received: n=0"):
        style_accuracy(EmojiPicker(record), n=0)
    with pytest.raises(ValueError, match="trained with a style condition"):
        style_accuracy(RecordingModel("category"))


def test_an_unconditional_model_is_refused():
    model = build_gan(GANConfig.tiny(), (16, 16, 3))
    with pytest.raises(ValueError, match="unconditional GAN"):
        style_swap(model)


def test_a_conditional_vae_decoder_draws_the_swap():
    names = label_names("emoji", "category_style")
    vae = build_vae(VAEConfig.tiny(), (16, 16, 3), 20, class_names=names)
    z = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    grid = category_style_grid(vae, z)
    expected = vae.generate(z=np.repeat(z[None], 20, axis=0), labels=np.arange(20))
    np.testing.assert_allclose(grid.reshape(20, 16, 16, 3), expected, atol=1e-5)


def test_labelled_grid_draws_rows_and_columns():
    images = np.zeros((3, 2, 8, 8, 3), np.float32)
    fig = labelled_grid(images, ["a", "b", "c"], ["x", "y"], title="t")
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "x"
    assert [text.get_text() for text in fig.axes[2].texts] == ["b"]
    with pytest.raises(ValueError, match=r"Received: images.shape=\(6, 8, 8, 3\)"):
        labelled_grid(images.reshape(6, 8, 8, 3))
    with pytest.raises(ValueError, match="row_labels must have 3 entries. Received: 2"):
        labelled_grid(images, ["a", "b"])


# --- training a category × style model --------------------------------------------------------


@pytest.mark.slow
def test_train_a_category_style_gan_then_swap_and_evaluate(tmp_path, monkeypatch):
    import imgenlib.training
    from imgenlib.evaluation import evaluate_run
    from imgenlib.training import train

    fetch_emoji()
    monkeypatch.setattr(imgenlib.training, "QUICK_MAX_IMAGES", 64)
    out = tmp_path / "run"
    config = dataclasses.replace(emoji_config(out), epochs=1, batch_size=32, eval_every=1)
    summary = train(dataclasses.replace(config, eval_n=20), verbose=0)
    assert summary["num_classes"] == 20 and summary["condition"] == "category_style"
    assert np.isfinite(json.loads((out / "history.json").read_text())["fid"][-1])
    model = load_run_model(out)
    assert model.class_names == label_names("emoji", "category_style")
    z = np.random.default_rng(2).standard_normal(model.latent_dim).astype(np.float32)
    grid = category_style_grid(model, z)
    assert grid.shape == (10, 2, 64, 64, 3)
    expected = model.generate(z=np.repeat(z[None], 20, axis=0), labels=np.arange(20))
    np.testing.assert_allclose(grid.reshape(20, 64, 64, 3), expected, atol=1e-4)
    assert style_swap(model, categories="Flags", seed=1).shape == (8, 2, 64, 64, 3)
    fig = category_style_figure(model, z, size=0.5)
    assert len(fig.axes) == 20 and fig.axes[1].get_title() == "google"
    result = evaluate_run(out, n=20)
    assert np.isfinite(result["fid"]) and result["n"] == 20
