"""A resumable private run of a mean-embedding generator (DP-MERF) in one directory.

    from imgenlib.mean_embedding_runs import train_mean_embedding
    train_mean_embedding("fashion_mnist", "runs/merf_e10", epsilon=10, steps=2000)

Two phases, with the privacy spent in the first only:

1. **Release** (`imgenlib.mean_embeddings.release_mean_embeddings`): the class means of the
   random features of every training image, with Gaussian noise calibrated to (ε, δ).
   Written once to ``DIR/release.npz`` (with its settings and privacy record); a resumed
   run reuses it and never releases again, because a second release would spend ε again.
   Resuming with other privacy or feature settings is refused.
2. **Fit** (`imgenlib.models.mean_embedding.MeanEmbeddingGenerator`): ``steps`` steps of
   Adam on the squared MMD to the release, in epochs of ``steps_per_epoch``; post-processing,
   no privacy cost. The same run files as ``python -m imgenlib train``: ``backup/``
   (resume from the last finished epoch, same batches), ``model.keras``, ``history.json``,
   ``samples.png`` and ``samples/``, ``metrics.json`` (with ``privacy``, and the minutes
   of the release and of the fit), ``.lock``.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from imgenlib._env import quick_mode
from imgenlib._validation import check_float, check_positive_int
from imgenlib.callbacks import HistoryJSON, SampleGrid, SaveModel, TimeBudget
from imgenlib.io import (
    atomic_path,
    ensure_writable_dir,
    load_json,
    lock_directory,
    remove_stale_temporaries,
    save_json,
)
from imgenlib.mean_embeddings import (
    DEFAULT_BANDWIDTHS,
    DEFAULT_FEATURES,
    EmbeddingRelease,
    RandomFourierFeatures,
    release_mean_embeddings,
)
from imgenlib.resume import AtomicBackupAndRestore

__all__ = ["load_release", "train_mean_embedding"]


def _release_settings(epsilon, noise_multiplier, delta, features: RandomFourierFeatures) -> dict:
    return {
        "epsilon": epsilon,
        "noise_multiplier": noise_multiplier,
        "delta": delta,
        "features": features.get_config(),
    }


def save_release(release: EmbeddingRelease, settings: dict, path) -> Path:
    """Write a release and the settings that asked for it to ``.npz`` (atomically)."""
    import json

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as file:
            np.savez(
                file,
                means=release.means,
                counts=release.counts,
                privacy=np.array(json.dumps(release.privacy())),
                settings=np.array(json.dumps(settings)),
                label_weight=np.array(release.label_weight),
            )
    return Path(path)


def load_release(path) -> tuple[EmbeddingRelease, dict]:
    """The `EmbeddingRelease` in ``release.npz`` and the settings it was made with."""
    import json

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No release file at {str(path)!r}.")
    with np.load(path, allow_pickle=False) as stored:
        privacy = json.loads(str(stored["privacy"]))
        settings = json.loads(str(stored["settings"]))
        release = EmbeddingRelease(
            means=stored["means"],
            counts=stored["counts"],
            features=RandomFourierFeatures(**settings["features"]),
            noise_multiplier=privacy["noise_multiplier"],
            epsilon=privacy["epsilon"],
            delta=privacy["delta"],
            label_weight=float(stored["label_weight"]),
        )
    return release, settings


def train_mean_embedding(
    data: str,
    out,
    *,
    epsilon: float | None = None,
    noise_multiplier: float | None = None,
    delta: float = 1e-5,
    steps: int = 2000,
    steps_per_epoch: int = 200,
    num_features: int = DEFAULT_FEATURES,
    bandwidths=DEFAULT_BANDWIDTHS,
    latent_dim: int = 32,
    samples_per_class: int = 100,
    learning_rate: float = 1e-3,
    max_minutes: float | None = None,
    seed: int = 0,
    verbose: int = 2,
) -> dict:
    """Release a labelled dataset's mean embedding privately and fit a generator to it.

    Args:
        data: a labelled dataset name (`imgenlib.data.DATASETS`, e.g. ``"fashion_mnist"``).
        out: the run directory; running again with it resumes (the release is reused).
        epsilon: the privacy budget ε of the release; or
        noise_multiplier: σ instead (0: not private, the ε = ∞ reference).
        delta: δ.
        steps: training steps of the generator (whole epochs of `steps_per_epoch`).
        steps_per_epoch: steps between saves, sample grids and history entries.
        num_features, bandwidths: the random features (`RandomFourierFeatures`, seed `seed`).
        latent_dim, samples_per_class, learning_rate: the generator and its training.
        max_minutes: stop the fit after this many minutes (the release is already paid for).
        seed: seed of the features, the generator's weights and its training noise (the
            release's noise always comes from the operating system's entropy).
        verbose: Keras' ``fit`` verbosity.

    Returns:
        The summary also written to ``DIR/metrics.json``.

    Raises:
        ValueError / TypeError: bad settings or data, or a directory holding a run with
            other privacy or feature settings; `imgenlib.io.DirectoryInUse` while another
            process trains into it.
    """
    from imgenlib.data import label_names
    from imgenlib.models.mean_embedding import MeanEmbeddingGenerator, steps_dataset
    from imgenlib.runs import load_split
    from imgenlib.training import QUICK_MAX_IMAGES

    steps = check_positive_int("steps", steps)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    if steps % steps_per_epoch:
        raise ValueError(
            f"steps must be a whole number of epochs of steps_per_epoch={steps_per_epoch}. "
            f"Received: steps={steps}"
        )
    learning_rate = check_float("learning_rate", learning_rate, minimum=0, min_inclusive=False)
    run_dir = ensure_writable_dir(out)
    with lock_directory(run_dir, purpose="training"):
        for directory in (run_dir, run_dir / "samples", run_dir / "backup"):
            remove_stale_temporaries(directory)
        images, labels, _ = load_split(data, "train", conditional=True)
        if quick_mode():
            images, labels = images[:QUICK_MAX_IMAGES], labels[:QUICK_MAX_IMAGES]
        class_names = label_names(data)
        features = RandomFourierFeatures(images.shape[1:], num_features, bandwidths, seed=seed)
        settings = _release_settings(epsilon, noise_multiplier, delta, features)
        release_path = run_dir / "release.npz"
        release_seconds = 0.0
        if release_path.exists():
            release, stored = load_release(release_path)
            if stored != settings:
                changed = sorted(k for k in settings if settings[k] != stored.get(k))
                raise ValueError(
                    f"{str(run_dir)!r} holds a release made with other settings ({', '.join(changed)}); "
                    "a second release would spend privacy again. Use a new directory. "
                    f"Received: {', '.join(f'{k}={settings[k]!r}' for k in changed)}; "
                    f"stored: {', '.join(f'{k}={stored.get(k)!r}' for k in changed)}"
                )
        else:
            start = time.perf_counter()
            release = release_mean_embeddings(
                images, labels, num_classes=len(class_names), epsilon=epsilon,
                noise_multiplier=noise_multiplier, delta=delta, features=features,
            )  # fmt: skip
            release_seconds = time.perf_counter() - start
            save_release(release, settings, release_path)
        if verbose:
            print(
                f"Release: epsilon {release.epsilon:.4g} (delta {release.delta:g}, "
                f"sigma {release.noise_multiplier:.4g}) for {len(images):,} images, "
                f"{features.num_features:,} features", flush=True,
            )  # fmt: skip

        keras.utils.set_random_seed(seed)
        model = MeanEmbeddingGenerator.from_release(
            release, latent_dim=latent_dim, samples_per_class=samples_per_class,
            class_names=class_names, seed=seed,
        )  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        model.build_for_training()
        backup, timer = AtomicBackupAndRestore(run_dir / "backup"), TimeBudget(max_minutes)
        callbacks = [
            backup,
            HistoryJSON(run_dir / "history.json"),
            SaveModel(run_dir / "model.keras"),
            SampleGrid(
                run_dir / "samples",
                n=100,
                seed=seed,
                labels="balanced",
                latest=run_dir / "samples.png",
            ),  # fmt: skip
            timer,
        ]
        start = time.perf_counter()
        model.fit(
            steps_dataset(steps_per_epoch),
            epochs=steps // steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        seconds = time.perf_counter() - start
        history = load_json(run_dir / "history.json")
        summary = {
            "kind": model.kind,
            "data": data,
            "conditional": True,
            "epochs_completed": len(history.get("mmd2", [])),
            "steps_requested": steps,
            "steps_this_session": timer.steps,
            "seconds_this_session": round(seconds + release_seconds, 1),
            "release_seconds": round(release_seconds, 1),
            "fit_seconds": round(seconds, 1),
            "stopped_by_time_budget": timer.stopped,
            "final": {k: round(float(v[-1]), 6) for k, v in history.items() if v},
            "train_images": int(len(images)),
            "image_shape": list(images.shape[1:]),
            "num_classes": len(class_names),
            "settings": {
                **settings,
                "latent_dim": latent_dim,
                "samples_per_class": samples_per_class,
                "learning_rate": learning_rate,
                "steps_per_epoch": steps_per_epoch,
                "seed": seed,
            },  # fmt: skip
            "privacy": release.privacy(),
        }
        save_json(summary, run_dir / "metrics.json")
        return summary
