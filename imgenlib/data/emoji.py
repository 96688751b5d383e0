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

import base64
import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_image_size, check_positive_int
from imgenlib.io import atomic_path

__all__ = [
    "CATEGORIES",
    "EMOJI_PACKAGES",
    "EmojiData",
    "EmojiPackage",
    "STYLES",
    "emoji_cache_dir",
    "fetch_emoji",
    "load_emoji",
]


@dataclasses.dataclass(frozen=True)
class EmojiPackage:
    """One pinned npm package of emoji images."""

    style: str
    package: str
    version: str
    integrity: str
    licence: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


EMOJI_PACKAGES = {
    "twitter": EmojiPackage(
        "twitter",
        "emoji-datasource-twitter",
        "16.0.0",
        "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
        "Twemoji graphics (c) Twitter, Inc. and other contributors, CC-BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/)",
    ),
    "google": EmojiPackage(
        "google",
        "emoji-datasource-google",
        "16.0.0",
        "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
        "Noto Emoji (c) Google, Apache License 2.0",
    ),
}
STYLES = tuple(EMOJI_PACKAGES)
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
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
TEST_FRACTION = 0.1
IMAGE_SIDE = 64


class EmojiCacheError(FileNotFoundError):
    """The emoji cache is missing or damaged; the message says how to repair it."""


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


def emoji_cache_dir(cache_dir=None) -> Path:
    """The directory holding the fetched emoji: `cache_dir`, ``$IMGENLIB_DATA/emoji`` or
    ``~/.cache/imgenlib/emoji``."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("IMGENLIB_DATA") or Path.home() / ".cache" / "imgenlib"
    return Path(root) / "emoji"


def _style_dir(cache: Path, package: EmojiPackage) -> Path:
    return cache / f"{package.style}-{package.version}"


def _repair_hint(style: str) -> str:
    return f"run `python -m imgenlib fetch emoji --style {style}` (needs npm and network once)"


def fetch_emoji(styles=STYLES, cache_dir=None, *, npm: str = "npm", force: bool = False) -> dict:
    """Download the emoji packages with npm, verify them and store them in the cache.

    Already-cached styles whose files check out are skipped (unless `force`).

    Args:
        styles: a style name or a sequence of them (`STYLES`).
        cache_dir: the cache directory (default `emoji_cache_dir()`).
        npm: the npm executable.
        force: fetch again even if the cache is complete.

    Returns:
        ``{style: path of its cache directory}``.

    Raises:
        RuntimeError: npm is missing or failed (e.g. no network), or the tarball does not
            match its pinned integrity hash. Nothing half-written is left in the cache.
        ValueError: unknown style, or a cache directory that cannot be written.
    """
    styles = (styles,) if isinstance(styles, str) else tuple(styles)
    for style in styles:
        check_choice("style", style, STYLES)
    cache = emoji_cache_dir(cache_dir)
    done = {}
    for style in styles:
        package = EMOJI_PACKAGES[style]
        target = _style_dir(cache, package)
        if not force:
            try:
                _read_manifest(target, package)
                done[style] = target
                continue
            except EmojiCacheError:
                pass
        try:
            cache.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".fetch-{style}-", dir=cache))
        except OSError as error:
            raise ValueError(
                f"Cannot write the emoji cache {str(cache)!r}: {error.strerror or error}. "
                "Set IMGENLIB_DATA to a writable directory."
            ) from None
        try:
            tarball = _npm_pack(package, work, npm)
            _unpack(tarball, package, work / "unpacked")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(work / "unpacked", target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        done[style] = target
    return done


def _npm_pack(package: EmojiPackage, work: Path, npm: str) -> Path:
    if shutil.which(npm) is None:
        raise RuntimeError(
            f"npm was not found (Received: npm={npm!r}). Install Node.js and npm "
            "(Debian/Ubuntu: `sudo apt-get install npm`), then run `python -m imgenlib fetch emoji`."
        )
    command = [npm, "pack", package.spec, "--json", "--pack-destination", str(work)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=work)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(
            f"`npm pack {package.spec}` failed ({last[:200]}). Check the network or the npm "
            "registry setting, then run `python -m imgenlib fetch emoji` again."
        )
    tarballs = sorted(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(f"`npm pack {package.spec}` wrote no tarball in {str(work)!r}.")
    digest = base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
    if f"sha512-{digest}" != package.integrity:
        raise RuntimeError(
            f"{tarballs[0].name} does not match its pinned integrity hash (download corrupted "
            "or tampered with); nothing was stored. Run `python -m imgenlib fetch emoji` again."
        )
    return tarballs[0]


def _unpack(tarball: Path, package: EmojiPackage, target: Path) -> None:
    """Decode the 64×64 PNGs into one RGBA array and store it with emoji.json and a manifest."""
    from PIL import Image

    prefix = f"package/img/{package.style}/{IMAGE_SIDE}/"
    names, arrays, skipped, metadata, licence = [], [], [], None, ""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                data = archive.extractfile(member).read()
                if member.name == "package/emoji.json":
                    metadata = data
                elif member.name == "package/LICENSE":
                    licence = data.decode(errors="replace")
                elif member.name.startswith(prefix) and member.name.endswith(".png"):
                    try:
                        with Image.open(io.BytesIO(data)) as image:
                            rgba = np.asarray(image.convert("RGBA"))
                    except Exception:  # noqa: BLE001 - any undecodable file is skipped and counted
                        skipped.append(member.name)
                        continue
                    if rgba.shape != (IMAGE_SIDE, IMAGE_SIDE, 4):
                        skipped.append(member.name)
                        continue
                    names.append(member.name[len(prefix) :])
                    arrays.append(rgba)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise RuntimeError(
            f"{tarball.name} is truncated or not a tarball ({error}); run `python -m imgenlib "
            "fetch emoji` again."
        ) from None
    if metadata is None or not arrays:
        raise RuntimeError(
            f"{tarball.name} holds no emoji.json or no {IMAGE_SIDE}x{IMAGE_SIDE} images."
        )
    target.mkdir(parents=True)
    (target / "emoji.json").write_bytes(metadata)
    (target / "LICENSE").write_text(f"{package.licence}\n\n{licence}")
    order = np.argsort(names)
    with atomic_path(target / "images.npz") as tmp:
        np.savez(tmp, rgba=np.stack(arrays)[order], names=np.array(names)[order])
    manifest = {
        "package": package.package,
        "version": package.version,
        "integrity": package.integrity,
        "images": len(arrays),
        "skipped": skipped,
        "sha256": hashlib.sha256((target / "images.npz").read_bytes()).hexdigest(),
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} emoji PNGs of {package.spec} that failed to decode.",
            stacklevel=3,
        )


def _read_manifest(directory: Path, package: EmojiPackage) -> dict:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        raise EmojiCacheError(
            f"The {package.style} emoji are not in the cache ({str(directory)!r}): "
            f"{_repair_hint(package.style)}."
        ) from None
    if manifest.get("integrity") != package.integrity or not (directory / "emoji.json").is_file():
        raise EmojiCacheError(
            f"The emoji cache {str(directory)!r} is incomplete or from another version: "
            f"{_repair_hint(package.style)}."
        )
    return manifest


def _load_style(cache: Path, style: str):
    package = EMOJI_PACKAGES[style]
    directory = _style_dir(cache, package)
    manifest = _read_manifest(directory, package)
    path = directory / "images.npz"
    try:
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
            raise ValueError("checksum mismatch")
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            rgba, names = archive["rgba"], archive["names"]
        metadata = json.loads((directory / "emoji.json").read_text())
    except (OSError, ValueError, KeyError):
        raise EmojiCacheError(
            f"The emoji cache {str(directory)!r} is corrupted: {_repair_hint(style)} "
            "(add --force to replace it)."
        ) from None
    return rgba, [str(name) for name in names], metadata


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


def _background(value) -> np.ndarray:
    if isinstance(value, str) and value in BACKGROUNDS:
        return np.array(BACKGROUNDS[value], np.float32)
    colour = value.split(",") if isinstance(value, str) else value
    try:
        rgb = np.array([int(c) for c in colour], np.float32)
    except (TypeError, ValueError):
        rgb = np.zeros(0)
    if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 255:
        raise ValueError(
            "background must be 'white', 'black' or an (R, G, B) colour with values in 0..255 "
            f"(also as 'R,G,B'). Received: background={value!r}"
        )
    return rgb


def composite(rgba: np.ndarray, background="white") -> np.ndarray:
    """Composite uint8 RGBA images (N, H, W, 4) on a background: uint8 RGB (N, H, W, 3)."""
    colour = _background(background)
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
        style: ``"twitter"``, ``"google"`` or ``"all"`` (both; each emoji twice).
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
    styles = STYLES if check_choice("style", style, (*STYLES, "all")) == "all" else (style,)
    size = check_image_size("image_size", image_size)
    colour = _background(background)
    if n is not None:
        n = check_positive_int("n", n)
    cache = emoji_cache_dir(cache_dir)
    fields = {
        key: [] for key in ("rgba", "captions", "category", "subcategory", "style", "code", "base")
    }
    for name in styles:
        rgba, names, metadata = _load_style(cache, name)
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
    selected = np.arange(len(rgba)) if split == "all" else np.flatnonzero(test == (split == "test"))
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
