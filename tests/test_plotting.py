import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from imgenlib.plotting import (
    augmentation_grid,
    grid_array,
    grid_png,
    image_grid,
    paired_rows,
    plot_history,
    save_grid,
)


@pytest.fixture
def images():
    values = np.linspace(-1, 1, 5, dtype=np.float32)
    return np.broadcast_to(values[:, None, None, None], (5, 4, 6, 3)).copy()


def test_grid_array_layout(images):
    grid = grid_array(images, ncols=3, padding=1)
    assert grid.shape == (2 * 5 - 1, 3 * 7 - 1, 3)
    assert grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 7, 0] == 64 and grid[5, 0, 0] == 191
    assert grid[4, 0, 0] == 255  # padding row, white by default
    assert grid[5, 7 * 2, 0] == 255  # the empty sixth cell is padding too
    assert grid_array(images, ncols=3, pad_value=0)[4, 0, 0] == 0


def test_png_bytes_decode_to_the_grid(images):
    data = grid_png(images, ncols=5, scale=3, padding=0)
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == (12, 90, 3)
    np.testing.assert_array_equal(decoded[::3, ::3], grid_array(images, ncols=5, padding=0))


def test_grayscale_png_is_single_channel(images):
    decoded = Image.open(io.BytesIO(grid_png(images[..., :1])))
    assert decoded.mode == "L"


def test_save_grid_writes_file(tmp_path, images):
    path = save_grid(images, tmp_path / "out" / "grid.png", scale=2)
    assert Image.open(path).size == (2 * (3 * 7 - 1), 2 * (2 * 5 - 1))


def test_image_grid_returns_figure_without_showing(images):
    fig = image_grid(images, titles=list("abcde"), title="t")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == list("abcde")
    assert len(image_grid(images).axes) == 1
    with pytest.raises(ValueError, match="one entry per image"):
        image_grid(images, titles=["a"])


def test_plot_history_panels_and_validation():
    fig = plot_history({"d_loss": [1, 0.5], "g_loss": [2, 1], "val_g_loss": [2.5, 1.5]})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["d_loss", "g_loss"]
    assert len(fig.axes[1].lines) == 2
    with pytest.raises(ValueError, match="Unknown metric"):
        plot_history({"a": [1]}, keys=["b"])
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_history({})


def test_augmentation_grid_two_rows(images):
    fig = augmentation_grid(images, -images, n=4)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="same shape"):
        augmentation_grid(images, images[:2])


def test_figures_render_as_png_in_jupyter(images):
    fig = image_grid(images)
    assert repr(fig).startswith("<Figure size")
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_paired_rows_puts_each_row_above_its_partner_and_pads():
    top = np.linspace(-1, 0, 5, dtype=np.float32)[:, None, None, None] * np.ones((5, 4, 4, 1))
    bottom = -top
    out = paired_rows(top, bottom, ncols=3)
    assert out.shape == (12, 4, 4, 1)
    np.testing.assert_array_equal(out[0:3], top[0:3])
    np.testing.assert_array_equal(out[3:6], bottom[0:3])
    np.testing.assert_array_equal(out[6:8], top[3:5])
    np.testing.assert_array_equal(out[9:11], bottom[3:5])
    assert (out[8] == 1).all() and (out[11] == 1).all()  # white padding tiles
    with pytest.raises(ValueError, match="same shape"):
        paired_rows(top, bottom[:4])
