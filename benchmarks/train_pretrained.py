"""Train the pretrained zoo with the CLI, measure each model, and pack it into the package.

    python benchmarks/train_pretrained.py                      # every zoo model (10 epochs each)
    python benchmarks/train_pretrained.py fashion_mnist_vae    # one of them
    python benchmarks/train_pretrained.py --runs runs/zoo      # where the run directories go

For each model this runs the exact CLI command recorded in ``imgenlib/weights/pretrained.json``
(``python -m imgenlib train ... --epochs 10``), times it, evaluates the trained model on
the Fashion-MNIST test split (FID/KID/precision/recall with the shipped extractor, n = 10,000;
for VAEs also the test −ELBO in nats per image), and writes the float16 sampling weights
with `imgenlib.pretrained.pack`. Re-running resumes unfinished runs (the CLI does).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

ZOO = {
    "fashion_mnist_gan": (
        "DCGAN on Fashion-MNIST (fashion_mnist preset, EMA generator)",
        "train gan --data fashion_mnist --epochs 10",
    ),
    "fashion_mnist_cgan": (
        "class-conditional DCGAN on Fashion-MNIST (projection discriminator)",
        "train gan --data fashion_mnist --conditional --epochs 10",
    ),
    "fashion_mnist_vae": (
        "convolutional VAE on Fashion-MNIST (Bernoulli likelihood)",
        "train vae --data fashion_mnist --epochs 10",
    ),
    "fashion_mnist_cvae": (
        "class-conditional convolutional VAE on Fashion-MNIST (Bernoulli likelihood)",
        "train vae --data fashion_mnist --conditional --epochs 10",
    ),
}
EVAL_N = 10000


def measure(model, kind: str) -> dict:
    """Quality of a trained model on the Fashion-MNIST test split."""
    import numpy as np

    from imgenlib.data import load_images
    from imgenlib.evaluation import evaluate

    quality = evaluate(model, "fashion_mnist", n=EVAL_N, seed=0)
    if kind == "vae":
        images, labels = load_images("fashion_mnist", "test")
        nelbo = model.negative_elbo(images, labels if model.num_classes else None, seed=0)
        quality["test_negative_elbo_nats"] = round(float(np.mean(nelbo)), 2)
    quality["command"] = f"imgenlib.evaluation.evaluate(model, 'fashion_mnist', n={EVAL_N}, seed=0)"
    return quality


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"zoo models (default: all of {', '.join(ZOO)})")
    parser.add_argument("--runs", default="runs/zoo", help="parent of the run directories")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(ZOO))
    if unknown:
        parser.error(f"unknown zoo model(s) {unknown}; expected some of {list(ZOO)}")

    from imgenlib import pretrained
    from imgenlib.runs import load_run_model

    for name in args.names or list(ZOO):
        description, command = ZOO[name]
        out = Path(args.runs) / name
        cli = f"python -m imgenlib {command} --out {out}"
        print(f"[{name}] {cli}", flush=True)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "imgenlib", *shlex.split(command), "--out", str(out)], check=True
        )
        seconds = time.perf_counter() - start
        model = load_run_model(out)
        quality = measure(model, command.split()[1])
        path = pretrained.pack(
            model,
            name,
            description=description,
            command=cli,
            train_seconds=seconds,
            quality=quality,
        )
        print(
            f"[{name}] {seconds:.0f} s, {path.stat().st_size / 1e6:.2f} MB, {quality}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
