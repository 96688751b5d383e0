"""Measure the latent widgets' frame time: slider change -> new PNG bytes in the Image widget.

    python benchmarks/widget_frame_time.py            # median of 50 frames per setting
    python benchmarks/widget_frame_time.py --frames 200

For each generator (the tiny test GAN and a width-0.5 DCGAN, both 28x28x1, untrained:
speed does not depend on the weights) and each grid size, it moves a `LatentExplorer`
slider programmatically, as the browser would, and reports:

- ``render``: `LatentExplorer.last_frame_ms`, the traced ``generate`` plus PNG encoding;
- ``slider``: the whole ``slider.value = v`` call (observer, render, ``Image.value``
  update), i.e. the kernel-side cost of one frame (the browser adds its own, ≈ 50 ms);
- ``interp.``: `Interpolator` frame-slider moves (PNG encoding of a cached frame only);
- ``prompt``: `PromptExplorer` text-box changes (a new caption typed: tokenising, the
  traced ``generate`` of a text-conditional GAN, PNG encoding), for an untrained
  `TextGAN` on the shapes_captions vocabulary (the issue's goal: ≤ 100 ms a frame).
"""

import argparse
import statistics
import time

import imgenlib

imgenlib.quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from imgenlib.data import load_shapes_captions  # noqa: E402
from imgenlib.models import GANConfig, build_gan, build_text_gan  # noqa: E402
from imgenlib.widgets import Interpolator, LatentExplorer, PromptExplorer  # noqa: E402


def _stats(values):
    values = sorted(values)
    return statistics.median(values), values[int(0.9 * (len(values) - 1))]


def measure(model, n, frames):
    explorer = LatentExplorer(model, dims=(0,), n=n, scale=4)
    slider = explorer.sliders[0]
    values = np.linspace(-2.0, 2.0, frames + 5)
    render, wall = [], []
    for k, value in enumerate(values):
        start = time.perf_counter()
        slider.value = float(value)
        elapsed = 1000 * (time.perf_counter() - start)
        if k >= 5:  # warm-up: tracing, caches
            render.append(explorer.last_frame_ms)
            wall.append(elapsed)
    return _stats(render), _stats(wall)


def measure_interpolator(model, frames):
    interpolator = Interpolator(model, 0, 1, steps=16, scale=6)
    times = []
    for k in range(frames):
        start = time.perf_counter()
        interpolator.frame_slider.value = (k + 1) % 16
        times.append(1000 * (time.perf_counter() - start))
    return _stats(times)


def measure_prompts(model, captions, n, frames):
    explorer = PromptExplorer(model, captions[0], n=n, scale=4)
    render, wall = [], []
    for k in range(frames + 5):
        start = time.perf_counter()
        explorer.text.value = captions[(k + 1) % len(captions)]  # as typing a new caption does
        elapsed = 1000 * (time.perf_counter() - start)
        if k >= 5:
            render.append(explorer.last_frame_ms)
            wall.append(elapsed)
    return _stats(render), _stats(wall)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50, help="frames measured per setting")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    models = {
        "tiny (latent 8, width 0.125)": build_gan(GANConfig.tiny(), (28, 28, 1)),
        "DCGAN width 0.5 (latent 128)": build_gan(GANConfig(width_multiplier=0.5), (28, 28, 1)),
    }
    print(f"median / p90 over {args.frames} frames, ms")
    print(f"{'generator':30} {'images':>6} {'render':>14} {'slider':>14}")
    for name, model in models.items():
        for n in (1, 16):
            (render, render90), (wall, wall90) = measure(model, n, args.frames)
            print(f"{name:30} {n:6d} {render:7.1f} / {render90:4.1f} {wall:7.1f} / {wall90:4.1f}")
        interp, interp90 = measure_interpolator(model, args.frames)
        print(f"{name:30} {'interp.':>6} {interp:7.1f} / {interp90:4.1f}")
    captions = list(dict.fromkeys(load_shapes_captions("train", n=2000, seed=0).captions))
    text_models = {
        "TextGAN tiny, 16x16x3": build_text_gan(GANConfig.tiny(), (16, 16, 3), captions),
        "TextGAN width 0.5, 32x32x3": build_text_gan(
            GANConfig(width_multiplier=0.5), (32, 32, 3), captions
        ),
    }
    for name, model in text_models.items():
        for n in (1, 16):
            (render, render90), (wall, wall90) = measure_prompts(model, captions, n, args.frames)
            print(f"{name:30} {n:6d} {render:7.1f} / {render90:4.1f} {wall:7.1f} / {wall90:4.1f}")


if __name__ == "__main__":
    main()
