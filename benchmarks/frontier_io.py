"""The parts of `frontier.py` that do not measure: snapshots, models, row keys, the report.

- `parse_snapshot` reads ``--snapshots [FAMILY:]MINUTES=DIR``;
- `describe` and `load` name and load a run directory, a snapshot directory or a zoo name;
- `optimizer_steps` says how many optimizer steps a model had when it was saved;
- `row_key`, `check_compatible`, `backfill` and `merge` let ``--update`` add rows to a results file;
- `markdown` and `plot` write ``frontier.md`` and ``frontier.png``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import NamedTuple

from _common import markdown_table

__all__ = [
    "FAMILIES",
    "SECTIONS",
    "Snapshot",
    "backfill",
    "check_compatible",
    "describe",
    "load",
    "markdown",
    "merge",
    "optimizer_steps",
    "parse_snapshot",
    "plot",
    "row_key",
    "row_order",
    "zoo_minutes",
]

FAMILIES = ("GAN", "VAE", "diffusion")
PREFIXES = {family.lower(): family for family in FAMILIES}
SECTIONS = ("frontier", "guidance", "spacing", "training")
COLOURS = {"GAN": "tab:red", "VAE": "tab:blue", "diffusion": "tab:green"}


class Snapshot(NamedTuple):
    """One ``--snapshots`` entry: a model of `family` after `minutes` of training."""

    family: str
    minutes: float
    directory: str


def parse_snapshot(text: str) -> Snapshot:
    """``[gan:|vae:|diffusion:]MINUTES=DIR`` → `Snapshot` (no prefix: diffusion).

    Args:
        text: one ``--snapshots`` value, e.g. ``"gan:10=/work/runs/s7/fm_cgan60_10"``.

    Returns:
        A `Snapshot`.

    Raises:
        argparse.ArgumentTypeError: no ``=``, an unknown family or minutes that are not a
            non-negative number; the message names the value.

    Example:
        >>> parse_snapshot("vae:30=runs/cvae")
        Snapshot(family='VAE', minutes=30.0, directory='runs/cvae')
    """
    head, _, directory = text.partition("=")
    prefix, _, minutes = head.rpartition(":")
    if not directory or not minutes:
        raise argparse.ArgumentTypeError(
            f"a snapshot must be [gan:|vae:|diffusion:]MINUTES=DIR. Received: {text!r}"
        )
    family = PREFIXES.get((prefix or "diffusion").lower())
    if family is None:
        raise argparse.ArgumentTypeError(
            f"the family prefix must be one of gan:, vae:, diffusion:. Received: {prefix!r} "
            f"in {text!r}"
        )
    try:
        value = float(minutes)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"training minutes must be a number >= 0. Received: {minutes!r} in {text!r}"
        )
    return Snapshot(family, value, directory)


def describe(name_or_dir) -> dict:
    """``{"run": absolute DIR}`` for a directory, ``{"zoo": NAME, "train_minutes": M}`` else."""
    if Path(name_or_dir).is_dir() or "/" in str(name_or_dir):
        return {"run": str(Path(name_or_dir).resolve())}
    return {"zoo": str(name_or_dir), "train_minutes": zoo_minutes(name_or_dir)}


def load(name_or_dir):
    """A model and what it was, from a run or snapshot directory or a zoo name.

    Args:
        name_or_dir: a directory holding ``model.keras`` (a run directory, or a snapshot
            copy with ``model.keras`` and ``snapshot.txt``), or a zoo name.

    Returns:
        ``(model, describe(name_or_dir))``.

    Raises:
        ValueError: a directory without ``model.keras``, or an unknown zoo name.
    """
    from imgenlib import pretrained
    from imgenlib.runs import load_run_model

    source = describe(name_or_dir)
    if "zoo" in source:
        return pretrained.load(source["zoo"]), source
    if not (Path(source["run"]) / "model.keras").is_file():
        raise ValueError(
            "a model directory must hold model.keras (a run directory, or a snapshot copy: "
            f"model.keras + snapshot.txt). Received: {str(name_or_dir)!r}"
        )
    return load_run_model(source["run"]), source


def backfill(result: dict) -> dict:
    """Name the zoo model of older files' zoo training rows; add their runs' optimizer steps."""
    for row in result.get("training", []):
        zoo = result.get("models", {}).get(row["family"], {})
        if "run" not in row and "zoo" not in row and "zoo" in zoo:
            row["zoo"] = zoo["zoo"]
        if "run" in row and "optimizer_steps" not in row:
            row["optimizer_steps"] = optimizer_steps(row["run"])
    return result


def zoo_minutes(name) -> float:
    """The training minutes the zoo's registry records for model `name`."""
    from imgenlib import pretrained

    return round(pretrained.info(str(name))["train_seconds"] / 60, 1)


def optimizer_steps(directory, model=None) -> int | None:
    """Optimizer steps behind a saved model, or None when nothing records them.

    In this order: ``snapshot.txt`` ("10 minutes, optimizer step 1640"); the loaded
    `model`'s optimizer (the generator's for a GAN; counts every session of a resumed run);
    the run's ``metrics.json`` ``steps_this_session`` (its last session only).
    """
    path = Path(directory)
    snapshot = path / "snapshot.txt"
    if snapshot.is_file():
        found = re.search(r"optimizer step (\d+)", snapshot.read_text())
        if found:
            return int(found.group(1))
    optimizer = getattr(model, "g_optimizer", None) or getattr(model, "optimizer", None)
    if optimizer is not None and int(optimizer.iterations) > 0:
        return int(optimizer.iterations)
    metrics = path / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text()).get("steps_this_session")
    return None


def row_key(section: str, row: dict) -> tuple:
    """What identifies a row: (section, family, steps, guidance, spacing, training minutes)."""
    minutes = row.get("train_minutes")
    return (section, row["family"], row["steps"], row.get("guidance"), row.get("spacing"),
            None if minutes is None else float(minutes))  # fmt: skip


def check_compatible(existing: dict, *, n: int, seed: int, test_set: dict, models: dict) -> None:
    """Refuse to merge into `existing` rows measured another way.

    Raises:
        ValueError: n, seed, the test set or a family's model differ; the message names both
            values.
    """
    old_test_set = existing.get("test_set") or {"dataset": existing.get("dataset"),
                                                 "split": "test", "n_real": existing.get("n")}  # fmt: skip
    theirs = {"n": existing.get("n"), "seed": existing.get("seed", 0), "test set": old_test_set}
    ours = {"n": n, "seed": seed, "test set": test_set}
    for family, source in models.items():
        if family in existing.get("models", {}):
            theirs[f"{family} model"] = existing["models"][family]
            ours[f"{family} model"] = source
    for name, value in ours.items():
        if theirs[name] != value:
            raise ValueError(
                f"cannot --update: the results file has {name} = {theirs[name]!r}, this run "
                f"{name} = {value!r}. Measure with the file's values, or write a new file "
                f"(without --update, or another --out). Received: {name}={value!r}"
            )


def merge(existing: dict, new_rows: dict) -> dict:
    """`existing` with `new_rows` (section → rows) added, each section in `row_order`."""
    merged = dict(existing)
    for section in SECTIONS:
        merged[section] = sorted([*existing.get(section, []), *new_rows.get(section, [])],
                                 key=row_order)  # fmt: skip
    return merged


def row_order(row: dict) -> tuple:
    """GAN, VAE, diffusion; then by training minutes, network calls, guidance, spacing."""
    return (FAMILIES.index(row["family"]), row.get("train_minutes", 0), row["steps"],
            row.get("guidance", 1.0), row.get("spacing", ""))  # fmt: skip


def markdown(result) -> str:
    """The frontier, guidance, spacing and training-minutes tables of `result`."""
    header = ["family", "network calls", "ms/image (batch 250)", "ms for one image", "FID", "KID", "precision", "recall"]  # fmt: skip
    body = [
        [r["family"], r["steps"], r["ms_per_image"], r["batch_of_one_ms"], round(r["fid"], 2),
         round(r["kid"], 4), round(r["precision"], 3), round(r["recall"], 3)]
        for r in result["frontier"]
    ]  # fmt: skip
    n, seed = result["n"], result.get("seed", 0)
    text = f"Fashion-MNIST, n = {n} samples (seed {seed}) vs {n} test images.\n\n"
    text += markdown_table(header, body)
    if result["guidance"]:
        rows = [[r["guidance"], r["steps"], r["ms_per_image"], round(r["fid"], 2), round(r["kid"], 4),
                 round(r["precision"], 3), round(r["recall"], 3)] for r in result["guidance"]]  # fmt: skip
        text += "\n" + markdown_table(["guidance", "DDIM steps", "ms/image", "FID", "KID", "precision", "recall"], rows)  # fmt: skip
    if result.get("spacing"):
        text += "\n" + markdown_table(["DDIM steps", "spacing", "ms/image", "FID", "KID", "precision", "recall"],
                                      _spacing_rows(result))  # fmt: skip
    if result["training"]:
        rows = [[r["family"], r["train_minutes"], _or_dash(r.get("optimizer_steps")), r["steps"],
                 round(r["fid"], 2), round(r["kid"], 4), _model_name(r)]
                for r in result["training"]]  # fmt: skip
        text += "\n" + markdown_table(
            ["family", "training minutes", "optimizer steps", "network calls", "FID", "KID",
             "model"], rows
        )  # fmt: skip
    return text


def _spacing_rows(result) -> list:
    """The spacing table: each spacing row, and the frontier's diffusion row at its steps
    (``uniform``), by steps."""
    rows = result["spacing"]
    steps = {r["steps"] for r in rows}
    rows = rows + [
        r for r in result["frontier"] if r["family"] == "diffusion" and r["steps"] in steps
    ]
    rows = sorted(rows, key=lambda r: (r["steps"], r.get("spacing", "")))
    return [[r["steps"], r.get("spacing", "uniform"), r["ms_per_image"], round(r["fid"], 2),
             round(r["kid"], 4), round(r["precision"], 3), round(r["recall"], 3)] for r in rows]  # fmt: skip


def _or_dash(value):
    return "–" if value is None else value


def _model_name(row) -> str:
    return f"zoo {row['zoo']}" if "zoo" in row else Path(row.get("run", "?")).name


def plot(result, path):
    """Two panels: FID against ms per image (log; guided points labelled w), and FID
    against training minutes (a line per family through its runs; zoo models apart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for family, colour in COLOURS.items():
        rows = [r for r in result["frontier"] if r["family"] == family]
        xs, ys = [r["ms_per_image"] for r in rows], [r["fid"] for r in rows]
        axes[0].plot(xs, ys, "o-" if len(rows) > 1 else "o", color=colour, label=family)
        if family == "diffusion":
            for r in rows:
                axes[0].annotate(str(r["steps"]), (r["ms_per_image"], r["fid"]), fontsize=8,
                                 textcoords="offset points", xytext=(4, 4))  # fmt: skip
        rows = [r for r in result["training"] if r["family"] == family]
        runs = sorted((r for r in rows if "zoo" not in r), key=lambda r: r["train_minutes"])
        if runs:
            axes[1].plot([r["train_minutes"] for r in runs], [r["fid"] for r in runs], "o-",
                         color=colour, label=f"{family} ({_calls(runs)})")  # fmt: skip
        for r in rows:
            if "zoo" in r:
                axes[1].plot(r["train_minutes"], r["fid"], "*", color=colour, markersize=11,
                             markeredgecolor="black", label=f"{family}, zoo model")  # fmt: skip
    guided = result["guidance"]
    if guided:
        axes[0].plot([r["ms_per_image"] for r in guided], [r["fid"] for r in guided], "D",
                     color="tab:purple", markerfacecolor="none", markersize=7,
                     label="diffusion, guided (labels: steps, w)")  # fmt: skip
        for r in guided:
            axes[0].annotate(f"{r['steps']}, w={r['guidance']:g}", (r["ms_per_image"], r["fid"]), fontsize=8,
                             color="tab:purple", textcoords="offset points", xytext=(6, -10))  # fmt: skip
    spacings = sorted({r["spacing"] for r in result.get("spacing", [])})
    for marker, name in zip("sv^P", spacings, strict=False):
        rows = [r for r in result["spacing"] if r["spacing"] == name]
        axes[0].plot([r["ms_per_image"] for r in rows], [r["fid"] for r in rows], marker,
                     color="tab:olive", markerfacecolor="none", label=f"diffusion, {name} spacing")  # fmt: skip
    label = f"FID (n = {result['n']})"
    axes[0].set(xscale="log", yscale="log", xlabel="ms per image (batch 250, 2-core CPU)",
                ylabel=label, title="Speed vs quality (labels: DDIM steps, guidance w)")  # fmt: skip
    axes[1].set(yscale="log", xlabel="training minutes", ylabel=label,
                title="Quality vs training time")  # fmt: skip
    minutes = sorted({r["train_minutes"] for r in result["training"]})
    if minutes:
        axes[1].set_xticks(minutes, [f"{m:g}" for m in minutes])
    for axis in axes:
        axis.yaxis.set_major_formatter(ticker.LogFormatter())
        axis.yaxis.set_minor_formatter(ticker.LogFormatter(minor_thresholds=(2, 0.5)))
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _calls(rows) -> str:
    steps = sorted({r["steps"] for r in rows})
    text = "/".join(map(str, steps))
    return f"{text} network call" + ("" if steps == [1] else "s")
