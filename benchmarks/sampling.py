"""Sampling speed: one-image latency, batch throughput, widget frame time, exported models.

    python benchmarks/sampling.py            # 28x28 and 64x64 generators, 200 calls each
    python benchmarks/sampling.py --quick    # a smoke run

Generators are imgenlib's DCGAN builders with the ``fashion_mnist`` preset's settings
(latent 128, width 1, EMA copy used for sampling), for 28×28×1 and 64×64×3 images; random
weights (speed does not depend on them). Measured per size and per `generate` precision
(``float32`` and ``bfloat16``, alternating within the run so load hits both alike):

- ``one_image_ms``: ``model.generate(z=z, precision=p)`` for one fresh z, p50 / p95 over
  `calls` calls; ``forward_only_ms`` is the compiled function `generate` uses for one
  image (``model.sampling_function(1, p)``: XLA) alone, on a ready tensor. ``auto`` is
  measured too: it samples one image in float32 (`imgenlib.models.compiled`).
- ``batch_img_per_s``: ``model.generate(z=..., precision=p)`` on batches of 256 and 1024,
  and ``fraction_of_peak``: the best batch's FLOP/s (2 × the generator's multiply-
  accumulates per image, `imgenlib.profiling.model_cost`) over the machine's peak in that
  precision, measured in the same run as a 2048×2048 matmul (``peak_gflops``).
- ``xla_vs_graph_float32``: the rule of `imgenlib.models.compiled` measured: generate's
  float32 XLA function (one or two images) and graph function (batches), each timed on one
  image and on batches of 256.
- ``widget_frame_ms``: new z → 16 images → 4×4 PNG bytes (`imgenlib.plotting.grid_png`),
  what a latent-space slider does per update; p50 / p95.
- ``exported``: the same one-image latency and batch-256 throughput through
  `imgenlib.export.load_exported` for SavedModel and TFLite (float32, float16), each
  ``.tflite`` file on LiteRT (keys ``tflite``, ``tflite_float16``) and on TensorFlow's
  deprecated ``tf.lite`` interpreter (``tflite@tf.lite``, ...).

Goals (issue 19), each for the precision ``generate(precision="auto")`` uses on this
machine for that many images (``auto_precision``: float32 for one image, bfloat16 for
batches where the CPU computes it): 28×28 one image ≤ 1 ms, batch ≥ 8,000 img/s, widget
frame ≤ 30 ms (also at 64×64); the result says which are met.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, markdown_table, print_json_line, write_result

GOALS = {"one_image_ms_p50": 1.0, "widget_frame_ms_p50": 30.0, "batch_img_per_s": 8000.0}
PRECISIONS = ("float32", "bfloat16")


def percentiles(function, calls):
    """p50 / p95 milliseconds of `calls` calls after two warm-up calls (`imgenlib.profiling.latency_ms`)."""
    from imgenlib.profiling import latency_ms

    timing = latency_ms(function, calls, warmup=2)
    return {"p50": timing["p50"], "p95": timing["p95"]}


def peak_gflops(precision: str, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a traced `size`×`size` matmul in `precision`: the machine's practical peak."""
    import time

    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal([size, size], seed=[0, 0]), precision)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        result = matmul(a)
    result.numpy()
    return round(2 * size**3 * repeats / (time.perf_counter() - start) / 1e9, 1)


def build_model(size):
    import keras

    from imgenlib import presets
    from imgenlib.models import build_gan

    keras.utils.set_random_seed(0)
    config = presets.get("gan", "fashion_mnist").model
    channels = 1 if size == 28 else 3
    return build_gan(config, (size, size, channels))


def measure_size(size, *, calls, batches, repeats, export_formats, peak):
    import tensorflow as tf

    from imgenlib.export import TFLITE_RUNTIMES, export_savedmodel, export_tflite, load_exported
    from imgenlib.plotting import grid_png
    from imgenlib.profiling import model_cost, throughput

    model = build_model(size)
    rng = np.random.default_rng(0)
    z1 = lambda: rng.standard_normal((1, model.latent_dim), dtype=np.float32)  # noqa: E731
    ready = tf.constant(z1())
    macs = int(model_cost(model.sampler())["macs"])
    result = {
        "image_shape": list(model.image_shape),
        "parameters_generator": int(model.sampler().count_params()),
        "macs_per_image": macs,
        "precisions": {p: {"batch_img_per_s": {}} for p in PRECISIONS},
        "exported": {},
    }

    def each_precision(key, measure):  # float32 then bfloat16, measurement by measurement
        for precision in PRECISIONS:
            result["precisions"][precision][key] = measure(precision)

    each_precision("one_image_ms", lambda p: percentiles(lambda: model.generate(z=z1(), precision=p), calls))  # fmt: skip

    def forward_only(precision):  # generate's compiled function for one image, on a ready tensor
        function = model.sampling_function(1, precision)
        return percentiles(lambda: function(ready).numpy(), calls)

    each_precision("forward_only_ms", forward_only)

    # The batch rule of imgenlib.models.compiled, measured: generate's XLA function (what one
    # or two images use) and its graph function (what batches use), each on both sizes.
    xla, graph = model.sampling_function(1, "float32"), model.sampling_function(256, "float32")
    z256 = tf.constant(rng.standard_normal((256, model.latent_dim), dtype=np.float32))
    result["xla_vs_graph_float32"] = {
        name: {
            "xla": function.xla,
            "one_image_ms_p50": percentiles(lambda f=function: f(ready).numpy(), calls)["p50"],
            "batch_256_img_per_s": throughput(lambda f=function: f(z256).numpy(), 256, repeats),
        }
        for name, function in (("xla", xla), ("graph", graph))
    }

    def frame(precision):
        z16 = rng.standard_normal((16, model.latent_dim), dtype=np.float32)
        return grid_png(model.generate(z=z16, precision=precision), ncols=4, scale=2 if size == 28 else 1)  # fmt: skip

    each_precision("widget_frame_ms", lambda p: percentiles(lambda: frame(p), max(20, calls // 4)))
    for batch in batches:
        z = rng.standard_normal((batch, model.latent_dim), dtype=np.float32)
        for precision in PRECISIONS:
            result["precisions"][precision]["batch_img_per_s"][str(batch)] = throughput(
                lambda z=z, b=batch, p=precision: model.generate(z=z, batch_size=b, precision=p),
                batch,
                repeats,
            )
    for precision, measured in result["precisions"].items():
        best = max(measured["batch_img_per_s"].values())
        measured["fraction_of_peak"] = round(best * 2 * macs / (peak[precision] * 1e9), 3)
    with tempfile.TemporaryDirectory() as tmp:
        for name in export_formats:
            if name == "savedmodel":
                path = export_savedmodel(model, Path(tmp) / "sm")
            else:
                quantization = None if name == "tflite" else name.split("_")[1]
                path = export_tflite(model, Path(tmp) / f"{name}.tflite", quantization=quantization)
            size_bytes = (
                sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
                if Path(path).is_dir()
                else Path(path).stat().st_size
            )
            # A .tflite file on each runtime (LiteRT, the default, then tf.lite): their
            # kernels differ, and so does which one is faster on a given machine.
            runtimes = [None] if name == "savedmodel" else list(TFLITE_RUNTIMES)
            for runtime in runtimes:
                generator = load_exported(path, runtime=runtime)
                z = rng.standard_normal((256, model.latent_dim), dtype=np.float32)
                key = name if runtime in (None, TFLITE_RUNTIMES[0]) else f"{name}@{runtime}"
                result["exported"][key] = {
                    "runtime": generator.runtime,
                    "one_image_ms": percentiles(lambda g=generator: g(z1()), calls),
                    "batch_256_img_per_s": throughput(lambda g=generator, z=z: g(z), 256, repeats),
                    "file_bytes": size_bytes,
                }
    return result


def auto_precision(batch: int) -> str:
    """Which measured precision ``generate(precision="auto")`` uses for chunks of `batch` images."""
    from imgenlib.models.compiled import sampling_plan

    return "bfloat16" if sampling_plan("auto", batch)[0] == "mixed_bfloat16" else "float32"


def goals_met(precisions, size_64=None):
    """Issue 19's goals against the 28×28 measurements (and 64×64's frame) of the precision
    ``"auto"`` picks for each: one image, a 16-image frame, a batch."""
    one = precisions[auto_precision(1)]["one_image_ms"]["p50"]
    frames = [precisions[auto_precision(16)]["widget_frame_ms"]["p50"]]
    if size_64 is not None:
        frames.append(size_64[auto_precision(16)]["widget_frame_ms"]["p50"])
    batches = precisions["float32"]["batch_img_per_s"]
    best_batch = max(precisions[auto_precision(int(b))]["batch_img_per_s"][b] for b in batches)
    return {
        "one_image_ms_p50": {"goal": GOALS["one_image_ms_p50"], "measured": one, "precision": auto_precision(1),
                             "met": one <= GOALS["one_image_ms_p50"]},
        "widget_frame_ms_p50": {"goal": GOALS["widget_frame_ms_p50"], "measured": max(frames),
                                "precision": auto_precision(16), "met": max(frames) <= GOALS["widget_frame_ms_p50"]},
        "batch_img_per_s": {"goal": GOALS["batch_img_per_s"], "measured": best_batch, "precision": auto_precision(256),
                            "met": best_batch >= GOALS["batch_img_per_s"]},
    }  # fmt: skip


def run(*, calls=200, batches=(256, 1024), repeats=20, sizes=(28, 64), export_formats=None):
    if export_formats is None:
        export_formats = ("savedmodel", "tflite", "tflite_float16")
    peak = {precision: peak_gflops(precision) for precision in PRECISIONS}
    results = {
        str(size): measure_size(
            size,
            calls=calls,
            batches=batches,
            repeats=repeats,
            export_formats=export_formats,
            peak=peak,
        )
        for size in sizes
    }
    auto = {"1": auto_precision(1), "256": auto_precision(256)}  # images per call -> precision
    result = {"benchmark": "sampling", "calls": calls, "peak_gflops": peak, "auto_precision": auto, "sizes": results}  # fmt: skip
    if "28" in results:
        size_64 = results["64"]["precisions"] if "64" in results else None
        result["goals_28x28"] = goals_met(results["28"]["precisions"], size_64)
    rows = [[f"peak, 2048×2048 matmul, {p} (GFLOP/s)", v] for p, v in peak.items()]
    for size, r in results.items():
        for precision, m in r["precisions"].items():
            label = f"{size}×{size} {precision}"
            rows.append([f"{label} generate, 1 image (ms p50/p95)", f"{m['one_image_ms']['p50']} / {m['one_image_ms']['p95']}"])  # fmt: skip
            rows.append([f"{label} forward only, 1 image (ms p50)", m["forward_only_ms"]["p50"]])
            rows.append([f"{label} widget frame 4×4 PNG (ms p50/p95)", f"{m['widget_frame_ms']['p50']} / {m['widget_frame_ms']['p95']}"])  # fmt: skip
            for batch, rate in m["batch_img_per_s"].items():
                rows.append([f"{label} batch {batch} (img/s)", rate])
            rows.append([f"{label} best batch, fraction of peak", m["fraction_of_peak"]])
        for name, m in r["xla_vs_graph_float32"].items():
            rows.append([f"{size}×{size} float32 compiled function, {name}: 1 image (ms p50) / batch 256 (img/s)", f"{m['one_image_ms_p50']} / {m['batch_256_img_per_s']}"])  # fmt: skip
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
