"""Text-conditional training runs: ``python -m imgenlib train gan --data shapes_captions --text``.

`imgenlib.training.train` asks this module three things about a run with ``text=True``
(`imgenlib.runs.RunConfig.text`):

- `load_text_training_data`: the training images and their captions (the words of the
  captions become the model's vocabulary; `imgenlib.data.splits.load_captions`);
- `grid_prompts`: the prompts of the run's sample grids (``DIR/samples/epoch_NNN.png``) and
  of the mode-collapse check: the captions of the first scenes of the test split, the same
  in every epoch and every session, so the grids show one set of prompts learning;
- `text_run_evaluation`: for ``shapes_captions``, how often the samples have the colour and
  position their prompts name, on seen colour–shape pairs (``test``) and on held-out ones
  (``test_compositional``), read from the pixels (`imgenlib.caption_accuracy`), written
  to ``DIR/metrics.json`` under ``"prompt_accuracy"``.
"""

from __future__ import annotations

from imgenlib._env import quick_mode
from imgenlib.data.splits import load_captions

__all__ = ["EVALUATION_PROMPTS", "grid_prompts", "load_text_training_data", "text_run_evaluation"]

EVALUATION_PROMPTS = 300
"""Prompts per split in a text run's final evaluation (100 in quick mode)."""


def load_text_training_data(config, max_images: int | None = None):
    """``(images, captions)`` of the run's training split (the first `max_images` of them)."""
    images, captions, _ = load_captions(
        config.data, "train", image_size=config.image_size, n=max_images,
        background=config.background, style=config.style,
    )  # fmt: skip
    return images, captions


def grid_prompts(config, n: int = 64) -> list[str]:
    """The captions of the first `n` scenes of the run's test split: its grids' prompts."""
    _, captions, _ = load_captions(
        config.data, image_size=config.image_size, n=n, background=config.background,
        style=config.style,
    )  # fmt: skip
    return [str(caption) for caption in captions]


def text_run_evaluation(model, config) -> dict | None:
    """Colour and position accuracy of the model's samples (``shapes_captions`` runs), else None.

    Returns:
        ``{"test": ..., "test_compositional": ...}``, each `imgenlib.prompt_accuracy`'s
        record for `EVALUATION_PROMPTS` one-object prompts of that split.
    """
    if config.data != "shapes_captions":
        return None
    from imgenlib.caption_accuracy import prompt_accuracy

    n = 100 if quick_mode() else EVALUATION_PROMPTS
    return {
        split: prompt_accuracy(model, split, n=n, seed=config.seed)
        for split in ("test", "test_compositional")
    }
