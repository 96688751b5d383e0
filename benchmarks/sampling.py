"""Sampling speed: one-image latency, batch throughput, widget frame time, exported models.

    python benchmarks/sampling.py            # 28x28 and 64x64 generators, 200 calls each
    python benchmarks/sampling.py --quick    # a smoke run

Generators are imgenlib's DCGAN builders with the ``fashion_mnist`` preset's settings
(latent 128, width 1, EMA copy used for sampling), for 28×28×1 and 64×64×3 images; random
weights (speed does not depend on them). Measured per size:

- ``one_image_ms``: ``model.generate(z=z)`` for one fresh z, p50 / p95 over `calls` calls;
  ``forward_only_ms`` is the traced generator alone on a ready tensor (the floor).
- ``batch_img_per_s``: ``model.generate(z=...)`` on batches of 256 and 1024.
- ``widget_frame_ms``: new z → 16 images → 4×4 PNG bytes (`imgenlib.plotting.grid_png`),
  what a latent-space slider does per update; p50 / p95.
- ``exported``: the same one-image latency and batch-256 throughput through
  `imgenlib.export.load_exported` for SavedModel and TFLite (float32, float16).

Goals (issue 7): 28×28 one sample ≤ 2 ms, widget frame ≤ 30 ms, batch ≥ 5,000 img/s; the
result says which are met.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, markdown_table, print_json_line, write_result

GOALS = {"one_image_ms_p50": 2.0, "widget_frame_ms_p50": 30.0, "batch_img_per_s": 5000.0}


def percentiles(function, calls):
    """p50 / p95 milliseconds of `calls` calls after two warm-up calls (`imgenlib.profiling.latency_ms`)."""
    from imgenlib.profiling import latency_ms

    timing = latency_ms(function, calls, warmup=2)
    return {"p50": timing["p50"], "p95": timing["p95"]}


def build_model(size):
    import keras

    from imgenlib import presets
    from imgenlib.models import build_gan

    keras.utils.set_random_seed(0)
    config = presets.get("gan", "fashion_mnist").model
    channels = 1 if size == 28 else 3
    return build_gan(config, (size, size, channels))


def measure_size(size, *, calls, batches, repeats, export_formats):
    import tensorflow as tf

    from imgenlib.export import export_savedmodel, export_tflite, load_exported
    from imgenlib.plotting import grid_png
    from imgenlib.profiling import throughput

    model = build_model(size)
    rng = np.random.default_rng(0)
    z1 = lambda: rng.standard_normal((1, model.latent_dim), dtype=np.float32)  # noqa: E731
    forward = model._generate_function()
    ready = tf.constant(z1())
    result = {
        "image_shape": list(model.image_shape),
        "parameters_generator": int(model.sampler().count_params()),
        "one_image_ms": percentiles(lambda: model.generate(z=z1()), calls),
        "forward_only_ms": percentiles(lambda: forward(ready).numpy(), calls),
        "widget_frame_ms": percentiles(
            lambda: grid_png(
                model.generate(z=rng.standard_normal((16, model.latent_dim), dtype=np.float32)),
                ncols=4,
                scale=2 if size == 28 else 1,
            ),
            max(20, calls // 4),
        ),
        "batch_img_per_s": {},
        "exported": {},
    }
    for batch in batches:
        z = rng.standard_normal((batch, model.latent_dim), dtype=np.float32)
        result["batch_img_per_s"][str(batch)] = throughput(
            lambda z=z, batch=batch: model.generate(z=z, batch_size=batch), batch, repeats
        )
    with tempfile.TemporaryDirectory() as tmp:
        for name in export_formats:
            if name == "savedmodel":
                path = export_savedmodel(model, Path(tmp) / "sm")
            else:
                quantization = None if name == "tflite" else name.split("_")[1]
                path = export_tflite(model, Path(tmp) / f"{name}.tflite", quantization=quantization)
            generator = load_exported(path)
            z = rng.standard_normal((256, model.latent_dim), dtype=np.float32)
            result["exported"][name] = {
                "one_image_ms": percentiles(lambda g=generator: g(z1()), calls),
                "batch_256_img_per_s": throughput(lambda g=generator, z=z: g(z), 256, repeats),
                "file_bytes": sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
                if Path(path).is_dir()
                else Path(path).stat().st_size,
            }
    return result


def goals_met(result_28):
    best_batch = max(result_28["batch_img_per_s"].values())
    return {
        "one_image_ms_p50": {"goal": GOALS["one_image_ms_p50"], "measured": result_28["one_image_ms"]["p50"],
                             "met": result_28["one_image_ms"]["p50"] <= GOALS["one_image_ms_p50"]},
        "widget_frame_ms_p50": {"goal": GOALS["widget_frame_ms_p50"], "measured": result_28["widget_frame_ms"]["p50"],
                                "met": result_28["widget_frame_ms"]["p50"] <= GOALS["widget_frame_ms_p50"]},
        "batch_img_per_s": {"goal": GOALS["batch_img_per_s"], "measured": best_batch,
                            "met": best_batch >= GOALS["batch_img_per_s"]},
    }  # fmt: skip


def run(*, calls=200, batches=(256, 1024), repeats=20, sizes=(28, 64), export_formats=None):
    if export_formats is None:
        export_formats = ("savedmodel", "tflite", "tflite_float16")
    results = {
        str(size): measure_size(
            size, calls=calls, batches=batches, repeats=repeats, export_formats=export_formats
        )
        for size in sizes
    }
    result = {"benchmark": "sampling", "calls": calls, "sizes": results}
    if "28" in results:
        result["goals_28x28"] = goals_met(results["28"])
    rows = []
    for size, r in results.items():
        rows.append([f"{size}×{size} generate, 1 image (ms p50/p95)", f"{r['one_image_ms']['p50']} / {r['one_image_ms']['p95']}"])  # fmt: skip
        rows.append([f"{size}×{size} forward only, 1 image (ms p50)", r["forward_only_ms"]["p50"]])
        rows.append([f"{size}×{size} widget frame 4×4 PNG (ms p50/p95)", f"{r['widget_frame_ms']['p50']} / {r['widget_frame_ms']['p95']}"])  # fmt: skip
        for batch, rate in r["batch_img_per_s"].items():
            rows.append([f"{size}×{size} batch {batch} (img/s)", rate])
        for name, e in r["exported"].items():
            rows.append([f"{size}×{size} {name}, 1 image (ms p50) / batch 256 (img/s)", f"{e['one_image_ms']['p50']} / {e['batch_256_img_per_s']}"])  # fmt: skip
    return result, markdown_table(["measurement", "value"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="latency calls (default 200)")
    parser.add_argument("--quick", action="store_true", help="28x28 only, 20 calls, batch 256")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick:
        result, table = run(calls=20, batches=(256,), repeats=1, sizes=(28,), export_formats=("tflite",))  # fmt: skip
    else:
        result, table = run(calls=args.calls)
    result["machine"] = machine()
    write_result("sampling", result, table, args.out)
    print(table)
    print_json_line(result)


if __name__ == "__main__":
    main()
