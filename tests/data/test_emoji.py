"""The emoji dataset: fetching with npm (a fake npm and tarball here), the cache, and the real data."""

import base64
import dataclasses
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

import imgenlib
from imgenlib.data.emoji import (
    CATEGORIES,
    EMOJI_PACKAGES,
    EmojiCacheError,
    composite,
    fetch_emoji,
    load_emoji,
)

FAKE_METADATA = [
    {"name": "GRINNING FACE", "unified": "1F600", "image": "1f600.png", "category": "Smileys & Emotion",
     "subcategory": "face-smiling", "skin_variations": None},
    {"name": "FATHER CHRISTMAS", "unified": "1F385", "image": "1f385.png", "category": "People & Body",
     "subcategory": "person-fantasy", "skin_variations": {
         "1F3FD": {"unified": "1F385-1F3FD", "image": "1f385-1f3fd.png"}}},
    {"name": "FLAG: FRANCE", "unified": "1F1EB-1F1F7", "image": "1f1eb-1f1f7.png", "category": "Flags",
     "subcategory": "country-flag", "skin_variations": None},
    {"name": "BROKEN", "unified": "1F4A9", "image": "1f4a9.png", "category": "Objects",
     "subcategory": "other-object", "skin_variations": None},
]  # fmt: skip


def _png(colour, alpha):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[16:48, 16:48, 3] = alpha
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _tarball(path, *, truncate=False):
    files = {
        "package/emoji.json": json.dumps(FAKE_METADATA).encode(),
        "package/LICENSE": b"MIT",
        "package/img/twitter/64/1f600.png": _png((250, 200, 0), 255),
        "package/img/twitter/64/1f385.png": _png((200, 0, 0), 255),
        "package/img/twitter/64/1f385-1f3fd.png": _png((150, 0, 0), 128),
        "package/img/twitter/64/1f1eb-1f1f7.png": _png((0, 0, 200), 255),
        "package/img/twitter/64/1f4a9.png": b"\x89PNG not really",
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    if truncate:
        path.write_bytes(path.read_bytes()[:300])
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """An `npm` that copies a prepared tarball where `npm pack` would write it."""
    tarball = tmp_path / "emoji-datasource-twitter-16.0.0.tgz"
    integrity = _tarball(tarball)
    script = tmp_path / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "dest = sys.argv[sys.argv.index('--pack-destination') + 1]\n"
        f"shutil.copy({str(tarball)!r}, dest)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    package = dataclasses.replace(EMOJI_PACKAGES["twitter"], integrity=integrity)
    monkeypatch.setitem(EMOJI_PACKAGES, "twitter", package)
    return {"npm": str(script), "tarball": tarball, "cache": tmp_path / "cache"}


def test_fetch_then_load_offline_with_captions_and_a_counted_skip(fake_npm):
    with pytest.warns(UserWarning, match="Skipped 1 emoji PNGs"):
        paths = fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"])
    fake_npm["tarball"].unlink()  # offline from now on
    data = load_emoji("all", cache_dir=fake_npm["cache"])
    assert sorted(data.captions) == [
        "father christmas", "father christmas, medium skin tone", "flag: france", "grinning face",
    ]  # fmt: skip
    assert data.images.shape == (4, 64, 64, 3) and data.images.dtype == np.float32
    by_caption = dict(zip(data.captions, range(4), strict=True))
    tone = by_caption["father christmas, medium skin tone"]
    assert data.code[tone] == "1F385-1F3FD" and data.base_code[tone] == "1F385"
    assert data.category[tone] == "People & Body" and data.subcategory[tone] == "person-fantasy"
    manifest = json.loads((paths["twitter"] / "manifest.json").read_text())
    assert manifest["images"] == 4 and manifest["skipped"] == ["package/img/twitter/64/1f4a9.png"]
    assert fetch_emoji("twitter", fake_npm["cache"], npm="no-such-npm") == paths  # cached: no npm


def test_options_drop_skin_tones_and_flags(fake_npm):
    with pytest.warns(UserWarning):
        fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"])
    data = load_emoji("all", cache_dir=fake_npm["cache"], skin_tones=False, flags=False)
    assert sorted(data.captions) == ["father christmas", "grinning face"]


def test_compositing_on_each_background():
    rgba = np.zeros((1, 2, 2, 4), np.uint8)
    rgba[0, 0, 0] = (200, 100, 0, 255)  # opaque
    rgba[0, 0, 1] = (200, 100, 0, 0)  # transparent
    rgba[0, 1, 0] = (200, 100, 0, 128)  # half
    white, black = composite(rgba, "white"), composite(rgba, (0, 0, 0))
    np.testing.assert_array_equal(white[0, 0, 0], black[0, 0, 0])
    np.testing.assert_array_equal(white[0, 0, 1], [255, 255, 255])
    np.testing.assert_array_equal(composite(rgba, "10,20,30")[0, 0, 1], [10, 20, 30])
    np.testing.assert_array_equal(black[0, 1, 0], np.round(np.array([200, 100, 0]) * 128 / 255))
    with pytest.raises(ValueError, match=r"Received: background='grey'"):
        composite(rgba, "grey")
    with pytest.raises(ValueError, match=r"Received: background=\(0, 0, 300\)"):
        composite(rgba, (0, 0, 300))


def test_tampered_or_truncated_tarball_leaves_nothing(fake_npm, monkeypatch):
    package = dataclasses.replace(EMOJI_PACKAGES["twitter"], integrity="sha512-AAAA")
    monkeypatch.setitem(EMOJI_PACKAGES, "twitter", package)
    with pytest.raises(RuntimeError, match="does not match its pinned integrity hash"):
        fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"])
    assert os.listdir(fake_npm["cache"]) == []
    integrity = _tarball(fake_npm["tarball"], truncate=True)
    monkeypatch.setitem(
        EMOJI_PACKAGES, "twitter", dataclasses.replace(package, integrity=integrity)
    )
    with pytest.raises(RuntimeError, match="truncated or not a tarball"):
        fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"])
    assert os.listdir(fake_npm["cache"]) == []


def test_missing_npm_and_failing_npm_say_what_to_do(tmp_path):
    with pytest.raises(
        RuntimeError,
        match=r"npm was not found \(Received: npm='no-such-npm'\).*apt-get install npm",
    ):
        fetch_emoji("twitter", tmp_path, npm="no-such-npm")
    failing = tmp_path / "npm"
    failing.write_text("#!/bin/sh\necho 'npm ERR! network request failed' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(RuntimeError, match="failed \\(npm ERR! network request failed\\)"):
        fetch_emoji("google", tmp_path / "cache", npm=str(failing))


def test_unwritable_cache_path_is_a_clear_error(tmp_path, fake_npm):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="Cannot write the emoji cache.*IMGENLIB_DATA"):
        fetch_emoji("twitter", blocker / "cache", npm=fake_npm["npm"])


def test_missing_and_corrupted_cache_say_how_to_repair(fake_npm):
    with pytest.raises(EmojiCacheError, match="python -m imgenlib fetch emoji --style twitter"):
        load_emoji(cache_dir=fake_npm["cache"])
    with pytest.warns(UserWarning):
        paths = fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"])
    npz = paths["twitter"] / "images.npz"
    npz.write_bytes(npz.read_bytes()[:-100])
    with pytest.raises(EmojiCacheError, match="corrupted.*--force"):
        load_emoji(cache_dir=fake_npm["cache"])
    with pytest.warns(UserWarning):
        fetch_emoji("twitter", fake_npm["cache"], npm=fake_npm["npm"], force=True)
    assert len(load_emoji("all", cache_dir=fake_npm["cache"])) == 4


def test_bad_arguments_name_the_received_value():
    with pytest.raises(ValueError, match="Unknown style 'apple'"):
        load_emoji(style="apple")
    with pytest.raises(ValueError, match="Unknown style 'facebook'"):
        fetch_emoji("facebook")
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        load_emoji("valid")
    with pytest.raises(ValueError, match="style is only used by the 'emoji' dataset"):
        imgenlib.load_images("digits", style="google")


# --- the real packages (fetched by `make data` / CI) ----------------------------------------


@pytest.fixture(scope="module")
def real():
    fetch_emoji()  # a no-op when cached; CI fetches before the tests
    return {style: load_emoji("all", style=style) for style in ("twitter", "google")}


def test_real_packages_have_every_image_and_category(real):
    for data in real.values():
        assert len(data) == 3786 and len(set(data.base_code)) == 1911
        assert set(data.category) == set(CATEGORIES)
        assert all(caption == caption.lower() for caption in data.captions)
        assert "father christmas, medium skin tone" in data.captions
    assert real["twitter"].code == real["google"].code  # the same emoji in both styles


def test_split_is_by_emoji_across_styles_and_skin_tones():
    train = load_emoji("train", style="all")
    test = load_emoji("test", style="all")
    assert not set(train.base_code) & set(test.base_code)
    assert set(test.category) == set(CATEGORIES)  # every category is tested
    assert len(train) + len(test) == 2 * 3786
    assert 0.08 < len(set(test.base_code)) / 1911 < 0.12
    spec = imgenlib.dataset_info("emoji")
    assert spec.splits == {"train": len(train) // 2, "test": len(test) // 2}
    assert "CC-BY 4.0" in spec.licence and "Apache" in spec.licence


def test_load_images_emoji_is_the_library_convention():
    images, labels = imgenlib.load_images("emoji", "test", 32, style="google", background="black")
    assert images.shape == (371, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and labels.max() < len(CATEGORIES)
    white, _ = imgenlib.load_images("emoji", "test", n=8)
    black, _ = imgenlib.load_images("emoji", "test", n=8, background="black")
    corner = (slice(None), 0, 0)  # emoji drawings leave the corner transparent
    assert np.all(white[corner] == 1.0) and np.all(black[corner] == -1.0)


def test_cli_fetch_without_npm_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no npm on PATH
    result = subprocess.run(
        [sys.executable, "-m", "imgenlib", "fetch", "emoji", "--data-dir", str(tmp_path / "c")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "npm was not found" in result.stderr
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_cli_datasets_shows_the_emoji_cache_and_licences(run_cli):
    result = run_cli("datasets")
    assert result.returncode == 0
    assert "emoji" in result.stdout and "CC-BY 4.0" in result.stdout
