"""The latent widgets on a diffusion model's latents at a level below T − 1 (inverted images)."""

import time

import keras
import numpy as np
import pytest

from imgenlib.latent import slerp
from imgenlib.models import GANConfig, build_gan
from imgenlib.plotting import grid_png
from imgenlib.sampling_options import sampling_settings
from imgenlib.widgets import Interpolator, LatentExplorer


@pytest.fixture(scope="module")
def tiny_diffusion(randomised):
    from imgenlib.models import DiffusionConfig, build_diffusion

    keras.utils.set_random_seed(0)
    model = build_diffusion(DiffusionConfig.tiny(timesteps=20), (16, 16, 1), num_classes=3)
    return randomised(model)


def test_level_setting_is_checked_and_sets_the_default_steps(tiny_diffusion):
    model = tiny_diffusion
    assert sampling_settings(model, {"level": 9}, latents=True) == {
        "sampler": "ddim",
        "steps": 10,  # min(50, level + 1)
        "eta": 0.0,
        "guidance": 1.0,
        "level": 9,
    }
    assert "level" not in sampling_settings(model, {"level": None}, latents=True)
    assert sampling_settings(model, {"level": 0, "sampler": "ddpm"}, latents=True)["level"] == 0
    with pytest.raises(ValueError, match=r"steps must be in 1\.\.10 \(level \+ 1\).*steps=11"):
        sampling_settings(model, {"level": 9, "steps": 11}, latents=True)
    with pytest.raises(ValueError, match=r"level must be a timestep in 0\.\.19.*level=20"):
        sampling_settings(model, {"level": 20}, latents=True)
    with pytest.raises(ValueError, match=r"level must be a timestep in 0\.\.19.*level=-1"):
        sampling_settings(model, {"level": -1}, latents=True)
    with pytest.raises(TypeError, match=r"level must be an int.*level=2\.5"):
        sampling_settings(model, {"level": 2.5}, latents=True)
    with pytest.raises(TypeError, match=r"level must be an int.*level=True"):
        sampling_settings(model, {"level": True}, latents=True)
    with pytest.raises(ValueError, match=r"--level is the timestep of latents you give.*level=5"):
        sampling_settings(model, {"level": 5}, flag="--")  # sample, eval, export: z is noise
    with pytest.raises(ValueError, match=r"expected any of .*spacing, level"):
        sampling_settings(model, {"levels": 5}, latents=True)


def test_widgets_refuse_a_bad_level_naming_it(tiny_diffusion):
    with pytest.raises(ValueError, match=r"level must be a timestep in 0\.\.19.*level=25"):
        LatentExplorer(tiny_diffusion, sampling={"level": 25})
    with pytest.raises(ValueError, match=r"level must be a timestep in 0\.\.19.*level=20"):
        Interpolator(tiny_diffusion, sampling={"level": 20})
    with pytest.raises(ValueError, match="deterministic DDIM"):
        Interpolator(tiny_diffusion, sampling={"level": 5, "sampler": "ddpm"})
    with pytest.raises(ValueError, match=r"level is for diffusion models.*level=5"):
        LatentExplorer(build_gan(GANConfig.tiny(), (28, 28, 1)), sampling={"level": 5})
    with pytest.raises(ValueError, match=r"z must hold 2 latent vectors.*z\.shape=\(3, 256\)"):
        Interpolator(tiny_diffusion, z=np.zeros((3, 256)), label=0)
    with pytest.raises(ValueError, match=r"z must have shape \(n, latent_dim=256\).*\(2, 255\)"):
        LatentExplorer(tiny_diffusion, z=np.zeros((2, 255)), label=0)


def test_without_a_level_the_frames_are_those_from_noise_at_t_minus_1(tiny_diffusion):
    model, labels = tiny_diffusion, np.full(3, 1)
    default = Interpolator(model, 1, 2, steps=3, label=1, sampling={"steps": 4})
    top = Interpolator(model, 1, 2, steps=3, label=1, sampling={"steps": 4, "level": 19})
    low = Interpolator(model, 1, 2, steps=3, label=1, sampling={"steps": 4, "level": 9})
    assert "level" not in default.sampling and default.sampling["steps"] == 4
    path = slerp(model.sample_latent(1, 1)[0], model.sample_latent(1, 2)[0], 3)
    expected = model.generate(z=path, labels=labels, steps=4)
    assert default.frames.tobytes() == expected.tobytes() == top.frames.tobytes()
    assert default.strip() == top.strip()
    np.testing.assert_array_equal(
        low.frames, model.generate(z=path, labels=labels, steps=4, level=9)
    )
    assert np.abs(low.frames - default.frames).max() > 0.01  # the level reaches generate
    explorer = LatentExplorer(model, n=2, label=1, sampling={"steps": 4})
    assert (
        explorer.render()
        == LatentExplorer(model, n=2, label=1, sampling={"steps": 4, "level": 19}).render()
    )


def test_widgets_decode_given_latents_from_their_level(tiny_diffusion):
    model = tiny_diffusion
    z = model.sample_latent(3, seed=7)
    sampling = {"steps": 3, "level": 12}
    explorer = LatentExplorer(model, z=z, dims=(4,), label=2, sampling=sampling, scale=1)
    assert explorer.n == 3 and explorer.seed_box not in explorer.widget.children[1].children
    np.testing.assert_array_equal(explorer.z, z)
    expected = model.generate(z=z, labels=np.full(3, 2), steps=3, level=12)
    assert explorer.image.value == grid_png(expected, scale=1, padding=1)
    explorer.set_latent(0, 1.0)
    z[:, 4] += 1.0
    moved = model.generate(z=z, labels=np.full(3, 2), steps=3, level=12)
    assert explorer.image.value == grid_png(moved, scale=1, padding=1)
    explorer.set_seed(5)  # back to drawn latents
    np.testing.assert_allclose(explorer.z[:, 4] - 1.0, model.sample_latent(3, 5)[:, 4], atol=1e-6)

    interpolator = Interpolator(model, z=z[:2], steps=4, label=0, sampling=sampling)
    assert repr(interpolator) == "Interpolator(ends=('z', 'z'), steps=4, method='slerp')"
    path = slerp(z[0], z[1], 4)
    np.testing.assert_allclose(interpolator.latents, path, rtol=1e-6)
    np.testing.assert_array_equal(
        interpolator.frames, model.generate(z=path, labels=np.zeros(4, int), steps=3, level=12)
    )
    interpolator.set_seeds(seed_b=3)
    assert repr(interpolator) == "Interpolator(ends=('z', 3), steps=4, method='slerp')"
    np.testing.assert_array_equal(interpolator.latents[-1], model.sample_latent(1, 3)[0])


def test_from_images_inverts_both_images_and_decodes_the_path_from_the_level(tiny_diffusion):
    model = tiny_diffusion
    images = np.tanh(np.random.default_rng(0).standard_normal((2, 16, 16, 1))).astype(np.float32)
    interpolator = Interpolator.from_images(
        model, images[0], images[1], label=2, steps=3, sampling={"steps": 5}
    )
    level = model.inversion_level
    assert interpolator.sampling == {
        "sampler": "ddim", "steps": 5, "eta": 0.0, "guidance": 1.0, "level": level
    }  # fmt: skip
    z = model.invert(images, [2, 2], steps=5, level=level)
    np.testing.assert_array_equal(interpolator.latents[[0, -1]], z)
    expected = model.generate(z=slerp(*z, 3), labels=np.full(3, 2), steps=5, level=level)
    np.testing.assert_array_equal(interpolator.frames, expected)
    lower = Interpolator.from_images(model, *images, label=2, sampling={"steps": 5, "level": 7})
    np.testing.assert_array_equal(
        lower.latents[[0, -1]], model.invert(images, [2, 2], steps=5, level=7)
    )
    assert lower.sampling["level"] == 7 and np.abs(lower.latents[0] - z[0]).max() > 0.01
    with pytest.raises(ValueError, match=r"image_b must be one image of shape \(16, 16, 1\)"):
        Interpolator.from_images(model, images[0], images[1:], label=0)
    with pytest.raises(ValueError, match=r"spacing 'uniform' and guidance 1.*quadratic"):
        Interpolator.from_images(model, *images, label=0, sampling={"spacing": "quadratic"})
    with pytest.raises(ValueError, match=r"spacing 'uniform' and guidance 1.*'guidance': 2"):
        Interpolator.from_images(model, *images, label=0, sampling={"guidance": 2})
    with pytest.raises(TypeError, match=r"needs a diffusion model.*kind 'gan'"):
        Interpolator.from_images(build_gan(GANConfig.tiny(), (28, 28, 1)), *images)


def test_from_images_end_frames_reproduce_real_images_with_the_zoo_model():
    """Measured on these two test images (ankle boot, pullover; both inverted with label 9):
    end-frame mean absolute errors 0.030 / 0.013 at 50 steps, 0.048 / 0.054 at 10."""
    from imgenlib import pretrained
    from imgenlib.data import load_images

    model = pretrained.load("fashion_mnist_diffusion")
    images, labels = load_images("fashion_mnist", "test", n=2)
    errors = {}
    for steps in (10, 50):
        start = time.perf_counter()
        interpolator = Interpolator.from_images(
            model, *images, label=int(labels[0]), steps=3, sampling={"steps": steps}
        )
        frames = interpolator.frames
        errors[steps] = np.abs(frames[[0, -1]] - images).mean(axis=(1, 2, 3))
        print(f"{steps} steps: end-frame MAE {errors[steps]}, {time.perf_counter() - start:.1f} s")
    assert np.all(errors[50] < 0.05) and np.all(errors[10] < 0.1)
    assert errors[50].mean() < errors[10].mean()
    middle = np.abs(frames[1] - images).mean(axis=(1, 2, 3))
    assert np.all(middle > 0.1)  # the midpoint is neither image
