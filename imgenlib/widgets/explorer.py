"""`LatentExplorer` (sliders over latent dimensions or directions) and `Interpolator` (seed to seed)."""

from __future__ import annotations

import time

import numpy as np

from imgenlib._validation import (
    check_choice,
    check_float,
    check_int,
    check_latent_model,
    check_positive_int,
)
from imgenlib.directions import LatentDirections
from imgenlib.latent import lerp, slerp, truncate
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import (
    DisplayMixin,
    check_class,
    class_options,
    deterministic_sampling,
    sample_latents,
    widgets_module,
)

__all__ = ["Interpolator", "LatentExplorer"]


class LatentExplorer(DisplayMixin):
    """Sliders over latent dimensions or directions, a seed box, truncation and a class picker.

    The shown latents are ``truncate(z_seed, psi) + sum_i value_i * basis_i``: the seed's
    latents pulled towards the mean by ψ, plus one offset per slider along a basis vector
    (a unit vector of a chosen dimension, or a direction such as a `pca_directions`
    result). Sliders start at 0, the seed's own image.

    Args:
        model: a GAN, VAE or diffusion model (``latent_dim``, ``num_classes``, ``generate``).
        dims: latent dimensions to put on sliders (default: the first min(5, latent_dim)).
        directions: instead of dims, a `LatentDirections` or an array (k, latent_dim).
        seed: seed of the starting latents.
        truncation: ψ in [0, 1] (1: none).
        n: number of images shown (a grid of n latents from the seed).
        ncols: grid columns (default square-ish).
        label: class for a conditional model (default 0).
        class_names: names shown in the class picker (default: the model's `class_names`,
            which `imgenlib.training.train` sets).
        scale: pixel upscaling of the image.
        value_range: sliders span [-value_range, value_range].
        sampling: a diffusion model's sampling settings (its z is the noise x_T flattened;
            deterministic DDIM only, e.g. ``{"steps": 10}`` for faster frames).

    Example:
        >>> explorer = LatentExplorer(gan, directions=pca_directions(gan), n=4)  # doctest: +SKIP
        >>> explorer  # in a notebook cell: shows the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        *,
        dims=None,
        directions=None,
        seed: int = 0,
        truncation: float = 1.0,
        n: int = 1,
        ncols: int | None = None,
        label: int | None = None,
        class_names=None,
        scale: int = 4,
        value_range: float = 3.0,
        sampling: dict | None = None,
    ):
        latent_dim = check_latent_model(model)
        self.model = model
        self.sampling = deterministic_sampling(model, sampling)
        self.n = check_positive_int("n", n)
        self.ncols = None if ncols is None else check_positive_int("ncols", ncols)
        self.scale = check_positive_int("scale", scale)
        value_range = check_float("value_range", value_range, minimum=0, min_inclusive=False)
        self.basis, names = self._basis(latent_dim, dims, directions)
        self._offsets = np.zeros(len(self.basis))
        self._seed = check_int("seed", seed, minimum=0)
        self._psi = check_float("truncation", truncation, minimum=0, maximum=1)
        self._label = check_class(model, label)
        self._base = sample_latents(model, self.n, self._seed)
        self._syncing = False
        self.last_frame_ms = float("nan")

        widgets = widgets_module()
        self.sliders = []
        for i, name in enumerate(names):
            slider = widgets.FloatSlider(
                value=0.0,
                min=-value_range,
                max=value_range,
                step=value_range / 30,
                description=name,
                continuous_update=True,
                readout_format=".2f",
            )
            slider.observe(self._observer(lambda v, i=i: self.set_latent(i, v)), names="value")
            self.sliders.append(slider)
        self.seed_box = widgets.BoundedIntText(
            value=self._seed, min=0, max=2**31 - 1, description="seed"
        )
        self.seed_box.observe(self._observer(self.set_seed), names="value")
        self.truncation_slider = widgets.FloatSlider(
            value=self._psi, min=0.0, max=1.0, step=0.05, description="truncation ψ"
        )
        self.truncation_slider.observe(self._observer(self.set_truncation), names="value")
        controls = [self.seed_box, self.truncation_slider]
        self.class_picker = None
        if self._label is not None:
            self.class_picker = widgets.Dropdown(
                options=class_options(model, class_names), value=self._label, description="class"
            )
            self.class_picker.observe(self._observer(self.set_class), names="value")
            controls.append(self.class_picker)
        self.image = widgets.Image(format="png")
        self.status = widgets.Label()
        self.widget = widgets.HBox(
            [self.image, widgets.VBox([*controls, *self.sliders, self.status])]
        )
        self.refresh()

    @staticmethod
    def _basis(latent_dim, dims, directions):
        if dims is not None and directions is not None:
            raise ValueError("Give dims or directions, not both.")
        if directions is not None:
            ratios = None
            if isinstance(directions, LatentDirections):
                ratios = directions.explained_variance_ratio
                directions = directions.directions
            basis = np.asarray(directions, dtype=np.float64)
            if basis.ndim != 2 or basis.shape[1] != latent_dim or len(basis) == 0:
                raise ValueError(
                    f"directions must have shape (k, latent_dim={latent_dim}). Received: directions.shape={basis.shape}"
                )
            if not np.all(np.isfinite(basis)):
                raise ValueError("directions contain NaN or Inf values.")
            names = [
                f"dir {i}" if ratios is None else f"PC{i + 1} {ratios[i]:.0%}"
                for i in range(len(basis))
            ]
            return basis, names
        if dims is None:
            dims = tuple(range(min(5, latent_dim)))
        if isinstance(dims, int) and not isinstance(dims, bool):
            dims = (dims,)
        dims = [check_int("dims", d, minimum=0, maximum=latent_dim - 1) for d in dims]
        if not dims or len(set(dims)) != len(dims):
            raise ValueError(f"dims must be distinct latent dimensions. Received: dims={dims!r}")
        return np.eye(latent_dim)[dims], [f"z[{d}]" for d in dims]

    def __repr__(self):
        return f"LatentExplorer(latent_dim={self.model.latent_dim}, sliders={len(self.basis)}, n={self.n})"

    # --- state ------------------------------------------------------------------------

    @property
    def z(self) -> np.ndarray:
        """The current latents (n, latent_dim), float32."""
        return (truncate(self._base, self._psi) + self._offsets @ self.basis).astype(np.float32)

    @property
    def labels(self):
        """The current labels (n,) for a conditional model, else None."""
        return None if self._label is None else np.full(self.n, self._label, dtype=np.int32)

    def render(self, z=None, labels=None) -> bytes:
        """PNG bytes of the images for `z` (default: the current latents) and `labels`."""
        z = self.z if z is None else z
        labels = self.labels if labels is None else labels
        images = self.model.generate(z=z, labels=labels, **self.sampling)
        return grid_png(
            images, ncols=self.ncols, scale=self.scale, padding=1 if len(images) > 1 else 0
        )

    def refresh(self) -> bytes:
        """Render the current state into the image widget and time it (`last_frame_ms`)."""
        start = time.perf_counter()
        png = self.render()
        self.last_frame_ms = 1000 * (time.perf_counter() - start)
        self.image.value = png
        self.status.value = f"frame: {self.last_frame_ms:.1f} ms"
        return png

    def set_latent(self, i: int, value: float) -> bytes:
        """Set slider `i`'s offset to `value`, snapped to the slider's step, and re-render.

        Snapping matters in a browser: the front end rounds an off-step value to its grid
        and sends the rounded value back, and that late echo would undo a `reset()` made
        meanwhile (seen in JupyterLab; tests/test_browser.py).
        """
        i = check_int("i", i, minimum=0, maximum=len(self.basis) - 1)
        slider = self.sliders[i]
        value = round(check_float("value", value) / slider.step) * slider.step
        self._offsets[i] = value
        with self._quiet():
            slider.min, slider.max = min(slider.min, value), max(slider.max, value)
            slider.value = value
        return self.refresh()

    def set_seed(self, seed: int) -> bytes:
        """Draw new starting latents from `seed` and re-render (slider offsets are kept)."""
        self._seed = check_int("seed", seed, minimum=0)
        self._base = sample_latents(self.model, self.n, self._seed)
        with self._quiet():
            self.seed_box.value = self._seed
        return self.refresh()

    def set_truncation(self, psi: float) -> bytes:
        """Set ψ in [0, 1] (see `imgenlib.latent.truncate`) and re-render."""
        self._psi = check_float("psi", psi, minimum=0, maximum=1)
        with self._quiet():
            self.truncation_slider.value = self._psi
        return self.refresh()

    def set_class(self, label: int) -> bytes:
        """Show class `label` (conditional models only) and re-render."""
        if self._label is None:
            raise ValueError(
                f"This model is unconditional; it has no classes. Received: label={label!r}"
            )
        self._label = check_class(self.model, label)
        with self._quiet():
            self.class_picker.value = self._label
        return self.refresh()

    def reset(self) -> bytes:
        """Set every slider back to 0."""
        self._offsets[:] = 0.0
        with self._quiet():
            for slider in self.sliders:
                slider.value = 0.0
        return self.refresh()


_PATHS = {"lerp": lerp, "slerp": slerp}


class Interpolator(DisplayMixin):
    """Walk from the latent of one seed to another's, by lerp or slerp, frame by frame.

    Shows the current frame, the whole strip, and the current latent's norm — lerp's
    midpoints visibly shrink towards the origin, slerp's do not.

    Args:
        model: a GAN, VAE or diffusion model.
        seed_a, seed_b: seeds of the two endpoint latents.
        steps: frames, endpoints included (>= 2).
        method: ``"slerp"`` or ``"lerp"``.
        label: class for a conditional model (default 0).
        scale: pixel upscaling of the frame; the strip uses half of it (at least 1).
        sampling: a diffusion model's sampling settings (as for `LatentExplorer`).
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
        self._method = check_choice("method", method, _PATHS)
        self._label = check_class(model, label)
        self._frame = 0
        self._syncing = False
        self.last_frame_ms = float("nan")

        widgets = widgets_module()
        self.seed_boxes = [
            widgets.BoundedIntText(
                value=self._seeds[0], min=0, max=2**31 - 1, description="seed A"
            ),
            widgets.BoundedIntText(
                value=self._seeds[1], min=0, max=2**31 - 1, description="seed B"
            ),
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
        self.widget = widgets.VBox(
            [
                widgets.HBox(self.seed_boxes),
                widgets.HBox([self.method_toggle, self.play, self.frame_slider]),
                widgets.HBox([self.image, self.status]),
                self.strip_image,
            ]
        )
        self._update_path()

    def __repr__(self):
        return (
            f"Interpolator(seeds={tuple(self._seeds)}, steps={self.steps}, method={self._method!r})"
        )

    @property
    def latents(self) -> np.ndarray:
        """The path's latents (steps, latent_dim), float32."""
        z = (
            sample_latents(self.model, 1, self._seeds[0])[0],
            sample_latents(self.model, 1, self._seeds[1])[0],
        )
        return _PATHS[self._method](*z, self.steps)

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
        """PNG bytes of frame `i` (0 = seed A, steps - 1 = seed B)."""
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
        """Change one or both endpoint seeds and recompute the path."""
        for index, (name, seed) in enumerate((("seed_a", seed_a), ("seed_b", seed_b))):
            if seed is not None:
                self._seeds[index] = check_int(name, seed, minimum=0)
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
