"""Text-conditional runs end to end: ``train gan --data shapes_captions --text`` and
``sample RUN --prompt``, their settings and their refusals (issue 16)."""

import numpy as np
import pytest
import tensorflow as tf

from imgenlib import presets
from imgenlib.cli import main
from imgenlib.images import to_unit
from imgenlib.io import load_json
from imgenlib.models import DiffusionConfig, GANConfig, build_gan, load_model
from imgenlib.resume import epoch_batches
from imgenlib.runs import RunConfig, check_same_run
from imgenlib.training import QUICK_MAX_IMAGES

TEXT_RUN = ["train", "gan", "--data", "shapes_captions", "--text", "--batch-size", "64"]


def test_text_run_trains_resumes_and_draws_its_prompts(tmp_path, monkeypatch, capsys, run_cli):
    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    tiny = presets.Preset(GANConfig.tiny(), 64, 1, "a tiny text preset", image_size=16)
    monkeypatch.setitem(presets.PRESETS["gan"], "text", tiny)  # what --text chooses
    out = tmp_path / "run"
    assert main([*TEXT_RUN, "--out", str(out), "--epochs", "1"]) == 0
    assert load_json(out / "run.json")["text"] is True
    metrics = load_json(out / "metrics.json")
    assert metrics["text"] is True and metrics["train_images"] == QUICK_MAX_IMAGES
    assert metrics["preset"] == "text" and metrics["preset_choice"].startswith("preset text:")
    assert metrics["image_shape"] == [16, 16, 3]
    for split in ("test", "test_compositional"):  # read from the pixels: the real scenes' ceiling
        accuracy = metrics["prompt_accuracy"][split]  # imgenlib.evaluate_text's record
        assert accuracy["n"] == 100 and accuracy["reference"]["exact_match"] >= 0.9  # 16x16
        for key in ("colour", "shape", "size", "position", "exact_match"):
            assert 0 <= accuracy[key] <= 1, key
        assert accuracy["exact_match"] <= min(accuracy[k] for k in ("colour", "shape", "size"))
    assert (out / "samples" / "epoch_001.png").is_file()

    assert main([*TEXT_RUN, "--out", str(out), "--epochs", "2"]) == 0  # resumes
    assert load_json(out / "metrics.json")["epochs_completed"] == 2
    plain = [arg for arg in TEXT_RUN if arg != "--text"]
    assert main([*plain, "--out", str(out), "--epochs", "3"]) == 2
    assert "text: True → False" in capsys.readouterr().err

    def sample(*prompts, n):
        npy = tmp_path / "s.npy"
        argv = ["sample", str(out), "--n", str(n), "--out", str(tmp_path / "s.png"),
                "--npy", str(npy), "--scale", "1"]  # fmt: skip
        for prompt in prompts:
            argv += ["--prompt", prompt]
        assert main(argv) == 0
        return np.load(npy)

    both = sample("a red circle in the centre", "a large blue square at the top", n=4)
    assert both.shape == (4, 16, 16, 3)
    one = sample("a red circle in the centre", n=2)
    np.testing.assert_allclose(both[0], one[0], atol=1e-5)  # same latent and prompt (batch 4 vs 2)
    assert np.abs(both[1] - one[1]).max() > 1e-3  # same latent, the other prompt
    np.testing.assert_array_equal(sample("a red circle in the centre", n=2), one)
    assert "of 1 prompt(s)" in capsys.readouterr().out

    grid = str(tmp_path / "x.png")
    assert main(["sample", str(out), "--out", grid]) == 2
    error = capsys.readouterr().err
    assert 'e.g. --prompt "' in error and "circle" in error  # an example and the vocabulary
    assert main(["sample", str(out), "--prompt", "zebra unicorn", "--out", grid]) == 2
    assert "'zebra unicorn'" in capsys.readouterr().err
    for bad in ("  ", "\udcff\udcfe red"):  # empty; bytes that are not UTF-8
        assert main(["sample", str(out), "--prompt", bad, "--out", grid]) == 2
        assert repr(bad) in capsys.readouterr().err
    assert main(["sample", str(out), "--prompt", "red", "--label", "1", "--out", grid]) == 2
    assert "text-conditional: give --prompt" in capsys.readouterr().err
    scores = tmp_path / "scores.json"
    assert main(["eval", str(out), "--n", "20", "--seed", "3", "--json", str(scores)]) == 0
    report = capsys.readouterr().out
    assert "text-conditional gan on shapes_captions; 20 prompts per split, seed 3" in report
    assert "test_compositional: colour " in report and "real scenes: " in report
    saved = load_json(scores)
    assert saved["sampling"] is None and saved["prompt_accuracy"]["test"]["n"] == 20
    for split, score in saved["prompt_accuracy"].items():
        assert f"{split}: colour {score['colour']:.3f}, shape {score['shape']:.3f}" in report

    done = run_cli("sample", str(out), "--prompt", "a zebra circle", "--n", "3", "--out", grid)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "Unknown words" in line]
    assert len(warned) == 1 and warned[0].startswith("python -m imgenlib sample: warning:")
    assert "'a zebra circle': zebra." in warned[0]  # named once, though drawn 3 times


def test_text_diffusion_run_trains_and_samples_with_guidance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    # T = 10: the run's samples and its prompt-accuracy figures (200 prompts) take 10 DDIM steps
    tiny = presets.Preset(DiffusionConfig.tiny(timesteps=10), 64, 1, "tiny", image_size=16)
    monkeypatch.setitem(presets.PRESETS["diffusion"], "text", tiny)  # what --text chooses
    out = tmp_path / "run"
    argv = ["train", "diffusion", "--data", "shapes_captions", "--text", "--out", str(out)]
    assert main([*argv, "--epochs", "1"]) == 0
    metrics = load_json(out / "metrics.json")
    assert metrics["kind"] == "diffusion" and metrics["text"] is True
    assert metrics["preset"] == "text" and metrics["image_shape"] == [16, 16, 3]
    assert metrics["prompt_accuracy"]["test_compositional"]["n"] == 100
    # evaluated as the zoo model is (guidance 3), with at most T = 10 of the 25 steps
    expected = {"sampler": "ddim", "steps": 10, "eta": 0.0, "guidance": 3.0}
    assert metrics["prompt_accuracy"]["test"]["sampling"] == expected
    assert (out / "samples" / "epoch_001.png").is_file()

    red, blue = (f"a large {colour} circle in the centre" for colour in ("red", "blue"))
    npy = tmp_path / "s.npy"
    argv = ["sample", str(out), "--n", "2", "--out", str(tmp_path / "s.png"), "--npy", str(npy),
            "--prompt", red, "--guidance", "2", "--steps", "4"]  # fmt: skip
    assert main(argv) == 0
    # The rest in process: each CLI call loads the model and traces its sampling chain again,
    # while one loaded model traces once for every prompt and guidance.
    model, settings = load_model(out / "model.keras"), {"n": 2, "seed": 0, "steps": 4}
    guided = {prompt: model.generate(prompt, guidance=2.0, **settings) for prompt in (red, blue)}
    np.testing.assert_allclose(np.load(npy), to_unit(guided[red]), atol=1e-5)  # the CLI's images
    assert np.abs(guided[red] - guided[blue]).max() > 1e-3  # the same z, another prompt
    # w = 0: the text is unused
    zero = [model.generate(prompt, guidance=0.0, **settings) for prompt in (red, blue)]
    np.testing.assert_array_equal(*zero)
    np.testing.assert_array_equal(zero[0], model.generate(None, **settings))
    assert "guidance 2.0" in capsys.readouterr().out
    assert main(["sample", str(out), "--prompt", red, "--guidance", "-1", "--out", "x.png"]) == 2
    assert "--guidance=-1" in capsys.readouterr().err
    assert main(["eval", str(out), "--n", "10", "--guidance", "3", "--steps", "2"]) == 0
    report = capsys.readouterr().out
    assert "sampling: sampler ddim, steps 2, eta 0.0, guidance 3.0" in report
    assert main(["eval", str(out), "--n", "10", "--guidance", "1.5"]) == 0  # steps: the default
    assert "sampling: sampler ddim, steps 10, eta 0.0, guidance 1.5" in capsys.readouterr().out
    assert "test: colour " in report and "exact match " in report


def test_prompts_are_refused_by_a_run_without_text(tmp_path, capsys):
    build_gan(GANConfig.tiny(), (28, 28, 1)).save(tmp_path / "model.keras")
    assert main(["sample", str(tmp_path), "--prompt", "red", "--out", str(tmp_path / "g.png")]) == 2
    assert "--prompt is for text-conditional runs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"kind": "vae"}, "a vae (text-conditional models: GANs and diffusion)"),
        ({"data": "digits"}, "data='digits'"),
        ({"conditional": True}, "conditional=True"),
        ({"dp_sigma": 1.0}, "private run"),
        ({"loss": "wasserstein_gp"}, "wasserstein_gp"),
        ({"eval_every": 1}, "eval_every"),
    ],
)
def test_text_settings_that_cannot_combine_are_refused(tmp_path, settings, fragment):
    config = {"kind": "gan", "data": "shapes_captions", "out": tmp_path, "text": True, **settings}
    with pytest.raises(ValueError, match="text=True cannot be combined") as error:
        RunConfig(**config)
    assert fragment in str(error.value)


def test_text_is_part_of_a_runs_identity(tmp_path):
    config = RunConfig("gan", "shapes_captions", tmp_path, text=True).resolved()
    assert config.preset == "text" and config.image_size == 32  # the text preset is chosen
    record = config.to_json()
    check_same_run(config, record)
    with pytest.raises(ValueError, match="text: True → False"):
        check_same_run(RunConfig("gan", "shapes_captions", tmp_path, preset="text").resolved(),
                       record)  # fmt: skip
    plain = RunConfig("gan", "shapes_captions", tmp_path).resolved()
    older = {key: value for key, value in plain.to_json().items() if key != "text"}
    check_same_run(plain, older)  # a run.json from before text runs is a run without text


def test_text_encoder_choice_is_checked_and_part_of_a_runs_identity(tmp_path):
    with pytest.raises(ValueError, match="text_encoder='clip' with text=False"):
        RunConfig("diffusion", "shapes_captions", tmp_path, text_encoder="clip")
    with pytest.raises(ValueError, match="'t5'"):
        RunConfig("diffusion", "shapes_captions", tmp_path, text=True, text_encoder="t5")
    clip = RunConfig("diffusion", "shapes_captions", tmp_path, text=True, text_encoder="clip")
    record = clip.resolved().to_json()
    new = RunConfig("diffusion", "shapes_captions", tmp_path, text=True).resolved()
    with pytest.raises(ValueError, match="text_encoder: 'clip' → 'new'"):
        check_same_run(new, record)
    older = {key: value for key, value in new.to_json().items() if key != "text_encoder"}
    check_same_run(new, older)  # a run.json from before the choice used a new encoder


def test_a_ready_text_encoder_is_used_frozen(keras_seed):
    from imgenlib.clip_tasks import load_pretrained_clip

    encoder = load_pretrained_clip("shapes_captions").text_encoder
    config = DiffusionConfig.tiny(text_map=2)
    model = presets.build("diffusion", config, (16, 16, 3), text_encoder=encoder)
    assert model.text_encoder is encoder and model.text_training == "frozen"
    gan = presets.build("gan", GANConfig.tiny(), (16, 16, 3), text_encoder=encoder)
    assert gan.text_encoder is encoder and gan.text_training == "frozen"


def test_epoch_batches_carry_captions():
    images = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    captions = np.array(["a", "bb", "ccc", "d", "ee", "fff"], dtype=object)
    batches = list(epoch_batches(images, captions, batch_size=3, seed=0, epochs=(0, 1)))
    for batch_images, batch_captions in batches:
        assert batch_captions.dtype == tf.string
        for image, caption in zip(batch_images.numpy(), batch_captions.numpy(), strict=True):
            assert caption.decode() == captions[int(image.item())]  # pairs stay together


def test_emoji_category_accuracy_scores_a_model_by_the_category_of_its_prompts():
    """A stand-in that draws the real test emoji of its prompts scores the classifier's own
    accuracy on them; one that draws the same emoji whatever the prompt scores that emoji's
    category share, at most the majority share."""
    from imgenlib.data.emoji import load_emoji
    from imgenlib.text import build_text_encoder
    from imgenlib.text_runs import emoji_category_accuracy

    test = load_emoji("test", 64, n=80)  # at 32x32, upsampled, the classifier is right for 1/3
    drawings = dict(zip(test.captions, test.images, strict=True))

    class Drawer:
        image_shape = (64, 64, 3)
        text_encoder = build_text_encoder(load_emoji("train", 16).captions)

        def __init__(self, constant=False):
            self.constant = constant

        def generate(self, prompts, seed=None):
            return np.stack([test.images[0] if self.constant else drawings[p] for p in prompts])

    faithful = emoji_category_accuracy(Drawer(), n=80)
    assert faithful["n"] + faithful["unreadable"] == 80 and faithful["n"] >= 60
    assert faithful["category"] == faithful["reference"] > faithful["majority"]
    constant = emoji_category_accuracy(Drawer(constant=True), n=80)
    assert constant["category"] <= constant["majority"] < faithful["category"]
    # a drawer that ignores the text scores exactly its shuffled-prompts baseline
    assert constant["shuffled"] == pytest.approx(constant["category"], abs=1e-12)
    # the faithful one's baseline, against permutations drawn here from the classifier's reading
    from imgenlib.features import FeatureExtractor
    from imgenlib.text_runs import readable

    keep = readable(Drawer.text_encoder, list(test.captions))
    extractor = FeatureExtractor("emoji")
    read = extractor.probabilities(extractor.upsampled(test.images[keep])[0]).argmax(-1)
    truth = np.asarray(test.labels)[keep]
    rng = np.random.default_rng(0)
    permuted = np.mean([np.mean(read == rng.permutation(truth)) for _ in range(4000)])
    assert faithful["shuffled"] == pytest.approx(permuted, abs=0.005)
    assert faithful["shuffled"] < faithful["category"] - 0.2
    # KID/FID of the samples against the real images of the same prompts: the real images
    # themselves are at the floor (KID's unbiased estimate of a set against itself is < 0),
    # one emoji for every prompt far above it
    assert faithful["fid"] == pytest.approx(0.0, abs=0.5) and faithful["kid"] < 0
    assert constant["fid"] > 50 and constant["kid"] > 1.0
    # the shipped emoji Mini-CLIP (32x32; these 64x64 images are resized) scores the pairs:
    # the real images of the prompts as the reference, one emoji for every prompt lower
    assert faithful["clip_score"] == pytest.approx(faithful["clip_score_reference"])
    assert constant["clip_score"] < faithful["clip_score"] - 5


def test_the_eval_report_names_each_emoji_baseline_and_reads_records_without_shuffled():
    from imgenlib.text_runs import format_text_report

    score = {"category": 0.41, "reference": 0.552, "majority": 0.67, "shuffled": 0.237,
             "chance": 0.1, "n": 324, "clip_score": 51.1, "clip_score_reference": 57.4}  # fmt: skip
    result = {"run": "RUN", "kind": "gan", "data": "emoji", "n": 324, "seed": 1,
              "prompt_accuracy": {"test": score}}  # fmt: skip
    line = format_text_report(result).splitlines()[1]
    assert line == (
        "  test: category 0.410 of 324 prompts (classifier on the real emoji 0.552, majority "
        "0.670, shuffled prompts 0.237, chance 0.100); CLIP score 51.1 (real 57.4)"
    )
    score.update(kid=0.01234, fid=23.456)
    assert (
        format_text_report(result)
        .splitlines()[1]
        .endswith("chance 0.100); KID 0.0123, FID 23.5; CLIP score 51.1 (real 57.4)")
    )
    del score["shuffled"], score["clip_score"], score["kid"], score["fid"]  # before 2026-12-04
    assert format_text_report(result).splitlines()[1].endswith("majority 0.670, chance 0.100)")


def test_emoji_category_accuracy_without_skin_tones_prompts_each_emoji_once():
    """Skin-tone variants make People & Body most of the test images; ``skin_tones=False``
    prompts each test emoji once, so the majority share falls."""
    from imgenlib.data.emoji import load_emoji
    from imgenlib.text import build_text_encoder
    from imgenlib.text_runs import emoji_category_accuracy

    test = load_emoji("test", 64)
    drawings = dict(zip(test.captions, test.images, strict=True))
    prompted = []

    class Drawer:
        image_shape = (64, 64, 3)
        text_encoder = build_text_encoder(load_emoji("train", 16).captions)

        def generate(self, prompts, seed=None):
            prompted.extend(prompts)
            return np.stack([drawings[p] for p in prompts])

    every = emoji_category_accuracy(Drawer())
    once = emoji_category_accuracy(Drawer(), skin_tones=False)
    distinct = load_emoji("test", 16, skin_tones=False)
    assert once["n"] + once["unreadable"] == len(distinct.captions) < len(test.captions)
    assert every["n"] + every["unreadable"] == len(test.captions)
    assert not any("skin tone" in p for p in prompted[every["n"] :])
    assert any("skin tone" in p for p in prompted[: every["n"]])
    assert once["majority"] < every["majority"]
    assert once["category"] == once["reference"] > once["majority"]


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_text_gan_trains_in_mixed_precision(precision):
    """The GPU paths of a text run (`train --text --precision ...`): the networks compute in
    16 bits, float16 with loss-scaled optimisers, and the samples are float32 in [-1, 1]."""
    import keras

    from imgenlib.contrastive import caption_dataset
    from imgenlib.data import load_shapes_captions
    from imgenlib.models import build_text_gan
    from imgenlib.precision import use_loss_scaling

    data = load_shapes_captions("train", n=64, image_size=16)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        gan = build_text_gan(GANConfig.tiny(), (16, 16, 3), data.captions)
        if precision == "mixed_float16":
            use_loss_scaling(gan)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    gan.run_eagerly = True  # one step: tracing would cost more than it
    batches = caption_dataset(data.images, data.captions, batch_size=32)
    history = gan.fit(batches, epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values()), history
    assert gan.generator.layers[-2].dtype_policy.name == precision
    scaled = isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    images = gan.generate("a red circle", n=2, seed=0)
    assert images.dtype == np.float32 and np.all(np.abs(images) <= 1)
