"""The README's first command, ``python -m imgenlib demo``: the library end to end in minutes.

`run_demo` writes, into one directory, a grid and statistics of each embedded dataset
(``digits``, ``shapes``), then trains a GAN and a VAE on ``digits`` (preset ``demo``; in
quick mode ``tiny`` for one epoch) and writes their samples, the VAE's reconstructions,
samples of every shipped pretrained model (what a longer run reaches, with its measured
quality), a ``metrics.json`` report of everything, and ``index.html`` showing it
(`html_report`).
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

import numpy as np

from imgenlib import __version__, pretrained
from imgenlib._env import quick_mode
from imgenlib._validation import check_positive_int
from imgenlib.data import dataset_info, load_images
from imgenlib.images import to_unit
from imgenlib.io import atomic_path, ensure_writable_dir, save_json
from imgenlib.plotting import paired_rows, save_grid
from imgenlib.runs import RunConfig, load_run_data, load_run_model
from imgenlib.sampling_options import sampling_settings
from imgenlib.training import train

__all__ = ["html_report", "pretrained_samples", "run_demo", "save_reconstructions", "save_samples"]


def run_demo(out="outputs") -> dict:
    """Write dataset grids, a GAN and a VAE run on digits, and ``out/metrics.json``.

    Returns:
        The report written to ``out/metrics.json``: ``imgenlib`` (version), ``quick_mode``,
        ``datasets`` (per dataset: size, shape, classes, pixel statistics, grid file) and
        ``models`` (per run: its `train` summary and the files written).
    """
    out = ensure_writable_dir(out)
    report = {
        "imgenlib": __version__, "quick_mode": quick_mode(), "datasets": {}, "models": {},
        "pretrained": {},
    }  # fmt: skip
    for name in ("digits", "shapes"):
        report["datasets"][name] = _describe_dataset(name, out)
    preset, epochs = ("tiny", 1) if quick_mode() else ("demo", None)
    for kind in ("gan", "vae"):
        config = RunConfig(
            kind=kind, data="digits", out=out / f"{kind}_digits", preset=preset, epochs=epochs
        )
        report["models"][f"{kind}_digits"] = _demo_run(config, out)
    for name in pretrained.available():
        report["pretrained"][name] = pretrained_samples(name, out)
    path = save_json(report, out / "metrics.json")
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(html_report(report), encoding="utf-8")
    print(f"Wrote {path} and {out / 'index.html'}")
    return report


def html_report(report: dict) -> str:
    """A self-contained HTML page of a `run_demo` report: every grid with its caption, the
    measured quality and timings, links to the run directories (relative: open the file
    from the output directory in any browser, no server)."""
    figures = []
    for name, info in report["datasets"].items():
        caption = (
            f"Dataset {name}: {info['images']} images {tuple(info['image_shape'])}, classes "
            f"{', '.join(map(str, info['classes']))}; loaded in {info['seconds']} s"
        )
        figures.append((info["grid"], escape(caption)))
    for name, run in report["models"].items():
        quality = ", ".join(f"{key} {value}" for key, value in run["final"].items())
        if "evaluation" in run:
            quality += f"; test −ELBO {run['evaluation']['negative_elbo_nats']:.1f} nats"
        caption = (
            f"{run['kind'].upper()} on {run['data']} (preset {run['preset']}): "
            f"{run['epochs_completed']} epochs in {run['seconds_this_session']} s "
            f"({run['images_per_second']} img/s); final {quality}. Run directory: "
        )
        link = escape(run["run_dir"])
        figures.append((run["samples"], f'{escape(caption)}<a href="{link}/">{link}/</a>'))
        if "reconstructions" in run:
            text = f"{name}: originals above their reconstructions"
            figures.append((run["reconstructions"], escape(text)))
    for name, model in report.get("pretrained", {}).items():
        quality = model["quality"]
        if "prompt_accuracy" in quality:  # colour and position read from the pixels
            scores = "; ".join(
                f"{split}: colour {v['colour']:.2f}, position {v['position']:.2f}"
                for split, v in quality["prompt_accuracy"].items()
            )
            measured = f"prompts of test scenes, {scores} (n = {quality['n']} prompts each)"
        elif "category_accuracy" in quality:  # emoji: the classifier on unseen names
            scores = "; ".join(
                f"{split}: {v['category']:.2f} (majority {v['majority']:.2f}, "
                + (f"shuffled prompts {v['shuffled']:.2f}, " if "shuffled" in v else "")
                + f"real emoji {v['reference']:.2f}, chance {v['chance']:.2f}, n = {v['n']})"
                for split, v in quality["category_accuracy"].items()
            )
            measured = f"category of the samples of unseen test emoji names, {scores}"
        else:
            measured = (
                f"FID {quality['fid']}, KID {quality['kid']}, precision "
                f"{quality['precision']}, recall {quality['recall']} (n = {quality['n']})"
            )
        caption = (
            f"Pretrained {name} ({model['description']}): {measured}; made by `{model['command']}`"
        )
        if model.get("sampling"):
            caption += "; sampled with " + ", ".join(
                f"{key} {value}" for key, value in model["sampling"].items()
            )
        figures.append((model["samples"], escape(caption)))
    body = "\n".join(
        f'<figure><img src="{escape(src)}" alt="{escape(src)}">'
        f"<figcaption>{text}</figcaption></figure>"
        for src, text in figures
    )
    mode = " (quick mode)" if report["quick_mode"] else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>imgenlib demo</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "img{image-rendering:pixelated;max-width:100%}figure{margin:2em 0}</style></head>"
        f"<body><h1>imgenlib {escape(report['imgenlib'])} demo{mode}</h1>\n{body}\n"
        "<p>Numbers: metrics.json.</p></body></html>\n"
    )


def save_reconstructions(model, images, labels, path, *, scale: int = 2, ncols: int = 16):
    """Write originals above their reconstructions by `model` (a VAE) as a PNG grid."""
    ncols = min(ncols, len(images))
    pairs = paired_rows(images, model.reconstruct(images, labels), ncols=ncols)
    return save_grid(pairs, path, ncols=ncols, scale=scale)


def save_samples(
    model,
    n: int,
    path,
    *,
    seed: int = 0,
    labels=None,
    npy=None,
    grid: int = 64,
    scale: int = 2,
    sampling: dict | None = None,
    prompts=None,
) -> np.ndarray:
    """Generate `n` images: a PNG grid of the first `grid` of them, and all of them as .npy.

    Args:
        model: a generative model (``model.generate``).
        n: number of images to generate.
        path: the PNG grid to write; it shows at most `grid` tiles, so a large `n` still
            gives a picture a viewer shows usefully.
        seed: latent seed; the same seed gives the same images.
        labels: class labels for a conditional model (see ``model.generate``).
        npy: optional .npy path for every image, float32 NHWC in [0, 1].
        grid: the most tiles in the PNG.
        scale: pixel upscaling of the PNG.
        sampling: a diffusion model's sampling settings (steps, eta, guidance, sampler;
            `imgenlib.sampling_options.sampling_settings`).
        prompts: a text-conditional model's prompts (one, or one per image).

    Returns:
        The `n` generated images, in [-1, 1].
    """
    grid = check_positive_int("grid", grid)
    settings = sampling_settings(model, sampling) or {}
    n = check_positive_int("n", n)
    if prompts is not None:
        images = model.generate(prompts, n=n, seed=seed, **settings)
    else:
        images = model.generate(n, seed=seed, labels=labels, **settings)
    save_grid(images[:grid], path, scale=scale)
    if npy is not None:
        with atomic_path(npy) as tmp:
            np.save(tmp, to_unit(images))
    return images


def _describe_dataset(name, out) -> dict:
    start = time.perf_counter()
    images, labels = load_images(name)
    grid = save_grid(images[:64], out / f"{name}_data.png", scale=2)
    print(f"{name}: {len(images)} images {images.shape[1:]} -> {grid}")
    return {
        "images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "classes": list(dataset_info(name).class_names),
        "class_counts": np.bincount(labels).tolist(),
        "pixel_mean": round(float(images.mean()), 4),
        "pixel_std": round(float(images.std()), 4),
        "grid": grid.name,
        "seconds": round(time.perf_counter() - start, 2),
    }


def pretrained_samples(name, out) -> dict:
    """Write a grid of 64 samples of zoo model `name` into `out` (a diffusion model: with
    the recorded sampling settings); returns its demo record (quality, files)."""
    model = pretrained.load(name)
    record = pretrained.info(name)
    labels = "balanced" if model.conditional else None
    sampling = record.get("sampling") or {}  # a diffusion model: the steps of its quality
    stated = record["quality"]
    if hasattr(model, "text_encoder"):  # a text model: test captions whose words it knows
        from imgenlib.data.splits import load_captions
        from imgenlib.text_runs import readable

        _, prompts, _ = load_captions(stated["dataset"], image_size=model.image_shape[0], n=256)
        prompts = list(prompts[readable(model.text_encoder, list(prompts), every=True)][:64])
        images = model.generate(prompts, seed=0, **sampling)
        scores = ("prompt_accuracy", "category_accuracy")  # shapes, emoji
        quality = {"n": stated["n"], **{key: stated[key] for key in scores if key in stated}}
    else:
        images = model.generate(64, seed=0, labels=labels, **sampling)
        quality = {key: stated[key] for key in ("n", "fid", "kid", "precision", "recall")}
    path = save_grid(images, out / f"{name}.png", scale=2)
    print(f"pretrained {name} samples -> {path}")
    keys = ("description", "command", "train_seconds")
    extra = {"sampling": sampling} if sampling else {}
    return {**{key: record[key] for key in keys}, "quality": quality, **extra, "samples": path.name}


def _demo_run(config: RunConfig, out) -> dict:
    name = config.out.name
    label = config.kind.upper()
    print(f"Training a {label} on digits (preset {config.preset!r}) into {config.out} ...")
    summary = train(config, verbose=2)
    model = load_run_model(config.out)
    samples = save_grid(model.generate(64, seed=0), out / f"{name}_samples.png", scale=2)
    result = {**summary, "samples": samples.name}
    if config.kind == "vae":
        images, labels, _ = load_run_data(config.out, n=32)
        pairs = save_reconstructions(model, images, labels, out / f"{name}_reconstructions.png")
        result["reconstructions"] = pairs.name
        print(f"{label} samples -> {samples}; reconstructions -> {pairs}")
    else:
        print(f"{label} samples -> {samples}")
    return {**result, "run_dir": name}
