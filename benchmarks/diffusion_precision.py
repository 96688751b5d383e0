"""bfloat16 against float32 diffusion training at equal wall time: the quality each reaches.

    python benchmarks/diffusion_precision.py --minutes 10 --n 2000       # the pilot
    python benchmarks/diffusion_precision.py --quick                      # a smoke run (seconds)

Trains the same run twice through `imgenlib.training.train` — what ``python -m imgenlib
train diffusion --data fashion_mnist --conditional --max-minutes M [--precision
mixed_bfloat16]`` runs — once with ``precision="float32"`` and once with
``"mixed_bfloat16"`` (`--order` says which first), each for `--minutes` of wall time, with
the same preset, seed and data (so the same initial weights, data order and noise per
step). Each side's final model then draws `--n` samples (classes in equal shares) at
`--steps` DDIM steps (η = 0, guidance 1) with seed `--seed`, and is scored against the
first n test images with the shipped extractor (`imgenlib.evaluation.evaluate`: FID, KID,
precision, recall, ...). The sides run one after the other, not in turns: the 1-minute load
average at each side's start and end is recorded; compare sides only from a run on a quiet
machine. bfloat16 can only win here by taking more steps in the same time (``steps`` and
``img_per_s`` per side) without losing more per step than it gains. `--image-size S` trains
at S×S (16, 28, 32 or 64); the samples are upsampled to the extractor's size to be scored
(``--quick``: the digits at 16×16).

Writes ``results/diffusion_precision.json`` and ``.md``; the last stdout line is the JSON.
`--runs DIR` keeps the two run directories (``DIR/float32``, ``DIR/mixed_bfloat16``:
``python -m imgenlib eval`` works on them); by default they go to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import machine, markdown_table, print_json_line, write_result

PRECISIONS = ("float32", "mixed_bfloat16")
METRICS = ("fid", "kid", "kid_std", "precision", "recall")


def train_side(precision: str, *, out: Path, data: str, preset: str, minutes: float, seed: int,
               conditional: bool, image_size: int | None = None) -> dict:  # fmt: skip
    """Train one side for `minutes`; its summary with the load average around it, and its
    final model (the one ``model.keras`` holds) as ``"model"``."""
    import keras

    from imgenlib.training import train

    class Final(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            self.final_model = self.model

    final = Final()
    load_before = round(os.getloadavg()[0], 2)
    summary = train(
        "diffusion", data, out / precision, preset=preset, max_minutes=minutes, seed=seed,
        conditional=conditional, precision=precision, verbose=0, callbacks=[final],
        image_size=image_size,
    )  # fmt: skip
    return {
        "model": final.final_model,
        "precision": summary["precision"],
        "steps": summary["steps_this_session"],
        "seconds": summary["seconds_this_session"],
        "img_per_s": summary["images_per_second"],
        "final_loss": summary["final"].get("loss"),
        "load_average_1min": [load_before, round(os.getloadavg()[0], 2)],
        "run_dir": str(out / precision),
    }


def score_side(model, *, data: str, n: int, steps: int, seed: int) -> dict:
    """FID, KID, precision, recall of `n` samples of a run's final model at `steps` steps.

    `model`: the model, or its run directory (``model.keras`` is loaded). `run` passes the
    model in memory: the weights ``model.keras`` holds, its sampler already traced.
    """
    from imgenlib.evaluation import evaluate
    from imgenlib.models import load_model

    if isinstance(model, (str, Path)):
        model = load_model(Path(model) / "model.keras")
    result = evaluate(model, data, n=n, seed=seed, sampling={"steps": steps})
    return {name: result[name] for name in METRICS}


def run(*, minutes, n, steps=25, seed=0, data="fashion_mnist", preset="fashion_mnist",
        conditional=True, order=PRECISIONS, runs_dir=None, image_size=None) -> tuple[dict, str]:  # fmt: skip
    """Both sides, trained then scored; (result, Markdown table)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(runs_dir) if runs_dir else Path(scratch)
        sides = {}
        for precision in order:
            sides[precision] = train_side(
                precision, out=out, data=data, preset=preset, minutes=minutes, seed=seed,
                conditional=conditional, image_size=image_size,
            )  # fmt: skip
        for side in sides.values():
            model = side.pop("model")
            side["quality"] = score_side(model, data=data, n=n, steps=steps, seed=seed)
    exact, mixed = sides["float32"], sides["mixed_bfloat16"]
    rows = [
        [name, side["steps"], side["img_per_s"], side["final_loss"],
         *(side["quality"][m] for m in ("fid", "kid", "precision", "recall"))]
        for name, side in sides.items()
    ]  # fmt: skip
    speed = mixed["steps"] / exact["steps"] if exact["steps"] else None
    result = {
        "benchmark": "diffusion_precision",
        "data": data,
        "preset": preset,
        "image_size": image_size,
        "conditional": conditional,
        "minutes": minutes,
        "seed": seed,
        "n": n,
        "sampling": {"sampler": "ddim", "steps": steps, "eta": 0.0, "guidance": 1.0},
        "order": list(order),
        "sides": sides,
        "steps_ratio_bf16_vs_f32": None if speed is None else round(speed, 3),
        "fid_difference_bf16_minus_f32": round(
            mixed["quality"]["fid"] - exact["quality"]["fid"], 4
        ),
        "runs_kept": runs_dir is not None,
    }
    header = ["precision", "steps", "img/s", "final loss", "FID", "KID", "precision", "recall"]
    table = markdown_table(header, rows)
    note = (
        f"\n{minutes} min each on {data} (preset {preset}, seed {seed}); {n} samples at "
        f"{steps} DDIM steps vs the first {n} test images. Load average (start, end): "
        + ", ".join(f"{k} {v['load_average_1min']}" for k, v in sides.items())
        + ".\n"
    )
    return result, table + note


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="per side (default 10)")
    parser.add_argument("--n", type=int, default=2000, help="samples scored (default 2000)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--preset", default="fashion_mnist")
    parser.add_argument(
        "--unconditional", action="store_true", help="train without labels (default: labels)"
    )
    parser.add_argument("--image-size", type=int, help="train at this side (default: the data's;"
                        " samples are upsampled to the extractor's size to be scored)")  # fmt: skip
    parser.add_argument("--order", choices=("float32-first", "bf16-first"), default="float32-first")
    parser.add_argument("--runs", help="keep the two run directories here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="digits at 16x16, tiny preset, 3 s per side, n 50, 3 steps",
    )
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.preset, args.minutes, args.n, args.steps = "digits", "tiny", 0.05, 50, 3
        args.image_size = 16
    order = PRECISIONS if args.order == "float32-first" else PRECISIONS[::-1]
    result, markdown = run(
        minutes=args.minutes, n=args.n, steps=args.steps, seed=args.seed, data=args.data,
        preset=args.preset, conditional=not args.unconditional, order=order,
        runs_dir=args.runs, image_size=args.image_size,
    )  # fmt: skip
    result["machine"] = machine()
    write_result("diffusion_precision", result, markdown, args.out)
    print(markdown)
    print_json_line(result)


if __name__ == "__main__":
    main()
