"""Peak memory (resident set size) of training and of sampling, each in a fresh process.

    python benchmarks/memory.py            # train 20 steps, sample 1,024 images
    python benchmarks/memory.py --quick

Each measurement runs in its own subprocess (``python memory.py --child MODE``) and reports
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the peak RSS of that process, so modes do
not inherit each other's allocations. Modes:

- ``import``: import TensorFlow, Keras and imgenlib (the floor every mode pays);
- ``train``: the ``fashion_mnist`` preset GAN (28×28) on Fashion-MNIST, batch 128;
- ``train_tutorial``: the TF DCGAN tutorial networks in imgenlib's ``GAN``, batch 256;
- ``sample``: build the 28×28 generator and ``generate`` 1,024 images in batches of 256.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODES = ("import", "train", "train_tutorial", "sample")


def child(mode: str, steps: int, n_images: int) -> dict:
    import keras
    from _common import training_images

    import imgenlib  # noqa: F401

    start = time.perf_counter()
    if mode in ("train", "train_tutorial"):
        from imgenlib.data import make_dataset

        images, _ = training_images(n_images)
        if mode == "train":
            from imgenlib import presets

            preset = presets.get("gan", "fashion_mnist")
            model = presets.build("gan", preset.model, images.shape[1:])
            batch_size = preset.batch_size
        else:
            from train_throughput import imgenlib_gan

            model, batch_size = imgenlib_gan("alternating"), 256
        dataset = make_dataset(images, batch_size=batch_size, seed=0, repeat=True)
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    elif mode == "sample":
        from sampling import build_model

        keras.utils.set_random_seed(0)
        build_model(28).generate(1024, seed=0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"mode": mode, "peak_rss_mb": round(peak_kb / 1024, 1), "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def measure(mode: str, steps: int, n_images: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--steps", str(steps), "--images", str(n_images)],
        capture_output=True,
        text=True,
        timeout=1200,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"memory child {mode!r} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(*, steps=20, n_images=60000, modes=MODES) -> tuple[dict, str]:
    from _common import markdown_table

    measured = {mode: measure(mode, steps, n_images) for mode in modes}
    result = {
        "benchmark": "memory",
        "train_steps": steps,
        "train_images": n_images,
        "modes": measured,
    }
    table = markdown_table(
        ["process", "peak RSS (MB)"], [[mode, m["peak_rss_mb"]] for mode, m in measured.items()]
    )  # fmt: skip
    return result, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    parser.add_argument("--images", type=int, default=60000, help="training images (default all)")
    parser.add_argument("--quick", action="store_true", help="2 steps on 1,024 images")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.images)))
        return
    from _common import machine, print_json_line, write_result

    if args.quick:
        args.steps, args.images = 2, 1024
    modes = ("import", "train", "sample") if args.quick else MODES
    result, table = run(steps=args.steps, n_images=args.images, modes=modes)
    result["machine"] = machine()
    write_result("memory", result, table, args.out)
    print(table)
    print_json_line(result)


if __name__ == "__main__":
    main()
