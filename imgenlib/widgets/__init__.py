"""Jupyter widgets: explore a latent space, interpolate between seeds (or, for a diffusion
model, between two real images inverted by DDIM), watch training live, scrub through a
diffusion model's denoising, type prompts into a text-conditional model.

Each widget is a class that holds its state, builds its ipywidgets in ``__init__`` as
``self.widget`` and shows itself through ``_ipython_display_`` (just put it last in a
cell). The logic lives in plain methods — ``render``, ``set_latent``, ``set_seed``, … —
that tests and scripts call without a browser; the controls' observers call the same
methods.

A displayed widget's output also carries a PNG of its picture (``snapshot_png``) next to
the widget view: JupyterLab with a kernel shows the live widget, while GitHub, nbviewer
and nbconvert, which cannot run widgets, show the picture (`DisplayMixin`).

Frames are PNG bytes put into an ``ipywidgets.Image``: images come from the model's
traced ``generate`` (never ``model.predict``, ~10x slower for small batches) and are
encoded by Pillow with nearest-neighbour upscaling (`imgenlib.plotting.grid_png`), a few
milliseconds per frame instead of ~150 ms for a matplotlib redraw. This also keeps the
notebooks checkable by nbval, which cannot follow ``Output`` widgets or ``clear_output``.
"""

from __future__ import annotations

from imgenlib.widgets.explorer import LatentExplorer
from imgenlib.widgets.interpolator import Interpolator
from imgenlib.widgets.monitor import TrainingMonitor, curves_png
from imgenlib.widgets.prompt import PromptExplorer
from imgenlib.widgets.scrubber import DenoisingScrubber

__all__ = [
    "DenoisingScrubber",
    "Interpolator",
    "LatentExplorer",
    "PromptExplorer",
    "TrainingMonitor",
    "curves_png",
]
