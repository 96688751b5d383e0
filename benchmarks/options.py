"""Training options measured both ways in one run: bfloat16, XLA, batch size, tf.data settings.

    python benchmarks/options.py            # 3 rounds x 8 steps per variant
    python benchmarks/options.py --quick    # a smoke run

Every variant trains imgenlib's `GAN` on the TF DCGAN tutorial's networks (see
``train_throughput.py``) on Fashion-MNIST. Variants take turns, round after round, in one
process, so the machine's load hits them alike; each round's throughput is the steady-state
rate between the first and the last step of a ``fit`` call (a callback timestamps each
step; the first step, which includes the iterator start, is excluded), and each variant is
compared with the float32 / graph-mode / batch 256 / cache+prefetch baseline of the same
round. A variant is recommended only if its median ratio over the rounds is ≥ 1.05.
"""

from __future__ import annotations

import argparse
import statistics

from _common import machine, markdown_table, print_json_line, training_images, write_result
from train_throughput import tutorial_discriminator, tutorial_generator

NOISE_DIM = 100
BASELINE = {"precision": "float32", "jit_compile": False, "batch_size": 256, "cache": True, "prefetch": True}  # fmt: skip
VARIANTS = {
    "baseline": {},
    "mixed_bfloat16": {"precision": "mixed_bfloat16"},
    "xla": {"jit_compile": True},
    "batch_64": {"batch_size": 64},
    "batch_128": {"batch_size": 128},
    "batch_512": {"batch_size": 512},
    "no_cache": {"cache": False},
    "no_prefetch": {"prefetch": False},
}


def build_variant(settings, images):
    import keras
    import tensorflow as tf

    from imgenlib.models import GAN

    keras.mixed_precision.set_global_policy(settings["precision"])
    try:
        gan = GAN(tutorial_generator(), tutorial_discriminator(), latent_dim=NOISE_DIM)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-4),
        d_optimizer=keras.optimizers.Adam(1e-4),
        jit_compile=settings["jit_compile"],
    )
    dataset = tf.data.Dataset.from_tensor_slices(images)
    if settings["cache"]:
        dataset = dataset.cache()
    dataset = dataset.repeat().shuffle(len(images), seed=0).batch(settings["batch_size"], drop_remainder=True)  # fmt: skip
    if settings["prefetch"]:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return gan, dataset


def measure(gan, dataset, images_per_step, steps):
    from imgenlib.profiling import training_throughput

    return training_throughput(gan, dataset, steps, images_per_step)


def run(*, steps=8, rounds=3, n_images=None, variants=None, batch_size=256):
    import keras

    keras.utils.set_random_seed(0)
    images, data_name = training_images(n_images)
    names = variants or list(VARIANTS)
    if "baseline" not in names:
        names = ["baseline", *names]
    baseline = {**BASELINE, "batch_size": batch_size}
    settings = {name: {**baseline, **VARIANTS[name]} for name in names}
    built = {name: build_variant(settings[name], images) for name in names}
    for name, (gan, dataset) in built.items():  # warm-up: tracing, iterator, oneDNN caches
        measure(gan, dataset, settings[name]["batch_size"], 2)
    rates = {name: [] for name in names}
    for _ in range(rounds):
        for name, (gan, dataset) in built.items():
            rates[name].append(measure(gan, dataset, settings[name]["batch_size"], steps))
    rows, result_variants = [], {}
    for name in names:
        ratios = [r / b for r, b in zip(rates[name], rates["baseline"], strict=True)]
        ratio = statistics.median(ratios)
        result_variants[name] = {
            "settings": settings[name],
            "img_per_s_median": round(statistics.median(rates[name]), 1),
            "img_per_s_rounds": [round(r, 1) for r in rates[name]],
            "ratio_vs_baseline": round(ratio, 3),
            "wins": name != "baseline" and ratio >= 1.05,
        }
        rows.append([name, result_variants[name]["img_per_s_median"], f"{ratio:.2f}"])
    wins = [name for name, v in result_variants.items() if v["wins"]]
    recommendation = (
        f"No recommendation from {rounds} round(s) of {steps} steps: run at least 3 rounds."
        if rounds < 3 or steps < 5
        else
        "Keep the defaults (float32, no XLA, batch 256, cache + prefetch): no option was ≥ 5% faster here."
        if not wins
        else "Faster here: " + ", ".join(f"{n} ({result_variants[n]['ratio_vs_baseline']}×)" for n in wins)
    )  # fmt: skip
    result = {
        "benchmark": "options",
        "data": data_name,
        "steps_per_round": steps,
        "rounds": rounds,
        "variants": result_variants,
        "recommendation": recommendation,
    }
    table = markdown_table(["variant", "img/s (median)", "× baseline"], rows)
    return result, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round (default 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), help="default: all")
    parser.add_argument(
        "--quick", action="store_true", help="baseline, xla, no_prefetch: 3 steps, 1 round"
    )
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    n_images = None
    if args.quick:
        args.steps, args.rounds, n_images = 3, 1, 2048
        args.variants = args.variants or ["xla", "no_prefetch"]
    result, table = run(
        steps=args.steps, rounds=args.rounds, n_images=n_images, variants=args.variants
    )
    result["machine"] = machine()
    write_result("options", result, table + "\n" + result["recommendation"] + "\n", args.out)
    print(table)
    print(result["recommendation"])
    print_json_line(result)


if __name__ == "__main__":
    main()
