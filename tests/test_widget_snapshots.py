"""The static PNG every widget puts next to its live view, for readers without a kernel.

A widget's display_data bundle holds the widget view, an ``image/png`` of what its image
controls show, and ``text/plain``. These tests use stub models (noise images, a stored
chain) so they run in well under a second each without TensorFlow models.
"""

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from imgenlib.plotting import grid_array
from imgenlib.widgets import DenoisingScrubber, Interpolator, LatentExplorer, TrainingMonitor
from imgenlib.widgets._common import stack_pngs

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class NoiseModel:
    """Images of uniform noise seeded by z: incompressible, the worst case for PNG size."""

    latent_dim = 3
    num_classes = None

    def __init__(self, image_shape=(16, 16, 3)):
        self.image_shape = image_shape

    def sample_latent(self, n, seed=None):
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def generate(self, n=None, z=None, seed=None, labels=None):
        rows = np.atleast_2d(np.asarray(z, dtype=np.float32))
        return np.stack(
            [
                np.random.default_rng(zlib.crc32(row.tobytes())).uniform(-1, 1, self.image_shape)
                for row in rows
            ]
        ).astype(np.float32)


class ChainModel:
    """A stored reverse chain: what `DenoisingScrubber` reads from ``trajectory``."""

    def trajectory(self, n, *, seed, labels, steps, eta, guidance, sampler):
        rng = np.random.default_rng(seed)
        x_t = rng.uniform(-1.5, 1.5, (steps, n, 8, 8, 1)).astype(np.float32)
        x0 = rng.uniform(-1, 1, (steps, n, 8, 8, 1)).astype(np.float32)
        return {"timesteps": np.arange(steps)[::-1] * 10, "x_t": x_t, "x0": x0, "images": x0[-1]}


class RecordingHandle:
    def __init__(self):
        self.updates = []

    def update(self, bundle, raw=False):
        self.updates.append((bundle, raw))


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def upscaled(grid, scale):
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    return grid[..., 0] if grid.shape[-1] == 1 else grid


def bundle_png(widget):
    """The PNG in the widget's bundle, after checking the view and text/plain beside it."""
    bundle = widget._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == widget.widget.model_id
    assert bundle["text/plain"] == repr(widget)
    return base64.b64decode(bundle["image/png"], validate=True)


def test_explorer_bundle_holds_the_view_and_the_shown_frame_which_follows_the_sliders():
    model = NoiseModel()
    explorer = LatentExplorer(model, dims=(0, 1), n=4, ncols=2, scale=3)
    png = bundle_png(explorer)
    assert png == explorer.image.value  # the frame the widget already drew: no re-encoding
    expected = grid_array(model.generate(z=explorer.z), ncols=2)
    np.testing.assert_array_equal(pixels(png), upscaled(expected, 3))
    explorer.sliders[1].value = 1.5  # as a user dragging the slider
    moved = bundle_png(explorer)
    assert moved != png and moved == explorer.image.value
    np.testing.assert_array_equal(
        pixels(moved), upscaled(grid_array(model.generate(z=explorer.z), ncols=2), 3)
    )


@pytest.mark.parametrize("image_shape, n, scale", [((16, 16, 3), 4, 3), ((28, 28, 1), 10, 4)])
def test_the_png_costs_at_most_two_bytes_per_source_pixel_channel(image_shape, n, scale):
    """Nearest-neighbour upscaling adds no information, so the PNG must not grow with
    scale²: even incompressible noise stays under 2 bytes per pixel channel of the grid
    before upscaling (1.4-1.8 measured on noise grids) plus 1 KB of headers. The largest
    picture in the notebooks, notebook 08's scrubber (2 rows of 10 Fashion-MNIST tiles, a
    59x291 grid), is then at most 35 KB of PNG (47 KB as base64) per displayed widget."""
    model = NoiseModel(image_shape)
    explorer = LatentExplorer(model, dims=(0,), n=n, scale=scale)
    png = bundle_png(explorer)
    source = grid_array(model.generate(z=explorer.z), ncols=explorer.ncols)
    assert len(png) <= 2 * source.size + 1024
    assert len(png) < source.size * scale**2 / 4  # far below the upscaled raw pixels


def test_interpolator_png_is_the_frame_above_the_strip():
    model = NoiseModel((8, 8, 3))
    interpolator = Interpolator(model, 3, 4, steps=5, scale=4)
    picture = pixels(bundle_png(interpolator))
    frame, strip = pixels(interpolator.image.value), pixels(interpolator.strip_image.value)
    assert frame.shape == (32, 32, 3) and strip.shape == (16, (5 * 8 + 4) * 2, 3)
    assert picture.shape == (32 + 4 + 16, strip.shape[1], 3)
    np.testing.assert_array_equal(picture[:32, :32], frame)
    np.testing.assert_array_equal(picture[36:], strip)
    assert (picture[:32, 32:] == 255).all() and (picture[32:36] == 255).all()
    interpolator.frame_slider.value = 3
    moved = pixels(bundle_png(interpolator))
    np.testing.assert_array_equal(moved[:32, :32], pixels(interpolator.render_frame(3)))
    assert not np.array_equal(moved[:32, :32], frame)
    np.testing.assert_array_equal(moved[36:], strip)


def test_scrubber_png_is_the_shown_step():
    scrubber = DenoisingScrubber(ChainModel(), seed=1, steps=4, n=3, scale=2)
    trajectory = ChainModel().trajectory(
        3, seed=1, labels=None, steps=4, eta=0, guidance=1, sampler="ddim"
    )
    png = bundle_png(scrubber)
    assert png == scrubber.image.value
    rows = np.clip(np.concatenate([trajectory["x_t"][0], trajectory["x0"][0]]), -1, 1)
    np.testing.assert_array_equal(pixels(png), upscaled(grid_array(rows, ncols=3), 2))
    scrubber.step_slider.value = 2  # as a user dragging the slider
    moved = bundle_png(scrubber)
    rows = np.clip(np.concatenate([trajectory["x_t"][2], trajectory["x0"][2]]), -1, 1)
    assert moved != png
    np.testing.assert_array_equal(pixels(moved), upscaled(grid_array(rows, ncols=3), 2))


def test_monitor_png_is_curves_beside_samples_and_is_resent_at_each_epoch_end():
    model = NoiseModel((8, 8, 1))
    monitor = TrainingMonitor(n=2, every=100, scale=2, display=False)
    assert "image/png" not in monitor._repr_mimebundle_()  # nothing drawn before fit
    handle = RecordingHandle()
    monitor._display_handles = (handle,)  # as if displayed in a notebook
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_begin(0)
    for batch, loss in enumerate([3.0, 2.0, 1.5]):
        monitor.on_train_batch_end(batch, {"loss": loss})
    assert handle.updates == []
    monitor.on_epoch_end(0, {"loss": 1.5})
    [(bundle, raw)] = handle.updates
    assert raw and bundle[WIDGET_VIEW]["model_id"] == monitor.widget.model_id
    picture = pixels(base64.b64decode(bundle["image/png"]))
    curves, samples = pixels(monitor.loss_image.value), pixels(monitor.samples_image.value)
    assert curves.ndim == 3 and samples.ndim == 2  # RGB curves, greyscale samples
    assert picture.shape == (
        max(len(curves), len(samples)),
        curves.shape[1] + 4 + samples.shape[1],
        3,
    )
    np.testing.assert_array_equal(picture[: len(curves), : curves.shape[1]], curves)
    right = picture[: len(samples), curves.shape[1] + 4 :]
    np.testing.assert_array_equal(right, np.repeat(samples[..., None], 3, axis=-1))


def test_notebook_display_sends_one_bundle_and_update_displays_resends_it(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    calls = []

    def display(bundle, raw=False, display_id=None):
        calls.append((bundle, raw, display_id))
        return RecordingHandle()

    monkeypatch.setattr(InteractiveShell, "initialized", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    explorer = LatentExplorer(NoiseModel(), dims=(0,))
    assert explorer.update_displays() == 0  # not displayed yet
    explorer._ipython_display_()
    [(bundle, raw, display_id)] = calls
    assert raw and display_id is True
    assert set(bundle) == {WIDGET_VIEW, "image/png", "text/plain"}
    explorer.set_latent(0, 2.0)
    assert explorer.update_displays() == 1
    [(resent, _)] = explorer._display_handles[0].updates
    assert base64.b64decode(resent["image/png"]) == explorer.image.value
    assert resent["image/png"] != bundle["image/png"]


def test_stack_pngs():
    grey = Image.new("L", (3, 2), 10)
    colour = Image.new("RGB", (2, 5), (200, 0, 0))
    pngs = []
    for image in (grey, colour):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    assert stack_pngs([]) == stack_pngs([b"", b""]) == b""
    assert stack_pngs([b"", pngs[1]]) == pngs[1]
    across = pixels(stack_pngs(pngs, vertical=False, gap=1))
    assert across.shape == (5, 3 + 1 + 2, 3)
    assert (across[:2, :3] == 10).all() and (across[2:, :3] == 255).all()
    assert (across[:, 3] == 255).all() and (across[:, 4:] == (200, 0, 0)).all()
    down = pixels(stack_pngs(pngs[:1] * 2, gap=2))
    assert down.shape == (2 + 2 + 2, 3) and (down[2:4] == 255).all()
