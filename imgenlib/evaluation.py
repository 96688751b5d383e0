"""Evaluate a training run directory: what ``python -m imgenlib eval DIR`` prints and writes.

`evaluate_run` loads ``DIR/model.keras`` and ``DIR/run.json`` (for the dataset name) and
measures the model with the dataset's shipped feature extractor (`imgenlib.metrics.evaluate`:
FID, KID, precision, recall, density, coverage, Inception Score, class entropy). For a
VAE-like model (one with ``reconstruct``) it adds the reconstruction metrics and the
negative ELBO of held-out images (`imgenlib.reconstruction.reconstruction_metrics`).
`format_report` turns the result into the table the CLI prints.
"""

from __future__ import annotations

import time
from pathlib import Path

from imgenlib._env import quick_mode
from imgenlib._validation import check_int

__all__ = ["QUICK_EVAL_IMAGES", "QUICK_MAX_EVAL", "evaluate_run", "evaluate_vae", "format_report"]

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
)


def evaluate_run(run_dir, n: int = 10000, seed: int = 0) -> dict:
    """Measure the model of a run directory against its dataset.

    Args:
        run_dir: a directory written by ``python -m imgenlib train`` (model.keras, run.json).
        n: samples (and real images; capped at the split's size). Quick mode
            (``IMGENLIB_QUICK=1``) caps it at `QUICK_MAX_EVAL`.
        seed: seed of the samples, of KID's subsets and of the ELBO's latents.

    Returns:
        ``{"run", "kind", "data", "quick_mode", "seed", "seconds", **evaluate(...)}`` and, for a
        VAE-like model, ``"reconstruction": reconstruction_metrics(...)`` on the first
        `n` images of the same real split.

    Raises:
        ValueError: no such run, no model or run.json, or a dataset without a shipped
            feature extractor (e.g. a run on a folder of images).
    """
    from imgenlib.data import DATASETS, load_images
    from imgenlib.features import CLASSIFIERS
    from imgenlib.io import load_json
    from imgenlib.metrics import _extractor, default_split, evaluate
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
    if data not in DATASETS:
        raise ValueError(
            f"No feature extractor for this run's data {data!r}: eval measures runs on "
            f"{', '.join(CLASSIFIERS)} (imgenlib's shipped extractors); a folder of images has none."
        )
    _extractor(data)  # before loading the model: a missing extractor is the likelier error
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
        **evaluate(model, data, n=n, seed=seed),
    }
    if callable(getattr(model, "reconstruct", None)):
        from imgenlib.reconstruction import reconstruction_metrics

        images, labels = load_images(data, default_split(data), n=n)
        if not getattr(model, "num_classes", None):
            labels = None
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


QUICK_EVAL_IMAGES = 512


def evaluate_vae(model, data: str, image_size=None, conditional: bool = False, *, n=None) -> dict:
    """Held-out −ELBO (nats per image) and reconstruction error of a VAE on its dataset.

    Uses `imgenlib.runs.default_split` (the test split when the dataset has one, else the
    training images, and says so); at most `n` images (default: all, or
    `QUICK_EVAL_IMAGES` in quick mode). ``imgenlib.training.train`` stores the result in a
    VAE run's ``metrics.json``.

    Returns:
        A dict: ``split``, ``images``, ``likelihood``, ``negative_elbo_nats`` (mean per
        image, one-sample estimate with seed 0; see `VAE.negative_elbo` for what the nats
        measure) with its ``standard_error``, and ``reconstruction_mse``: the mean squared
        error of `reconstruct` per pixel on the [0, 1] scale.
    """
    import numpy as np

    from imgenlib.runs import load_split

    n = n or (QUICK_EVAL_IMAGES if quick_mode() else None)
    images, labels, split = load_split(data, image_size=image_size, conditional=conditional, n=n)
    nelbo = model.negative_elbo(images, labels, seed=0)
    recon = model.reconstruct(images, labels)
    mse = float(np.mean(((recon - images) * 0.5) ** 2))
    standard_error = float(nelbo.std(ddof=1) / np.sqrt(len(nelbo))) if len(nelbo) > 1 else None
    return {
        "split": split,
        "images": int(len(images)),
        "likelihood": model.likelihood,
        "negative_elbo_nats": round(float(nelbo.mean()), 3),
        "standard_error": None if standard_error is None else round(standard_error, 3),
        "reconstruction_mse": round(mse, 6),
    }
