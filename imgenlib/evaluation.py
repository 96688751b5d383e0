"""Measure generators against datasets: sample, extract features, score; and run directories.

The metrics themselves are pure functions of arrays in `imgenlib.metrics`; this module does
everything around them. `evaluate` draws samples from a model (`generate_samples`),
`evaluate_images` scores a given batch: both compare its features (the dataset's shipped
extractor, `extractor_for`) with those of real images (`real_features`, cached) of the
`default_split` and report FID, KID, precision, recall, density, coverage, Inception Score
and class entropy (`score_images` gives the same numbers unrounded, for
`imgenlib.monitoring.QualityMonitor`).

`evaluate_run` loads ``DIR/model.keras`` and ``DIR/run.json`` (for the dataset name): what
``python -m imgenlib eval DIR`` prints and writes. For a VAE-like model (one with
``reconstruct``) it adds the reconstruction metrics and the negative ELBO of held-out images
(`imgenlib.reconstruction.reconstruction_metrics`). `format_report` turns the result into
the table the CLI prints. `evaluate_vae`, the VAE summary stored in a run's metrics.json,
lives in `imgenlib.reconstruction` and is re-exported here.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import scipy.special

from imgenlib._env import quick_mode
from imgenlib._validation import check_int
from imgenlib.images import check_images
from imgenlib.metrics import (
    density_coverage,
    evaluation_kid,
    fid_from_features,
    inception_score,
    precision_recall,
)
from imgenlib.reconstruction import (  # QUICK_EVAL_IMAGES and evaluate_vae: re-exported
    QUICK_EVAL_IMAGES,
    evaluate_vae,
    reconstruction_metrics,
)
from imgenlib.runs import default_split  # the one split rule, shared with runs
from imgenlib.sampling_options import sampling_settings

__all__ = [
    "FEATURE_METRICS",
    "QUICK_EVAL_IMAGES",
    "QUICK_MAX_EVAL",
    "default_split",
    "evaluate",
    "evaluate_images",
    "evaluate_run",
    "evaluate_vae",
    "extractor_for",
    "format_report",
    "generate_samples",
    "real_features",
    "score_images",
]

QUICK_MAX_EVAL = 1000

_ROWS = (
    ("fid", "FID", "lower is better"),
    ("kid", "KID", "lower is better; 0 = same distribution"),
    ("precision", "precision", "share of samples that look real (fidelity)"),
    ("recall", "recall", "share of real variety the samples cover"),
    ("density", "density", "~1 when samples sit where real images do"),
    ("coverage", "coverage", "share of real neighbourhoods with a sample"),
    ("inception_score", "Inception Score", "higher is better; at most the class count"),
    ("class_entropy", "class entropy", "1 = all classes equally often"),
)
_RECONSTRUCTION_ROWS = (
    ("mse", "MSE", "per pixel, [0, 1] scale"),
    ("psnr", "PSNR (dB)", "higher is better"),
    ("ssim", "SSIM", "1 = identical"),
    ("negative_elbo", "-ELBO (nats/image)", "lower is better"),
    ("bits_per_dim", "bits per dimension", "-ELBO / (H·W·C·ln 2): 8-bit levels, quotable"),
)


FEATURE_METRICS = (
    "fid",
    "kid",
    "kid_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "inception_score",
    "class_entropy",
)
_DECIMALS = {"fid": 3, "kid": 5, "kid_std": 5, "inception_score": 3}


@functools.lru_cache(maxsize=4)
def extractor_for(dataset_name: str):
    """The shipped `imgenlib.features.FeatureExtractor` of a dataset (one per process)."""
    from imgenlib.features import FeatureExtractor

    return FeatureExtractor(dataset_name)


@functools.lru_cache(maxsize=8)
def real_features(dataset_name: str, split: str, n: int) -> np.ndarray:
    """Features of the first `n` images of a split (read-only, cached for the process)."""
    from imgenlib.data import load_images

    images, _ = load_images(dataset_name, split, n=n)
    features = extractor_for(dataset_name).features(images)
    features.setflags(write=False)
    return features


def generate_samples(model, n: int, seed: int, sampling: dict | None = None) -> np.ndarray:
    """`n` samples of a generator; a conditional one gets its classes in equal shares.

    A diffusion model samples with `sampling` (`imgenlib.sampling_options.sampling_settings`:
    steps, eta, guidance, sampler; defaults for what is not given); other models take none.
    """
    if not callable(getattr(model, "generate", None)):
        raise TypeError(
            f"model must have a generate(n, seed=..., labels=...) method. Received: {type(model).__name__}"
        )
    settings = sampling_settings(model, sampling) or {}
    labels = "balanced" if getattr(model, "num_classes", None) else None
    return model.generate(n, seed=seed, labels=labels, **settings)


def score_images(
    images, dataset_name: str, *, n_real: int, split: str | None, seed: int, metrics=FEATURE_METRICS
) -> dict:
    """Unrounded metrics of `images` against the features of `n_real` real images.

    Shared by `evaluate`, `evaluate_images` and `imgenlib.monitoring.QualityMonitor`.

    Args:
        images: (n, H, W, C) in [-1, 1], the extractor's image shape.
        dataset_name: a dataset with a shipped extractor.
        n_real: real images compared with (the first of `split`; fewer if it is smaller).
        split: real split; None for `default_split`.
        seed: seed of KID's subsets.
        metrics: names from `FEATURE_METRICS`.

    Returns:
        ``{metric: float}`` in the order of `metrics`.
    """
    names = tuple(metrics)
    unknown = sorted(set(names) - set(FEATURE_METRICS))
    if unknown:
        raise ValueError(
            f"Unknown metric(s) {unknown}; expected any of {', '.join(FEATURE_METRICS)}."
        )
    split = default_split(dataset_name) if split is None else split
    extractor = extractor_for(dataset_name)
    real = real_features(dataset_name, split, n_real)
    fake, logits = extractor.features_and_logits(images)
    result = {}
    if "fid" in names:
        result["fid"] = fid_from_features(real, fake)
    if {"kid", "kid_std"} & set(names):
        result["kid"], result["kid_std"] = evaluation_kid(real, fake, seed=seed)
    if {"precision", "recall"} & set(names):
        result["precision"], result["recall"] = precision_recall(real, fake, k=3)
    if {"density", "coverage"} & set(names):
        result["density"], result["coverage"] = density_coverage(real, fake, k=5)
    if {"inception_score", "class_entropy"} & set(names):
        probs = scipy.special.softmax(logits, axis=1)
        histogram = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)
        nonzero = histogram[histogram > 0]
        result["inception_score"] = inception_score(probs)[0]
        entropy = -(nonzero * np.log(nonzero)).sum() / np.log(len(histogram))
        result["class_entropy"] = float(entropy) + 0.0  # -0.0 for a single class
    return {name: float(result[name]) for name in names}


def _report(scores: dict, dataset_name: str, split: str | None, n: int, n_real: int) -> dict:
    split = default_split(dataset_name) if split is None else split
    rounded = {name: round(value, _DECIMALS.get(name, 4)) for name, value in scores.items()}
    return {"dataset": dataset_name, "split": split, "n": n, "n_real": n_real, **rounded}


def evaluate(
    model,
    dataset_name: str,
    n: int = 10000,
    seed: int = 0,
    *,
    split: str | None = None,
    sampling: dict | None = None,
    metrics=FEATURE_METRICS,
) -> dict:
    """Measure a generator against a dataset with imgenlib's shipped feature extractor.

    Draws `n` samples (for a conditional model, classes in equal shares) and compares them
    with the first `n` real images of `split` (fewer if the split is smaller; features
    cached per process). Samples smaller than the extractor's images (same channels,
    square) are upsampled bilinearly to its size (`imgenlib.features.FeatureExtractor.upsampled`;
    the real images stay at it): the FID then includes the resolution loss (for emoji at
    32x32, the test images taken to 32x32 and back score FID 5.37 at n = 371: the floor).

    Args:
        model: anything with ``generate(n, seed=..., labels=...)`` returning images in
            [-1, 1] (and ``num_classes`` for a conditional model).
        dataset_name: a dataset with a shipped extractor (`imgenlib.features.CLASSIFIERS`).
        n: number of samples.
        seed: seed of the samples and of KID's subsets.
        split: real split to compare with; default `default_split` (test when there is one).
        sampling: a diffusion model's sampling settings (steps, eta, guidance, sampler;
            `imgenlib.sampling_options.sampling_settings`); not for other models.
        metrics: the subset of `FEATURE_METRICS` to compute (default all).

    Returns:
        A dict with ``dataset``, ``split``, ``n``, ``n_real``, (a diffusion model:
        ``sampling``, the complete settings used), (resized samples: ``resized_from``,
        their ``[height, width]``), ``fid``, ``kid`` and
        ``kid_std`` (50 subsets of min(1000, n/2) images), ``precision`` and ``recall`` (k=3), ``density`` and ``coverage``
        (k=5), ``inception_score``, and ``class_entropy``: the entropy of the
        predicted-class histogram of the samples divided by log(classes) (1 = all classes
        equally often; low = missing modes).

    Raises:
        ValueError: unknown dataset or no shipped extractor for it; bad `n` or `seed`;
            samples with other channels than the extractor's, larger or not square.
    """
    n = check_int("n", n, minimum=10)
    seed = check_int("seed", seed, minimum=0)
    extractor_for(dataset_name)
    settings = sampling_settings(model, sampling)
    samples = generate_samples(model, n, seed, settings)
    result = evaluate_images(
        samples, dataset_name, seed=seed, split=split, n_real=n, metrics=metrics
    )
    head = {key: result.pop(key) for key in ("dataset", "split", "n", "n_real")}
    if settings is not None:
        head["sampling"] = settings
    if "resized_from" in result:
        head["resized_from"] = result.pop("resized_from")
    return {**head, **result}


def evaluate_images(
    images,
    dataset_name: str,
    *,
    seed: int = 0,
    split: str | None = None,
    n_real: int | None = None,
    metrics=FEATURE_METRICS,
) -> dict:
    """`evaluate` for a given batch of images instead of a model (e.g. a data split: the floor).

    Args:
        images: (n, H, W, C) in [-1, 1] with n >= 10, the extractor's image shape or smaller
            square images of its channels (upsampled as in `evaluate`, recorded in
            ``resized_from``).
        dataset_name, seed, split: as in `evaluate`.
        n_real: number of real images (default: ``len(images)``).
        metrics: the subset of `FEATURE_METRICS` to compute (default all; the
            nearest-neighbour ones — precision, recall, density, coverage — cost most).

    Returns:
        The dict of `evaluate` (without ``sampling``).
    """
    images, resized_from = extractor_for(dataset_name).upsampled(check_images(images))
    if len(images) < 10:
        raise ValueError(f"images must hold at least 10 images. Received: {len(images)}")
    seed = check_int("seed", seed, minimum=0)
    n_real = len(images) if n_real is None else check_int("n_real", n_real, minimum=10)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    scores = score_images(
        images, dataset_name, n_real=n_real, split=split, seed=seed, metrics=metrics
    )
    split = default_split(dataset_name) if split is None else split
    actual_real = len(real_features(dataset_name, split, n_real))
    result = _report(scores, dataset_name, split, len(images), actual_real)
    return result if resized_from is None else {**result, "resized_from": resized_from}


def evaluate_run(run_dir, n: int = 10000, seed: int = 0, sampling: dict | None = None) -> dict:
    """Measure the model of a run directory against its dataset.

    Args:
        run_dir: a directory written by ``python -m imgenlib train`` (model.keras, run.json).
        n: samples (and real images; capped at the split's size). Quick mode
            (``IMGENLIB_QUICK=1``) caps it at `QUICK_MAX_EVAL`.
        seed: seed of the samples, of KID's subsets and of the ELBO's latents.
        sampling: a diffusion run's sampling settings (see `evaluate`).

    Returns:
        ``{"run", "kind", "data", "quick_mode", "seed", "seconds", **evaluate(...)}`` and, for a
        VAE-like model, ``"reconstruction": reconstruction_metrics(...)`` on the first
        `n` images of the same real split.

    Raises:
        ValueError: no such run, no model or run.json, or a dataset without a shipped
            feature extractor (e.g. a run on a folder of images).
    """
    from imgenlib.data import DATASETS
    from imgenlib.features import CLASSIFIERS
    from imgenlib.io import load_json
    from imgenlib.runs import load_run_model

    n = check_int("n", n, minimum=10)
    seed = check_int("seed", seed, minimum=0)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"Run directory does not exist. Received: {str(run_dir)!r}")
    if not (run_dir / "run.json").is_file():
        raise ValueError(f"No run.json in {str(run_dir)!r}: not a run written by `train`.")
    run = load_json(run_dir / "run.json")
    data = run.get("data")
    if run.get("text"):
        raise ValueError(
            f"{str(run_dir)!r} is a text-conditional run: how well its samples follow their "
            "prompts is in its metrics.json (prompt_accuracy), and "
            "imgenlib.text_runs.evaluate_text_run (`python -m imgenlib eval RUN`) measures it."
        )
    if data not in DATASETS:
        raise ValueError(
            f"No feature extractor for this run's data {data!r}: eval measures runs on "
            f"{', '.join(CLASSIFIERS)} (imgenlib's shipped extractors); a folder of images has none."
        )
    extractor_for(data)  # before loading the model: a missing extractor is the likelier error
    if quick_mode():
        n = min(n, QUICK_MAX_EVAL)
    start = time.perf_counter()
    model = load_run_model(run_dir)
    result = {
        "run": str(run_dir),
        "kind": run.get("kind"),
        "data": data,
        "quick_mode": quick_mode(),
        "seed": seed,
        **evaluate(model, data, n=n, seed=seed, sampling=sampling),
    }
    if callable(getattr(model, "reconstruct", None)):
        from imgenlib.runs import load_run_data

        images, labels, _ = load_run_data(run_dir, default_split(data), n)
        result["reconstruction"] = reconstruction_metrics(model, images, labels, seed=seed)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def _number(value) -> str:
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.4f}" if abs(value) >= 0.1 else f"{value:.5f}"


def format_report(result: dict) -> str:
    """The human-readable table of an `evaluate_run` result."""
    lines = [
        f"{result['run']}: {result.get('kind') or 'model'} on {result['data']}; "
        f"{result['n']} samples vs {result['n_real']} {result['split']} images, seed {result['seed']}"
        + (" (quick mode)" if result.get("quick_mode") else "")
    ]
    if result.get("sampling"):
        lines.append("  sampling: " + ", ".join(f"{k} {v}" for k, v in result["sampling"].items()))
    if result.get("resized_from"):
        lines.append(
            "  samples upsampled from {}x{} to the extractor's size (FID includes the "
            "resolution loss)".format(*result["resized_from"])
        )
    for key, label, hint in _ROWS:
        if key in result:
            value = _number(result[key])
            if key == "kid":
                value += f" ± {_number(result['kid_std'])}"
            lines.append(f"  {label:<20}{value:<22}{hint}")
    reconstruction = result.get("reconstruction")
    if reconstruction:
        lines.append(f"  reconstructions of {reconstruction['n']} {result['split']} images:")
        for key, label, hint in _RECONSTRUCTION_ROWS:
            if key in reconstruction:
                value = _number(reconstruction[key])
                if f"{key}_std" in reconstruction:
                    value += f" ± {_number(reconstruction[f'{key}_std'])}"
                lines.append(f"  {label:<20}{value:<22}{hint}")
    lines.append(f"  ({result['seconds']} s)")
    return "\n".join(lines)
