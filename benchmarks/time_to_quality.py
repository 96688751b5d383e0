"""Time to quality: FID against wall-clock, imgenlib's preset vs the TF tutorial's recipe.

    python benchmarks/time_to_quality.py                 # 10 minutes each, FID every minute
    python benchmarks/time_to_quality.py --quick         # a smoke run (seconds)
    python benchmarks/time_to_quality.py --data emoji --minutes 30 --every 300 --n 2000
    python benchmarks/time_to_quality.py --family vae    # the VAE preset vs the TF CVAE tutorial

``--family gan`` (default) compares the GAN preset with the TF DCGAN tutorial (below);
``--family vae`` compares the VAE preset (``python -m imgenlib train vae --data ...``) with
the TF CVAE tutorial as published (`tutorial_cvae`: latent 2, Adam 1e-4, batch 32, its
single-sample ELBO; targets in [0, 1] rather than binarised) and writes
``results/time_to_quality_vae.*`` (``time_to_quality_emoji_vae.*`` with ``--data emoji``).
``--family diffusion`` compares the diffusion preset with the keras.io DDIM example's recipe
(`ddim_recipe`: widths 32-64-96-128, MAE on the noise, AdamW, batch 64, 28×28 padded to
32×32); both are sampled with DDIM (η = 0) in ``--sampling-steps`` steps (default 20, the
example's), so each image costs the same number of network calls of its own network:
``results/time_to_quality_diffusion.*``.

With ``--data emoji`` (64×64 colour, `python -m imgenlib fetch emoji` first) imgenlib runs
its `emoji` preset (the source article's 64×64 DCGAN) and the tutorial recipe is scaled to
64×64×3: the same layers, a 16×16×256 seed instead of 7×7×256 and three output channels;
results go to ``results/time_to_quality_emoji.*``. The emoji test split holds 371 images
(per style), so FID there compares `--n` samples with 371 real images: comparable between
the recipes and over time, not with Fashion-MNIST's n = 10,000 numbers.

Both recipes train on the same Fashion-MNIST training images, one after the other, in one
process, for the same wall-clock budget counted from their first step (tracing included,
model building and data loading excluded):

- **imgenlib**: ``imgenlib.training.train("gan", "fashion_mnist", out=RUN_DIR, max_minutes=M)``
  — exactly what ``python -m imgenlib train gan --data fashion_mnist --out RUN_DIR
  --max-minutes M`` runs (the `fashion_mnist` preset: 28×28 DCGAN, width 0.5, latent 128,
  non-saturating loss, generator EMA 0.999, batch 128). ``RUN_DIR`` is a normal run
  directory afterwards, so ``python -m imgenlib eval RUN_DIR --n 10000`` re-measures it.
- **tutorial**: https://www.tensorflow.org/tutorials/generative/dcgan as published — its
  networks, BCE loss, Adam 1e-4 for both, noise 100, batch 256, ``shuffle(60000).batch(256)``
  and its ``@tf.function train_step`` (`train_throughput.tutorial_step`).

Every `--every` seconds a callback copies the sampling generator's weights (for imgenlib
the EMA generator, which is what ``generate`` uses); after both runs each copy is scored
with the shipped Fashion-MNIST extractor: FID and KID of `--n` samples (seed 0) against
`--n` test images, as ``python -m imgenlib eval`` does; the final copy also gets precision
and recall (k = 3 nearest neighbours in the same features). Writes ``results/time_to_quality.json``,
``.md``, a plot ``time_to_quality.png`` and the final sample grids
``time_to_quality_{imgenlib,tutorial}_samples.png``. The last stdout line is the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from _common import (
    RESULTS,
    ROOT,
    machine,
    markdown_table,
    print_json_line,
    training_images,
    write_result,
)
from train_throughput import NOISE_DIM

TUTORIAL_BATCH = 256
RECIPES = {"imgenlib": "imgenlib fashion_mnist preset", "tutorial": "TF DCGAN tutorial"}
DATA = ("fashion_mnist", "emoji")
FAMILIES = ("gan", "vae", "diffusion")
# --quick: 15 s per recipe. The first step alone (graph tracing) took 7.5 s on a 2-core CPU
# without AVX-512, so a shorter budget can end with a single snapshot.
QUICK_MINUTES = 0.25


def recipe_names(data: str = "fashion_mnist", family: str = "gan") -> dict:
    """The two recipes' display names for `data` and model `family`."""
    if family == "vae":
        scaled = "" if data == "fashion_mnist" else " at 64x64x3"
        return {"imgenlib": f"imgenlib {data} VAE preset", "tutorial": f"TF CVAE tutorial{scaled}"}  # fmt: skip
    if family == "diffusion":
        return {"imgenlib": f"imgenlib {data} diffusion preset", "tutorial": "keras.io DDIM example"}  # fmt: skip
    if data == "fashion_mnist":
        return dict(RECIPES)
    return {"imgenlib": f"imgenlib {data} preset", "tutorial": "TF DCGAN tutorial at 64x64x3"}


def result_name(data: str = "fashion_mnist", family: str = "gan") -> str:
    name = "time_to_quality" if data == "fashion_mnist" else f"time_to_quality_{data}"
    return name if family == "gan" else f"{name}_{family}"


class Snapshots:
    """Copies of a generator's weights at wall-clock marks (0 s is the first step's start)."""

    def __init__(self, every: float):
        self.every = every
        self.taken: list[dict] = []
        self.start = None
        self.next_mark = every
        self.steps = 0
        self.pause = 0.0  # time spent copying weights, taken off the clock

    def begin(self):
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.pause

    def step(self, network):
        """Count one training step; copy the weights if a mark has passed."""
        self.steps += 1
        if self.elapsed() >= self.next_mark:
            self._take(network)

    def finish(self, network):
        """Copy the final weights, unless the last mark already caught them."""
        if not self.taken or self.taken[-1]["steps"] != self.steps:
            self._take(network)

    def _take(self, network):
        seconds = self.elapsed()
        copy_start = time.perf_counter()
        self.taken.append({"seconds": round(seconds, 1), "steps": self.steps, "weights": network.get_weights()})  # fmt: skip
        self.pause += time.perf_counter() - copy_start
        while self.next_mark <= seconds:
            self.next_mark += self.every


def run_imgenlib(
    minutes: float,
    every: float,
    run_dir: Path,
    data: str = "fashion_mnist",
    kind: str = "gan",
    **settings,
) -> tuple[Snapshots, object, dict]:
    import keras

    from imgenlib.training import train

    snapshots = Snapshots(every)

    class Snap(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            # once: a VAE's sampler() builds a new Keras model around its decoder each call
            self.network = self.model.sampler()
            snapshots.begin()

        def on_train_batch_end(self, batch, logs=None):
            snapshots.step(self.network)

        def on_train_end(self, logs=None):
            snapshots.finish(self.network)
            self.final_model = self.model

    snap = Snap()
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run, not a resume
    summary = train(
        kind, data, run_dir, max_minutes=minutes, callbacks=[snap], verbose=0, **settings
    )
    return snapshots, snap.final_model, summary


def run_tutorial(
    minutes: float,
    every: float,
    n_images: int | None,
    data: str = "fashion_mnist",
    family: str = "gan",
) -> tuple[Snapshots, object]:
    """Train the tutorial's recipe for `minutes`; returns its snapshots and the network that
    draws samples (the GAN's generator, the VAE's decoder)."""
    import keras
    import tensorflow as tf
    from train_throughput import tutorial_step
    from tutorial_cvae import tutorial_vae_step

    keras.utils.set_random_seed(0)
    if data == "fashion_mnist":
        images, _ = training_images(n_images)
    else:
        from imgenlib.data import load_images

        images, _ = load_images(data, "train", n=n_images)
    recipe = None
    if family == "vae":
        train_step, generator, _ = tutorial_vae_step(images.shape[1:])
        images, batch_size = (images + 1.0) / 2.0, tutorial_batch(family)  # its [0, 1] targets
    elif family == "diffusion":
        from ddim_recipe import DDIMRecipe

        recipe = DDIMRecipe(images)
        train_step, generator, batch_size = recipe.step, recipe.ema_network, tutorial_batch(family)
        images = recipe.pad_images(images)  # padded once, not per batch
    else:
        train_step, generator = tutorial_step(
            TUTORIAL_BATCH, return_generator=True, image_shape=images.shape[1:]
        )
        batch_size = TUTORIAL_BATCH
    dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images)).batch(batch_size)
    snapshots = Snapshots(every)
    snapshots.begin()
    done = False
    while not done:
        for batch in dataset:
            train_step(batch)
            snapshots.step(generator)
            if snapshots.elapsed() > 60 * minutes:
                done = True
                break
    snapshots.finish(generator)
    snapshots.train_size, snapshots.recipe = len(images), recipe
    return snapshots, generator


def tutorial_batch(family: str = "gan") -> int:
    """The tutorial recipe's batch size: the DCGAN tutorial's 256, the CVAE tutorial's 32."""
    import ddim_recipe
    import tutorial_cvae

    sizes = {"vae": tutorial_cvae.BATCH_SIZE, "diffusion": ddim_recipe.BATCH_SIZE}
    return sizes.get(family, TUTORIAL_BATCH)


def score_snapshots(
    snapshots: Snapshots, network, sample, n: int, data: str = "fashion_mnist"
) -> list[dict]:
    from imgenlib.evaluation import evaluate_images

    rows = []
    for index, snap in enumerate(snapshots.taken):
        network.set_weights(snap["weights"])
        last = index == len(snapshots.taken) - 1  # the final weights: precision and recall too
        metrics = ("fid", "kid", "precision", "recall") if last else ("fid", "kid")
        report = evaluate_images(sample(n), data, seed=0, n_real=n, metrics=metrics)
        rows.append({"seconds": snap["seconds"], "steps": snap["steps"], **{m: report[m] for m in metrics}})  # fmt: skip
    return rows


def plot(
    curves: dict, floor: float | None, path: Path, n: int, data="fashion_mnist", family="gan"
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for (key, rows), style in zip(curves.items(), ("o-", "s--"), strict=False):
        ax.plot(
            [r["seconds"] / 60 for r in rows],
            [r["fid"] for r in rows],
            style,
            label=recipe_names(data, family)[key],
        )
    if floor is not None:
        ax.axhline(floor, color="grey", lw=0.8, ls=":", label=f"train vs test images ({floor})")
    ax.set_yscale("log")
    ax.set_xlabel("training wall-clock (minutes, this CPU)")
    ax.set_ylabel(f"FID, n = {n:,} (lower is better)")
    title = {"fashion_mnist": "Fashion-MNIST", "emoji": "Emoji 64x64 colour"}[data]
    ax.set_title(f"{title} {family.upper()}s, shipped extractor: FID against training time", fontsize=10)  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from imgenlib.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def real_data_floor(data: str = "fashion_mnist") -> float | None:
    """FID(train, test) from ``benchmarks/metric_floor.py``'s results, if they exist."""
    path = RESULTS / f"metric_floor_{data}.json"
    return json.loads(path.read_text())["train_vs_test"]["fid"] if path.exists() else None


def replot(out=None, data: str = "fashion_mnist", family: str = "gan") -> Path:
    """Redraw ``time_to_quality.png`` from ``time_to_quality.json`` (no training)."""
    out, name = Path(out or RESULTS), result_name(data, family)
    result = json.loads((out / f"{name}.json").read_text())
    curves = {key: result[key]["curve"] for key in RECIPES}
    plot(curves, real_data_floor(data), out / f"{name}.png", result["n"], data, family)
    return out / f"{name}.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="budget per recipe (default 10)"
    )
    parser.add_argument(
        "--every", type=float, default=60.0, help="seconds between snapshots (default 60)"
    )
    parser.add_argument("--n", type=int, default=10000, help="samples per FID (default 10,000)")
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "time_to_quality"),
                        help="where the imgenlib run is written (default runs/time_to_quality)")  # fmt: skip
    parser.add_argument(
        "--quick",
        action="store_true",
        help="15 s per recipe, 2,048 images, a snapshot every 5 s, n 200 (diffusion: 2 steps)",
    )
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot from the JSON")
    parser.add_argument("--data", default="fashion_mnist", choices=DATA, help="dataset (default fashion_mnist)")  # fmt: skip
    parser.add_argument("--family", default="gan", choices=FAMILIES,
                        help="gan: vs the TF DCGAN tutorial (default); vae: vs the TF CVAE tutorial; "
                        "diffusion: vs the keras.io DDIM example")  # fmt: skip
    parser.add_argument("--sampling-steps", type=int, default=20,
                        help="--family diffusion: DDIM steps per sample for both (default 20)")  # fmt: skip
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"),
                        help="imgenlib's training precision (default: train's own, 'auto')")  # fmt: skip
    args = parser.parse_args(argv)
    if args.replot:
        print(replot(args.out, args.data, args.family))
        return
    n_images = None
    if args.quick:
        import os

        os.environ["IMGENLIB_QUICK"] = "1"  # train() then uses 2,048 images too
        args.minutes, args.every, args.n, n_images = QUICK_MINUTES, 5.0, 200, 2048
        args.sampling_steps = min(args.sampling_steps, 2)
    checked = (("--minutes", args.minutes), ("--every", args.every), ("--n", args.n), ("--sampling-steps", args.sampling_steps))  # fmt: skip
    for flag, value in checked:
        if value <= 0:
            parser.error(f"{flag} must be positive. Received: {value}")
    out = Path(args.out or RESULTS)
    load_start = time.perf_counter()

    import numpy as np
    import tensorflow as tf

    from imgenlib import presets
    from imgenlib.plotting import save_grid

    data, family = args.data, args.family
    name, names = result_name(data, family), recipe_names(data, family)
    settings = {"precision": args.precision} if args.precision else {}
    ours, model, summary = run_imgenlib(args.minutes, args.every, Path(args.run_dir), data, family, **settings)  # fmt: skip
    theirs, generator = run_tutorial(args.minutes, args.every, n_images, data, family)
    sampler = model.sampler()

    steps = {"steps": args.sampling_steps} if family == "diffusion" else {}

    def sample_ours(n):
        return model.generate(n, seed=0, **steps)

    train_size, their_batch = theirs.train_size, tutorial_batch(family)

    def sample_tutorial(n):
        if family == "diffusion":
            return theirs.recipe.sample(n, seed=0, steps=args.sampling_steps)
        if family == "vae":
            from tutorial_cvae import sample_images

            return sample_images(generator, n, seed=0)
        z = np.random.default_rng(0).standard_normal((n, NOISE_DIM)).astype("float32")
        return np.concatenate([generator(tf.constant(z[i : i + 500]), training=False).numpy()
                               for i in range(0, n, 500)])  # fmt: skip

    curves = {
        "imgenlib": score_snapshots(ours, sampler, sample_ours, args.n, data),
        "tutorial": score_snapshots(theirs, generator, sample_tutorial, args.n, data),
    }
    raw = {}
    if family == "diffusion":  # how far the recipe's EMA (0.999, no warm-up) lags its weights
        from imgenlib.evaluation import evaluate_images

        final = theirs.recipe.sample(args.n, seed=0, steps=args.sampling_steps, network="raw")
        report = evaluate_images(final, data, seed=0, n_real=args.n, metrics=("fid", "kid"))
        raw = {"final_without_ema": {"fid": report["fid"], "kid": report["kid"]}}
    scale = 2 if data == "fashion_mnist" else 1
    save_grid(sample_ours(64), out / f"{name}_imgenlib_samples.png", ncols=8, scale=scale)
    save_grid(sample_tutorial(64), out / f"{name}_tutorial_samples.png", ncols=8, scale=scale)

    floor = None if args.quick else real_data_floor(data)
    plot(curves, floor, out / f"{name}.png", args.n, data, family)

    ours_batch = presets.get(family, presets.default_preset(family, data)).batch_size
    precision = f" --precision {args.precision}" if args.precision else ""
    result = {
        "benchmark": name,
        "data": data,
        "family": family,
        "recipes": names,
        "minutes_per_recipe": args.minutes,
        **({"sampling_steps": args.sampling_steps} if family == "diffusion" else {}),
        "n": args.n,
        "imgenlib": {
            "command": f"python -m imgenlib train {family} --data {data} --out RUN --max-minutes {args.minutes:g}{precision}",
            "preset": summary.get("preset", presets.default_preset(family, data)),
            "batch_size": ours_batch,
            "img_per_s": round(ours.steps * ours_batch / ours.taken[-1]["seconds"], 1),
            "epochs_completed": summary["epochs_completed"],
            "curve": curves["imgenlib"],
        },
        "tutorial": {
            "batch_size": their_batch,
            "img_per_s": round(theirs.steps * their_batch / theirs.taken[-1]["seconds"], 1),
            "epochs_completed": round(theirs.steps * their_batch / train_size, 2),
            **raw,
            "curve": curves["tutorial"],
        },
        "final_fid_ratio_tutorial_over_imgenlib": round(curves["tutorial"][-1]["fid"] / curves["imgenlib"][-1]["fid"], 2),
        "wall_seconds": round(time.perf_counter() - load_start, 1),
        "machine": machine(),
    }  # fmt: skip
    rows = []
    for key, label in names.items():
        for point in result[key]["curve"]:
            minutes = f"{point['seconds'] / 60:.1f}"
            row = [label, minutes, point["steps"], point["fid"], point["kid"]]
            rows.append(row + [point.get(key, "") for key in ("precision", "recall")])  # final only
    headers = ["recipe", "minutes", "steps", f"FID (n={args.n})", "KID", "precision", "recall"]
    table = markdown_table(headers, rows)
    write_result(name, result, table, out)
    print(table)
    print_json_line(result)


if __name__ == "__main__":
    main()
