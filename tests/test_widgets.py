import io

import keras
import numpy as np
import pytest
from PIL import Image

from imgenlib.data import make_dataset
from imgenlib.latent import LatentDirections, lerp, slerp
from imgenlib.models import GANConfig, build_gan
from imgenlib.plotting import grid_array, grid_png
from imgenlib.widgets import Interpolator, LatentExplorer, TrainingMonitor, curves_png


class TanhLinearModel:
    """images = tanh(W z + 0.3 * label), so every state's image is known exactly.

    It has no ``predict``: the widgets must go through ``generate``.
    """

    latent_dim = 4

    def __init__(self, num_classes=None, seed=0):
        self.weights = np.random.default_rng(seed).standard_normal((16, self.latent_dim))
        self.num_classes = num_classes
        self.calls = 0

    def sample_latent(self, n, seed=None):
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def generate(self, n=None, z=None, seed=None, labels=None):
        self.calls += 1
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        shift = 0.0 if labels is None else 0.3 * np.asarray(labels, dtype=np.float64)[:, None]
        return np.tanh(z @ self.weights.T + shift).reshape(len(z), 4, 4, 1).astype(np.float32)


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.fixture(scope="module")
def tiny_gan():
    keras.utils.set_random_seed(0)
    return build_gan(GANConfig.tiny(), (28, 28, 1))


# --- LatentExplorer -------------------------------------------------------------------


def test_moving_a_slider_changes_the_image_and_the_same_state_gives_the_same_bytes(tiny_gan):
    explorer = LatentExplorer(tiny_gan, dims=(0, 3), seed=5, scale=2)
    first = explorer.image.value
    assert first == explorer.render() and first[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.sliders[1].value = 1.5  # as a user dragging the slider
    moved = explorer.image.value
    assert moved != first and moved == explorer.render()
    expected_z = tiny_gan.sample_latent(1, 5)
    expected_z[0, 3] += 1.5
    np.testing.assert_allclose(explorer.z, expected_z, rtol=1e-6)
    assert explorer.last_frame_ms > 0 and "ms" in explorer.status.value
    explorer.sliders[1].value = 0.0
    assert explorer.image.value == first
    explorer.set_latent(1, 1.5)
    assert explorer.image.value == moved and explorer.sliders[1].value == 1.5


def test_set_latent_snaps_to_the_slider_step_so_the_browser_has_nothing_to_round(tiny_gan):
    """A browser rounds an off-step slider value and sends the rounded value back late,
    which undid a later reset() in JupyterLab; set_latent puts values on the step grid."""
    explorer = LatentExplorer(tiny_gan, dims=(0,), seed=5, value_range=3.0)
    slider, start = explorer.sliders[0], tiny_gan.sample_latent(1, 5)[0, 0]
    explorer.set_latent(0, 0.33)
    assert slider.value == round(0.33 / slider.step) * slider.step == pytest.approx(0.3)
    assert explorer.z[0, 0] == pytest.approx(start + slider.value)
    explorer.reset()
    assert slider.value == 0.0 and explorer.z[0, 0] == pytest.approx(start)


def test_render_shows_the_generated_images():
    model = TanhLinearModel()
    explorer = LatentExplorer(model, n=4, scale=2, seed=3)
    pixels = decode(explorer.image.value)
    expected = grid_array(model.generate(z=model.sample_latent(4, 3)), ncols=2, padding=1)[..., 0]
    assert pixels.shape == (2 * 9, 2 * 9)  # 2x2 tiles of 4 px + 1 px gap, upscaled 2x
    np.testing.assert_array_equal(pixels[::2, ::2], expected)


def test_seed_truncation_and_reset():
    model = TanhLinearModel()
    explorer = LatentExplorer(model, seed=0)
    initial = explorer.image.value
    explorer.seed_box.value = 7
    np.testing.assert_allclose(explorer.z, model.sample_latent(1, 7), rtol=1e-6)
    assert explorer.image.value != initial
    explorer.set_latent(0, 2.0)
    explorer.truncation_slider.value = 0.5
    expected = 0.5 * model.sample_latent(1, 7)
    expected[0, 0] += 2.0
    np.testing.assert_allclose(explorer.z, expected, rtol=1e-6)
    explorer.set_truncation(0.0)
    np.testing.assert_allclose(explorer.z, [[2.0, 0, 0, 0]], atol=1e-7)
    assert explorer.image.value == explorer.render(z=[[2.0, 0, 0, 0]])
    explorer.reset()
    explorer.set_truncation(1.0)
    explorer.set_seed(0)
    assert explorer.image.value == initial
    assert explorer.seed_box.value == 0 and explorer.truncation_slider.value == 1.0


def test_pca_directions_on_sliders_and_a_widening_range():
    model = TanhLinearModel()
    basis = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 2)))[0].T
    directions = LatentDirections(basis, np.array([2.0, 1.0]), np.array([0.6, 0.3]))
    explorer = LatentExplorer(model, directions=directions, seed=2, value_range=3.0)
    assert [s.description for s in explorer.sliders] == ["PC1 60%", "PC2 30%"]
    explorer.set_latent(1, 10.0)
    np.testing.assert_allclose(explorer.z, model.sample_latent(1, 2) + 10.0 * basis[1], rtol=1e-5)
    assert explorer.sliders[1].value == 10.0 and explorer.sliders[1].max == 10.0


def test_class_picker_on_a_conditional_model():
    model = TanhLinearModel(num_classes=3)
    explorer = LatentExplorer(model, n=2, class_names=["a", "b", "c"])
    assert explorer.class_picker.options == (("0: a", 0), ("1: b", 1), ("2: c", 2))
    first = explorer.image.value
    explorer.class_picker.value = 2
    np.testing.assert_array_equal(explorer.labels, [2, 2])
    assert explorer.image.value != first
    assert explorer.image.value == explorer.render(labels=[2, 2])
    explorer.set_class(0)
    assert explorer.image.value == first and explorer.class_picker.value == 0


def test_class_picker_shows_the_models_own_class_names():
    model = TanhLinearModel(num_classes=2)
    model.class_names = ("twitter", "google")  # what `train` gives a style-conditioned model
    assert LatentExplorer(model).class_picker.options == (("0: twitter", 0), ("1: google", 1))
    named = LatentExplorer(model, class_names=["x", "y"])
    assert named.class_picker.options == (("0: x", 0), ("1: y", 1))


def test_conditional_gan_class_picker():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=3)
    explorer = LatentExplorer(gan, label=1)
    assert explorer.class_picker.value == 1
    explorer.class_picker.value = 2
    expected = grid_png(gan.generate(z=gan.sample_latent(1, 0), labels=[2]), scale=4, padding=0)
    assert explorer.image.value == expected


def test_explorer_bad_input():
    model = TanhLinearModel()
    explorer = LatentExplorer(model, dims=(1, 2))
    with pytest.raises(ValueError, match=r"i must be an int <= 1.*i=2"):
        explorer.set_latent(2, 0.0)
    with pytest.raises(ValueError, match="value must be finite"):
        explorer.set_latent(0, float("inf"))
    with pytest.raises(ValueError, match=r"psi must be <= 1.*psi=1.5"):
        explorer.set_truncation(1.5)
    with pytest.raises(ValueError, match=r"unconditional.*label=1"):
        explorer.set_class(1)
    with pytest.raises(ValueError, match=r"seed must be an int >= 0.*seed=-1"):
        explorer.set_seed(-1)
    with pytest.raises(ValueError, match=r"dims must be an int <= 3.*dims=4"):
        LatentExplorer(model, dims=(0, 4))
    with pytest.raises(ValueError, match="distinct"):
        LatentExplorer(model, dims=(1, 1))
    with pytest.raises(ValueError, match="dims or directions, not both"):
        LatentExplorer(model, dims=(0,), directions=np.eye(4))
    with pytest.raises(
        ValueError, match=r"directions must have shape \(k, latent_dim=4\).*\(2, 3\)"
    ):
        LatentExplorer(model, directions=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"unconditional; label must be None.*label=0"):
        LatentExplorer(model, label=0)
    with pytest.raises(ValueError, match=r"label must be an int <= 2.*label=3"):
        LatentExplorer(TanhLinearModel(num_classes=3), label=3)
    with pytest.raises(ValueError, match=r"one name per class \(3\)"):
        LatentExplorer(TanhLinearModel(num_classes=3), class_names=["x"])
    with pytest.raises(TypeError, match="model must have an int latent_dim"):
        LatentExplorer(object())


def test_display_outside_a_notebook_and_mimebundle(capsys):
    explorer = LatentExplorer(TanhLinearModel(), dims=(0,))
    explorer._ipython_display_()
    assert capsys.readouterr().out.strip() == repr(explorer)
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == "LatentExplorer(latent_dim=4, sliders=1, n=1)"
    assert (
        bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    )


# --- Interpolator ---------------------------------------------------------------------


def test_interpolator_frames_follow_the_path():
    model = TanhLinearModel()
    interpolator = Interpolator(model, 3, 4, steps=5, scale=2)
    z_a, z_b = model.sample_latent(1, 3)[0], model.sample_latent(1, 4)[0]
    np.testing.assert_allclose(interpolator.latents, slerp(z_a, z_b, 5), rtol=1e-6)
    assert interpolator.render_frame(0) == grid_png(model.generate(z=z_a), scale=2, padding=0)
    assert interpolator.render_frame(4) == grid_png(model.generate(z=z_b), scale=2, padding=0)
    assert interpolator.image.value == interpolator.render_frame(0)
    interpolator.frame_slider.value = 3
    assert interpolator.image.value == interpolator.render_frame(3)
    assert interpolator.status.value == f"|z| = {np.linalg.norm(slerp(z_a, z_b, 5)[3]):.2f}"
    strip = decode(interpolator.strip())
    assert strip.shape == (4, 5 * 5 - 1)  # five 4-px frames, 1-px gaps, scale 2 // 2 = 1
    slerp_middle = interpolator.render_frame(2)
    interpolator.method_toggle.value = "lerp"
    np.testing.assert_allclose(interpolator.latents, lerp(z_a, z_b, 5), rtol=1e-6)
    assert interpolator.render_frame(2) != slerp_middle
    assert interpolator.render_frame(0) == grid_png(model.generate(z=z_a), scale=2, padding=0)
    interpolator.seed_boxes[1].value = 9
    np.testing.assert_allclose(interpolator.latents[-1], model.sample_latent(1, 9)[0], rtol=1e-6)
    assert interpolator.image.value == interpolator.render_frame(3)


def test_interpolator_bad_input():
    model = TanhLinearModel()
    with pytest.raises(ValueError, match=r"steps must be an int >= 2.*steps=1"):
        Interpolator(model, steps=1)
    with pytest.raises(ValueError, match=r"Unknown method 'cubic'"):
        Interpolator(model, method="cubic")
    interpolator = Interpolator(model, steps=3)
    with pytest.raises(ValueError, match=r"i must be an int <= 2.*i=3"):
        interpolator.render_frame(3)
    with pytest.raises(ValueError, match=r"seed_b must be an int >= 0"):
        interpolator.set_seeds(seed_b=-2)
    assert repr(interpolator) == "Interpolator(seeds=(0, 1), steps=3, method='slerp')"


# --- TrainingMonitor ------------------------------------------------------------------


def test_training_monitor_records_history_and_updates_images():
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    images = np.random.default_rng(0).uniform(-1, 1, (96, 28, 28, 1)).astype(np.float32)
    dataset = make_dataset(images, batch_size=16, shuffle=False)
    monitor = TrainingMonitor(n=4, seed=2, every=2, scale=1)
    before = grid_png(gan.generate(z=gan.sample_latent(4, 2)), scale=1)
    fit = gan.fit(dataset, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.history["step"] == [1, 2, 3, 4, 5, 6]
    for name, values in fit.history.items():
        assert monitor.epoch_history[name] == pytest.approx(values)
        # each batch's recovered value averages to Keras' epoch mean
        assert np.mean(monitor.history[name]) == pytest.approx(values[0], rel=1e-4, abs=1e-6)
    after = grid_png(gan.generate(z=gan.sample_latent(4, 2)), scale=1)
    assert monitor.samples_image.value == after != before
    assert decode(monitor.loss_image.value).ndim == 3
    assert monitor.status.value.startswith("epoch 1, step 6: ") and "g_loss" in monitor.status.value


def test_training_monitor_recovers_per_batch_values_from_running_means():
    model = TanhLinearModel()
    monitor = TrainingMonitor(n=2, every=100, display=False)
    monitor.set_model(model)
    monitor.on_train_begin()
    values = [1.0, 3.0, 2.0, 6.0]
    for epoch in range(2):
        monitor.on_epoch_begin(epoch)
        for batch, _ in enumerate(values):
            monitor.on_train_batch_end(batch, {"loss": np.mean(values[: batch + 1])})
        monitor.on_epoch_end(epoch, {"loss": np.mean(values)})
    np.testing.assert_allclose(monitor.history["loss"], values * 2)
    assert monitor.epoch_history == {"loss": [3.0, 3.0]}
    assert monitor.samples_image.value == grid_png(
        model.generate(z=model.sample_latent(2, 0)), scale=3
    )
    with pytest.raises(ValueError, match=r"every must be a positive int.*every=0"):
        TrainingMonitor(every=0)


def test_curves_png_draws_one_panel_per_series_and_skips_non_finite_values():
    x = np.arange(1, 51)
    png = curves_png(
        {
            "a": (x, np.sin(x)),
            "b": (x, np.where(x % 7 == 0, np.nan, x)),
            "c": ([], []),
            "d": ([3], [1.0]),
        },
        width=100,
        height=80,
    )
    pixels = decode(png)
    assert pixels.shape == (80, 400, 3)
    line_blue = np.array([31, 119, 180])
    for panel in range(4):
        drawn = np.all(pixels[:, panel * 100 : (panel + 1) * 100] == line_blue, axis=-1).any()
        assert drawn == (panel != 2)  # the empty series has no line
    with pytest.raises(ValueError, match=r"width must be an int >= 80.*width=10"):
        curves_png({"a": (x, x)}, width=10)


# --- diffusion: DenoisingScrubber, and the latent widgets on x_T ----------------------


@pytest.fixture(scope="module")
def tiny_diffusion(randomised):
    from imgenlib.models import DiffusionConfig, build_diffusion

    keras.utils.set_random_seed(0)
    model = build_diffusion(DiffusionConfig.tiny(timesteps=20), (16, 16, 1), num_classes=3)
    return randomised(model)


@pytest.mark.parametrize(
    "settings",
    [{"steps": 4}, {"steps": 3, "eta": 0.7, "guidance": 2.0}, {"steps": 5, "sampler": "ddpm"}],
)
def test_trajectory_ends_in_what_generate_returns(tiny_diffusion, settings):
    labels = np.array([0, 2, 1])
    trajectory = tiny_diffusion.trajectory(3, seed=4, labels=labels, **settings)
    expected = tiny_diffusion.generate(3, seed=4, labels=labels, **settings)
    np.testing.assert_array_equal(trajectory["images"], expected)
    steps = settings["steps"]
    assert trajectory["x_t"].shape == trajectory["x0"].shape == (steps, 3, 16, 16, 1)
    np.testing.assert_array_equal(
        trajectory["x_t"][0].reshape(3, -1), tiny_diffusion.sample_latent(3, seed=4)
    )
    assert trajectory["timesteps"][0] == 19 and np.all(np.diff(trajectory["timesteps"]) < 0)
    assert np.abs(trajectory["x0"]).max() <= 1.0  # clipped predictions


def test_trajectory_follows_the_ddim_update(tiny_diffusion):
    """Each step's x_{t-1} from its x_t and predicted x_0 by the DDIM rule (η = 0), in NumPy."""
    trajectory = tiny_diffusion.trajectory(2, seed=1, labels=1, steps=4)
    alpha_bars = np.concatenate([[1.0], tiny_diffusion.schedule.alpha_bars])
    xs = [*trajectory["x_t"], trajectory["images"]]
    for i, t in enumerate(trajectory["timesteps"]):
        s = trajectory["timesteps"][i + 1] if i + 1 < len(trajectory["timesteps"]) else -1
        a_t, a_s = alpha_bars[t + 1], alpha_bars[s + 1]
        x0 = trajectory["x0"][i].astype(np.float64)
        epsilon = (xs[i] - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
        expected = np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * epsilon
        np.testing.assert_allclose(xs[i + 1], expected, atol=1e-4)


def test_denoising_scrubber_shows_x_t_above_the_predicted_x0(tiny_diffusion):
    from imgenlib.widgets import DenoisingScrubber

    scrubber = DenoisingScrubber(tiny_diffusion, seed=2, steps=4, labels=[0, 1], n=2, scale=1)
    trajectory = tiny_diffusion.trajectory(2, seed=2, labels=[0, 1], steps=4)
    np.testing.assert_array_equal(
        scrubber.images, tiny_diffusion.generate(2, seed=2, labels=[0, 1], steps=4)
    )
    assert scrubber.image.value == scrubber.render(0)
    first = decode(scrubber.image.value)
    noise_and_x0 = np.concatenate([trajectory["x_t"][0], trajectory["x0"][0]])
    assert np.abs(trajectory["x_t"][0]).max() > 1  # x_T is noise: shown clipped to [-1, 1]
    expected = grid_array(np.clip(noise_and_x0, -1, 1), ncols=2)
    np.testing.assert_array_equal(first, expected[..., 0])
    scrubber.step_slider.value = 2  # as a user dragging the slider
    top_and_bottom = np.clip(np.concatenate([trajectory["x_t"][2], trajectory["x0"][2]]), -1, 1)
    np.testing.assert_array_equal(
        decode(scrubber.image.value), grid_array(top_and_bottom, ncols=2)[..., 0]
    )
    assert "step 2/4, t = " in scrubber.status.value and scrubber.last_frame_ms > 0
    scrubber.set_step(4)
    done = grid_array(np.concatenate([scrubber.images, scrubber.images]), ncols=2)[..., 0]
    np.testing.assert_array_equal(decode(scrubber.image.value), done)
    assert scrubber.step_slider.value == 4 and "done" in scrubber.status.value
    assert repr(scrubber) == "DenoisingScrubber(seed=2, steps=4, n=2)"
    with pytest.raises(ValueError, match=r"i must be an int <= 4.*i=5"):
        scrubber.set_step(5)
    with pytest.raises(TypeError, match="needs a diffusion model"):
        DenoisingScrubber(TanhLinearModel())
    with pytest.raises(ValueError, match="steps must be an int <= 20"):
        DenoisingScrubber(tiny_diffusion, steps=21)


def test_latent_widgets_on_a_diffusion_model(tiny_diffusion):
    explorer = LatentExplorer(tiny_diffusion, dims=(0, 5), seed=3, label=2, sampling={"steps": 3})
    z = tiny_diffusion.sample_latent(1, 3)
    labels = np.array([2])
    assert explorer.model.latent_dim == 256 and explorer.sampling["steps"] == 3
    np.testing.assert_array_equal(explorer.z, z)
    assert explorer.image.value == grid_png(
        tiny_diffusion.generate(z=z, labels=labels, steps=3), scale=4, padding=0
    )
    explorer.sliders[1].value = 2.0
    z[0, 5] += 2.0
    assert explorer.image.value == grid_png(
        tiny_diffusion.generate(z=z, labels=labels, steps=3), scale=4, padding=0
    )
    assert explorer.render() == explorer.image.value  # deterministic DDIM: same z, same image
    interpolator = Interpolator(tiny_diffusion, 1, 2, steps=3, label=1, sampling={"steps": 2})
    path = interpolator.latents
    frames = tiny_diffusion.generate(z=path, labels=np.full(3, 1), steps=2)
    np.testing.assert_array_equal(interpolator.frames, frames)
    np.testing.assert_array_equal(path[0], tiny_diffusion.sample_latent(1, 1)[0])
    with pytest.raises(ValueError, match="deterministic DDIM"):
        LatentExplorer(tiny_diffusion, sampling={"eta": 0.5})
    gan = build_gan(GANConfig.tiny(), (28, 28, 1))
    with pytest.raises(ValueError, match="steps is for diffusion models"):
        LatentExplorer(gan, sampling={"steps": 3})
