"""`DenoisingScrubber`: a step slider over one reverse diffusion chain (x_t and predicted x_0)."""

from __future__ import annotations

import time

import numpy as np

from imgenlib._validation import check_int, check_positive_int
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import DisplayMixin, widgets_module

__all__ = ["DenoisingScrubber"]


class DenoisingScrubber(DisplayMixin):
    """Scrub through the denoising of a fixed seed: x_t above, the predicted x_0 below.

    The chain is computed once, by the model's own sampler (`Diffusion.trajectory`, the
    same traced step as ``generate``, so the last frame is ``generate(...)`` for the same
    arguments); moving the slider only encodes stored frames. Frame ``i < steps`` shows
    the input x_t of step i (frame 0: the noise x_T) and the x_0 the network predicts from
    it; frame ``steps`` shows the result twice.

    Args:
        model: a `imgenlib.models.diffusion.Diffusion` model.
        seed: seed of x_T and of the sampler's noise.
        steps: network evaluations, 1..T.
        labels: class labels of a conditional model (an int, n ints or ``"balanced"``;
            default ``"balanced"``).
        n: images side by side.
        eta, guidance, sampler: as in ``Diffusion.generate``.
        scale: pixel upscaling of the frame.

    Example:
        >>> scrubber = DenoisingScrubber(model, seed=0, steps=50, n=4)  # doctest: +SKIP
        >>> scrubber  # in a notebook cell: shows the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        seed: int = 0,
        steps: int = 50,
        labels=None,
        *,
        n: int = 1,
        eta: float = 0.0,
        guidance: float = 1.0,
        sampler: str = "ddim",
        scale: int = 4,
    ):
        if not callable(getattr(model, "trajectory", None)):
            raise TypeError(
                "DenoisingScrubber needs a diffusion model (with trajectory()). "
                f"Received: model={type(model).__name__}"
            )
        self.model = model
        self.seed = check_int("seed", seed, minimum=0)
        self.n = check_positive_int("n", n)
        self.scale = check_positive_int("scale", scale)
        if labels is None and getattr(model, "num_classes", None):
            labels = "balanced"
        start = time.perf_counter()
        self.trajectory = model.trajectory(
            self.n, seed=self.seed, labels=labels, steps=steps, eta=eta, guidance=guidance,
            sampler=sampler,
        )  # fmt: skip
        self.compute_ms = 1000 * (time.perf_counter() - start)
        self.steps = len(self.trajectory["timesteps"])
        self._step = 0
        self._syncing = False
        self.last_frame_ms = float("nan")

        widgets = widgets_module()
        self.step_slider = widgets.IntSlider(value=0, min=0, max=self.steps, description="step")
        self.step_slider.observe(self._observer(self.set_step), names="value")
        self.play = widgets.Play(value=0, min=0, max=self.steps, interval=100)
        widgets.jslink((self.play, "value"), (self.step_slider, "value"))
        self.image = widgets.Image(format="png")
        self.status = widgets.Label()
        self.widget = widgets.VBox(
            [widgets.HBox([self.play, self.step_slider]), self.image, self.status]
        )
        self.set_step(0)

    def __repr__(self):
        return f"DenoisingScrubber(seed={self.seed}, steps={self.steps}, n={self.n})"

    @property
    def images(self):
        """The chain's result (n, H, W, C): what ``generate`` returns for the same arguments."""
        return self.trajectory["images"]

    def frame(self, i: int):
        """(x_t, predicted x_0) of frame `i`, each (n, H, W, C); frame `steps`: the result."""
        i = check_int("i", i, minimum=0, maximum=self.steps)
        if i == self.steps:
            return self.images, self.images
        return self.trajectory["x_t"][i], self.trajectory["x0"][i]

    def render(self, i: int) -> bytes:
        """PNG bytes of frame `i`: x_t in the top row, the predicted x_0 below.

        Both are shown clipped to [-1, 1]: a noisy x_t is not an image (at large t it is
        close to a standard normal draw, most of it outside the pixel range).
        """
        x_t, x0 = self.frame(i)
        rows = np.clip(np.concatenate([x_t, x0]), -1.0, 1.0)
        return grid_png(rows, ncols=self.n, scale=self.scale)

    def set_step(self, i: int) -> bytes:
        """Show frame `i` (0: pure noise x_T; `steps`: the finished images)."""
        self._step = check_int("i", i, minimum=0, maximum=self.steps)
        with self._quiet():
            self.step_slider.value = self._step
        start = time.perf_counter()
        png = self.render(self._step)
        self.last_frame_ms = 1000 * (time.perf_counter() - start)
        self.image.value = png
        if self._step == self.steps:
            where = "done: x_0"
        else:
            where = f"t = {int(self.trajectory['timesteps'][self._step])}"
        self.status.value = (
            f"step {self._step}/{self.steps}, {where} (top: x_t, bottom: predicted x_0); "
            f"chain {self.compute_ms:.0f} ms, frame {self.last_frame_ms:.1f} ms"
        )
        return png
