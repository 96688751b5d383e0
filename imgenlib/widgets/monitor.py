"""`TrainingMonitor`: live loss curves and samples during ``fit``, drawn with Pillow."""

from __future__ import annotations

import io

import keras
import numpy as np

from imgenlib._validation import check_int, check_positive_int
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import DisplayMixin, in_notebook, sample_latents, widgets_module

__all__ = ["TrainingMonitor", "curves_png"]


class TrainingMonitor(DisplayMixin, keras.callbacks.Callback):
    """A callback that shows live loss curves and the current samples during ``fit``.

    Every `every` batches and at each epoch's end it redraws the loss curves (matplotlib
    to PNG) and a grid of samples from fixed latents (the model's traced ``generate``),
    updating two ``ipywidgets.Image`` in place. In a notebook it displays itself when
    training starts (or show it earlier by putting it last in a cell); in a plain Python
    process nothing is displayed and nothing fails. At each epoch end it also refreshes the
    static PNG saved with its output (`update_displays`), so a notebook viewed without a
    kernel shows the latest curves and samples, not the empty start.

    Keras reports, after each batch, the running mean of each metric since the epoch
    began; the monitor recovers each batch's own value from consecutive means
    (``v_b = (b+1) m_b - b m_(b-1)``) so the curves do not saw-tooth at epoch starts.

    Attributes:
        history: ``{"step": [...], metric: [...]}``, one entry per batch (global step).
        epoch_history: ``{metric: [...]}``, one value per epoch as Keras reports it.

    Args:
        n: number of samples shown.
        seed: seed of the fixed latents.
        labels: labels for a conditional model (default: classes in turn).
        every: redraw every this many batches (also at each epoch end).
        metrics: which metrics to plot (default: all that Keras logs).
        scale: pixel upscaling of the samples.
        display: display the widget when training starts, if running in a notebook.
    """

    snapshot_images = ("loss_image", "samples_image")
    snapshot_vertical = False

    def __init__(
        self,
        *,
        n: int = 16,
        seed: int = 0,
        labels=None,
        every: int = 50,
        metrics=None,
        scale: int = 3,
        display: bool = True,
    ):
        super().__init__()
        self.n = check_positive_int("n", n)
        self.seed = check_int("seed", seed, minimum=0)
        self.labels = labels
        self.every = check_positive_int("every", every)
        self.metrics = None if metrics is None else list(metrics)
        self.scale = check_positive_int("scale", scale)
        self.auto_display = bool(display)
        self.history: dict[str, list[float]] = {"step": []}
        self.epoch_history: dict[str, list[float]] = {}
        self._step = 0
        self._epoch = 0
        self._z = self._labels = None
        self._previous: dict[str, float] = {}
        self._displayed = False
        self._syncing = False
        widgets = widgets_module()
        self.loss_image = widgets.Image(format="png")
        self.samples_image = widgets.Image(format="png")
        self.status = widgets.Label("waiting for fit()")
        self.widget = widgets.VBox(
            [self.status, widgets.HBox([self.loss_image, self.samples_image])]
        )

    def __repr__(self):
        return f"TrainingMonitor(n={self.n}, every={self.every})"

    # --- Keras hooks ------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._z = None
        if callable(getattr(self.model, "generate", None)):
            self._z = sample_latents(self.model, self.n, self.seed)
        num_classes = getattr(self.model, "num_classes", None)
        self._labels = self.labels
        if self._labels is None and num_classes is not None:
            self._labels = "balanced"
        if self.auto_display and not self._displayed and in_notebook():
            from IPython.display import display

            display(self)
        self.update()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self.history["step"].append(self._step)
        for name, value in (logs or {}).items():
            mean = float(value)
            previous = self._previous.get(name)
            instant = (
                mean if batch == 0 or previous is None else (batch + 1) * mean - batch * previous
            )
            self._previous[name] = mean
            self.history.setdefault(name, []).append(instant)
        if self._step % self.every == 0:
            self.update()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.epoch_history.setdefault(name, []).append(float(value))
        self.update()
        self.update_displays()

    # --- drawing ----------------------------------------------------------------------

    def samples_png(self) -> bytes:
        """PNG bytes of the model's current samples from the fixed latents (b"" if it cannot generate)."""
        if self._z is None:
            return b""
        images = self.model.generate(z=self._z, labels=self._labels)
        return grid_png(images, scale=self.scale)

    def loss_png(self) -> bytes:
        """PNG bytes of the loss curves so far: each batch (faint) and a moving average.

        Drawn with Pillow in a few milliseconds (a matplotlib figure costs 0.3-0.6 s on a
        busy 2-core CPU, which would stall training); use `imgenlib.plotting.plot_history`
        for a publication figure after training.
        """
        names = self.metrics or [k for k in self.history if k != "step"]
        steps = np.asarray(self.history["step"], dtype=float)
        series = {name: (steps, np.asarray(self.history.get(name, []), float)) for name in names}
        return curves_png(series)

    def update(self):
        """Redraw both images and the status line now."""
        self.loss_image.value = self.loss_png()
        self.samples_image.value = self.samples_png()
        latest = ", ".join(f"{k} {v[-1]:.3f}" for k, v in self.history.items() if k != "step" and v)
        self.status.value = f"epoch {self._epoch + 1}, step {self._step}" + (
            f": {latest}" if latest else ""
        )


def _moving_average(values, window: int = 20) -> np.ndarray:
    """Trailing mean over up to `window` values (shorter at the start)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    ends = np.arange(1, len(values) + 1)
    return (cumulative[ends] - cumulative[ends - counts]) / counts


def curves_png(series, *, width: int = 240, height: int = 150) -> bytes:
    """Draw one small line-plot panel per series with Pillow and return PNG bytes.

    Args:
        series: ``{name: (x, y)}``; each panel shows y against x (faint) and its trailing
            moving average, with the y range and the last x and y written on it.
        width, height: pixel size of each panel.

    Returns:
        PNG bytes of the panels side by side.
    """
    from PIL import Image, ImageDraw, ImageFont

    width = check_int("width", width, minimum=80)
    height = check_int("height", height, minimum=60)
    font = ImageFont.load_default(size=11)
    picture = Image.new("RGB", (width * max(1, len(series)), height), "white")
    draw = ImageDraw.Draw(picture)
    for panel, (name, (x, y)) in enumerate(series.items()):
        x, y = np.asarray(x, dtype=float)[: len(y)], np.asarray(y, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        left = panel * width
        box = (left + 44, 18, left + width - 8, height - 18)
        draw.rectangle(box, outline=(190, 190, 190))
        draw.text(
            (left + 44, 3), name + (f"  {y[-1]:.4g}" if len(y) else ""), fill="black", font=font
        )
        if not len(y):
            continue
        low, high = float(y.min()), float(y.max())
        if high - low < 1e-12:
            low, high = low - 0.5, high + 0.5
        draw.text((left + 2, box[1]), f"{high:.3g}", fill=(90, 90, 90), font=font)
        draw.text((left + 2, box[3] - 11), f"{low:.3g}", fill=(90, 90, 90), font=font)
        draw.text((box[2] - 70, box[3] + 3), f"step {x[-1]:.0f}", fill=(90, 90, 90), font=font)
        span = max(x[-1] - x[0], 1.0)
        px = box[0] + (x - x[0]) / span * (box[2] - box[0])
        for values, colour, line in (
            (y, (170, 195, 230), 1),
            (_moving_average(y), (31, 119, 180), 2),
        ):
            py = box[3] - (values - low) / (high - low) * (box[3] - box[1])
            points = list(zip(px.tolist(), py.tolist(), strict=True))
            if len(points) > 1:
                draw.line(points, fill=colour, width=line)
            else:
                draw.ellipse((px[0] - 2, py[0] - 2, px[0] + 2, py[0] + 2), fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
