"""Every precision × XLA combination of the training step, for the first run on a GPU.

    python benchmarks/gpu.py                 # fashion_mnist presets, 3 rounds x 20 steps
    python benchmarks/gpu.py --quick         # tiny presets, 1 round x 2 steps (a smoke run)
    python benchmarks/gpu.py --families gan --batch-size 256

For each family (the GAN and the diffusion model; a VAE trains in float32 only) the
``fashion_mnist`` preset's model is trained on Fashion-MNIST (28×28, or `digits` when the
dataset is missing) in each combination of

- precision: ``float32``, ``mixed_bfloat16``, ``mixed_float16`` (with the loss scaling
  `imgenlib.precision.use_loss_scaling` adds, as ``train(..., precision=...)`` does);
- ``jit_compile`` (XLA) off and on;

plus the baseline, **float32 eager** (``run_eagerly=True``). Each variant's steady-state
img/s (`imgenlib.profiling.training_throughput`, the first step excluded) is divided by the
baseline's from the same round; the table gives the median over rounds, and
``precision="auto"``'s choice for this machine (`imgenlib.precision.choose_precision`) is
printed above it, so the first GPU run shows whether auto picked the fastest.

Where it was run: only on CPUs so far (2-core EPYCs), where it is a correctness smoke
test — ``tests/test_benchmarks.py`` runs ``--quick`` — and where XLA and 16-bit floats
without native units are slower. No GPU was available to this project: the table is for
the first user who has one (please send it in).
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from _common import machine, markdown_table, print_json_line, training_images, write_result

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
FAMILIES = ("gan", "diffusion")
BASELINE = "float32 eager"


def variants() -> dict:
    """Variant name → {precision, jit_compile, run_eagerly}; the baseline first."""
    table = {BASELINE: {"precision": "float32", "jit_compile": False, "run_eagerly": True}}
    for precision, jit in itertools.product(PRECISIONS, (False, True)):
        name = f"{precision}{' + XLA' if jit else ''}"
        table[name] = {"precision": precision, "jit_compile": jit, "run_eagerly": False}
    return table


def build(family: str, preset: str, image_shape, settings: dict):
    """The preset's model, compiled as `settings` say (policy, XLA, eager, loss scaling)."""
    import keras

    from imgenlib import presets
    from imgenlib.precision import use_loss_scaling

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(settings["precision"])
    try:
        model = presets.build(family, presets.get(family, preset).model, image_shape)
        optimizers = {name: getattr(model, name) for name in model.optimizer_variables()}
        model.compile(
            **optimizers, jit_compile=settings["jit_compile"], run_eagerly=settings["run_eagerly"]
        )
        if settings["precision"] == "mixed_float16":
            use_loss_scaling(model)
        model.build_for_training()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def run(*, families=FAMILIES, preset="fashion_mnist", steps=20, rounds=3, batch_size=128,
        n_images=None, warmup=True) -> tuple[dict, str]:  # fmt: skip
    """Every variant of every family, in turns; (result, Markdown table). `warmup` False
    (--quick) skips the 2-step warm-up call: tracing then falls in each variant's first
    timed step, which the rate excludes (`imgenlib.profiling.StepTimes`)."""
    import tensorflow as tf

    from imgenlib.precision import choose_precision, gpu_capabilities
    from imgenlib.profiling import training_throughput

    images, data_name = training_images(n_images)
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    result = {
        "benchmark": "gpu",
        "data": data_name,
        "preset": preset,
        "batch_size": batch_size,
        "steps_per_round": steps,
        "rounds": rounds,
        "warmup": warmup,
        "gpus": [list(c) if c else None for c in gpu_capabilities()],
        "auto": {family: choose_precision(family).reason for family in families},
        "families": {},
    }
    rows = []
    for family in families:
        models = {
            name: build(family, preset, images.shape[1:], s) for name, s in variants().items()
        }
        for model in models.values() if warmup else ():  # tracing (and XLA compilation)
            training_throughput(model, dataset, 2, batch_size)
        rates = {name: [] for name in models}
        for _ in range(rounds):
            for name, model in models.items():
                rates[name].append(training_throughput(model, dataset, steps, batch_size))
        family_result = {}
        for name, values in rates.items():
            ratios = [v / b for v, b in zip(values, rates[BASELINE], strict=True)]
            family_result[name] = {
                "img_per_s_median": round(statistics.median(values), 1),
                "img_per_s_rounds": values,
                "ratio_vs_float32_eager": round(statistics.median(ratios), 3),
            }
            rows.append([family, name, family_result[name]["img_per_s_median"],
                         f"{family_result[name]['ratio_vs_float32_eager']:.2f}"])  # fmt: skip
        result["families"][family] = family_result
    table = markdown_table(["family", "variant", "img/s (median)", "× float32 eager"], rows)
    return result, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--families", nargs="*", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--quick", action="store_true", help="tiny presets, 1 round of 2 steps")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    preset, n_images = "fashion_mnist", None
    if args.quick:
        args.steps, args.rounds, args.batch_size, preset, n_images = 2, 1, 8, "tiny", 512
    for flag, value in (("--steps", args.steps - 1), ("--rounds", args.rounds),
                        ("--batch-size", args.batch_size)):  # fmt: skip
        if value < 1:
            parser.error(f"{flag} is too small. Received: {value + (flag == '--steps')}")
    result, table = run(
        families=tuple(args.families), preset=preset, steps=args.steps, rounds=args.rounds,
        batch_size=args.batch_size, n_images=n_images, warmup=not args.quick,
    )  # fmt: skip
    result["machine"] = machine()
    write_result("gpu", result, table, out_dir=args.out)
    for family, reason in result["auto"].items():
        print(f"precision='auto' for a {family} here: {reason}")
    print(table)
    print_json_line(result)


if __name__ == "__main__":
    main()
