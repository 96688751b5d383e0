"""Colour emoji with names, categories and two drawing styles, from npm packages.

The images come from iamcal's ``emoji-datasource-*`` npm packages (https://github.com/iamcal/emoji-data):

- ``"twitter"``: Twemoji, © Twitter, Inc. and other contributors, licensed under
  CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/): attribute when you publish
  images of the dataset or of a model trained on it;
- ``"google"``: Noto Emoji, © Google, licensed under the Apache License 2.0.

(The Apple and Facebook sets in the same project are not licensed for reuse and are never
fetched.) Each package holds 3,786 RGBA PNGs at 64×64 — 1,911 emoji plus skin-tone
variants — and ``emoji.json`` with each emoji's name, category (10) and subcategory (99).

`fetch_emoji` runs the ordinary npm client once (``npm pack NAME@VERSION``), checks the
tarball against the registry's pinned integrity hash, decodes the PNGs and stores them in
the cache (``$IMGENLIB_DATA/emoji`` or ``~/.cache/imgenlib/emoji``) as one ``.npz`` per
style with a manifest; after that everything is offline. `load_emoji` returns a record
with images, captions ("father christmas, medium skin tone") and labels.

A conditional model can be conditioned on the category, the style or both
(`CONDITIONS`): `emoji_labels` gives each image's class and `emoji_class_names` the names
("Smileys & Emotion / google"), so one model can draw the same concept in either style.

**Splits are by emoji, not by image**: an emoji is in the test split with all its skin
tones and in both styles, so the test split holds emoji a model never saw (10 % of each
category, chosen by a hash of the emoji's code, so the split never changes).

**Why the background matters**: the PNGs are transparent around the drawing. A GAN sees
only RGB, so the transparent pixels must become *some* colour; whatever is hidden in them
(often black, or stray colour) would otherwise become part of what the generator must
imitate. We composite on a plain background, ``out = a·rgb + (1 − a)·background``, so every
image has the same backdrop and the model spends its capacity on the drawing.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from imgenlib._validation import (
    BACKGROUNDS,
    check_background,
    check_choice,
    check_image_size,
    check_positive_int,
)
from imgenlib.data.emoji_cache import (
    EMOJI_PACKAGES,
    STYLES,
    EmojiCacheError,
    emoji_cache_dir,
    fetch_emoji,
    load_style,
)

__all__ = [
    "BACKGROUNDS",
    "CATEGORIES",
    "CONDITIONS",
    "EMOJI_PACKAGES",
    "EmojiCacheError",
    "EmojiData",
    "STYLES",
    "STYLE_CHOICES",
    "composite",
    "emoji_cache_dir",
    "emoji_class_names",
    "emoji_labels",
    "fetch_emoji",
    "load_emoji",
]

CATEGORIES = (
    "Smileys & Emotion", "People & Body", "Component", "Animals & Nature", "Food & Drink",
    "Travel & Places", "Activities", "Objects", "Symbols", "Flags",
)  # fmt: skip
SKIN_TONES = {
    "1F3FB": "light skin tone",
    "1F3FC": "medium-light skin tone",
    "1F3FD": "medium skin tone",
    "1F3FE": "medium-dark skin tone",
    "1F3FF": "dark skin tone",
}
TEST_FRACTION = 0.1
CONDITIONS = ("category", "style", "category_style")
STYLE_CHOICES = (*STYLES, "all")


@dataclasses.dataclass(frozen=True)
class EmojiData:
    """Emoji images with their metadata; every field has one entry per image.

    Attributes:
        images: float32 (N, H, W, 3) in [-1, 1], alpha composited on the background.
        labels: int64 (N,) category index into `CATEGORIES`.
        captions: lower-case names, skin tone appended ("father christmas, medium skin tone").
        subcategory: e.g. "face-smiling".
        style: "twitter" or "google" per image.
        code: the emoji's Unicode code points, e.g. "1F385-1F3FD".
        base_code: the code without skin tone (the unit of the train/test split).
    """

    images: np.ndarray
    labels: np.ndarray
    captions: tuple[str, ...]
    subcategory: tuple[str, ...]
    style: tuple[str, ...]
    code: tuple[str, ...]
    base_code: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def category(self) -> tuple[str, ...]:
        """The category name of every image."""
        return tuple(CATEGORIES[label] for label in self.labels)


def _records(metadata, skin_tones: bool, flags: bool):
    """{image file name: (caption, category, subcategory, code, base code)}."""
    records = {}
    for entry in metadata:
        if entry["category"] == "Flags" and not flags:
            continue
        name = (entry.get("name") or entry.get("short_name") or entry["unified"]).lower()
        base = entry["unified"]
        row = (name, entry["category"], entry["subcategory"], base, base)
        records[entry["image"]] = row
        if not skin_tones:
            continue
        for tones, variation in (entry.get("skin_variations") or {}).items():
            described = ", ".join(SKIN_TONES.get(tone, tone.lower()) for tone in tones.split("-"))
            records[variation["image"]] = (
                f"{name}, {described}",
                entry["category"],
                entry["subcategory"],
                variation["unified"],
                base,
            )
    return records


def _in_test_split(base_codes, categories) -> np.ndarray:
    """The lowest-hashing `TEST_FRACTION` of each category's emoji are the test split."""
    unique = sorted(set(zip(categories, base_codes, strict=True)))
    test = set()
    for category in sorted({c for c, _ in unique}):
        codes = sorted(
            (code for c, code in unique if c == category),
            key=lambda code: hashlib.sha256(code.encode()).hexdigest(),
        )
        test |= set(codes[: max(1, round(TEST_FRACTION * len(codes)))])
    return np.array([code in test for code in base_codes], dtype=bool)


def composite(rgba: np.ndarray, background="white") -> np.ndarray:
    """Composite uint8 RGBA images (N, H, W, 4) on a background: uint8 RGB (N, H, W, 3)."""
    colour = np.array(check_background(background), np.float32)
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + colour * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def load_emoji(
    split: str = "train",
    image_size=64,
    *,
    style: str = "twitter",
    background="white",
    skin_tones: bool = True,
    flags: bool = True,
    n: int | None = None,
    cache_dir=None,
) -> EmojiData:
    """Load emoji images with captions and labels from the cache (see `fetch_emoji`).

    Args:
        split: ``"train"``, ``"test"`` (emoji never in train, 10 % per category) or ``"all"``.
        image_size: int or (height, width); the PNGs are 64×64 (resized antialiased).
        style: ``"twitter"``, ``"google"`` or ``"all"`` (both: each emoji twice, its two
            styles one after the other, so the first `n` images hold both styles).
        background: ``"white"``, ``"black"`` or an (R, G, B) colour for the transparent pixels.
        skin_tones: include the skin-tone variants (1,874 of the 3,786 images per style).
        flags: include the 270 flags (drawings of rectangles with little in common with
            the rest).
        n: keep the first `n` images.
        cache_dir: the cache directory (default `emoji_cache_dir()`).

    Returns:
        An `EmojiData` record, images float32 NHWC in [-1, 1].

    Raises:
        EmojiCacheError: the style was never fetched or its cache is damaged (the message
            says which command repairs it).
        ValueError: unknown split/style, a bad background, image size or `n`.
    """
    from imgenlib.images import from_uint8, resize_images

    check_choice("split", split, ("train", "test", "all"))
    styles = STYLES if check_choice("style", style, STYLE_CHOICES) == "all" else (style,)
    size = check_image_size("image_size", image_size)
    colour = np.array(check_background(background), np.float32)
    if n is not None:
        n = check_positive_int("n", n)
    cache = emoji_cache_dir(cache_dir)
    fields = {
        key: [] for key in ("rgba", "captions", "category", "subcategory", "style", "code", "base")
    }
    for name in styles:
        rgba, names, metadata = load_style(cache, name)
        records = _records(metadata, skin_tones, flags)
        keep = [i for i, file in enumerate(names) if file in records]
        fields["rgba"].append(rgba[keep])
        for i in keep:
            caption, category, subcategory, code, base = records[names[i]]
            fields["captions"].append(caption)
            fields["category"].append(category)
            fields["subcategory"].append(subcategory)
            fields["style"].append(name)
            fields["code"].append(code)
            fields["base"].append(base)
    rgba = np.concatenate(fields["rgba"])
    test = _in_test_split(fields["base"], fields["category"])
    rank = np.concatenate([np.arange(len(part)) for part in fields["rgba"]])
    order = np.argsort(rank, kind="stable")  # with both styles: each emoji in both, in turn
    selected = order if split == "all" else order[test[order] == (split == "test")]
    selected = selected[:n]
    images = resize_images(from_uint8(composite(rgba[selected], colour)), size)

    def pick(key):
        return tuple(fields[key][i] for i in selected)

    return EmojiData(
        images=images,
        labels=np.array([CATEGORIES.index(fields["category"][i]) for i in selected], np.int64),
        captions=pick("captions"),
        subcategory=pick("subcategory"),
        style=pick("style"),
        code=pick("code"),
        base_code=pick("base"),
    )


def emoji_class_names(condition: str = "category") -> tuple[str, ...]:
    """The names of the classes of an emoji model conditioned on `condition`.

    Args:
        condition: ``"category"`` (`CATEGORIES`), ``"style"`` (`STYLES`: twitter, google) or
            ``"category_style"`` (20 classes, ``"Smileys & Emotion / google"``: class
            ``category * len(STYLES) + style``).

    Returns:
        A tuple of names; name k is class k's.
    """
    check_choice("condition", condition, CONDITIONS)
    if condition == "category":
        return CATEGORIES
    if condition == "style":
        return STYLES
    return tuple(f"{category} / {style}" for category in CATEGORIES for style in STYLES)


def emoji_labels(data: EmojiData, condition: str = "category") -> np.ndarray:
    """The class of every image of `data` when a model is conditioned on `condition`.

    Args:
        data: an `EmojiData` record (`load_emoji`).
        condition: ``"category"`` (``data.labels``), ``"style"`` (twitter 0, google 1) or
            ``"category_style"`` (``category * 2 + style``); `emoji_class_names` names them.

    Returns:
        int64 array (N,).
    """
    check_choice("condition", condition, CONDITIONS)
    styles = np.array([STYLES.index(style) for style in data.style], np.int64)
    if condition == "category":
        return data.labels.astype(np.int64)
    if condition == "style":
        return styles
    return data.labels.astype(np.int64) * len(STYLES) + styles


def check_style_and_condition(data, conditional, style=None, condition=None) -> None:
    """Validate a run's `style` and `condition` settings (`imgenlib.runs.RunConfig`).

    Raises:
        ValueError: an unknown value, `style` for a dataset other than ``emoji``, or a
            `condition` without `conditional` or needing both styles.
    """
    if style is not None:
        check_choice("style", style, STYLE_CHOICES)
        if data != "emoji":
            raise ValueError(
                f"style is for the 'emoji' dataset only. Received: style={style!r} for data={data!r}"
            )
    if condition is None:
        return
    check_choice("condition", condition, CONDITIONS)
    if not conditional:
        raise ValueError(
            "condition is for conditional models (conditional=True, --conditional). "
            f"Received: condition={condition!r} with conditional=False"
        )
    if condition != "category" and (data != "emoji" or style != "all"):
        raise ValueError(
            f"condition={condition!r} needs data='emoji' with style='all' (a model that "
            f"sees both styles). Received: condition={condition!r}, data={data!r}, "
            f"style={style!r}"
        )


def resolved_style_and_condition(data, conditional, style=None, condition=None) -> dict:
    """``{"style", "condition"}`` with what None means: ``"twitter"`` for ``emoji`` (else
    None) and ``"category"`` for a conditional run (else None)."""
    return {
        "style": style or ("twitter" if data == "emoji" else None),
        "condition": condition or ("category" if conditional else None),
    }
