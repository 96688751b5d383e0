"""Smoke test of benchmarks/: each script's `run` at minimal size gives well-formed results.

Not a speed test: only the shape of the JSON and that rates and times are positive.
"""

import json
import sys
from pathlib import Path

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
    assert _positive(size["one_image_ms"]["p50"]) and size["one_image_ms"]["p95"] >= size["one_image_ms"]["p50"]  # fmt: skip
    assert _positive(size["batch_img_per_s"]["8"]) and _positive(size["widget_frame_ms"]["p50"])
    assert _positive(size["exported"]["tflite"]["one_image_ms"]["p50"])
    assert set(result["goals_28x28"]) == {"one_image_ms_p50", "widget_frame_ms_p50", "batch_img_per_s"}  # fmt: skip
    goals = result["goals_28x28"]
    assert goals["batch_img_per_s"]["measured"] == max(size["batch_img_per_s"].values())
    rows = run.summary_rows({"sampling": result})
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
    assert all(goal["met"] for goal in sampling.goals_met(fast).values())
    assert not any(goal["met"] for goal in sampling.goals_met(slow).values())
    assert sampling.goals_met(fast)["batch_img_per_s"]["measured"] == 9000.0


@pytest.mark.slow
def test_memory_child_process():
    import memory

    measured = memory.measure("import", 1, 16)
    assert measured["mode"] == "import" and measured["peak_rss_mb"] > 50


@pytest.mark.slow
def test_time_to_quality_quick_run(tmp_path, monkeypatch):
    import run
    import time_to_quality

    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    monkeypatch.setattr(time_to_quality, "print_json_line", lambda result: results.append(result))
    results = []
    time_to_quality.main(["--quick", "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    result = results[0]
    for key in ("imgenlib", "tutorial"):
        curve = result[key]["curve"]
        assert len(curve) >= 2 and _positive(result[key]["img_per_s"])
        seconds = [point["seconds"] for point in curve]
        assert (
            seconds == sorted(seconds) and seconds[-1] <= 60 * 0.1 + 5
        )  # the budget, plus one step
        assert [p["steps"] for p in curve] == sorted(
            {p["steps"] for p in curve}
        )  # no duplicate final
        assert all(_positive(point["fid"]) for point in curve)
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
    import time_to_quality

    monkeypatch.setenv("IMGENLIB_QUICK", "1")
    monkeypatch.setattr(time_to_quality, "print_json_line", lambda result: results.append(result))
    results = []
    time_to_quality.main(
        ["--quick", "--data", "emoji", "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")]
    )
    result = results[0]
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
def test_frontier_quick_run(tmp_path, monkeypatch):
    """GAN, VAE and a (tiny, untrained) diffusion model at 1 and 2 DDIM steps, one table."""
    import frontier

    monkeypatch.setattr(frontier, "print_json_line", lambda result: results.append(result))
    results = []
    frontier.main(["--quick", "--out", str(tmp_path)])
    result = results[0]
    rows = result["frontier"]
    assert [(r["family"], r["steps"]) for r in rows] == [
        ("GAN", 1), ("VAE", 1), ("diffusion", 1), ("diffusion", 2)
    ]  # fmt: skip
    for row in rows + result["guidance"] + result["training"]:
        assert _positive(row["ms_per_image"]) and _positive(row["batch_of_one_ms"])
        assert _positive(row["fid"]) and 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
    assert [r["guidance"] for r in result["guidance"]] == [0.0, 2.0]
    assert {r["family"] for r in result["training"]} == {"GAN", "VAE", "diffusion"}
    assert result["models"]["GAN"] == {"zoo": "fashion_mnist_cgan", "train_minutes": 39.5}
    assert (tmp_path / "frontier.png").stat().st_size > 0
    assert "| diffusion | 2 |" in (tmp_path / "frontier.md").read_text()
