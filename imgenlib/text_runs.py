"""Text-conditional training runs: ``python -m imgenlib train gan --data shapes_captions --text``.

`imgenlib.training.train` asks this module three things about a run with ``text=True``
(`imgenlib.runs.RunConfig.text`):

- `load_text_training_data`: the training images and their captions (the words of the
  captions become the model's vocabulary; `imgenlib.data.splits.load_captions`);
- `grid_prompts`: the prompts of the run's sample grids (``DIR/samples/epoch_NNN.png``) and
  of the mode-collapse check: the captions of the first scenes of the test split, the same
  in every epoch and every session, so the grids show one set of prompts learning;
- `text_run_evaluation`: how well the samples follow their prompts, written to
  ``DIR/metrics.json`` under ``"prompt_accuracy"``. ``shapes_captions``: how often they
  have the colour, shape, size and position their prompts name (and all four), on seen
  colour–shape pairs (``test``) and on held-out ones (``test_compositional``)
  (`imgenlib.evaluate_text`). ``emoji``: `emoji_category_accuracy`, how often the
  shipped emoji classifier puts the sample of a test emoji's name in that emoji's category.
"""

from __future__ import annotations

import warnings

import numpy as np

from imgenlib._env import quick_mode
from imgenlib.data.splits import load_captions

__all__ = [
    "EVALUATION_PROMPTS",
    "TEXT_DIFFUSION_SAMPLING",
    "emoji_category_accuracy",
    "evaluate_text_run",
    "format_text_report",
    "grid_prompts",
    "load_text_training_data",
    "run_text_encoder",
    "text_run_evaluation",
]

EVALUATION_PROMPTS = 500
"""Prompts per split in a text run's final evaluation (100 in quick mode)."""
TEXT_DIFFUSION_SAMPLING = {"steps": 25, "guidance": 3.0}
"""What a text diffusion run's prompts are evaluated with unless told otherwise (steps at
most the model's T): the zoo model's settings. The general default, guidance 1 and 50
steps, read the same word-dropout run as exact match 0.09 / 0.02 (seen / held-out) where
these gave 0.28 / 0.06 (session 27)."""


def text_sampling(model, sampling=None):
    """`sampling` with `TEXT_DIFFUSION_SAMPLING` filling what it does not give (None values
    count as not given), for a diffusion model; `sampling` unchanged for any other."""
    if getattr(model, "kind", None) != "diffusion":
        return sampling
    steps = min(TEXT_DIFFUSION_SAMPLING["steps"], model.timesteps)
    defaults = {**TEXT_DIFFUSION_SAMPLING, "steps": steps}
    return {**defaults, **{k: v for k, v in (sampling or {}).items() if v is not None}}


def load_text_training_data(config, max_images: int | None = None):
    """``(images, captions)`` of the run's training split (the first `max_images` of them)."""
    images, captions, _ = load_captions(
        config.data, "train", image_size=config.image_size, n=max_images,
        background=config.background, style=config.style,
    )  # fmt: skip
    return images, captions


def run_text_encoder(config):
    """The ready text encoder a text run's ``text_encoder`` setting names (``"clip"``: the
    shipped Mini-CLIP's of its data, used frozen), or None: a new one from the captions."""
    if config.text_encoder != "clip":
        return None
    from imgenlib.clip_tasks import load_pretrained_clip

    return load_pretrained_clip(config.data).text_encoder


def grid_prompts(config, n: int = 64, text_encoder=None) -> list[str]:
    """The captions of the first `n` scenes of the run's test split: its grids' prompts.

    With the model's `text_encoder`, only captions whose every word it knows are kept (an
    emoji's name in the test split may have words no training name has).
    """
    _, captions, _ = load_captions(
        config.data, image_size=config.image_size, background=config.background,
        style=config.style,
    )  # fmt: skip
    if text_encoder is not None:
        captions = captions[readable(text_encoder, list(captions), every=True)]
    return [str(caption) for caption in captions[:n]]


def readable(text_encoder, captions, *, every: bool = False) -> np.ndarray:
    """Whether `text_encoder` knows a word (`every`: all the words) of each caption."""
    known = set(text_encoder.vocabulary)
    rows = [set(row) for row in text_encoder.tokenizer.words(captions)]
    return np.array([row <= known if every else bool(row & known) for row in rows])


def text_run_evaluation(model, config, n=None, seed=None, sampling=None) -> dict | None:
    """How well the run's samples follow their prompts (`n` of them per split; default
    `EVALUATION_PROMPTS`, 100 in quick mode), drawn from `seed` (default: the run's) with a
    diffusion model's `sampling` settings (`text_sampling`: by default 25 DDIM steps,
    guidance 3).

    Returns:
        ``shapes_captions``: `imgenlib.evaluate_text`'s ``{"test": ..., "test_compositional":
        ...}`` (colour, shape, size, position, exact match, KID/FID, the real scenes'
        reading, chance, and the ``"sampling"`` settings) for one-object prompts of each split;
        ``emoji``: ``{"test": emoji_category_accuracy(...), "test_no_skin_tones": the same
        with one image per emoji}``; other data: None.
    """
    from imgenlib.sampling_options import sampling_settings
    from imgenlib.text_evaluation import evaluate_text

    if n is None:
        n = 100 if quick_mode() else EVALUATION_PROMPTS
    seed = config.seed if seed is None else seed
    sampling = sampling_settings(model, text_sampling(model, sampling)) or {}
    if config.data == "emoji":  # all variants, and one image per emoji (no skin-tone copies)
        options = {"n": n, "style": config.style, "background": config.background,
                   "sampling": sampling}  # fmt: skip
        return {
            "test": emoji_category_accuracy(model, **options),
            "test_no_skin_tones": emoji_category_accuracy(model, skin_tones=False, **options),
        }
    if config.data != "shapes_captions":
        return None
    with warnings.catch_warnings():  # FID's small-n bias: the record says which n it used
        warnings.simplefilter("ignore", UserWarning)
        results = evaluate_text(model, n=n, seed=seed, sampling=sampling)
    for result in results.values():  # how the images were drawn, beside what they scored
        result["sampling"] = sampling or None
    return results


def evaluate_text_run(run_dir, n: int | None = None, seed: int = 0, sampling=None) -> dict:
    """``python -m imgenlib eval RUN`` of a text run: `text_run_evaluation` of its model.

    Returns:
        ``{"run", "kind", "data", "n", "seed", "sampling" (a diffusion model's settings,
        else None), "prompt_accuracy", "seconds"}``.

    Raises:
        ValueError: not a text run (``eval`` measures the others with FID).
    """
    import time

    from imgenlib.runs import load_run_config, load_run_model
    from imgenlib.sampling_options import sampling_settings

    config = load_run_config(run_dir)
    if not config.text:
        raise ValueError(f"{str(run_dir)!r} is not a text-conditional run (train --text).")
    start = time.perf_counter()
    model = load_run_model(run_dir)
    if n is None:
        n = 100 if quick_mode() else EVALUATION_PROMPTS
    scores = text_run_evaluation(model, config, n=n, seed=seed, sampling=sampling)
    return {
        "run": str(run_dir), "kind": config.kind, "data": config.data, "n": n, "seed": seed,
        "sampling": sampling_settings(model, text_sampling(model, sampling)),
        "prompt_accuracy": scores,
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def format_text_report(result: dict) -> str:
    """The lines ``eval`` prints for `evaluate_text_run`'s result."""
    lines = [
        f"{result['run']}: text-conditional {result['kind']} on {result['data']}; "
        f"{result['n']} prompts per split, seed {result['seed']}"
    ]
    if result.get("sampling"):
        lines.append("  sampling: " + ", ".join(f"{k} {v}" for k, v in result["sampling"].items()))
    for split, score in (result["prompt_accuracy"] or {}).items():
        if "category" in score:  # emoji
            lines.append(
                f"  {split}: category {score['category']:.3f} of {score['n']} prompts "
                f"(classifier on the real emoji {score['reference']:.3f}, majority "
                f"{score['majority']:.3f}, "
                + (f"shuffled prompts {score['shuffled']:.3f}, " if "shuffled" in score else "")
                + f"chance {score['chance']:.3f})"
                + (f"; KID {score['kid']:.4f}, FID {score['fid']:.1f}" if "fid" in score else "")
                + (
                    f"; CLIP score {score['clip_score']:.1f} (real "
                    f"{score['clip_score_reference']:.1f})"
                    if "clip_score" in score
                    else ""
                )
            )
            continue
        attributes = ("colour", "shape", "size", "position", "exact_match")
        lines.append(
            f"  {split}: "
            + ", ".join(f"{a.replace('_', ' ')} {score[a]:.3f}" for a in attributes)
            + f"; KID {score['kid']:.1f}, FID {score['fid']:.1f}"
        )
        lines.append(
            "    real scenes: "
            + ", ".join(f"{score['reference'][a]:.3f}" for a in attributes)
            + "; chance: "
            + ", ".join(f"{score['chance'][a]:.3g}" for a in attributes)
        )
    return "\n".join(lines)


def emoji_category_accuracy(
    model, split: str = "test", n: int | None = None, *, seed: int = 1, style=None,
    background=None, sampling=None, skin_tones: bool = True,
) -> dict:  # fmt: skip
    """How often the shipped emoji classifier puts a text model's sample in its prompt's category.

    The prompts are the names (captions) of the first `n` emoji of `split` (``"test"``:
    emoji the model never saw) that share a word with the model's vocabulary (the others,
    counted as ``"unreadable"``, cannot be drawn); one sample per prompt, from the latents
    of `seed` (a diffusion model with `sampling`, ``generate``'s keyword arguments). The
    samples are taken to the classifier's 64×64
    (`imgenlib.features.FeatureExtractor`). With `skin_tones` the five skin-tone variants of
    an emoji are prompts of their own ("waving hand, dark skin tone"), which makes People &
    Body 59 % of the 371 test images; ``skin_tones=False`` keeps one image per emoji (191,
    majority share 20 %). The ``reference`` depends on the model's size: the classifier
    reads the category of 74 % / 61 % of those real test images at 64×64 but 54 % / 38 %
    of them at 32×32 (the ``text`` preset's), upsampled.

    Returns:
        ``{"category": accuracy, "reference": the classifier on the real images (the
        ceiling), "majority": the most common category's share (what always drawing one
        category would score), "shuffled" (the same samples scored against the prompts'
        categories shuffled, the mean over every permutation, Σ_c share of c among the
        prompts × share of c among the samples: what these drawings would score if they
        ignored the text), "chance": 1 / categories, "n" (prompts drawn),
        "unreadable", "split", "kid", "kid_std", "fid" (the samples against the real images
        of the same prompts, on the classifier's features at its 64×64, as the emoji FID of
        `imgenlib.evaluate`; the real images are at the model's size too, so the FID does not
        count the resolution loss; FID is biased upwards at a few hundred images: compare it at the same
        split and ``skin_tones`` only, and prefer KID)}``, and, when an emoji Mini-CLIP is shipped
        (`imgenlib.clip_tasks.load_pretrained_clip`), ``"clip_score"`` (mean over the
        pairs, unknown words ignored) and ``"clip_score_reference"`` (the real images').
    """
    from imgenlib.caption_accuracy import image_side
    from imgenlib.clip_tasks import mean_clip_score, pretrained_clip_or_none
    from imgenlib.data.emoji import CATEGORIES, load_emoji
    from imgenlib.features import FeatureExtractor
    from imgenlib.metrics import evaluation_kid, fid_from_features

    side = image_side(model, "emoji_category_accuracy")
    options = {"style": style, "background": background, "skin_tones": skin_tones}
    options = {key: value for key, value in options.items() if value is not None}
    record = load_emoji(split, side, n=n, **options)
    keep = readable(model.text_encoder, list(record.captions))
    extractor = FeatureExtractor("emoji")
    with warnings.catch_warnings():  # unknown words in unseen names: expected, not news
        warnings.simplefilter("ignore", UserWarning)
        prompts = list(np.asarray(record.captions, object)[keep])
        samples = model.generate(prompts, seed=seed, **(sampling or {}))
    truth = np.asarray(record.labels)[keep]

    def read(images):  # the classifier's features and its category
        features, logits = extractor.features_and_logits(extractor.upsampled(images)[0])
        return features, logits.argmax(-1)

    fake_features, drawn = read(samples)
    real_features, real_read = read(record.images[keep])
    kid, kid_std = evaluation_kid(real_features, fake_features, seed=seed)
    shares = [np.bincount(c, minlength=len(CATEGORIES)) / len(c) for c in (truth, drawn)]
    result = {
        "category": float((drawn == truth).mean()),
        "reference": float((real_read == truth).mean()),
        "majority": float(shares[0].max()),
        "shuffled": float(shares[0] @ shares[1]),
        "chance": 1 / len(CATEGORIES),
        "n": len(truth),
        "unreadable": int((~keep).sum()),
        "split": split,
        "kid": kid,
        "kid_std": kid_std,
        "fid": fid_from_features(real_features, fake_features),
    }
    clip = pretrained_clip_or_none("emoji")
    if clip is not None:  # the shipped emoji Mini-CLIP's reading of the same pairs
        result["clip_score"] = mean_clip_score(clip, samples, prompts)
        result["clip_score_reference"] = mean_clip_score(clip, record.images[keep], prompts)
    return result
