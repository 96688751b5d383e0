"""`PromptExplorer`: type a caption, see what a text-conditional model draws for it."""

from __future__ import annotations

import inspect
import time
import warnings

from imgenlib._validation import check_float, check_int, check_positive_int
from imgenlib.plotting import grid_png
from imgenlib.widgets._common import DisplayMixin, widgets_module

__all__ = ["PromptExplorer"]


class PromptExplorer(DisplayMixin):
    """A text box, a seed and (for models that take one) a guidance scale; the frame shows
    `n` images of the prompt, one per latent drawn from the seed.

    Every change calls the model's traced ``generate(prompt, n=n, seed=seed)`` once and
    encodes the images with Pillow; the status line gives the time that took (the frame
    time), so a reader sees at once whether the model answers as they type (a GAN: one
    network call) or needs a moment (a diffusion model: one call per sampling step).
    A prompt the model cannot read (empty, or none of its words known) leaves the last
    picture in place and shows the model's message, which lists the words it knows;
    unknown words in a partly known prompt are named in the status line.

    Args:
        model: a text-conditional model whose ``generate(prompts, n=, seed=)`` takes
            captions (`imgenlib.models.text_gan.TextGAN`).
        prompt: the first caption shown.
        n: images per frame.
        seed: seed of the latents; the same prompt and seed give the same picture.
        guidance: the guidance scale, for models whose ``generate`` takes one (diffusion);
            None: the model's default (and no slider).
        continuous_update: regenerate on every keystroke (True) or when Enter is pressed.
        scale: pixel upscaling of the frame.

    Example:
        >>> explorer = PromptExplorer(model, "a small red circle in the top left")  # doctest: +SKIP
        >>> explorer  # in a notebook cell: shows the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        prompt: str,
        *,
        n: int = 8,
        seed: int = 0,
        guidance: float | None = None,
        continuous_update: bool = True,
        scale: int = 3,
    ):
        generate = getattr(model, "generate", None)
        if not callable(generate) or getattr(model, "text_encoder", None) is None:
            raise TypeError(
                "PromptExplorer needs a text-conditional model (generate(prompts, ...) and a "
                f"text_encoder). Received: model={type(model).__name__}"
            )
        takes_guidance = "guidance" in inspect.signature(generate).parameters
        if guidance is not None and not takes_guidance:
            raise ValueError(
                f"guidance is for models whose generate takes one; {type(model).__name__}'s "
                f"does not. Received: guidance={guidance!r}"
            )
        self.model = model
        self.n = check_positive_int("n", n)
        self.scale = check_positive_int("scale", scale)
        self.seed = check_int("seed", seed, minimum=0)
        self.guidance = None if guidance is None else check_float("guidance", guidance, minimum=0)
        self.prompt = None
        self.png = b""
        self.message = ""
        self.last_frame_ms = float("nan")
        self._syncing = False

        widgets = widgets_module()
        self.text = widgets.Text(
            value=prompt, description="prompt", continuous_update=continuous_update
        )
        self.text.observe(self._observer(self.set_prompt), names="value")
        self.seed_slider = widgets.IntSlider(value=self.seed, min=0, max=999, description="seed")
        self.seed_slider.observe(self._observer(self.set_seed), names="value")
        controls = [self.text, self.seed_slider]
        self.guidance_slider = None
        if takes_guidance:
            self.guidance_slider = widgets.FloatSlider(
                value=1.0 if guidance is None else self.guidance, min=0.0, max=10.0,
                step=0.5, description="guidance",
            )  # fmt: skip
            self.guidance_slider.observe(self._observer(self.set_guidance), names="value")
            controls.append(self.guidance_slider)
        self.image = widgets.Image(format="png")
        self.status = widgets.Label()
        self.widget = widgets.VBox([*controls, self.image, self.status])
        self.set_prompt(prompt)

    def __repr__(self):
        return f"PromptExplorer(prompt={self.prompt!r}, seed={self.seed}, n={self.n})"

    def images(self, prompt: str | None = None):
        """The frame's images (n, H, W, C) for `prompt` (default: the current one).

        Raises:
            ValueError: a prompt the model cannot read (the model's message).
        """
        prompt = self.prompt if prompt is None else prompt
        options = {} if self.guidance is None else {"guidance": self.guidance}
        return self.model.generate(prompt, n=self.n, seed=self.seed, **options)

    def set_prompt(self, prompt: str) -> bytes:
        """Draw `prompt` (as typing into the text box does); returns the frame's PNG bytes.

        A prompt the model cannot read keeps the previous picture and shows why.
        """
        with self._quiet():
            self.text.value = prompt
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                images = self.images(prompt)
            except (TypeError, ValueError) as error:
                self.message = str(error)
                self.status.value = f"not drawn: {self.message}"
                return self.png
        self.png = grid_png(images, ncols=self.n, scale=self.scale)
        self.last_frame_ms = 1000 * (time.perf_counter() - start)
        self.prompt = prompt
        self.message = " ".join(
            str(w.message) for w in caught if issubclass(w.category, UserWarning)
        )
        self.image.value = self.png
        self.status.value = (
            f"{self.n} images of {prompt!r}, seed {self.seed}: frame {self.last_frame_ms:.0f} ms"
            + (f"; {self.message}" if self.message else "")
        )
        return self.png

    def set_seed(self, seed: int) -> bytes:
        """Draw the current prompt from the latents of `seed`."""
        self.seed = check_int("seed", seed, minimum=0)
        with self._quiet():
            self.seed_slider.value = self.seed
        return self._redraw()

    def set_guidance(self, guidance: float) -> bytes:
        """Draw the current prompt at guidance scale `guidance` (models that take one)."""
        if self.guidance_slider is None:
            raise ValueError(
                f"guidance is for models whose generate takes one. Received: guidance={guidance!r}"
            )
        self.guidance = check_float("guidance", guidance, minimum=0)
        with self._quiet():
            self.guidance_slider.value = self.guidance
        return self._redraw()

    def _redraw(self) -> bytes:
        return self.png if self.prompt is None else self.set_prompt(self.prompt)
