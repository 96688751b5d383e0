"""`Interpolator`: frames along a lerp or slerp path between two latents, from seeds, given
latents or two real images (inverted by DDIM for a diffusion model)."""

from __future__ import annotations

import time

import numpy as np

from imgenlib._validation import check_choice, check_int, check_latent_model, check_positive_int
from imgenlib.latent import lerp, slerp
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import (
    DisplayMixin,
    check_class,
    deterministic_sampling,
    given_latents,
    sample_latents,
    widgets_module,
)

__all__ = ["Interpolator"]

_PATHS = {"lerp": lerp, "slerp": slerp}


class Interpolator(DisplayMixin):
    """Walk from the latent of one seed to another's, by lerp or slerp, frame by frame.

    Shows the current frame, the whole strip, and the current latent's norm — lerp's
    midpoints visibly shrink towards the origin, slerp's do not. The endpoints are the
    latents of two seeds, two given latents (`z`) or, for a diffusion model, two real
    images inverted by DDIM (`from_images`).

    Args:
        model: a GAN, VAE or diffusion model.
        seed_a, seed_b: seeds of the two endpoint latents.
        steps: frames, endpoints included (>= 2).
        method: ``"slerp"`` or ``"lerp"``.
        label: class for a conditional model (default 0).
        scale: pixel upscaling of the frame; the strip uses half of it (at least 1).
        sampling: a diffusion model's sampling settings (as for `LatentExplorer`, ``level``
            included).
        z: the two endpoint latents (2, latent_dim) instead of the seeds'; the seed boxes
            are left out, `set_seeds` still replaces an endpoint by a seed's latent.

    Raises:
        ValueError / TypeError: a bad argument (naming the received value).

    Example:
        >>> Interpolator(vae, 3, 7, steps=10, method="slerp")  # doctest: +SKIP
        >>> z = diffusion.invert(images[:2], labels=[0, 0], steps=50)  # doctest: +SKIP
        >>> Interpolator(diffusion, z=z, label=0,  # doctest: +SKIP
        ...              sampling={"steps": 50, "level": diffusion.inversion_level})
    """

    snapshot_images = ("image", "strip_image")

    def __init__(
        self,
        model,
        seed_a: int = 0,
        seed_b: int = 1,
        *,
        steps: int = 8,
        method: str = "slerp",
        label: int | None = None,
        scale: int = 6,
        sampling: dict | None = None,
        z=None,
    ):
        check_latent_model(model)
        self.model = model
        self.sampling = deterministic_sampling(model, sampling)
        self.steps = check_int("steps", steps, minimum=2)
        self.scale = check_positive_int("scale", scale)
        self._seeds = [
            check_int("seed_a", seed_a, minimum=0),
            check_int("seed_b", seed_b, minimum=0),
        ]
        given = given_latents(model, z, 2)
        if given is None:
            self._ends = [sample_latents(model, 1, seed)[0] for seed in self._seeds]
        else:
            self._ends, self._seeds = list(given), [None, None]
        self._method = check_choice("method", method, _PATHS)
        self._label = check_class(model, label)
        self._frame = 0
        self._syncing = False
        self.last_frame_ms = float("nan")

        widgets = widgets_module()
        self.seed_boxes = [
            widgets.BoundedIntText(value=seed_a, min=0, max=2**31 - 1, description="seed A"),
            widgets.BoundedIntText(value=seed_b, min=0, max=2**31 - 1, description="seed B"),
        ]
        self.seed_boxes[0].observe(
            self._observer(lambda v: self.set_seeds(seed_a=v)), names="value"
        )
        self.seed_boxes[1].observe(
            self._observer(lambda v: self.set_seeds(seed_b=v)), names="value"
        )
        self.method_toggle = widgets.ToggleButtons(options=list(_PATHS), value=self._method)
        self.method_toggle.observe(self._observer(self.set_method), names="value")
        self.frame_slider = widgets.IntSlider(
            value=0, min=0, max=self.steps - 1, description="frame"
        )
        self.frame_slider.observe(self._observer(self.set_frame), names="value")
        self.play = widgets.Play(value=0, min=0, max=self.steps - 1, interval=150)
        widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.image = widgets.Image(format="png")
        self.strip_image = widgets.Image(format="png")
        self.status = widgets.Label()
        rows = [
            widgets.HBox([self.method_toggle, self.play, self.frame_slider]),
            widgets.HBox([self.image, self.status]),
            self.strip_image,
        ]
        if given is None:
            rows.insert(0, widgets.HBox(self.seed_boxes))
        self.widget = widgets.VBox(rows)
        self._update_path()

    @classmethod
    def from_images(cls, model, image_a, image_b, *, label=None, sampling=None, **kwargs):
        """An `Interpolator` of a diffusion model between two real images.

        Both images are inverted by deterministic DDIM (`Diffusion.invert`) with `label`
        to ``sampling["level"]`` (default `Diffusion.inversion_level`) in the sampling
        steps, and the path between the two latents is decoded from that level with the
        same steps: the end frames give the images back, up to the inversion's error
        (which shrinks with more steps). Slerp (the default) keeps the midpoints at the
        endpoints' norm, as a latent path between noise-like x's should.

        Args:
            model: a `Diffusion` model.
            image_a, image_b: two images (H, W, C) of the model's shape, in [-1, 1].
            label: class of a conditional model, for both inversions and the path
                (default 0).
            sampling: sampling settings as for `LatentExplorer`; spacing ``"uniform"`` and
                guidance 1, which the inversion uses (default steps: min(50, level + 1)).
            **kwargs: the other arguments of `Interpolator` (``steps`` (frames),
                ``method``, ``scale``).

        Returns:
            An `Interpolator` whose ``z`` are the two inverted images.

        Raises:
            TypeError: a model that is not a diffusion model.
            ValueError / TypeError: images not of the model's shape, bad sampling settings
                or ones the inversion does not use (naming the received value).

        Example:
            >>> model = imgenlib.pretrained.load("fashion_mnist_diffusion")  # doctest: +SKIP
            >>> images, labels = load_images("fashion_mnist", "test", n=2)  # doctest: +SKIP
            >>> Interpolator.from_images(model, images[0], images[1], label=int(labels[0]),
            ...                          steps=9, sampling={"steps": 50})  # doctest: +SKIP
        """
        kind = getattr(model, "kind", None)
        if kind != "diffusion":
            raise TypeError(
                "from_images needs a diffusion model (it inverts the images by DDIM). "
                f"Received: model of kind {kind!r}"
            )
        if sampling is not None and not isinstance(sampling, dict):
            raise TypeError(f"sampling must be a dict. Received: sampling={sampling!r}")
        sampling = dict(sampling or {})
        if sampling.get("level") is None:
            sampling["level"] = model.inversion_level
        settings = deterministic_sampling(model, sampling)
        if settings.get("spacing", "uniform") != "uniform" or settings.get("guidance", 1) != 1:
            raise ValueError(
                "from_images decodes with what the inversion uses: spacing 'uniform' and "
                f"guidance 1. Received: sampling={sampling!r}"
            )
        images = []
        for name, image in (("image_a", image_a), ("image_b", image_b)):
            image = np.asarray(image, dtype=np.float32)
            if image.shape != tuple(model.image_shape):
                raise ValueError(
                    f"{name} must be one image of shape {tuple(model.image_shape)}. "
                    f"Received: {name}.shape={image.shape}"
                )
            images.append(image)
        label = check_class(model, label)
        labels = None if label is None else [label, label]
        z = model.invert(np.stack(images), labels, steps=settings["steps"], level=settings["level"])
        return cls(model, label=label, sampling=settings, z=z, **kwargs)

    def __repr__(self):
        if None in self._seeds:
            ends = tuple("z" if seed is None else seed for seed in self._seeds)
            return f"Interpolator(ends={ends}, steps={self.steps}, method={self._method!r})"
        return (
            f"Interpolator(seeds={tuple(self._seeds)}, steps={self.steps}, method={self._method!r})"
        )

    @property
    def latents(self) -> np.ndarray:
        """The path's latents (steps, latent_dim), float32."""
        return _PATHS[self._method](*self._ends, self.steps)

    @property
    def frames(self) -> np.ndarray:
        """The path's images (steps, H, W, C)."""
        return self._frames

    def _update_path(self):
        labels = None if self._label is None else np.full(self.steps, self._label, np.int32)
        self._latents = self.latents
        self._frames = self.model.generate(z=self._latents, labels=labels, **self.sampling)
        self.strip_image.value = self.strip()
        self._show_frame()

    def _show_frame(self):
        start = time.perf_counter()
        png = self.render_frame(self._frame)
        self.last_frame_ms = 1000 * (time.perf_counter() - start)
        self.image.value = png
        norm = float(np.linalg.norm(self._latents[self._frame]))
        self.status.value = f"|z| = {norm:.2f}"
        return png

    def render_frame(self, i: int) -> bytes:
        """PNG bytes of frame `i` (0 = end A, steps - 1 = end B)."""
        i = check_int("i", i, minimum=0, maximum=self.steps - 1)
        return grid_png(self._frames[i : i + 1], scale=self.scale, padding=0)

    def strip(self) -> bytes:
        """PNG bytes of all frames in one row."""
        return grid_png(self._frames, ncols=self.steps, scale=max(1, self.scale // 2))

    def set_frame(self, i: int) -> bytes:
        """Show frame `i`."""
        self._frame = check_int("i", i, minimum=0, maximum=self.steps - 1)
        with self._quiet():
            self.frame_slider.value = self._frame
        return self._show_frame()

    def set_seeds(self, seed_a: int | None = None, seed_b: int | None = None) -> bytes:
        """Change one or both endpoints to a seed's latent and recompute the path."""
        for index, (name, seed) in enumerate((("seed_a", seed_a), ("seed_b", seed_b))):
            if seed is not None:
                self._seeds[index] = check_int(name, seed, minimum=0)
                self._ends[index] = sample_latents(self.model, 1, self._seeds[index])[0]
                with self._quiet():
                    self.seed_boxes[index].value = self._seeds[index]
        self._update_path()
        return self.image.value

    def set_method(self, method: str) -> bytes:
        """Switch between ``"lerp"`` and ``"slerp"``."""
        self._method = check_choice("method", method, _PATHS)
        with self._quiet():
            self.method_toggle.value = self._method
        self._update_path()
        return self.image.value
