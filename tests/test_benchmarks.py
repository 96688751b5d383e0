"""Smoke test of benchmarks/: each script's `run` at minimal size gives well-formed results.

Not a speed test: only the shape of the JSON and that rates and times are positive.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module", autouse=True)
def benchmarks_on_path():
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def _positive(value):
    return isinstance(value, (int, float)) and value > 0


@pytest.mark.slow
def test_train_throughput_shape():
    import train_throughput

    result = train_throughput.run(steps=2, rounds=1, batch_size=32, n_images=256)
    for key in ("ratio", "imgenlib_img_per_s", "bare_img_per_s"):
        assert _positive(result[key]), (key, result[key])
    assert len(result["per_round_img_per_s"]["imgenlib"]) == 1
    json.dumps(result)


@pytest.mark.slow
def test_options_shape():
    import options

    result, table = options.run(
        steps=2, rounds=1, n_images=256, variants=["no_prefetch"], batch_size=32
    )
    assert set(result["variants"]) == {"baseline", "no_prefetch"}
    assert result["variants"]["baseline"]["ratio_vs_baseline"] == 1.0
    assert _positive(result["variants"]["no_prefetch"]["img_per_s_median"])
    assert isinstance(result["recommendation"], str) and "no_prefetch" in table


@pytest.mark.slow
def test_sampling_and_summary_shape(tmp_path):
    import run
    import sampling

    result, table = sampling.run(
        calls=3, batches=(8,), repeats=1, sizes=(28,), export_formats=("tflite",)
    )
    size = result["sizes"]["28"]
    assert set(size["precisions"]) == {"float32", "bfloat16"}
    assert set(result["peak_gflops"]) == {"float32", "bfloat16"}
    for measured in size["precisions"].values():
        assert _positive(measured["one_image_ms"]["p50"]) and measured["one_image_ms"]["p95"] >= measured["one_image_ms"]["p50"]  # fmt: skip
        assert _positive(measured["batch_img_per_s"]["8"]) and _positive(measured["widget_frame_ms"]["p50"])  # fmt: skip
        assert 0 < measured["fraction_of_peak"] < 1.5  # a FLOP count and a peak that fit together
    assert size["macs_per_image"] > 1e6
    compiled = size["xla_vs_graph_float32"]
    assert (compiled["xla"]["xla"], compiled["graph"]["xla"]) == (True, False)
    assert all(_positive(m["one_image_ms_p50"]) and _positive(m["batch_256_img_per_s"]) for m in compiled.values())  # fmt: skip
    # the .tflite file timed on each runtime: LiteRT under its own name, tf.lite beside it
    exported = size["exported"]
    assert set(exported) == {"tflite", "tflite@tf.lite"}
    assert (exported["tflite"]["runtime"], exported["tflite@tf.lite"]["runtime"]) == ("litert", "tf.lite")  # fmt: skip
    assert all(_positive(e["one_image_ms"]["p50"]) and _positive(e["batch_256_img_per_s"]) for e in exported.values())  # fmt: skip
    goals = result["goals_28x28"]
    auto = result["auto_precision"]  # what generate(precision="auto") used per images per call
    assert auto["1"] == "float32" and auto["256"] in ("float32", "bfloat16")
    assert set(goals) == {"one_image_ms_p50", "widget_frame_ms_p50", "batch_img_per_s"}
    assert goals["one_image_ms_p50"]["measured"] == size["precisions"]["float32"]["one_image_ms"]["p50"]  # fmt: skip
    batch_precision = sampling.auto_precision(8)
    assert goals["batch_img_per_s"]["precision"] == batch_precision
    assert goals["batch_img_per_s"]["measured"] == size["precisions"][batch_precision]["batch_img_per_s"]["8"]  # fmt: skip
    rows = run.summary_rows({"sampling": result})
    (fastest,) = [row[1] for row in rows if str(row[0]).startswith("28×28 fastest one-image route")]
    routes = [m["one_image_ms"]["p50"] for m in size["precisions"].values()]
    routes += [e["one_image_ms"]["p50"] for e in exported.values()]
    assert f": {min(routes)} ms (" in fastest
    goal_rows = [row for row in rows if str(row[0]).startswith("goal ")]
    assert len(goal_rows) == len(goals)
    for name, goal in goals.items():
        (text,) = [row[1] for row in goal_rows if name in row[0]]
        assert text.endswith("(met)" if goal["met"] else "(NOT met)"), (name, text)
    path = run.write_result("sampling", result, table, tmp_path)
    assert json.loads(path.read_text())["sizes"]["28"]["image_shape"] == [28, 28, 1]


def test_goals_are_met_exactly_when_the_measurement_beats_them():
    import sampling

    fast = {"one_image_ms": {"p50": 0.5}, "widget_frame_ms": {"p50": 5.0},
            "batch_img_per_s": {"256": 9000.0, "1024": 100.0}}  # fmt: skip
    slow = {"one_image_ms": {"p50": 50.0}, "widget_frame_ms": {"p50": 500.0},
            "batch_img_per_s": {"256": 10.0}}  # fmt: skip
    both = lambda m: {"float32": m, "bfloat16": m}  # noqa: E731
    assert all(goal["met"] for goal in sampling.goals_met(both(fast)).values())
    assert not any(goal["met"] for goal in sampling.goals_met(both(slow)).values())
    assert sampling.goals_met(both(fast))["batch_img_per_s"]["measured"] == 9000.0
    # one image is judged in float32, what "auto" samples one image in, whatever bfloat16 did
    mixed = sampling.goals_met(
        {"float32": fast, "bfloat16": {**fast, "one_image_ms": {"p50": 9.0}}}
    )
    assert mixed["one_image_ms_p50"]["met"] and mixed["one_image_ms_p50"]["precision"] == "float32"
    # the 64×64 frame counts too: a slow one fails the frame goal alone
    with_64 = sampling.goals_met(both(fast), both({"widget_frame_ms": {"p50": 31.0}}))
    assert not with_64["widget_frame_ms_p50"]["met"] and with_64["batch_img_per_s"]["met"]
    assert with_64["widget_frame_ms_p50"]["measured"] == 31.0


@pytest.mark.slow
def test_memory_child_process():
    import memory

    measured = memory.measure("import", 1, 16)
    assert measured["mode"] == "import" and measured["peak_rss_mb"] > 50


def _quick_time_to_quality(tmp_path, monkeypatch, *args):
    """`time_to_quality.py --quick ARGS` into `tmp_path` (the run in ``tmp_path/run``): its result."""
    import time_to_quality

    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    results = []
    monkeypatch.setattr(time_to_quality, "print_json_line", results.append)
    time_to_quality.main(["--quick", *args, "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")])  # fmt: skip
    return results[0]


@pytest.mark.slow
def test_time_to_quality_quick_run(tmp_path, monkeypatch):
    import run
    import time_to_quality

    result = _quick_time_to_quality(tmp_path, monkeypatch)
    for key in ("imgenlib", "tutorial"):
        curve = result[key]["curve"]
        assert len(curve) >= 2 and _positive(result[key]["img_per_s"])
        seconds = [point["seconds"] for point in curve]
        assert (
            seconds == sorted(seconds) and seconds[-1] <= 60 * time_to_quality.QUICK_MINUTES + 10
        )  # the budget, plus one step
        assert [p["steps"] for p in curve] == sorted(
            {p["steps"] for p in curve}
        )  # no duplicate final
        assert all(_positive(point["fid"]) for point in curve)
        # the final weights alone are also scored for precision and recall
        assert all("recall" not in point for point in curve[:-1])
        assert all(0 <= curve[-1][key] <= 1 for key in ("precision", "recall"))
    assert (
        tmp_path / "run" / "model.keras"
    ).is_file()  # a normal run directory: `eval` works on it
    for name in (
        "time_to_quality.png",
        "time_to_quality_imgenlib_samples.png",
        "time_to_quality.json",
    ):
        assert (tmp_path / name).stat().st_size > 0
    rows = run.summary_rows({"time_to_quality": result})
    assert (
        rows[-1][0].startswith("time to quality")
        and rows[-1][1] == result["final_fid_ratio_tutorial_over_imgenlib"]
    )


@pytest.mark.slow
def test_time_to_quality_emoji_quick_run(tmp_path, monkeypatch):
    """The 64×64 colour case: imgenlib's emoji preset against the tutorial scaled to 64×64×3."""
    result = _quick_time_to_quality(tmp_path, monkeypatch, "--data", "emoji")
    assert result["data"] == "emoji" and result["imgenlib"]["preset"] == "emoji"
    assert "--data emoji" in result["imgenlib"]["command"]
    for key in ("imgenlib", "tutorial"):
        assert all(_positive(point["fid"]) for point in result[key]["curve"])
    import json

    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"] == "emoji" and run["preset"] == "emoji"
    for name in ("imgenlib", "tutorial"):
        from PIL import Image

        grid = Image.open(tmp_path / f"time_to_quality_emoji_{name}_samples.png")
        assert grid.mode == "RGB" and min(grid.size) >= 8 * 64  # colour, 8x8 tiles of 64 px
    assert (tmp_path / "time_to_quality_emoji.json").is_file()


@pytest.mark.slow
def test_time_to_quality_vae_quick_run(tmp_path, monkeypatch):
    """--family vae: the VAE preset against the TF CVAE tutorial, its own result files and
    summary rows."""
    import run

    result = _quick_time_to_quality(tmp_path, monkeypatch, "--family", "vae")
    assert result["family"] == "vae" and result["recipes"]["tutorial"] == "TF CVAE tutorial"
    assert result["imgenlib"]["command"].startswith("python -m imgenlib train vae --data fashion_mnist")  # fmt: skip
    assert (
        result["tutorial"]["batch_size"] == 32 and result["imgenlib"]["preset"] == "fashion_mnist"
    )
    for key in ("imgenlib", "tutorial"):
        curve = result[key]["curve"]
        # at least the final snapshot (a loaded CI worker can spend the 15 s budget tracing
        # the first step; the GAN test above checks the one-a-mark schedule)
        assert curve and all(_positive(point["fid"]) for point in curve), (key, curve)
        assert [p["steps"] for p in curve] == sorted({p["steps"] for p in curve}), (key, curve)
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["kind"] == "vae"
    for name in ("time_to_quality_vae.json", "time_to_quality_vae.png", "time_to_quality_vae_tutorial_samples.png"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 0
    rows = run.summary_rows({"time_to_quality_vae": result})
    assert rows[0][0].startswith("imgenlib fashion_mnist VAE preset: FID")
    assert rows[-1] == ["time to quality (vae): final FID tutorial / imgenlib", result["final_fid_ratio_tutorial_over_imgenlib"]]  # fmt: skip


@pytest.mark.slow
def test_time_to_quality_diffusion_quick_run(tmp_path, monkeypatch):
    """--family diffusion: the diffusion preset against the keras.io DDIM recipe."""
    import run

    result = _quick_time_to_quality(tmp_path, monkeypatch, "--family", "diffusion")
    assert (
        result["recipes"]["tutorial"] == "keras.io DDIM example" and result["sampling_steps"] == 2
    )
    assert (
        result["tutorial"]["batch_size"] == 64 and result["imgenlib"]["preset"] == "fashion_mnist"
    )
    for key in ("imgenlib", "tutorial"):
        curve = result[key]["curve"]
        assert curve and all(_positive(point["fid"]) for point in curve), (key, curve)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["kind"] == "diffusion"
    assert _positive(result["tutorial"]["final_without_ema"]["fid"])  # the recipe's raw weights
    rows = run.summary_rows({"time_to_quality_diffusion": result})
    assert rows[1][0].startswith("keras.io DDIM example: FID (n=200)")


def test_the_ddim_recipe_schedule_pads_and_samples_as_described():
    """The keras.io recipe's rates (cos/sin of an angle between arccos 0.95 and arccos 0.02),
    its 28 → 32 padding with the background, and a sample's shape and range."""
    import keras
    from ddim_recipe import DDIMRecipe, padded_size, rates

    noise, signal = (r.numpy() for r in rates(np.array([0.0, 0.5, 1.0], "float32")))
    np.testing.assert_allclose(signal[[0, 2]], [0.95, 0.02], atol=1e-6)
    np.testing.assert_allclose(noise**2 + signal**2, 1.0, atol=1e-6)
    angle = (np.arccos(0.95) + np.arccos(0.02)) / 2
    np.testing.assert_allclose([noise[1], signal[1]], [np.sin(angle), np.cos(angle)], atol=1e-6)
    assert (padded_size(28), padded_size(32), padded_size(64)) == (32, 32, 64)
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    recipe = DDIMRecipe(images, widths=(8, 16), block_depth=1)
    assert recipe.padded == (28, 28)  # one halving divides 28
    recipe = DDIMRecipe(images, widths=(8, 8, 8, 16), block_depth=1)
    padded = recipe.pad_images(images)
    assert padded.shape == (16, 32, 32, 1) and (padded[:, :2] == -1).all()
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], images)
    unit = (padded + 1) / 2
    np.testing.assert_allclose(
        [recipe.mean[0], recipe.std[0]], [unit.mean(), unit.std()], rtol=1e-5
    )
    assert np.isfinite(float(recipe.train_on(images)))
    samples = recipe.sample(3, steps=2)
    assert samples.shape == (3, 28, 28, 1) and samples.min() >= -1 and samples.max() <= 1
    np.testing.assert_array_equal(samples, recipe.sample(3, steps=2))
    # one step moved the weights, not yet their 0.999 average: the two samplers differ
    assert np.abs(samples - recipe.sample(3, steps=2, network="raw")).max() > 1e-3
    with pytest.raises(ValueError, match="Received: network='best'"):
        recipe.sample(1, network="best")


def test_the_cvae_tutorial_recipe_has_its_published_shapes_and_density():
    """The TF CVAE tutorial's networks (latent 2, 28×28 → 13×13 → 6×6 valid convolutions) and
    its log_normal_pdf against scipy."""
    from scipy import stats
    from tutorial_cvae import LATENT_DIM, log_normal_pdf, sample_images, tutorial_cvae

    encoder, decoder = tutorial_cvae()
    assert [layer.output.shape[1:] for layer in encoder.layers[:2]] == [(13, 13, 32), (6, 6, 64)]
    assert encoder.layers[-1].output.shape[1:] == (2 * LATENT_DIM,)
    assert decoder.layers[-1].output.shape[1:] == (28, 28, 1)
    _, colour = tutorial_cvae((64, 64, 3))
    assert colour.layers[1].output.shape[1:] == (16, 16, 32) and colour.layers[-1].output.shape[1:] == (64, 64, 3)  # fmt: skip
    with pytest.raises(ValueError, match=r"divisible by 4. Received: \(30, 30, 1\)"):
        tutorial_cvae((30, 30, 1))
    rng = np.random.default_rng(0)
    x, mean, logvar = rng.normal(size=(3, 5, 4)).astype("float32")
    expected = stats.norm.logpdf(x, loc=mean, scale=np.exp(logvar / 2)).sum(axis=1)
    np.testing.assert_allclose(log_normal_pdf(x, mean, logvar).numpy(), expected, rtol=1e-5)
    images = sample_images(decoder, 7, seed=1)
    assert images.shape == (7, 28, 28, 1) and -1 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, sample_images(decoder, 7, seed=1))


def test_the_cvae_tutorial_step_lowers_its_negative_elbo_on_a_fixed_batch():
    import keras
    import tensorflow as tf
    from tutorial_cvae import tutorial_vae_step

    keras.utils.set_random_seed(0)
    train_step, _, compute_loss = tutorial_vae_step()
    images = np.full((32, 28, 28, 1), 0.05, "float32")
    images[:, 7:21, 7:21] = 0.95  # a bright square: 0.199 nats per pixel at best (156 in all)
    batch = tf.constant(images)
    before = float(np.mean([compute_loss(batch) for _ in range(8)]))
    for _ in range(100):
        train_step(batch)
    after = float(np.mean([compute_loss(batch) for _ in range(8)]))
    # logits near 0 at the start: log 2 = 0.693 nats per pixel, 543 in all (465 measured
    # after 100 steps, 271 after 300)
    assert 530 < before < 560 and 156 < after < before - 40, (before, after)


@pytest.mark.slow
def test_frontier_quick_run(tmp_path, monkeypatch):
    """GAN, VAE and a (tiny, untrained) diffusion model at 1 and 2 DDIM steps, one table;
    quadratic spacing at 2 steps."""
    import frontier

    monkeypatch.setattr(frontier, "print_json_line", lambda result: results.append(result))
    results = []
    frontier.main(["--quick", "--out", str(tmp_path)])
    result = results[0]
    rows = result["frontier"]
    assert [(r["family"], r["steps"]) for r in rows] == [
        ("GAN", 1), ("VAE", 1), ("diffusion", 1), ("diffusion", 2)
    ]  # fmt: skip
    assert [(r["spacing"], r["steps"]) for r in result["spacing"]] == [("quadratic", 2)]
    for row in rows + result["guidance"] + result["spacing"] + result["training"]:
        assert _positive(row["ms_per_image"]) and _positive(row["batch_of_one_ms"])
        assert _positive(row["fid"]) and 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
    assert [r["guidance"] for r in result["guidance"]] == [0.0, 2.0]
    assert {r["family"] for r in result["training"]} == {"GAN", "VAE", "diffusion"}
    assert result["models"]["GAN"] == {"zoo": "fashion_mnist_cgan", "train_minutes": 39.5}
    assert (tmp_path / "frontier.png").stat().st_size > 0
    assert "| diffusion | 2 |" in (tmp_path / "frontier.md").read_text()


@pytest.mark.slow
def test_text_diffusion_learning_quick_run(tmp_path, monkeypatch):
    """One eager epoch: the scores at both guidance scales are recorded, with chance, and
    with ``--attributes`` shape, size and exact match on both splits."""
    import text_diffusion_learning

    results = []
    monkeypatch.setattr(text_diffusion_learning, "print_json_line", results.append)
    text_diffusion_learning.main(["--quick", "--attributes", "--out", str(tmp_path)])
    result = results[0]
    assert set(result["scores"]) == {"guidance 1", "guidance 4", "attributes (guidance 4)"}
    assert result["epochs"] == 1 and result["command"].endswith("--attributes --train 128")
    for name in ("guidance 1", "guidance 4"):
        assert all(0 <= result["scores"][name][k] <= 1 for k in ("colour", "position", "both"))
    attributes = result["scores"]["attributes (guidance 4)"]
    assert set(attributes) == {"test", "test_compositional"}
    for read in attributes.values():
        assert set(read) == {"colour", "shape", "size", "position", "exact_match"}
        assert read["exact_match"] <= min(read["shape"], read["colour"])
    assert result["chance"]["colour"] == pytest.approx(1 / 6)
    markdown = (tmp_path / "text_diffusion_learning.md").read_text()
    assert "| guidance 4 |" in markdown and "| test_compositional |" in markdown


@pytest.mark.slow
def test_text_diffusion_learning_shape_label_control_quick_run(tmp_path, monkeypatch):
    """The control arm: a class-conditional U-Net told the shape, its drawings read back."""
    import text_diffusion_learning

    results = []
    monkeypatch.setattr(text_diffusion_learning, "print_json_line", results.append)
    text_diffusion_learning.main(["--shape-labels", "--large-only", "--quick", "--out", str(tmp_path)])  # fmt: skip
    result = results[0]
    assert (
        result["arm"] == "shape labels" and result["large_only"] and result["train_scenes"] == 128
    )
    assert set(result["shape_accuracy"]) == {"guidance 1", "guidance 4"}
    assert all(0 <= value <= 1 for value in result["shape_accuracy"].values())
    assert result["chance"] == pytest.approx(0.25) and result["command"].endswith("--large-only")
    assert "| guidance 4 |" in (tmp_path / "text_diffusion_learning_shape_labels.md").read_text()


def test_diffusion_precision_quick_run(tmp_path, monkeypatch):
    """Both precisions train (a few seconds each, tiny preset) and are scored the same way."""
    import diffusion_precision

    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    monkeypatch.setattr(diffusion_precision, "print_json_line", lambda r: results.append(r))
    results = []
    runs = tmp_path / "runs"
    diffusion_precision.main(["--quick", "--out", str(tmp_path), "--runs", str(runs)])
    result = results[0]
    assert list(result["sides"]) == ["float32", "mixed_bfloat16"]
    for precision, side in result["sides"].items():
        assert side["precision"] == precision and side["steps"] >= 1
        assert _positive(side["img_per_s"]) and _positive(side["quality"]["fid"])
        assert 0 <= side["quality"]["precision"] <= 1 and 0 <= side["quality"]["recall"] <= 1
        run = json.loads((runs / precision / "run.json").read_text())
        assert run["precision"] == precision and run["seed"] == 0 and run["conditional"]
    assert result["sampling"]["steps"] == 3 and result["n"] == 50
    saved = json.loads((tmp_path / "diffusion_precision.json").read_text())
    assert saved["fid_difference_bf16_minus_f32"] == result["fid_difference_bf16_minus_f32"]
    assert "| mixed_bfloat16 |" in (tmp_path / "diffusion_precision.md").read_text()


def test_frontier_snapshot_family_prefixes(capsys):
    """`--snapshots [gan:|vae:|diffusion:]MIN=DIR`; no prefix keeps meaning diffusion."""
    import argparse

    import frontier
    from frontier_io import Snapshot, parse_snapshot

    assert parse_snapshot("gan:10=runs/a") == Snapshot("GAN", 10.0, "runs/a")
    assert parse_snapshot("VAE:30=runs/b:c") == Snapshot("VAE", 30.0, "runs/b:c")
    assert parse_snapshot("diffusion:60=d") == parse_snapshot("60=d") == Snapshot("diffusion", 60.0, "d")  # fmt: skip
    for bad, named in (("gun:10=d", "'gun'"), ("gan:ten=d", "'ten'"), ("gan:10", "'gan:10'")):
        with pytest.raises(argparse.ArgumentTypeError, match=named):
            parse_snapshot(bad)
    with pytest.raises(SystemExit):
        frontier.main(["--snapshots", "gan:10=d", "gun:5=x"])
    assert "'gun'" in capsys.readouterr().err


def _frontier_file(directory: Path, *, n=20, seed=0) -> dict:
    """A results file as a 20-sample run of the zoo models and a diffusion run would write."""
    from frontier_io import describe

    def row(family, steps, **extra):
        return {"family": family, "steps": steps, "ms_per_image": 1.0, "batch_of_one_ms": 2.0,
                "fid": 123.0, "kid": 0.5, "precision": 0.5, "recall": 0.5, **extra}  # fmt: skip

    diffusion = directory / "diffusion_run"
    models = {"GAN": describe("fashion_mnist_cgan"), "VAE": describe("fashion_mnist_cvae"),
              "diffusion": describe(diffusion)}  # fmt: skip
    result = {
        "benchmark": "frontier", "dataset": "fashion_mnist", "n": n, "seed": seed, "models": models,
        "frontier": [row("GAN", 1), row("VAE", 1), row("diffusion", 1), row("diffusion", 2)],
        "guidance": [row("diffusion", 2, guidance=3.0)],
        "training": [row("GAN", 1, train_minutes=models["GAN"]["train_minutes"]),
                     row("VAE", 1, train_minutes=models["VAE"]["train_minutes"]),
                     row("diffusion", 2, train_minutes=10.0, run=str(diffusion))],
    }  # fmt: skip
    (directory / "frontier.json").write_text(json.dumps(result))
    return result


@pytest.mark.slow
def test_frontier_update_measures_only_the_missing_rows(tmp_path, monkeypatch):
    """`--update --snapshots gan:10=DIR` scores that snapshot once and keeps every other row."""
    import frontier
    import keras

    from imgenlib.models.gan import GANConfig, build_gan

    old = _frontier_file(tmp_path)
    snapshot = tmp_path / "gan_10"
    snapshot.mkdir()
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=10).build_for_training()
    gan.save(snapshot / "model.keras")
    (snapshot / "snapshot.txt").write_text("10 minutes, optimizer step 77\n")
    calls, measure = [], frontier.measure
    monkeypatch.setattr(frontier, "measure", lambda model, **kw: calls.append((model, kw)) or measure(model, **kw))  # fmt: skip
    monkeypatch.setattr(frontier, "print_json_line", lambda result: results.append(result))
    results = []
    argv = ["--update", "--n", "20", "--steps", "1,2", "--out", str(tmp_path), "--snapshots", f"gan:10={snapshot}"]  # fmt: skip
    frontier.main(argv)
    assert [(type(model).__name__, kw["n"], kw.get("steps")) for model, kw in calls] == [("GAN", 20, None)]  # fmt: skip
    result = results[0]
    for section in ("frontier", "guidance"):
        assert result[section] == old[section]
    kept, (new,) = [[r for r in result["training"] if ("update" in r) == added] for added in (False, True)]  # fmt: skip
    assert [{k: r[k] for k in row} for r, row in zip(kept, old["training"], strict=True)] == old[
        "training"
    ]
    assert kept[0]["zoo"] == "fashion_mnist_cgan"  # older files' zoo rows get the zoo's name
    assert new["family"] == "GAN" and new["train_minutes"] == 10.0 and new["steps"] == 1
    assert new["optimizer_steps"] == 77 and new["update"] == 1 and new["fid"] != 123.0
    assert json.loads((tmp_path / "frontier.json").read_text()) == json.loads(json.dumps(result))
    assert "| GAN | 10.0 | 77 | 1 |" in (tmp_path / "frontier.md").read_text()
    assert (tmp_path / "frontier.png").stat().st_size > 0
    frontier.main(argv)  # everything is in the file now: nothing to measure
    assert len(calls) == 1 and results[1]["training"] == result["training"]


def test_frontier_update_refuses_other_n_or_seed(tmp_path, monkeypatch):
    import frontier

    _frontier_file(tmp_path)
    monkeypatch.setattr(frontier, "measure", lambda *a, **kw: pytest.fail("measured"))
    base = ["--update", "--steps", "1,2", "--out", str(tmp_path), "--snapshots", "gan:10=x/y"]
    with pytest.raises(ValueError, match=r"n = 20, this run n = 30"):
        frontier.main([*base, "--n", "30"])
    with pytest.raises(ValueError, match=r"seed = 0, this run seed = 1"):
        frontier.main([*base, "--n", "20", "--seed", "1"])
    with pytest.raises(ValueError, match=r"diffusion model"):
        frontier.main([*base, "--n", "20", "--diffusion", str(tmp_path / "other_run")])


def test_frontier_load_names_a_directory_without_a_model(tmp_path):
    from frontier_io import load

    with pytest.raises(ValueError, match=r"model.keras.*" + str(tmp_path)):
        load(tmp_path)


def test_frontier_update_adds_only_the_missing_spacing_rows(tmp_path, monkeypatch, capsys):
    """`--spacing uniform,quadratic,linspace` adds a row per other spacing at each of --steps
    but 1 (where every spacing is [T − 1]); uniform is the frontier's row; a rerun adds none."""
    import frontier

    old = _frontier_file(tmp_path)
    measured = []

    def fake_measure(model, *, n, seed=0, steps=None, guidance=None, spacing=None, calls=3):
        measured.append((spacing, steps))
        return {"steps": steps, "spacing": spacing, "ms_per_image": 1.0, "batch_of_one_ms": 2.0,
                "fid": 50.0, "kid": 0.1, "precision": 0.5, "recall": 0.5}  # fmt: skip

    monkeypatch.setattr(frontier, "measure", fake_measure)
    monkeypatch.setattr(frontier, "load", lambda source: (object(), {}))
    monkeypatch.setattr(frontier, "print_json_line", lambda result: results.append(result))
    results = []
    argv = ["--update", "--n", "20", "--steps", "1,2", "--out", str(tmp_path),
            "--spacing", "uniform,quadratic,linspace"]  # fmt: skip
    frontier.main(argv)
    assert measured == [("quadratic", 2), ("linspace", 2)]
    result = results[0]
    assert [(r["spacing"], r["steps"], r["update"]) for r in result["spacing"]] == [
        ("linspace", 2, 1), ("quadratic", 2, 1)
    ]  # fmt: skip
    for section in ("frontier", "guidance"):
        assert result[section] == old[section]
    table = (tmp_path / "frontier.md").read_text()
    assert "| 2 | linspace | 1.0 | 50.0 |" in table and "| 2 | uniform | 1.0 | 123.0 |" in table
    frontier.main(argv)
    assert len(measured) == 2 and results[1]["spacing"] == result["spacing"]
    with pytest.raises(SystemExit):
        frontier.main([*argv[:-1], "quadratic,karras"])
    assert "Received: --spacing quadratic,karras" in capsys.readouterr().err


@pytest.mark.slow
def test_privacy_utility_quick_run(tmp_path, monkeypatch):
    """A private (σ = 1) and an ordinary tiny conditional GAN and a DP-MERF generator (ε = 1)
    scored alike; the private row's ε is dp-accounting's for its recorded steps, the DP-MERF
    row's the Gaussian mechanism's; --update keeps rows and refuses other n."""
    import dp_accounting
    import privacy_utility
    from dp_accounting import pld

    monkeypatch.setattr(privacy_utility, "print_json_line", lambda result: results.append(result))
    results = []
    privacy_utility.main(["--quick", "--out", str(tmp_path)])
    result = results[0]
    rows = {row["label"]: row for row in result["rows"]}
    assert list(rows) == ["1", "inf", "merf 1"] and rows["inf"]["epsilon"] == "inf"
    merf = rows.pop("merf 1")
    assert merf["family"] == "DP-MERF" and merf["private"] and merf["clip_norm"] is None
    sigma = merf["noise_multiplier"]
    single = pld.PLDAccountant().compose(dp_accounting.GaussianDpEvent(sigma))
    assert merf["epsilon"] == pytest.approx(1.0, abs=1e-6)
    assert single.get_epsilon(merf["delta"]) == pytest.approx(1.0, rel=1e-3)
    assert set(merf["membership"]) == {"distance"} and 0 <= merf["tstr_accuracy"] <= 1
    private = rows["1"]
    assert private["private"] and not rows["inf"]["private"]
    assert private["noise_multiplier"] == 1.0 and private["clip_norm"] == 1.0
    assert private["private_steps"] == 1797 // 32 and private["sampling_rate"] == 32 / 1797
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(32 / 1797, dp_accounting.GaussianDpEvent(1.0)),
        private["private_steps"],
    )
    expected = dp_accounting.rdp.RdpAccountant().compose(event).get_epsilon(private["delta"])
    assert private["epsilon"] == pytest.approx(expected, rel=1e-6)
    for row in rows.values():
        assert 0 <= row["tstr_accuracy"] <= 1 and _positive(row["fid"])
        assert set(row["membership"]) == {"discriminator", "distance"}
        for attack in row["membership"].values():
            assert 0 <= attack["auc"] <= 1 and 0 <= attack["tpr_at_fpr_0.01"] <= 1
    assert 0.5 < result["real_accuracy"] <= 1
    assert result["anchors"]["DPDM"] == {"1": 0.794, "10": 0.862}
    assert (tmp_path / "privacy_utility.png").stat().st_size > 0
    table = (tmp_path / "privacy_utility.md").read_text()
    assert "| inf | GAN | ∞ |" in table and "| DP-GAN | 0.105 | 0.610 |" in table
    assert "| merf 1 | DP-MERF | 1.00 (1e-05) |" in table
    settings = dict(result["settings"], n_per_class=30)
    with pytest.raises(SystemExit, match="n_per_class"):
        privacy_utility.run({}, settings=settings, out_dir=tmp_path, update=True)


@pytest.mark.slow
def test_gpu_matrix_quick_run(tmp_path, monkeypatch, capsys):
    """Every precision × XLA variant of the GAN's training step trains (on the CPU here) and
    is compared with float32 eager from the same round; auto's choice is printed."""
    import gpu

    from imgenlib.precision import choose_precision

    monkeypatch.setattr(gpu, "print_json_line", lambda r: results.append(r))
    results = []
    gpu.main(["--quick", "--families", "gan", "--out", str(tmp_path)])
    result = results[0]
    rows = result["families"]["gan"]
    assert list(rows) == list(gpu.variants()) and len(rows) == 1 + 3 * 2
    assert rows["float32 eager"]["ratio_vs_float32_eager"] == 1.0
    for name, row in rows.items():
        assert _positive(row["img_per_s_median"]), name
        expected = row["img_per_s_median"] / rows["float32 eager"]["img_per_s_median"]
        assert row["ratio_vs_float32_eager"] == pytest.approx(expected, rel=0.02), name
    assert result["auto"]["gan"] == choose_precision("gan").reason
    assert choose_precision("gan").reason in capsys.readouterr().out
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert saved["families"] == result["families"]
    assert "| gan | mixed_float16 + XLA |" in (tmp_path / "gpu.md").read_text()


@pytest.mark.slow
def test_gan_recipes_quick_run_scores_every_arm(tmp_path, monkeypatch):
    import gan_recipes

    results = []
    monkeypatch.setattr(gan_recipes, "print_json_line", results.append)
    gan_recipes.main(["--quick", "--seeds", "0", "1", "--out", str(tmp_path)])
    result = results[0]
    assert result["complete"] and result["seeds"] == [0, 1]
    assert list(result["arms"]) == gan_recipes.QUICK_ARMS  # the baseline first
    for name, arm in result["arms"].items():
        assert [row["seed"] for row in arm["seeds"]] == [0, 1]
        for row in arm["seeds"]:
            assert row["steps"] >= 2 and row["cpu_seconds"] >= 1.0  # stopped by the CPU budget
            assert _positive(row["fid"]) and _positive(row["kid"] + 1.0), (name, row)
        assert arm["fid_mean"] == round(sum(r["fid"] for r in arm["seeds"]) / 2, 2)
    cosine = result["arms"]["cosine"]["optimizer_override"]
    assert cosine["schedule"] == "cosine"
    markdown = (tmp_path / "gan_recipes.md").read_text()
    assert all(f"| {name} |" in markdown for name in gan_recipes.QUICK_ARMS)
    assert (tmp_path / "gan_recipes.png").stat().st_size > 0
    saved = json.loads((tmp_path / "gan_recipes.json").read_text())
    assert saved["arms"].keys() == result["arms"].keys()

    seed_1 = {**saved, "seeds": [1], "arms": gan_recipes.summarise({n: a["seeds"][1:] for n, a in saved["arms"].items()})}  # fmt: skip
    seed_0 = {**saved, "seeds": [0], "arms": gan_recipes.summarise({n: a["seeds"][:1] for n, a in saved["arms"].items()})}  # fmt: skip
    merged = gan_recipes.merge([seed_0, seed_1])
    assert merged["arms"]["baseline"]["fid_mean"] == result["arms"]["baseline"]["fid_mean"]
    with pytest.raises(ValueError, match="repeat a seed"):
        gan_recipes.merge([seed_0, seed_0])


def test_gan_recipes_table_flags_a_generator_that_draws_one_flat_image():
    """An SGD collapse draws the same flat image for every z and scores a fixed FID; the
    table says so rather than leaving a plausible-looking number."""
    import gan_recipes

    seeds = [
        {"seed": 0, "steps": 10, "fid": 54.5, "kid": 0.6, "sample_std": 0.0},
        {"seed": 1, "steps": 10, "fid": 20.1, "kid": 0.2, "sample_std": 0.41},
        {"seed": 2, "steps": 10, "fid": None, "kid": None, "sample_std": None},
    ]
    arms = gan_recipes.summarise({"sgd_momentum": seeds})
    row = next(line for line in gan_recipes.table(arms).splitlines() if "sgd_momentum" in line)
    assert "54.5 (constant images) / 20.1 / diverged" in row
    old = {"baseline": [{"seed": 0, "steps": 10, "fid": 19.4, "kid": 0.2}]}  # no sample_std
    assert "| 19.4 |" in gan_recipes.table(gan_recipes.summarise(old))


def test_word_classifier_shortcut_quick_run(tmp_path, monkeypatch):
    """Both arms trained and read back on both splits at every checkpoint; the table written."""
    import word_classifier_shortcut

    results = []
    monkeypatch.setattr(word_classifier_shortcut, "print_json_line", results.append)
    word_classifier_shortcut.main(["--quick", "--out", str(tmp_path)])
    result = results[0]
    assert set(result["arms"]) == {"plain", "factorised"} and result["steps"] == 20
    for history in result["arms"].values():
        assert [row["step"] for row in history] == [10, 20]
        for row in history:
            for split in ("test", "test_compositional"):
                assert set(row[split]) == {"shape", "colour"}
                assert all(0 <= value <= 1 for value in row[split].values())
    markdown = (tmp_path / "word_classifier_shortcut.md").read_text()
    assert "| factorised | 20 |" in markdown and "held out: shape / colour" in markdown
