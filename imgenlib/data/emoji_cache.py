"""The emoji cache: pinned npm packages fetched once, verified, decoded into one array per style.

`fetch_emoji` runs the ordinary npm client (``npm pack NAME@VERSION``) in a temporary
directory, checks the tarball against the registry's pinned integrity hash (sha512, as in
``package-lock.json``), decodes the 64×64 PNGs (undecodable ones are skipped and counted)
and moves the finished directory into place with one rename: an interrupted fetch leaves
nothing half-written. Each style's directory holds ``images.npz`` (RGBA uint8 and file
names), ``emoji.json``, the licence, and ``manifest.json`` with the SHA-256 of the arrays,
which `load_style` checks on every load. See `imgenlib.data.emoji` for the dataset itself.
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

from imgenlib._validation import check_choice
from imgenlib.io import atomic_path

__all__ = [
    "EMOJI_PACKAGES",
    "EmojiCacheError",
    "EmojiPackage",
    "STYLES",
    "emoji_cache_dir",
    "fetch_emoji",
    "load_style",
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
IMAGE_SIDE = 64


class EmojiCacheError(FileNotFoundError):
    """The emoji cache is missing or damaged; the message says how to repair it."""


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
                read_manifest(target, package)
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


def read_manifest(directory: Path, package: EmojiPackage) -> dict:
    """The manifest of a complete cache directory of `package`, or `EmojiCacheError`."""
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


def load_style(cache: Path, style: str):
    """Check and load one style's cache: ``(rgba uint8 (N, 64, 64, 4), file names, emoji.json)``."""
    package = EMOJI_PACKAGES[style]
    directory = _style_dir(cache, package)
    manifest = read_manifest(directory, package)
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
