"""Train the pretrained zoo with the CLI, measure each model, and pack it into the package.

    python benchmarks/train_pretrained.py                      # every zoo model (10 epochs each)
    python benchmarks/train_pretrained.py fashion_mnist_vae    # one of them
    python benchmarks/train_pretrained.py --runs runs/zoo      # where the run directories go
    python benchmarks/train_pretrained.py emoji_gan --from-run runs/time_to_quality_emoji
                              # pack a run already trained with the entry's exact command

For each model this runs the exact CLI command recorded in ``imgenlib/weights/pretrained.json``
(``python -m imgenlib train ... --epochs 10``), times it, evaluates the trained model on
its dataset's test split (FID/KID/precision/recall with the shipped extractor, n = 10,000
for Fashion-MNIST; for emoji 2,000 samples against the 371 test images; for VAEs also the
test −ELBO in nats per image), and writes the float16 sampling weights with
`imgenlib.pretrained.pack`. Re-running resumes unfinished runs (the CLI does).
``emoji_gan`` is trained for a time budget (``--max-minutes 30``), the run that
``benchmarks/time_to_quality.py --data emoji --minutes 30 --precision mixed_bfloat16`` writes
with the same command, so ``--from-run`` can pack that run instead of training again (its
training time is read from the run's ``metrics.json``). ``emoji_text_gan`` also trains for 30
minutes; it is scored by `imgenlib.text_runs.emoji_category_accuracy` on every test emoji
(names it never saw), which tests/test_pretrained.py re-measures in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT  # first: this checkout's imgenlib, so the weights are packed into it

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
    "fashion_mnist_diffusion": (
        "class-conditional diffusion U-Net on Fashion-MNIST (fashion_mnist preset, 30 CPU minutes)",
        "train diffusion --data fashion_mnist --conditional --max-minutes 30",
    ),
    "emoji_gan": (
        "the source article's 64x64 DCGAN on Twemoji (emoji preset, bfloat16, 30 CPU minutes)",
        "train gan --data emoji --max-minutes 30 --precision mixed_bfloat16",
    ),
    "shapes_captions_text_gan": (
        "text-conditional GAN (GAN-CLS with a caption-word classifier) on captioned shapes: "
        "draws prompts such as 'a large red triangle in the centre' (text preset, 32x32, "
        "bfloat16, 30 CPU minutes)",
        "train gan --data shapes_captions --text --max-minutes 30 --precision mixed_bfloat16",
    ),
    "shapes_captions_text_diffusion": (
        "text-conditional diffusion U-Net on captioned shapes: AdaGN, a caption layout map "
        "and cross-attention to the word states of the shipped Mini-CLIP's text encoder, "
        "frozen (text preset, 32x32, 30 CPU minutes)",
        "train diffusion --data shapes_captions --text --text-encoder clip --max-minutes 30",
    ),
    "emoji_text_gan": (
        "text-conditional GAN (GAN-CLS with a caption-word classifier) on the emoji names: "
        "draws prompts such as 'red apple' or 'smiling cat' (text preset, 32x32, bfloat16, "
        "30 CPU minutes)",
        "train gan --data emoji --text --max-minutes 30 --precision mixed_bfloat16",
    ),
}
EVAL_N = {"fashion_mnist": 10000, "emoji": 2000}
TEXT_EVAL_N = 300
"""Prompts per split for a text model's figures (`imgenlib.prompt_accuracy`)."""
TEXT_ATTRIBUTE_N = 500
"""Prompts per split of a text GAN's `imgenlib.evaluate_text` figures (shape, size, exact
match: the issue's goal is stated on these)."""
TEXT_CHECK_N = 60
"""Prompts per split of a text diffusion model's ``check`` figures (25 steps × 2 network
calls an image with guidance: 300 prompts a split would be the slowest zoo test)."""
DIFFUSION_EVAL = {"n": 1000, "sampling": {"steps": 25}, "check_n": 500}
"""A diffusion model samples with 25 DDIM steps for the zoo's figures: 1,000 samples cost
about 45 s on the 2-core CPU (alone; 130-160 s in the parallel CI run), so the figures are
also recorded at ``check_n`` (``quality["check"]``), which the zoo test re-measures;
`benchmarks/frontier.py` has the figures at every step count."""


TEXT_DIFFUSION_SAMPLING = {"steps": 25, "guidance": 3.0}
"""A text diffusion model's zoo settings: 25 DDIM steps at guidance 3 (the 30-minute run drew
the asked colour for 68 % of 100 test prompts at guidance 1 and 87 % at 3; position was at
chance at both, 9–10 %; /work/scratch/td_eval.py on 2026-12-02)."""


def dataset_of(command: str) -> str:
    """The ``--data`` value of a zoo command."""
    words = shlex.split(command)
    return words[words.index("--data") + 1]


def zoo_sampling(command: str) -> dict | None:
    """The sampling settings a zoo entry records and is measured with (diffusion only)."""
    words = command.split()
    if words[1] != "diffusion":
        return None
    return TEXT_DIFFUSION_SAMPLING if "--text" in words else DIFFUSION_EVAL["sampling"]


def measure(model, kind: str, data: str = "fashion_mnist", sampling: dict | None = None) -> dict:
    """Quality of a trained model on its dataset's test split (a diffusion model sampled with
    `sampling`, `zoo_sampling`)."""
    import numpy as np

    if hasattr(model, "text_encoder"):
        return measure_text(model, data, sampling)

    from imgenlib.data import load_images
    from imgenlib.evaluation import evaluate

    n = DIFFUSION_EVAL["n"] if kind == "diffusion" else EVAL_N[data]
    quality = evaluate(model, data, n=n, seed=0, sampling=sampling)
    if kind == "vae":
        images, labels = load_images(data, "test")
        nelbo = model.negative_elbo(images, labels if model.num_classes else None, seed=0)
        quality["test_negative_elbo_nats"] = round(float(np.mean(nelbo)), 2)
    given = "" if sampling is None else f", sampling={sampling}"
    quality["command"] = f"imgenlib.evaluation.evaluate(model, {data!r}, n={n}, seed=0{given})"
    if kind == "diffusion":  # the same at a smaller n: what tests/test_pretrained.py re-measures
        check_n = DIFFUSION_EVAL["check_n"]
        check = evaluate(model, data, n=check_n, seed=0, sampling=sampling)
        keep = ("n", "n_real", "fid", "kid", "kid_std", "precision", "recall", "density")
        keep += ("coverage", "inception_score", "class_entropy")
        quality["check"] = {key: check[key] for key in keep if key in check}
        quality["check"]["command"] = quality["command"].replace(f"n={n},", f"n={check_n},")
    return quality


def measure_text(model, data: str, sampling: dict | None = None) -> dict:
    """How often a text model's samples have the colour and position of their prompts (a
    diffusion model sampled with `sampling`, and measured again at `TEXT_CHECK_N` prompts:
    ``quality["check"]``, what tests/test_pretrained.py re-measures); on ``emoji``, how
    often the shipped classifier puts the sample of every test emoji's name in its category."""
    from imgenlib.caption_accuracy import prompt_accuracy
    from imgenlib.text_runs import emoji_category_accuracy

    if data == "emoji":  # every test emoji (never seen), with and without skin-tone variants
        scores = {
            split: emoji_category_accuracy(
                model, "test", seed=0, sampling=sampling, skin_tones=skin_tones
            )
            for split, skin_tones in (("test", True), ("test_no_skin_tones", False))
        }
        return {
            "dataset": data, "n": scores["test"]["n"], "category_accuracy": scores,
            "command": "imgenlib.text_runs.emoji_category_accuracy(model, 'test', seed=0, "
            f"sampling={sampling}, skin_tones=skin_tones) for skin_tones in (True, False)",
        }  # fmt: skip

    splits = ("test", "test_compositional")
    given = "" if sampling is None else f", sampling={sampling}"

    def at(n):
        return {
            "n": n,
            "prompt_accuracy": {
                split: prompt_accuracy(model, split, n=n, seed=0, sampling=sampling)
                for split in splits
            },
            "command": f"imgenlib.prompt_accuracy(model, split, n={n}, seed=0{given}) "
            f"for split in {splits}",
        }

    def attributes(n):  # every attribute, read by the shipped classifier
        from imgenlib.text_evaluation import evaluate_text

        scores = evaluate_text(model, data, n=n, seed=0, sampling=sampling)
        keys = ("colour", "shape", "size", "position", "exact_match", "n")
        return {
            "scores": {split: {key: row[key] for key in keys} for split, row in scores.items()},
            "command": f"imgenlib.evaluate_text(model, {data!r}, n={n}, seed=0{given})",
        }

    quality = {"dataset": data, **at(TEXT_EVAL_N)}
    if sampling is not None:  # a chain: the headline at TEXT_EVAL_N, the zoo test's at CHECK_N
        quality["attributes"] = attributes(TEXT_EVAL_N)
        quality["check"] = {**at(TEXT_CHECK_N), "attributes": attributes(TEXT_CHECK_N)}
    else:  # a GAN: seconds, so the test re-measures the headline figures
        quality["attributes"] = attributes(TEXT_ATTRIBUTE_N)
    return quality


def check_run_matches(run_dir: Path, command: str) -> None:
    """Refuse a `--from-run` directory whose run.json does not match the zoo command."""
    run = json.loads((run_dir / "run.json").read_text())
    words = shlex.split(command)
    expected = {"kind": words[1], "data": dataset_of(command)}
    for flag, key in (("--precision", "precision"), ("--max-minutes", "max_minutes")):
        if flag in words:
            value = words[words.index(flag) + 1]
            expected[key] = float(value) if key == "max_minutes" else value
    if "--text" in words:
        expected["text"] = True
    if "--epochs" in words:
        expected["epochs"] = int(words[words.index("--epochs") + 1])
    wrong = {key: run.get(key) for key, value in expected.items() if run.get(key) != value}
    if wrong:
        raise SystemExit(f"{run_dir} was not trained with `{command}`: {wrong} vs {expected}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"zoo models (default: all of {', '.join(ZOO)})")
    parser.add_argument("--runs", default="runs/zoo", help="parent of the run directories")
    parser.add_argument("--from-run", help="pack this finished run of ONE zoo model's command")
    parser.add_argument(
        "--train-seconds", type=float,
        help="with --from-run: its training time, when it took several sessions (default: "
        "the last session's, from its metrics.json)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(ZOO))
    if unknown:
        parser.error(f"unknown zoo model(s) {unknown}; expected some of {list(ZOO)}")
    if args.from_run and len(args.names) != 1:
        parser.error("--from-run packs one model: name exactly one zoo model")

    from imgenlib import pretrained
    from imgenlib.runs import load_run_model

    checkout_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    for name in args.names or list(ZOO):
        description, command = ZOO[name]
        out = Path(args.from_run or Path(args.runs) / name)
        cli = f"python -m imgenlib {command} --out {out}"
        if args.from_run:
            check_run_matches(out, command)
            seconds = (
                args.train_seconds
                or json.loads((out / "metrics.json").read_text())["seconds_this_session"]
            )
            print(f"[{name}] packing {out}, trained by: {cli}", flush=True)
        else:
            print(f"[{name}] {cli}", flush=True)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "imgenlib", *shlex.split(command), "--out", str(out)],
                check=True,
                env={**os.environ, "PYTHONPATH": checkout_path},  # this checkout's imgenlib
            )
            seconds = time.perf_counter() - start
        model = load_run_model(out)
        entry = {"description": description, "command": cli, "train_seconds": seconds}
        sampling = zoo_sampling(command)
        if sampling is not None:
            entry["sampling"] = sampling
        with tempfile.TemporaryDirectory() as scratch:  # measure the float16 weights users get
            pretrained.pack(model, name, **entry, quality={}, directory=scratch)
            shipped = pretrained.load(name, registry=Path(scratch) / "pretrained.json")
            quality = measure(shipped, command.split()[1], dataset_of(command), sampling)
        path = pretrained.pack(model, name, **entry, quality=quality)
        print(
            f"[{name}] {seconds:.0f} s, {path.stat().st_size / 1e6:.2f} MB, {quality}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
