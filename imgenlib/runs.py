"""Run directories: what a training run is and how to read one back.

`RunConfig` (defined in `imgenlib.run_config`, re-exported here with `KINDS`, `PRECISIONS`,
`SPLITS` and `LEARNING_RATE_FIELDS`) is the one description of a run, shared by
`imgenlib.training.train`, the ``python -m imgenlib train`` command, the ``DIR/run.json``
record and `check_same_run`, the check that refuses to resume a run directory with other
settings::

    config = RunConfig(kind="gan", data="digits", out="runs/digits", epochs=5)
    longer = dataclasses.replace(config, epochs=20)   # the same run, resumed for longer

The functions below read a finished (or interrupted) run directory back: `load_run_config`,
`load_run_model` and `load_run_data`, the last with the one rule for which real images a
run is compared with (`default_split`: the test split when the dataset has one; it and
`load_split` live in `imgenlib.data.splits` and are re-exported here, loaded on first use
so that the CLI's ``--help`` does not load the data modules).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imgenlib.io import load_json
from imgenlib.run_config import KINDS, LEARNING_RATE_FIELDS, PRECISIONS, SPLITS, RunConfig

if TYPE_CHECKING:  # re-exported, loaded on first use (module __getattr__ below)
    from imgenlib.data.splits import default_split, load_split

__all__ = [
    "KINDS",
    "LEARNING_RATE_FIELDS",
    "PRECISIONS",
    "SPLITS",
    "RunConfig",
    "check_run_directory",
    "check_same_run",
    "default_split",
    "load_run_config",
    "load_run_data",
    "load_run_model",
    "load_split",
    "run_summary",
]


def __getattr__(name: str):
    if name in ("default_split", "load_split"):
        from imgenlib.data import splits

        return getattr(splits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_same_run(config: RunConfig, recorded: dict) -> None:
    """Raise unless the `recorded` run.json holds the same `RunConfig.IDENTITY` values.

    Precision may change between sessions (float32 ↔ mixed_bfloat16), except into or out of
    ``mixed_float16``, whose loss-scaled optimisers hold other state.

    A record written before `style` and `condition` existed holds the run they resolve to
    (``emoji``: twitter; conditional: category).

    Args:
        config: the `resolved` config of the session about to start.
        recorded: the run directory's ``run.json`` as a dict (today's or an older one).

    Raises:
        ValueError: naming each differing setting, recorded value → requested value.
    """
    from imgenlib.data.emoji import resolved_style_and_condition

    recorded = {
        "text": False,  # recorded before text runs existed
        "text_encoder": "new",  # recorded before the choice existed
        **recorded,
        **resolved_style_and_condition(
            recorded.get("data"), recorded.get("conditional"),
            recorded.get("style"), recorded.get("condition"),
        ),
    }  # fmt: skip
    identity = config.identity()
    differing = [
        f"{key}: {recorded.get(key)!r} → {identity[key]!r}"
        for key in RunConfig.IDENTITY
        if recorded.get(key) != identity[key]
    ]
    before, now = recorded.get("precision", "float32"), config.precision
    if (before == "mixed_float16") != (now == "mixed_float16"):
        differing.append(
            f"precision: {before!r} → {now!r} (loss scaling changes the optimisers' state)"
        )
    if differing:
        raise ValueError(
            f"{str(config.out)!r} holds a run with other settings ({'; '.join(differing)}); "
            "re-run with the same settings to resume, or choose another --out."
        )


def load_run_config(run_dir) -> RunConfig:
    """The `RunConfig` recorded in ``run_dir/run.json`` (with ``out=run_dir``)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise ValueError(f"No run.json in {str(run_dir)!r}: not a run directory written by train.")
    return RunConfig.from_json(load_json(path), run_dir)


def check_run_directory(run_dir, *, model: bool = True) -> Path:
    """``run_dir/model.keras``, after checking that `run_dir` exists and (with `model`) that
    it holds that file. Needs no TensorFlow.

    Raises:
        ValueError: the directory or its model.keras is missing (saying how to make one).
    """
    path = Path(run_dir) / "model.keras"
    if not Path(run_dir).is_dir():
        raise ValueError(f"Run directory does not exist. Received: {str(run_dir)!r}")
    if model and not path.is_file():
        raise ValueError(
            f"No model.keras in {str(run_dir)!r}: train first with "
            f"`python -m imgenlib train gan|vae|diffusion --data NAME --out {run_dir}`."
        )
    return path


def load_run_model(run_dir):
    """Load ``run_dir/model.keras`` (safe mode), with a clear error when there is none."""
    from imgenlib.models import load_model

    return load_model(check_run_directory(run_dir))


def load_run_data(run_dir, split: str | None = None, n: int | None = None):
    """Load the images a run was trained on (as recorded in its ``run.json``), from `split`.

    Args:
        run_dir: a run directory written by `imgenlib.training.train`.
        split: ``"train"`` or ``"test"``; default: `default_split`.
        n: keep the first `n` images.

    Returns:
        ``(images, labels, split)``; labels are None unless the run is conditional.
    """
    from imgenlib.data.splits import load_split

    config = load_run_config(run_dir)
    return load_split(
        config.data,
        split,
        image_size=config.image_size,
        conditional=config.conditional,
        n=n,
        background=config.background,
        style=config.style,
        condition=config.condition,
    )


def run_summary(
    config: RunConfig, run_dir, images, num_classes, *, replicas: int, steps: int,
    seconds: float, stopped: bool,
) -> dict:  # fmt: skip
    """The summary `imgenlib.training.train` writes to ``DIR/metrics.json`` (before its notes):
    the run's settings, this session's steps, time and img/s, the last epoch's metrics from
    ``history.json`` and, when FID was logged, the best epoch."""
    history_file = Path(run_dir) / "history.json"
    history = load_json(history_file) if history_file.exists() else {}
    images_per_second = steps * config.batch_size / seconds if seconds > 0 else None
    summary = {
        "kind": config.kind,
        "data": config.data,
        "preset": config.preset,
        "conditional": config.conditional,
        "condition": config.condition,
        "text": config.text,
        "epochs_completed": len(next(iter(history.values()), [])),
        "epochs_requested": config.epochs,
        "steps_this_session": steps,
        "seconds_this_session": round(seconds, 1),
        "images_per_second": None if images_per_second is None else round(images_per_second, 1),
        "stopped_by_time_budget": stopped,
        "final": {name: round(float(values[-1]), 5) for name, values in history.items() if values},
        "train_images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "num_classes": num_classes,
        "strategy": config.strategy,
        "replicas": replicas,
        "deterministic": config.deterministic,
        "precision": config.precision,
    }
    fids = history.get("fid", [])
    if any(math.isfinite(value) for value in fids):
        best = int(np.nanargmin(fids))
        summary["best"] = {
            "epoch": best + 1, "fid": round(fids[best], 4), "file": "best.keras",
            "eval_n": config.eval_n,
        }  # fmt: skip
    return summary
