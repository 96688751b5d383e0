"""Plumbing shared by the widgets: display, control syncing, latents, class options."""

from __future__ import annotations

import contextlib

import numpy as np

from imgenlib._validation import check_int


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
    """Show ``self.widget`` with a short, deterministic text/plain (stable under nbval)."""

    widget = None

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self):
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import display

        self._displayed = True
        if InteractiveShell.initialized():
            display(self._repr_mimebundle_(), raw=True)
        else:
            print(repr(self))

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
    generator, checked DDIM settings with η = 0 for a diffusion model."""
    from imgenlib.sampling_options import sampling_settings

    settings = sampling_settings(model, sampling)
    if settings is None:
        return {}
    if settings["sampler"] != "ddim" or settings["eta"] != 0:
        raise ValueError(
            "A latent widget maps each z to one image: use deterministic DDIM (sampler "
            f"'ddim', eta 0). Received: sampling={sampling!r}"
        )
    return settings
