"""Run directories (imgenlib.runs): the resume identity check, run.json round trip (old
records too), train's config argument, the default split.

RunConfig's own validation is tested in tests/test_run_config.py.
"""

import dataclasses
import json

import pytest

from imgenlib.io import save_json
from imgenlib.precision import resolve_auto
from imgenlib.runs import (
    RunConfig,
    check_same_run,
    default_split,
    load_run_config,
    load_run_data,
    load_split,
)
from imgenlib.training import train

# What `train` wrote to run.json before RunConfig existed (the identity fields only).
OLD_RUN_JSON = {
    "kind": "gan", "data": "digits", "preset": "tiny", "conditional": False, "loss": None,
    "batch_size": 32, "seed": 0, "image_size": None,
}  # fmt: skip


def test_identity_fields_decide_what_may_change_on_resume(tmp_path):
    # background, style and condition joined the identity later; a run.json without them
    # reads as None (the defaults; for digits and unconditional runs they resolve to None)
    # and so did the DP options (None in a run that is not private) and text (False)
    assert RunConfig.IDENTITY == (
        *OLD_RUN_JSON, "background", "style", "condition", "text", "text_encoder",
        *RunConfig.PRIVACY,
    )  # fmt: skip
    config = RunConfig.tiny(tmp_path).resolved()
    assert config.identity() == {
        **OLD_RUN_JSON, "background": None, "style": None, "condition": None, "text": False,
        "text_encoder": "new", **dict.fromkeys(RunConfig.PRIVACY),
    }  # fmt: skip
    check_same_run(config, OLD_RUN_JSON)
    recorded = config.to_json()
    for change in ({"epochs": 9}, {"learning_rate": 1e-5}, {"precision": "mixed_bfloat16"},
                   {"max_minutes": 1.0}, {"strategy": "mirrored"}, {"deterministic": True}):  # fmt: skip
        check_same_run(dataclasses.replace(config, **change), recorded)  # may change
    for name, value in (("seed", 1), ("batch_size", 16), ("loss", "hinge"), ("conditional", True),
                        ("background", "white")):  # fmt: skip
        with pytest.raises(ValueError, match=f"other settings \\({name}: .* → {value!r}\\)"):
            check_same_run(dataclasses.replace(config, **{name: value}), recorded)


def test_run_json_round_trip(tmp_path):
    config = dataclasses.replace(
        RunConfig.tiny(tmp_path), max_minutes=2.5, conditional=True, loss="hinge", seed=3,
        learning_rate=1e-4, eval_every=2, patience=3, eval_n=100, precision="mixed_bfloat16",
    )  # fmt: skip
    record = json.loads(json.dumps(config.to_json()))
    assert "out" not in record and set(record) == {f.name for f in dataclasses.fields(config)} - {
        "out"
    }
    assert RunConfig.from_json(record, tmp_path) == config
    save_json(record, tmp_path / "run.json")
    assert load_run_config(tmp_path) == config
    with pytest.raises(ValueError, match=r"unknown settings \['colour'\]"):
        RunConfig.from_json({**record, "colour": "red"}, tmp_path)
    with pytest.raises(ValueError, match="No run.json"):
        load_run_config(tmp_path / "elsewhere")


@pytest.mark.slow
def test_a_run_json_written_before_run_config_still_resumes(tmp_path):
    """A run directory whose run.json holds only the identity fields (as written by the
    driver before RunConfig) is accepted: train resumes it, then records the full config."""
    out = tmp_path / "run"
    train("gan", "digits", out, preset="tiny", epochs=1, verbose=0)
    recorded = resolve_auto(RunConfig.tiny(out))[0]  # run.json holds the precision "auto" chose
    assert json.loads((out / "run.json").read_text()) == recorded.resolved().to_json()
    save_json(OLD_RUN_JSON, out / "run.json")
    assert load_run_config(out) == RunConfig(**OLD_RUN_JSON, out=out)
    summary = train(dataclasses.replace(RunConfig.tiny(out), epochs=2), verbose=0)
    assert summary["epochs_completed"] == 2 and summary["steps_this_session"] == 1797 // 32
    record = json.loads((out / "run.json").read_text())
    assert record["epochs"] == 2 and {k: record[k] for k in OLD_RUN_JSON} == OLD_RUN_JSON
    with pytest.raises(ValueError, match=r"other settings \(seed: 0 → 1\)"):
        train(dataclasses.replace(RunConfig.tiny(out), seed=1), verbose=0)


def test_train_takes_a_config_or_its_fields_but_not_both(tmp_path):
    with pytest.raises(TypeError, match="dataclasses.replace.*Received: epochs"):
        train(RunConfig.tiny(tmp_path), epochs=2)
    with pytest.raises(TypeError, match="Received: data, out"):
        train(RunConfig.tiny(tmp_path), "digits", tmp_path)
    assert not (tmp_path / "run.json").exists()


def test_one_default_split_rule(tmp_path):
    from PIL import Image

    assert default_split("shapes") == default_split("fashion_mnist") == "test"
    assert default_split("digits") == "train"  # its only split
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 80, 0, 0)).save(tmp_path / f"{i}.png")
    assert default_split(str(tmp_path)) == "train"
    images, labels, split = load_split(str(tmp_path), image_size=8)
    assert images.shape == (3, 8, 8, 3) and labels is None and split == "train"
    with pytest.raises(ValueError, match="only a 'train' split. Received: split='test'"):
        load_split(str(tmp_path), "test")
    images, labels, split = load_split("shapes", conditional=True, n=5)
    assert split == "test" and len(images) == len(labels) == 5
    save_json({**OLD_RUN_JSON, "data": "shapes"}, tmp_path / "run.json")
    images, labels, split = load_run_data(tmp_path, n=4)
    assert split == "test" and len(images) == 4 and labels is None  # unconditional run
