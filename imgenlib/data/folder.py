"""Load a folder of your own images: any common format, any size, broken files skipped.

Files are found recursively by extension (JPEG, PNG, BMP, GIF, WebP, TIFF); everything else
is ignored. Each file is decoded with Pillow and normalised to the library convention:
EXIF rotation applied; palette, grayscale, RGBA (composited on `background`), CMYK and 16-bit
images converted; an aspect-preserving centre crop resized to `image_size` with Lanczos
filtering; float32 in [-1, 1]. Files that cannot be decoded are skipped and reported in
**one** `ImageLoadWarning` that counts them by reason, so a folder with a few bad files
still loads, and a folder with nothing usable is an error.

`describe_folder` looks at a folder without loading it (its image files counted, a few
decoded to see whether they are in colour): `imgenlib.presets` chooses a training preset
from it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgenlib._validation import check_background, check_image_size, check_positive_int
from imgenlib.images import from_uint8

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderSummary",
    "ImageLoadWarning",
    "describe_folder",
    "load_folder",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_MAX_PIXELS = 8192 * 8192
_COLOUR_SPREAD = 24  # max − min over R, G, B above this (of 255): a coloured pixel
_COLOUR_SHARE = 0.01  # an image with at least this share of coloured pixels is in colour
_log = logging.getLogger("imgenlib")


class ImageLoadWarning(UserWarning):
    """Some files in a folder could not be used as images."""


class _Skip(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_folder(
    path,
    image_size,
    channels: int = 3,
    dedupe: bool = False,
    *,
    return_paths: bool = False,
    background="black",
    workers: int | None = None,
):
    """Load every decodable image under `path` as float32 NHWC in [-1, 1].

    Args:
        path: a directory; searched recursively, in sorted order.
        image_size: int or (height, width) of the output images.
        channels: 3 for RGB or 1 for grayscale.
        dedupe: drop exact duplicates (identical decoded pixels, whatever the file
            format or name), keeping the first in sorted path order.
        return_paths: also return the list of source paths, one per image.
        background: colour under transparent pixels (images with alpha): ``"black"``
            (default), ``"white"`` or (R, G, B) / ``"R,G,B"``. Choose the colour the
            images are meant to be seen on: a GAN learns the backdrop along with the rest.
        workers: threads that decode and resize files at once (Pillow releases the GIL
            while it decodes and resamples); default one per CPU core, at most 8. The
            result is the same for any number.

    Returns:
        images: float32 array (N, H, W, channels); with ``return_paths=True``,
        ``(images, paths)``.

    Raises:
        ValueError: `path` does not exist or is not a directory, or holds no decodable
            image; bad `image_size` or `channels`.
        TypeError: `dedupe` or `return_paths` is not a bool.
        ValueError: `workers` is not a positive int.

    Warns:
        ImageLoadWarning: once, counting the skipped files by reason.

    Example:
        >>> images = load_folder("my_photos", image_size=64)  # doctest: +SKIP
    """
    height, width = check_image_size("image_size", image_size)
    colour = check_background(background)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels!r}")
    for flag_name, flag in (("dedupe", dedupe), ("return_paths", return_paths)):
        if not isinstance(flag, bool):
            raise TypeError(f"{flag_name} must be a bool. Received: {flag_name}={flag!r}")
    root = Path(path)
    if not root.exists():
        raise ValueError(f"Image folder does not exist. Received: path={str(path)!r}")
    if not root.is_dir():
        raise ValueError(f"Image folder must be a directory. Received: path={str(path)!r}")

    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    workers = check_positive_int("workers", workers)

    files = _image_files(root)
    arrays, kept, skipped, seen = [], [], collections.Counter(), set()
    duplicates = 0
    load = functools.partial(
        _load_one, size=(width, height), channels=channels, background=colour, dedupe=dedupe
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        # map keeps the files' sorted order, so which duplicate is kept does not depend on
        # which thread finished first
        results = _progress(pool.map(load, files), len(files))
        for file, (array, reason, digest) in zip(files, results, strict=True):
            if reason is not None:
                skipped[reason] += 1
                continue
            if dedupe:
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
            arrays.append(array)
            kept.append(file)

    if skipped:
        detail = ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))
        warnings.warn(
            f"Skipped {sum(skipped.values())} of {len(files)} image files in {str(root)!r}: {detail}.",
            ImageLoadWarning,
            stacklevel=2,
        )
    if duplicates:
        _log.info("Dropped %d exact duplicate image(s) from %s.", duplicates, root)
    if not arrays:
        found = (
            f"{len(files)} file(s) with image extensions, none decodable"
            if files
            else "no image files"
        )
        raise ValueError(
            f"No decodable images in folder {str(root)!r} ({found}; looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))})."
        )
    images = from_uint8(np.stack(arrays))
    return (images, [str(p) for p in kept]) if return_paths else images


@dataclasses.dataclass(frozen=True)
class FolderSummary:
    """What a folder of images holds (`describe_folder`).

    Attributes:
        path: the folder, as given.
        files: files with image extensions under it (undecodable ones included).
        sampled: how many of them were decoded to judge `colour`.
        colour: whether most sampled images are in colour (not grey on R = G = B).
    """

    path: str
    files: int
    sampled: int
    colour: bool


def describe_folder(path, sample: int = 16) -> FolderSummary:
    """Count a folder's image files and decode a few, evenly spaced, to see if they are in colour.

    An image counts as colour when at least 1 % of its pixels (alpha composited on black,
    shrunk to at most 64×64) differ by more than 24 of 255 between their most and least
    intense channel: JPEG noise on a grey image stays well below that, a coloured icon on
    a transparent background is well above it. Undecodable files are passed over.

    Args:
        path: a directory, searched recursively like `load_folder`.
        sample: most images decoded.

    Returns:
        A `FolderSummary`.

    Raises:
        ValueError: `path` is not a directory; bad `sample`.
    """
    sample = check_positive_int("sample", sample)
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"Image folder must be a directory. Received: path={str(path)!r}")
    files = _image_files(root)
    picks = sorted({round(i * (len(files) - 1) / max(1, sample - 1)) for i in range(sample)})
    votes = []
    for index in picks if files else ():
        try:
            image = _decode(files[index], 3)
        except _Skip:
            continue
        image.thumbnail((64, 64))
        pixels = np.asarray(image, dtype=np.int16)
        spread = pixels.max(axis=-1) - pixels.min(axis=-1)
        votes.append(float(np.mean(spread > _COLOUR_SPREAD)) >= _COLOUR_SHARE)
    return FolderSummary(
        str(path), len(files), len(votes), bool(votes) and 2 * sum(votes) > len(votes)
    )


def _image_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def _load_one(file: Path, *, size, channels: int, background, dedupe: bool):
    """One file decoded and fitted to `size` (width, height): ``(uint8 array, None, digest)``,
    or ``(None, reason, None)`` for a file to skip. The digest (with `dedupe`) is of the
    decoded pixels, whatever the file's format or name."""
    try:
        image = _decode(file, channels, background)
    except _Skip as skip:
        return None, skip.reason, None
    digest = None
    if dedupe:
        digest = hashlib.sha256(image.tobytes() + repr((image.size, image.mode)).encode()).digest()  # fmt: skip
    fitted = ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
    array = np.asarray(fitted, dtype=np.uint8).reshape(size[1], size[0], channels)
    return array, None, digest


def _decode(file: Path, channels: int, background=(0, 0, 0)) -> Image.Image:
    """Open one file fully and convert it to 'RGB' or 'L', or raise `_Skip` with a reason."""
    try:
        if os.path.getsize(file) == 0:
            raise _Skip("empty file")
        with Image.open(file) as probe:
            if probe.width * probe.height > _MAX_PIXELS:
                raise _Skip("too large")
            probe.verify()  # checks structure and checksums (a cut PNG may still decode)
        with Image.open(file) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except _Skip:
        raise
    except UnidentifiedImageError:
        raise _Skip("not an image") from None
    except Image.DecompressionBombError:
        raise _Skip("too large") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise _Skip("truncated or corrupt") from None
    return _to_mode(image, "RGB" if channels == 3 else "L", background)


def _to_mode(image: Image.Image, mode: str, background=(0, 0, 0)) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.round(values / top * 255.0).clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.round(values.clip(0, 1) * 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        backdrop = Image.new("RGBA", image.size, (*background, 255))
        image = Image.alpha_composite(backdrop, image.convert("RGBA"))
    return image.convert(mode)


def _progress(results, total: int):
    if total < 2000:
        return results
    from tqdm.auto import tqdm

    return tqdm(results, total=total, desc="Loading images", unit="img")
