"""`RunConfig`: the settings of one training run, validated on construction.

A frozen dataclass with a `RunConfig.tiny` preset for tests; vary it with
`dataclasses.replace`. `imgenlib.runs` re-exports it (with the constants below) next to the
functions that read run directories back, and `imgenlib.runs.check_same_run` compares its
`RunConfig.IDENTITY` fields with a run.json.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from imgenlib._validation import (
    check_background,
    check_choice,
    check_float,
    check_int,
    check_positive_int,
)

__all__ = ["KINDS", "LEARNING_RATE_FIELDS", "PRECISIONS", "SPLITS", "RunConfig"]

KINDS = ("gan", "vae", "diffusion")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
SPLITS = ("train", "test")
LEARNING_RATE_FIELDS = ("learning_rate", "g_learning_rate", "d_learning_rate")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The settings of one training run of `imgenlib.training.train`.

    Values are validated on construction (messages name the received value); `out` is
    stored as a `Path` and a folder given as `data` as a string, so equal settings give
    equal configs.

    The fields listed in `IDENTITY` define the run (the DP options, `PRIVACY`, among them):
    resuming a directory with other values for any of them is refused
    (`imgenlib.runs.check_same_run`). The others may change between sessions.

    Attributes:
        kind: ``"gan"`` or ``"vae"``.
        data: a dataset name (see `imgenlib.data.DATASETS`) or a folder of images.
        out: the run directory; training into it again resumes the run.
        preset: preset name (see `imgenlib.presets.available`); None: the dataset's
            recommended preset if there is one, for a folder one chosen from what it holds
            (`imgenlib.presets.choose_preset`), else ``"default"`` (`resolved` fills it in).
        epochs: number of epochs; None: the preset's (its epochs, or as many as its step
            budget needs: `planned`), or, with `max_minutes`, as many as the budget allows.
        max_minutes: wall-clock budget; training stops at the first step past it. Without
            `epochs` it is the only limit: the preset's length does not end training first.
        conditional: train a class-conditional model (needs a labelled dataset).
        text: train a text-conditional model (``"gan"``: `imgenlib.models.TextGAN`,
            ``"diffusion"``: `imgenlib.models.TextDiffusion`) on the
            captions of a captioned dataset (`imgenlib.data.splits.CAPTIONED`:
            ``shapes_captions``, ``emoji``): the model keeps a text encoder whose vocabulary
            is the training captions' words, and draws from prompts
            (``python -m imgenlib sample DIR --prompt "a red circle"``).
        text_encoder: ``"new"`` (a small encoder trained with the model) or ``"clip"``: the
            shipped Mini-CLIP's text encoder of the data (`imgenlib.load_pretrained_clip`),
            frozen, as Stable Diffusion and Imagen use a frozen pretrained text encoder.
        loss: GAN loss override (one of `imgenlib.losses.LOSSES`).
        batch_size: batch size; None: the preset's.
        seed: seeds data order, initialisation and sampling noise.
        image_size: resize images to this square size: 16, 28, 32 or 64, the sides the
            networks are built for; None: the preset's `imgenlib.presets.Preset.image_size`
            (what `resolved` fills in, so run.json records it and a resume keeps it), else
            the data's own size (folders: 64).
        background: colour under transparent pixels, for folders of images with alpha and
            for ``emoji``: ``"white"``, ``"black"`` or ``"R,G,B"``; None: the data's default
            (folders black, emoji white).
        style: ``emoji`` only: ``"twitter"`` (what None resolves to), ``"google"`` or
            ``"all"`` (both styles, each emoji twice).
        condition: what a conditional model is conditioned on (`conditional` only):
            ``"category"`` (what None resolves to: the dataset's classes), and for ``emoji``
            with ``style="all"``: ``"style"`` (2 classes: twitter 0, google 1) or
            ``"category_style"`` (20 classes: ``category * 2 + style``), so one model draws
            the same concept in either style (`imgenlib.styles`). The model's `class_names`
            (`imgenlib.data.label_names`) name the classes.
        learning_rate: sets every learning rate of the preset (a GAN's generator and
            discriminator alike). May differ between sessions: resuming after a divergence
            with a lower rate continues from the last good epoch with it.
        strategy: ``"default"`` (one device), ``"mirrored"`` or ``"multiworker"`` (see
            `imgenlib.distribute.make_strategy`); ``"multiworker"`` must be chosen before
            TensorFlow runs any operation in the process.
        deterministic: turn on TensorFlow's op determinism (for the rest of the process):
            runs on one machine are then bit-identical; it silently disables XLA.
        eval_every: measure KID and FID (`imgenlib.monitoring.QualityMonitor`, `eval_n`
            samples) every this many epochs and keep the lowest-FID model in
            ``DIR/best.keras``. Needs a dataset with a shipped feature extractor
            (`imgenlib.features.CLASSIFIERS`).
        patience: with `eval_every`, stop once FID has not improved for this many epochs
            (counted within a session).
        eval_n: samples per quality evaluation (FID is biased upwards at small n: compare
            only FIDs measured with the same n).
        precision: ``"auto"`` (default: the fast one the hardware computes natively,
            else float32, and float32 for VAEs: `imgenlib.precision.choose_precision`;
            `train` prints and records the choice and why), ``"float32"``,
            ``"mixed_bfloat16"`` or ``"mixed_float16"`` (float16 with dynamic loss scaling,
            `imgenlib.precision.use_loss_scaling`: GANs and diffusion models, not private
            runs).
            bfloat16:
            layers compute in bfloat16 with float32 variables and losses (a diffusion
            U-Net keeps its input convolution, time embedding, attention and output
            layers in float32: `imgenlib.models.unet.build_unet`; its noising, loss, EMA
            and sampling chain are float32 either way). Faster only on hardware with
            bfloat16 units: measure first (``benchmarks/options.py``, notebook 07;
            ``benchmarks/diffusion_precision.py`` compares diffusion quality at equal
            time). The saved model keeps the policy. A VAE's networks compute in bfloat16
            and its ELBO (thousands of per-pixel terms, too many for bfloat16's 8-bit
            mantissa) in float32; float16 is refused for VAEs (not loss-scaled).
        tensorboard: also write TensorBoard event files to ``DIR/logs`` (scalars, a sample
            grid per epoch, these settings: `imgenlib.summaries.TensorBoardLogger`); view
            with ``tensorboard --logdir DIR/logs``. Off by default: the files grow with
            every epoch and most runs are read from ``history.json`` and ``samples/``.
        dp_epsilon: train with DP-SGD (`imgenlib.private_runs`) within this ε budget: the
            noise multiplier is calibrated for the planned steps (`epochs`, which must then
            be known: not `max_minutes` alone) unless `dp_sigma` is given, and training
            stops before a step would spend more. GANs (the discriminator) and VAEs only.
        dp_delta: the δ of the guarantee; None: `imgenlib.privacy_accounting.default_delta`
            of the training set (1e-5 below 100,000 images).
        dp_clip: the per-example clip norm C; None: 1.0 for a private run.
        dp_sigma: the noise multiplier σ, instead of calibrating it; alone (no
            `dp_epsilon`) the run is private with no budget, and the ε spent is reported.
        dp_accountant: ``"rdp"`` (what None resolves to in a private run) or ``"pld"``.

    Example::

        config = RunConfig.tiny("runs/smoke")
        train(dataclasses.replace(config, epochs=3, loss="hinge"))
    """

    PRIVACY: ClassVar[tuple[str, ...]] = (
        "dp_epsilon", "dp_delta", "dp_clip", "dp_sigma", "dp_accountant",
    )  # fmt: skip
    IDENTITY: ClassVar[tuple[str, ...]] = (
        "kind", "data", "preset", "conditional", "loss", "batch_size", "seed", "image_size",
        "background", "style", "condition", "text", "text_encoder", *PRIVACY,
    )  # fmt: skip
    TEXT_ENCODERS: ClassVar[tuple[str, ...]] = ("new", "clip")

    kind: str
    data: str
    out: Path
    preset: str | None = None
    epochs: int | None = None
    max_minutes: float | None = None
    conditional: bool = False
    text: bool = False
    text_encoder: str = "new"
    loss: str | None = None
    batch_size: int | None = None
    seed: int = 0
    image_size: int | None = None
    background: str | None = None
    style: str | None = None
    condition: str | None = None
    learning_rate: float | None = None
    strategy: str = "default"
    deterministic: bool = False
    eval_every: int | None = None
    patience: int | None = None
    eval_n: int = 2000
    precision: str = "auto"
    tensorboard: bool = False
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    dp_clip: float | None = None
    dp_sigma: float | None = None
    dp_accountant: str | None = None

    def __post_init__(self):
        check_choice("model kind", self.kind, KINDS)
        for name in ("data", "out"):
            value = getattr(self, name)
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError(f"{name} must be a str or a path. Received: {name}={value!r}")
        object.__setattr__(self, "data", os.fspath(self.data))
        object.__setattr__(self, "out", Path(self.out))
        for name in ("conditional", "text", "deterministic", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool. Received: {name}={getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "image_size", "eval_every", "patience"):
            self._set_optional(name, check_positive_int)
        for name in ("max_minutes", "learning_rate"):
            self._set_optional(name, lambda n, v: check_float(n, v, minimum=0, min_inclusive=False))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))
        object.__setattr__(self, "eval_n", check_int("eval_n", self.eval_n, minimum=10))
        if self.background is not None:
            check_background(self.background)
        from imgenlib.data.emoji import check_style_and_condition

        check_style_and_condition(self.data, self.conditional, self.style, self.condition)
        self._check_choices()
        self._check_combinations()
        if self.private:
            from imgenlib.private_runs import check_private_run

            for name, value in check_private_run(self).items():
                object.__setattr__(self, name, value)
        else:
            for name in self.PRIVACY:
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} needs dp_epsilon or dp_sigma (a private run). "
                        f"Received: {name}={getattr(self, name)!r}"
                    )

    @property
    def private(self) -> bool:
        """Whether the run trains with DP-SGD (`dp_epsilon` or `dp_sigma` given)."""
        return self.dp_epsilon is not None or self.dp_sigma is not None

    def _set_optional(self, name, check):
        value = getattr(self, name)
        if value is not None:
            object.__setattr__(self, name, check(name, value))

    def _check_choices(self):
        from imgenlib import presets
        from imgenlib.distribute import STRATEGIES
        from imgenlib.losses import LOSSES
        from imgenlib.models.blocks import check_image_side

        if self.preset is not None:
            presets.get(self.kind, self.preset)
        if self.image_size is not None:
            preset = "a" if self.preset is None else f"the {self.preset!r}"
            check_image_side(self.image_size, f"{preset} {self.kind}")
        if self.loss is not None:
            check_choice("loss", self.loss, LOSSES)
        check_choice("strategy", self.strategy, STRATEGIES)
        check_choice("precision", self.precision, PRECISIONS)

    def _check_combinations(self):
        if self.patience is not None and self.eval_every is None:
            raise ValueError(
                "patience needs eval_every (early stopping watches FID). "
                f"Received: patience={self.patience}"
            )
        if self.precision == "mixed_float16" and self.kind == "vae":
            raise ValueError(
                "precision='mixed_float16' is for GANs and diffusion models only (a VAE's "
                "per-pixel likelihoods are not loss-scaled; mixed_bfloat16 trains a VAE with "
                f"a float32 ELBO). Received: precision={self.precision!r} for a {self.kind}"
            )
        if self.precision == "mixed_float16" and self.private:
            raise ValueError(
                "precision='mixed_float16' cannot train privately: DP-SGD's per-example "
                "gradients are not loss-scaled (use float32 or mixed_bfloat16). "
                f"Received: precision={self.precision!r} with dp_epsilon={self.dp_epsilon!r}, "
                f"dp_sigma={self.dp_sigma!r}"
            )
        check_choice("text_encoder", self.text_encoder, self.TEXT_ENCODERS)
        if self.text:
            self._check_text()
        elif self.text_encoder != "new":
            raise ValueError(
                f"text_encoder applies to text runs (text=True). Received: "
                f"text_encoder={self.text_encoder!r} with text=False"
            )
        if self.loss is not None and self.kind != "gan":
            raise ValueError(
                f"loss applies to GANs only. Received: loss={self.loss!r} for a {self.kind}"
            )
        if self.eval_every is not None:
            from imgenlib.features import CLASSIFIERS

            if self.data not in CLASSIFIERS:
                raise ValueError(
                    "eval_every measures FID with a shipped feature extractor, and there is one "
                    f"for {', '.join(CLASSIFIERS)} only. Received: data={self.data!r}"
                )

    def _check_text(self):
        from imgenlib.data.splits import CAPTIONED

        refused = [
            (self.kind == "vae", "a vae (text-conditional models: GANs and diffusion)"),
            (self.data not in CAPTIONED, f"data={self.data!r} (captioned datasets: "
             f"{', '.join(CAPTIONED)})"),
            (self.conditional, "conditional=True (the caption is the condition)"),
            (self.private, "a private run (text-conditional models do not support DP-SGD)"),
            (self.loss == "wasserstein_gp", "loss='wasserstein_gp' (its gradient penalty "
             "is not defined for the matching-aware discriminator)"),
            (self.eval_every is not None, "eval_every (FID of text runs is not measured "
             "during training; imgenlib.prompt_accuracy reads the samples instead)"),
        ]  # fmt: skip
        for refuse, why in refused:
            if refuse:
                raise ValueError(f"text=True cannot be combined with {why}.")

    @classmethod
    def tiny(cls, out) -> RunConfig:
        """A one-epoch GAN on the embedded digits with the smallest preset, for tests."""
        return cls(kind="gan", data="digits", out=out, preset="tiny", epochs=1)

    def resolved(self) -> RunConfig:
        """This config with `preset`, `batch_size`, `epochs` and `image_size` from the preset.

        The preset defaults to the data's recommended one (`imgenlib.presets.choose_preset`);
        `style` and `condition` get their defaults (``emoji``: ``"twitter"``; conditional:
        ``"category"``). `epochs` stays None when `max_minutes` is given without it (train
        until the budget) and for a preset with a step budget (`planned` fills it in).
        """
        from imgenlib import presets
        from imgenlib.data.emoji import resolved_style_and_condition

        name = self.preset or presets.default_preset(self.kind, self.data, text=self.text)
        chosen = presets.get(self.kind, name)
        epochs = self.epochs
        if epochs is None and self.max_minutes is None:
            epochs = chosen.epochs
        private = {}
        if self.private:
            private = {"dp_clip": self.dp_clip or 1.0, "dp_accountant": self.dp_accountant or "rdp"}
        return dataclasses.replace(
            self,
            preset=name,
            batch_size=self.batch_size or chosen.batch_size,
            image_size=self.image_size or chosen.image_size,
            epochs=epochs,
            **private,
            **resolved_style_and_condition(self.data, self.conditional, self.style, self.condition),
        )

    def planned(self, train_images: int) -> RunConfig:
        """The `resolved` config for `train_images` images: a step budget becomes epochs.

        `epochs` stays None only when `max_minutes` alone bounds the run. Resuming
        recomputes the same epochs from the same data, so the plan does not change.
        """
        from imgenlib import presets

        config = self.resolved()
        if config.epochs is not None or config.max_minutes is not None:
            return config
        chosen = presets.get(config.kind, config.preset)
        return dataclasses.replace(
            config, epochs=chosen.epochs_for(train_images, config.batch_size)
        )

    def model_config(self):
        """The preset's model config with this run's `loss` and `learning_rate` applied."""
        from imgenlib import presets

        config = presets.get(self.kind, self.resolved().preset).model
        if self.loss is not None:
            config = dataclasses.replace(config, loss=self.loss)
        if self.learning_rate is not None:
            fields = [f.name for f in dataclasses.fields(config) if f.name in LEARNING_RATE_FIELDS]
            if not fields:
                raise ValueError(f"{type(config).__name__} has no learning rate to set.")
            config = dataclasses.replace(config, **dict.fromkeys(fields, self.learning_rate))
        return config

    def identity(self) -> dict:
        """The values of the `IDENTITY` fields (call it on a `resolved` config)."""
        return {name: getattr(self, name) for name in self.IDENTITY}

    def to_json(self) -> dict:
        """Every field but `out` (the record lives inside it), as JSON-ready values."""
        record = dataclasses.asdict(self)
        del record["out"]
        return record

    @classmethod
    def from_json(cls, record: dict, out) -> RunConfig:
        """The config recorded in a run directory `out` by `to_json` (missing fields: defaults).

        Records written before `RunConfig` existed hold only the `IDENTITY` fields; they load.
        """
        known = {f.name for f in dataclasses.fields(cls)} - {"out"}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ValueError(
                f"run.json in {str(out)!r} has unknown settings {unknown}; it was written by "
                "another version of imgenlib."
            )
        return cls(**record, out=out)
