"""Plumbing shared by the widgets: display, control syncing, latents, class options."""

from __future__ import annotations

import base64
import contextlib
import io

import numpy as np

from imgenlib._validation import check_int, check_latents


def widgets_module():
    import ipywidgets

    return ipywidgets


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def sample_latents(model, n: int, seed: int) -> np.ndarray:
    sample_latent = getattr(model, "sample_latent", None)
    if callable(sample_latent):
        return np.asarray(sample_latent(n, seed), dtype=np.float32)
    return np.random.default_rng(seed).standard_normal((n, model.latent_dim)).astype(np.float32)


def check_class(model, value, name="label") -> int | None:
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        if value is not None:
            raise ValueError(
                f"This model is unconditional; {name} must be None. Received: {name}={value!r}"
            )
        return None
    return check_int(name, 0 if value is None else value, minimum=0, maximum=num_classes - 1)


def class_options(model, class_names):
    num_classes = model.num_classes
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is None:
        return [(str(k), k) for k in range(num_classes)]
    class_names = list(class_names)
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names must have one name per class ({num_classes}). Received: {len(class_names)} names"
        )
    return [(f"{k}: {name}", k) for k, name in enumerate(class_names)]


class DisplayMixin:
    """Show ``self.widget`` together with a static PNG of its picture and a short text/plain.

    One display_data output carries three representations of the same state:
    ``application/vnd.jupyter.widget-view+json`` (the live widget), ``image/png`` (what
    the widget's image controls show now, see `snapshot_png`) and a deterministic
    ``text/plain`` (stable under nbval, which skips both the view and the PNG when it
    compares outputs). A front end picks the richest one it can render: JupyterLab ranks
    the widget view first (renderer rank -10, images 90) but shows only safe types, so
    the PNG, for an untrusted notebook; nbconvert/nbviewer skip the view when the notebook
    saved no state for it; GitHub shows the PNG. The PNG is the picture at display time;
    `update_displays` refreshes it.
    """

    widget = None
    #: Attributes naming the ``ipywidgets.Image`` controls that make up the picture,
    #: and whether they are stacked top to bottom (else left to right).
    snapshot_images: tuple[str, ...] = ("image",)
    snapshot_vertical = True
    _display_handles: tuple = ()

    def snapshot_png(self) -> bytes:
        """PNG bytes of the widget's current picture, as its image controls show it.

        One image control: its own bytes (no re-encoding). Several: pasted side by side
        (or stacked, see `snapshot_vertical`) on white with a 4-pixel gap; empty controls
        are skipped. b"" when nothing is drawn yet.
        """
        pngs = [getattr(self, name).value for name in self.snapshot_images]
        return stack_pngs(pngs, vertical=self.snapshot_vertical)

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        png = self.snapshot_png()
        if png:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self):
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import display

        self._displayed = True
        if InteractiveShell.initialized():
            handle = display(self._repr_mimebundle_(), raw=True, display_id=True)
            self._display_handles = (*self._display_handles, handle)
        else:
            print(repr(self))

    def update_displays(self) -> int:
        """Re-send every output that shows this object, so its static PNG is the current picture.

        The live widget needs no update (it follows its controls); the PNG in the saved
        notebook does. JupyterLab re-creates the widget view on each update, so call this
        when a change is finished (`TrainingMonitor` does at each epoch end), not on every
        slider move.

        Returns:
            The number of outputs updated (0 outside a notebook).
        """
        if self._display_handles:
            bundle = self._repr_mimebundle_()
            for handle in self._display_handles:
                handle.update(bundle, raw=True)
        return len(self._display_handles)

    @contextlib.contextmanager
    def _quiet(self):
        """Change control values without their observers firing a render."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _observer(self, method):
        def observe(change):
            if not self._syncing:
                method(change["new"])

        return observe


def deterministic_sampling(model, sampling) -> dict:
    """``generate`` keyword arguments that map each z to one image: {} for a one-call
    generator, checked DDIM settings with η = 0 for a diffusion model (``level`` allowed:
    `imgenlib.sampling_options.sampling_settings` with ``latents=True``)."""
    from imgenlib.sampling_options import sampling_settings

    settings = sampling_settings(model, sampling, latents=True)
    if settings is None:
        return {}
    if settings["sampler"] != "ddim" or settings["eta"] != 0:
        raise ValueError(
            "A latent widget maps each z to one image: use deterministic DDIM (sampler "
            f"'ddim', eta 0). Received: sampling={sampling!r}"
        )
    return settings


def given_latents(model, z, n: int | None = None, name: str = "z") -> np.ndarray | None:
    """`z` checked as float32 (k, latent_dim) latents of `model` (k = `n` when given), or None."""
    if z is None:
        return None
    z = check_latents(name, z, model.latent_dim)
    if n is not None and len(z) != n:
        raise ValueError(f"{name} must hold {n} latent vectors. Received: {name}.shape={z.shape}")
    return z.astype(np.float32)


def stack_pngs(pngs, *, vertical: bool = True, gap: int = 4) -> bytes:
    """Paste PNG images on white, top to bottom (or left to right), and encode the result.

    Args:
        pngs: PNG bytes; empty ones are skipped.
        vertical: stack top to bottom (True) or left to right (False).
        gap: pixels between two images.

    Returns:
        PNG bytes: the single non-empty input unchanged, b"" if there is none.
    """
    from PIL import Image

    pngs = [png for png in pngs if png]
    if len(pngs) <= 1:
        return pngs[0] if pngs else b""
    images = [Image.open(io.BytesIO(png)) for png in pngs]
    mode = "L" if all(image.mode == "L" for image in images) else "RGB"
    sizes = [image.size for image in images]
    along = sum(size[vertical] for size in sizes) + gap * (len(images) - 1)
    across = max(size[not vertical] for size in sizes)
    picture = Image.new(mode, (across, along) if vertical else (along, across), "white")
    offset = 0
    for image, size in zip(images, sizes, strict=True):
        picture.paste(image.convert(mode), (0, offset) if vertical else (offset, 0))
        offset += size[vertical] + gap
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
