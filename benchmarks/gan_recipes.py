"""GAN recipes at equal CPU time: optimisers, learning rates, TTUR, a schedule, losses, SN, DiffAugment.

    python benchmarks/gan_recipes.py                      # 90 CPU-s per arm, seeds 0 and 1
    python benchmarks/gan_recipes.py --quick              # a smoke run (seconds)
    python benchmarks/gan_recipes.py --arms baseline hinge --cpu-seconds 30 --seeds 0

The source article's §5.2 (optimisation) and the usual GAN loss menu, measured instead of
eyeballed. Every arm trains the same small DCGAN (`GANConfig` with width 0.25, latent 128,
batch 64, no generator EMA: the raw generator is scored) on Fashion-MNIST's 60,000
training images and changes one thing against the **baseline**, the DCGAN recipe:
non-saturating loss, Adam with learning rate 2e-4 and β1 = 0.5 for both networks.

**Equal time is equal CPU time.** The machine is shared, so wall-clock budgets would
reward whichever arm ran while the others were idle. An arm trains until its process CPU
time (`time.process_time`, all threads) since the end of its first step passes
`--cpu-seconds` (the first step, graph tracing, is not counted; it is counted as a step).
TensorFlow runs on one intra-op and one inter-op thread, so the CPU time is the
arithmetic itself rather than threads spinning while they wait for a core. A cheaper step
buys more steps: WGAN-GP's five critic steps per generator step are paid for here.

Each arm is scored by FID and KID of `--n` samples (seed 0) against the first `--n`
Fashion-MNIST test images with the shipped Fashion-MNIST extractor
(`imgenlib.evaluation.evaluate_images`, what ``python -m imgenlib eval`` uses), for every
seed in `--seeds` (the seed sets the weights, the data order and the training noise).
FID at n = 2,000 is biased upwards against n = 10,000 numbers elsewhere in the repository;
compare the arms with each other, not with those.

The cosine arm decays both learning rates to 0 over the number of steps the baseline made
in the same seed (the baseline always runs first), i.e. over about the arm's own budget.

Writes ``results/gan_recipes.json`` (after every arm, so an interrupted run keeps what it
measured), ``gan_recipes.md`` and the plot ``gan_recipes.png`` (FID per arm, one dot per
seed, a bar at the mean). The last stdout line is the JSON. The committed results are 90
CPU-s × seeds 0, 1, 2, the seeds as three processes side by side (`command` in the JSON);
``results/gan_recipes_20s.*`` keep an earlier 20 CPU-s × 2 seeds run (notebook 02 shows both).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, markdown_table, print_json_line, training_images, write_result

NAME = "gan_recipes"
WIDTH, LATENT_DIM, BATCH_SIZE = 0.25, 128, 64
BASE_LR = 2e-4
WGAN_GP = {"loss": "wasserstein_gp", "d_steps": 5, "g_learning_rate": 1e-4, "d_learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9}  # fmt: skip
# name: (group, what changes against the baseline, GANConfig overrides, optimiser override)
# An optimiser override is make_optimizer's arguments for both networks (GANConfig has no
# SGD momentum); "cosine" there is filled in with the baseline's step count.
ARMS = {
    "baseline": ("optimiser", "Adam 2e-4, β1 0.5 (DCGAN)", {}, None),
    "adam_beta1_0.9": ("optimiser", "Adam 2e-4, β1 0.9 (Keras default)", {"beta_1": 0.9}, None),
    "adam_lr_1e-4": (
        "optimiser",
        "Adam 1e-4, β1 0.5",
        {"g_learning_rate": 1e-4, "d_learning_rate": 1e-4},
        None,
    ),
    "adam_lr_5e-4": (
        "optimiser",
        "Adam 5e-4, β1 0.5",
        {"g_learning_rate": 5e-4, "d_learning_rate": 5e-4},
        None,
    ),
    "ttur": (
        "optimiser",
        "TTUR: G 1e-4, D 4e-4 (Adam β1 0.5)",
        {"g_learning_rate": 1e-4, "d_learning_rate": 4e-4},
        None,
    ),
    "cosine": (
        "optimiser",
        "Adam 2e-4 β1 0.5, cosine decay to 0",
        {},
        {"name": "adam", "learning_rate": BASE_LR, "schedule": "cosine"},
    ),
    "rmsprop": ("optimiser", "RMSprop 2e-4", {"optimizer": "rmsprop"}, None),
    "sgd_momentum": (
        "optimiser",
        "SGD 1e-2, momentum 0.9",
        {},
        {"name": "sgd", "learning_rate": 1e-2, "momentum": 0.9},
    ),
    "minimax": ("loss", "minimax loss", {"loss": "minimax"}, None),
    "hinge": ("loss", "hinge loss", {"loss": "hinge"}, None),
    "least_squares": ("loss", "least-squares loss", {"loss": "least_squares"}, None),
    "wasserstein_gp": (
        "loss",
        "WGAN-GP: 5 critic steps, Adam 1e-4 (0, 0.9), no BN",
        WGAN_GP,
        None,
    ),
    "spectral_norm": ("stabiliser", "spectral norm in D", {"spectral_norm": True}, None),
    "diffaugment": (
        "stabiliser",
        "DiffAugment translation,cutout",
        {"augment": "translation,cutout"},
        None,
    ),
}
QUICK_ARMS = ["baseline", "cosine", "wasserstein_gp"]  # the optimiser override and d_steps paths


def cpu_budget(seconds: float):
    """A Keras callback that stops `fit` once the process has used `seconds` of CPU time.

    The clock starts at the end of the first step (graph tracing is not counted); every
    step, the first included, is counted in its ``steps``.
    """
    import keras

    class CPUBudget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.cpu_seconds, self.wall_seconds = 0, 0.0, 0.0
            self._cpu_start = self._wall_start = None

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self._cpu_start is None:
                self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()
                return
            self.cpu_seconds = time.process_time() - self._cpu_start
            self.wall_seconds = time.perf_counter() - self._wall_start
            if self.cpu_seconds >= seconds:
                self.model.stop_training = True

    return CPUBudget()


def train_arm(name, seed, images, cpu_seconds, cosine_steps, n):
    """Train one arm for one seed; its steps, times and FID/KID."""
    import keras

    from imgenlib import data
    from imgenlib.evaluation import evaluate_images
    from imgenlib.models import GANConfig, build_gan
    from imgenlib.optimizers import make_optimizer

    _, _, overrides, optimiser = ARMS[name]
    keras.utils.set_random_seed(seed)
    config = GANConfig(latent_dim=LATENT_DIM, width_multiplier=WIDTH, **overrides)
    model = build_gan(config, images.shape[1:], seed=seed)
    if optimiser is not None:
        settings = dict(optimiser)
        if settings.get("schedule") == "cosine":
            settings["decay_steps"] = max(1, int(cosine_steps))
        model.compile(g_optimizer=make_optimizer(**settings), d_optimizer=make_optimizer(**settings))  # fmt: skip
    dataset = data.make_dataset(images, batch_size=BATCH_SIZE, seed=seed, repeat=True)
    budget = cpu_budget(cpu_seconds)
    model.fit(dataset, steps_per_epoch=10**7, epochs=1, callbacks=[budget], verbose=0, shuffle=False)  # fmt: skip
    samples = model.generate(n, seed=0)
    if finite(float(abs(samples).max())):
        report = evaluate_images(samples, "fashion_mnist", seed=0, n_real=n, metrics=("fid", "kid"))  # fmt: skip
        fid, kid = report["fid"], report["kid"]
    else:  # a diverged generator: no score, said so in the table
        fid = kid = None
    return {
        "seed": seed,
        "steps": budget.steps,
        "cpu_seconds": round(budget.cpu_seconds, 1),
        "wall_seconds": round(budget.wall_seconds, 1),
        "fid": fid,
        "kid": kid,
        # spread of the samples' pixels: ~0 for a collapsed generator drawing one flat image,
        # whose FID is then a constant of the data, not a measure of the recipe
        "sample_std": round(float(np.std(samples)), 4) if finite(fid) else None,
    }


def finite(value) -> bool:
    """A measured score (None or NaN: the generator diverged)."""
    return value is not None and math.isfinite(value)


def summarise(arms_done: dict) -> dict:
    """Per-arm means (over the seeds with finite scores) next to the per-seed values."""
    out = {}
    for name, runs in arms_done.items():
        group, what, overrides, optimiser = ARMS[name]
        runs = [{**r, **{k: r[k] if finite(r[k]) else None for k in ("fid", "kid")}} for r in runs]
        fids = [r["fid"] for r in runs if finite(r["fid"])]
        kids = [r["kid"] for r in runs if finite(r["kid"])]
        out[name] = {
            "group": group,
            "what": what,
            "config_overrides": overrides,
            "optimizer_override": optimiser,
            "seeds": runs,
            "fid_mean": round(statistics.fmean(fids), 2) if fids else None,
            "kid_mean": round(statistics.fmean(kids), 5) if kids else None,
            "steps_mean": round(statistics.fmean(r["steps"] for r in runs)),
        }
    return out


def merge(parts: list) -> dict:
    """One result from runs of the same budget and n with different seeds.

    Only the arms every part measured are kept; ``complete`` is true when every part was.

    Raises:
        ValueError: if the parts differ in budget, n or training images, or repeat a seed.
    """
    first = parts[0]
    for part in parts:
        for key in ("cpu_seconds_per_arm", "n", "train_images"):
            if part[key] != first[key]:
                raise ValueError(f"cannot merge runs with different {key}: {part[key]} vs {first[key]}")  # fmt: skip
    seeds = [seed for part in parts for seed in part["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs repeat a seed: {seeds}")
    names = [name for name in first["arms"] if all(name in part["arms"] for part in parts)]
    done = {name: [row for part in parts for row in part["arms"][name]["seeds"]] for name in names}  # fmt: skip
    commands = "; ".join(part["command"] for part in parts)
    return {
        **first,
        "command": commands,
        "seeds": seeds,
        "complete": all(part["complete"] for part in parts),
        "arms": summarise(done),
        "wall_seconds": max(part["wall_seconds"] for part in parts),
        "machine": {
            **(first.get("machine") or machine()),
            "load_average_1min": [
                part.get("machine", {}).get("load_average_1min") for part in parts
            ],
        },
    }


CONSTANT_STD = (
    0.01  # pixel std ([-1, 1] scale) below which a generator's samples are one flat image
)


def _seed_fid(run: dict) -> str:
    """A seed's FID for the table: "diverged" (no finite samples), the FID, and a flag when
    the samples are all the same flat image (an SGD collapse scores a fixed FID)."""
    if not finite(run["fid"]):
        return "diverged"
    std = run.get("sample_std")  # absent in results written before it was recorded
    flat = std is not None and std < CONSTANT_STD
    return f"{run['fid']:.1f}" + (" (constant images)" if flat else "")


def table(arms: dict) -> str:
    rows = []
    for name, arm in arms.items():
        per_seed = " / ".join(_seed_fid(r) for r in arm["seeds"])
        kid_seed = " / ".join("–" if not finite(r["kid"]) else f"{r['kid']:.3f}" for r in arm["seeds"])  # fmt: skip
        fid = "–" if arm["fid_mean"] is None else f"{arm['fid_mean']:.1f}"
        kid = "–" if arm["kid_mean"] is None else f"{arm['kid_mean']:.3f}"
        rows.append([name, arm["what"], arm["steps_mean"], fid, per_seed, kid, kid_seed])
    header = ["arm", "what changes", "steps", "FID mean", "FID per seed", "KID mean", "KID per seed"]  # fmt: skip
    return markdown_table(header, rows)


def plot(arms: dict, path: Path, cpu_seconds: float, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(arms)
    colours = {"optimiser": "tab:blue", "loss": "tab:orange", "stabiliser": "tab:green"}
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.2), dpi=110)
    for y, name in enumerate(names):
        arm = arms[name]
        fids = [r["fid"] for r in arm["seeds"] if finite(r["fid"])]
        colour = colours[arm["group"]]
        ax.plot(fids, [y] * len(fids), "o", color=colour, alpha=0.6, ms=5)
        if arm["fid_mean"] is not None:
            ax.plot([arm["fid_mean"]] * 2, [y - 0.3, y + 0.3], "-", color=colour, lw=2)
    if arms.get("baseline", {}).get("fid_mean") is not None:
        ax.axvline(arms["baseline"]["fid_mean"], color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"FID, n = {n:,} (lower is better; dots: seeds, bar: mean)")
    ax.set_title(f"Fashion-MNIST GAN recipes, {cpu_seconds:g} CPU-s each", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    from imgenlib.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def run(*, cpu_seconds=90.0, seeds=(0, 1), n=2000, arm_names=None, n_images=None, out=None, command=""):  # fmt: skip
    """Train every arm for every seed (seed-major, baseline first) and write the results."""
    import tensorflow as tf

    try:  # only possible before TensorFlow's first op (not when a test process ran some)
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    names = list(arm_names or ARMS)
    names = ["baseline", *[a for a in names if a != "baseline"]]
    images, data_name = training_images(n_images)
    if data_name != "fashion_mnist":
        raise RuntimeError("gan_recipes needs Fashion-MNIST: python -m imgenlib fetch fashion_mnist")  # fmt: skip
    out = Path(out or RESULTS)
    done: dict[str, list] = {name: [] for name in names}
    start = time.perf_counter()
    result = {
        "benchmark": NAME,
        "command": command,
        "data": data_name,
        "train_images": len(images),
        "cpu_seconds_per_arm": cpu_seconds,
        "budget": "process CPU time after the first step; TensorFlow on 1 intra-op + 1 inter-op thread",  # fmt: skip
        "seeds": list(seeds),
        "n": n,
        "metrics_against": f"first {n} Fashion-MNIST test images, shipped extractor",
        "network": {
            "width_multiplier": WIDTH,
            "latent_dim": LATENT_DIM,
            "batch_size": BATCH_SIZE,
            "ema_decay": 0.0,
        },
        "complete": False,
    }
    for seed in seeds:
        cosine_steps = None
        for name in names:
            row = train_arm(name, seed, images, cpu_seconds, cosine_steps, n)
            if name == "baseline":
                cosine_steps = row["steps"]
            done[name].append(row)
            print(f"seed {seed} {name:15s} {row['steps']:5d} steps {row['cpu_seconds']:6.1f} CPU-s {row['wall_seconds']:6.1f} s  FID {row['fid']}  KID {row['kid']}", flush=True)  # fmt: skip
            # after every arm: an interrupted run keeps what it measured
            result["arms"] = summarise({k: v for k, v in done.items() if v})
            result["wall_seconds"] = round(time.perf_counter() - start, 1)
            write_result(NAME, result, out_dir=out)
    result["complete"] = True
    result["machine"] = machine()
    markdown = table(result["arms"])
    write_result(NAME, result, f"`{command}`\n\n" + markdown, out)
    plot(result["arms"], out / f"{NAME}.png", cpu_seconds, n)
    return result, markdown


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-seconds", type=float, default=90.0, help="CPU budget per arm and seed (default 90)")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n", type=int, default=2000, help="samples and test images per FID (default 2,000)")  # fmt: skip
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="default: all")
    parser.add_argument("--quick", action="store_true", help="3 arms, 1 CPU-s, 1,024 images, n 100")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot and table from the JSON")  # fmt: skip
    parser.add_argument("--merge", nargs="+", metavar="DIR", help="combine the results of runs of other seeds in DIRs (same arms, budget and n) into --out")  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out or RESULTS)
    if args.merge:
        result = merge([json.loads((Path(d) / f"{NAME}.json").read_text()) for d in args.merge])
        result["command"] += "; python benchmarks/gan_recipes.py " + " ".join(argv or sys.argv[1:])
        write_result(NAME, result, f"`{result['command']}`\n\n" + table(result["arms"]), out)
        plot(result["arms"], out / f"{NAME}.png", result["cpu_seconds_per_arm"], result["n"])
        print(table(result["arms"]))
        print_json_line(result)
        return
    if args.replot:
        result = json.loads((out / f"{NAME}.json").read_text())
        plot(result["arms"], out / f"{NAME}.png", result["cpu_seconds_per_arm"], result["n"])
        print(table(result["arms"]))
        return
    n_images = None
    if args.quick:
        args.cpu_seconds, args.n, n_images = 1.0, 100, 1024
        args.arms = args.arms or QUICK_ARMS
    for flag, value in (("--cpu-seconds", args.cpu_seconds), ("--n", args.n)):
        if value <= 0:
            parser.error(f"{flag} must be positive. Received: {value}")
    if args.n < 10:
        parser.error(f"--n must be at least 10. Received: {args.n}")
    command = "python benchmarks/gan_recipes.py " + " ".join(argv if argv is not None else sys.argv[1:])  # fmt: skip
    result, markdown = run(
        cpu_seconds=args.cpu_seconds,
        seeds=tuple(args.seeds),
        n=args.n,
        arm_names=args.arms,
        n_images=n_images,
        out=out,
        command=command.strip(),
    )
    print(markdown)
    print_json_line(result)


if __name__ == "__main__":
    main()
