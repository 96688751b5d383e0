"""`LatentExplorer`: sliders over latent dimensions or directions, around a seed's latents or given ones."""

from __future__ import annotations

import time

import numpy as np

from imgenlib._validation import (
    check_float,
    check_int,
    check_latent_model,
    check_positive_int,
)
from imgenlib.directions import LatentDirections
from imgenlib.latent import truncate
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import (
    DisplayMixin,
    check_class,
    class_options,
    deterministic_sampling,
    given_latents,
    sample_latents,
    widgets_module,
)

__all__ = ["LatentExplorer"]


class LatentExplorer(DisplayMixin):
    """Sliders over latent dimensions or directions, a seed box, truncation and a class picker.

    The shown latents are ``truncate(z_seed, psi) + sum_i value_i * basis_i``: the seed's
    latents (or given ones, `z`) pulled towards the mean by ψ, plus one offset per slider
    along a basis vector (a unit vector of a chosen dimension, or a direction such as a
    `pca_directions` result). Sliders start at 0, the seed's own image.

    Args:
        model: a GAN, VAE or diffusion model (``latent_dim``, ``num_classes``, ``generate``).
        dims: latent dimensions to put on sliders (default: the first min(5, latent_dim)).
        directions: instead of dims, a `LatentDirections` or an array (k, latent_dim).
        seed: seed of the starting latents.
        truncation: ψ in [0, 1] (1: none).
        n: number of images shown (a grid of n latents from the seed; default 1, or len(z)).
        ncols: grid columns (default square-ish).
        label: class for a conditional model (default 0).
        class_names: names shown in the class picker (default: the model's `class_names`,
            which `imgenlib.training.train` sets).
        scale: pixel upscaling of the image.
        value_range: sliders span [-value_range, value_range].
        sampling: a diffusion model's sampling settings (its z is x_T flattened, or x at
            ``level``; deterministic DDIM only, e.g. ``{"steps": 10}`` for faster frames,
            `imgenlib.sampling_options.sampling_settings` with ``latents=True``).
        z: starting latents (k, latent_dim) instead of the seed's, e.g. real images
            inverted by `Diffusion.invert` (then ``sampling={"level":
            model.inversion_level, ...}``); the seed box is left out, `set_seed` still
            replaces them.

    Raises:
        ValueError / TypeError: a bad argument (naming the received value), e.g. a
            ``sampling`` level outside 0..T − 1 or a z of the wrong shape.

    Example:
        >>> explorer = LatentExplorer(gan, directions=pca_directions(gan), n=4)  # doctest: +SKIP
        >>> explorer  # in a notebook cell: shows the widget  # doctest: +SKIP
        >>> z = diffusion.invert(images[:4], labels[:4], steps=20)  # doctest: +SKIP
        >>> LatentExplorer(diffusion, z=z, label=int(labels[0]),  # doctest: +SKIP
        ...                sampling={"steps": 20, "level": diffusion.inversion_level})
    """

    def __init__(
        self,
        model,
        *,
        dims=None,
        directions=None,
        seed: int = 0,
        truncation: float = 1.0,
        n: int | None = None,
        ncols: int | None = None,
        label: int | None = None,
        class_names=None,
        scale: int = 4,
        value_range: float = 3.0,
        sampling: dict | None = None,
        z=None,
    ):
        latent_dim = check_latent_model(model)
        self.model = model
        self.sampling = deterministic_sampling(model, sampling)
        n = None if n is None else check_positive_int("n", n)
        given = given_latents(model, z, n)
        self.n = n or (1 if given is None else len(given))
        self.ncols = None if ncols is None else check_positive_int("ncols", ncols)
        self.scale = check_positive_int("scale", scale)
        value_range = check_float("value_range", value_range, minimum=0, min_inclusive=False)
        self.basis, names = self._basis(latent_dim, dims, directions)
        self._offsets = np.zeros(len(self.basis))
        self._seed = check_int("seed", seed, minimum=0)
        self._psi = check_float("truncation", truncation, minimum=0, maximum=1)
        self._label = check_class(model, label)
        self._base = sample_latents(model, self.n, self._seed) if given is None else given
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
        controls = [self.truncation_slider]
        if given is None:
            controls.insert(0, self.seed_box)
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
