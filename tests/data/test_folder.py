import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgenlib.data import ImageLoadWarning, load_folder


def _save(image, path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory):
    """8 decodable images of every awkward kind, 5 broken files, and non-image files."""
    root = tmp_path_factory.mktemp("messy")
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 256, (2000, 3000, 3), dtype=np.uint8))
    _save(big, root / "nested" / "deeper" / "big.jpg", quality=85)
    _save(Image.new("L", (40, 30), 200), root / "gray.png")
    palette = Image.new("P", (20, 20))
    palette.putpalette([255, 0, 0] * 256)
    _save(palette, root / "nested" / "palette.gif")
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 1] = 255
    rgba[:8, ..., 3] = 255  # top half opaque green, bottom half fully transparent
    _save(Image.fromarray(rgba, "RGBA"), root / "rgba.png")
    _save(Image.new("CMYK", (24, 24), (255, 0, 0, 0)), root / "cmyk.jpg", quality=95)
    sixteen = Image.fromarray(np.full((10, 10), 65535, dtype=np.uint16))
    _save(sixteen, root / "sixteen_bit.png")
    _save(Image.new("RGB", (1, 1), (0, 0, 255)), root / "one_pixel.bmp")
    _save(Image.new("RGB", (33, 17), (10, 20, 30)), root / "photo.webp")

    jpeg_bytes = (root / "nested" / "deeper" / "big.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg_bytes[: len(jpeg_bytes) // 3])
    (root / "empty.png").write_bytes(b"")
    (root / "text_renamed.png").write_text("this is not an image\n")
    (root / "nested" / "random.jpg").write_bytes(
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    png_bytes = (root / "gray.png").read_bytes()
    (root / "cut.png").write_bytes(png_bytes[: len(png_bytes) - 20])

    (root / "notes.txt").write_text("ignored")
    (root / "nested" / "labels.csv").write_text("a,b\n")
    return root


def test_loads_exactly_the_decodable_images_with_one_counting_warning(messy_folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, paths = load_folder(messy_folder, image_size=32, return_paths=True)
    load_warnings = [w for w in caught if issubclass(w.category, ImageLoadWarning)]
    assert images.shape == (8, 32, 32, 3)
    assert images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert len(load_warnings) == 1
    message = str(load_warnings[0].message)
    assert "Skipped 5 of 13" in message
    assert "1 empty file" in message
    assert "2 not an image" in message
    assert "2 truncated or corrupt" in message
    names = {os.path.basename(p) for p in paths}
    assert names == {
        "big.jpg", "gray.png", "palette.gif", "rgba.png",
        "cmyk.jpg", "sixteen_bit.png", "one_pixel.bmp", "photo.webp",
    }  # fmt: skip


def test_any_number_of_decoding_threads_gives_the_same_images_paths_and_skips(
    messy_folder, tmp_path
):
    """Files decode in a thread pool; the order, the kept duplicate and the skip counts do
    not depend on how many threads there are or which finished first."""
    folder = tmp_path / "copies"
    for i in range(12):  # duplicates across names and formats, shuffled in sorted order
        value = (i % 4) * 60
        _save(Image.new("RGB", (20, 10), (value, 255 - value, 7)), folder / f"{11 - i:02d}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    loaded = []
    for workers in (1, 3, 8):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            images, paths = load_folder(folder, 8, dedupe=True, return_paths=True, workers=workers)  # fmt: skip
            messy, messy_paths = load_folder(messy_folder, 16, return_paths=True, workers=workers)  # fmt: skip
        loaded.append((images, paths, messy, messy_paths, [str(w.message) for w in caught]))
    first = loaded[0]
    assert len(first[0]) == 4 and [os.path.basename(p) for p in first[1]] == ["00.png", "01.png", "02.png", "03.png"]  # fmt: skip
    for other in loaded[1:]:
        for a, b in zip(first, other, strict=True):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b


def test_modes_are_converted_to_the_right_colours(messy_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        images, paths = load_folder(messy_folder, image_size=8, return_paths=True)
    by_name = {os.path.basename(p): img for p, img in zip(paths, images, strict=True)}
    np.testing.assert_allclose(by_name["palette.gif"][0, 0], [1, -1, -1], atol=0.02)
    np.testing.assert_allclose(by_name["cmyk.jpg"][4, 4], [-1, 1, 1], atol=0.05)  # pure cyan
    np.testing.assert_allclose(by_name["sixteen_bit.png"], 1.0, atol=1e-6)  # 65535 -> white
    np.testing.assert_allclose(
        by_name["one_pixel.bmp"], np.broadcast_to([-1, -1, 1], (8, 8, 3)), atol=1e-6
    )
    rgba = by_name["rgba.png"]
    np.testing.assert_allclose(rgba[0, 0], [-1, 1, -1], atol=0.02)  # opaque green
    np.testing.assert_allclose(rgba[-1, -1], [-1, -1, -1], atol=0.02)  # transparent -> black


def test_grayscale_output_and_aspect_preserving_centre_crop(tmp_path):
    array = np.zeros((20, 60), dtype=np.uint8)
    array[:, 20:40] = 255  # white centre third of a wide image
    Image.fromarray(array).save(tmp_path / "wide.png")
    images = load_folder(tmp_path, image_size=(10, 10), channels=1)
    assert images.shape == (1, 10, 10, 1)
    # The centre crop keeps the white band, which fills the whole 20x20 centre square.
    assert images[0, :, 2:8].min() > 0.9


def test_dedupe_drops_identical_pixels_across_formats(tmp_path):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8))
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "b.bmp")
    Image.new("RGB", (12, 12), (1, 2, 3)).save(tmp_path / "c.png")
    assert len(load_folder(tmp_path, 12)) == 3
    images, paths = load_folder(tmp_path, 12, dedupe=True, return_paths=True)
    assert len(images) == 2
    assert [os.path.basename(p) for p in paths] == ["a.png", "c.png"]


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*missing"):
        load_folder(tmp_path / "missing", 8)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ValueError, match="must be a directory"):
        load_folder(tmp_path / "file.png", 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match="No decodable images.*empty.*no image files"):
        load_folder(empty, 8)
    with pytest.raises(ValueError, match="none decodable"), pytest.warns(ImageLoadWarning):
        load_folder(tmp_path, 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"image_size": 0}, ValueError, "image_size"),
        ({"image_size": "big"}, TypeError, "image_size"),
        ({"image_size": 8, "channels": 2}, ValueError, "channels=2"),
        ({"image_size": 8, "dedupe": "yes"}, TypeError, "dedupe='yes'"),
        ({"image_size": 8, "workers": 0}, ValueError, "workers=0"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_folder(tmp_path, **kwargs)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    blobs=st.lists(st.binary(min_size=0, max_size=512), min_size=1, max_size=4),
    ext=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".webp"]),
)
def test_random_bytes_never_crash_and_never_load(tmp_path, blobs, ext):
    folder = tmp_path / f"fuzz{abs(hash((tuple(blobs), ext)))}"
    folder.mkdir()
    for i, blob in enumerate(blobs):
        (folder / f"f{i}{ext}").write_bytes(blob)
    Image.new("RGB", (4, 4), (255, 255, 255)).save(folder / "anchor.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageLoadWarning)
        images = load_folder(folder, 4)
    # Random bytes essentially never form a valid image; the one real image always loads.
    assert images.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(images[0], 1.0)


def test_transparent_pixels_take_the_chosen_background(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent
    _save(Image.fromarray(rgba, "RGBA"), tmp_path / "icon.png")
    black = load_folder(tmp_path, 8)
    white = load_folder(tmp_path, 8, background="white")
    grey = load_folder(tmp_path, 8, background="128,128,128")
    np.testing.assert_array_equal(black[0, :4], white[0, :4])  # opaque pixels unchanged
    np.testing.assert_allclose(black[0, 4:], -1.0)
    np.testing.assert_allclose(white[0, 4:], 1.0)
    np.testing.assert_allclose(grey[0, 6, 6], 128 / 127.5 - 1, atol=1e-6)
    with pytest.raises(ValueError, match=r"Received: background='pink'"):
        load_folder(tmp_path, 8, background="pink")
