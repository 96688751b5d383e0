"""Text-conditional diffusion: a `Diffusion` model whose U-Net reads a caption's text vector.

`TextDiffusion` is a `imgenlib.models.diffusion.Diffusion` whose network
(``build_unet(..., text_dim=D)``) takes ``[x_t, t, text vector]``: the pooled vector of an
`imgenlib.text.TextEncoder` kept inside the model (vocabulary from the training captions,
so a saved model reads raw prompts), projected by a Dense layer and added to the time
embedding, as Imagen adds its pooled text embedding (Saharia et al. 2022,
https://arxiv.org/abs/2205.11487). It trains on ``(images, captions)`` batches
(`imgenlib.contrastive.caption_dataset`) with Diffusion's loss.

**Classifier-free guidance** (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598):
training replaces a fraction ``label_dropout`` of the batch's text vectors by the "no
text" condition, drawn from a stateless RNG keyed by (seed,
``NoiseSalt.DIFFUSION_LABEL_DROP``, optimiser step), so a resumed run drops the same
captions. "No text" is the **zero vector**, not a learned null vector: it is exactly what
the encoder gives an empty caption (its pooled vector is a masked mean, `imgenlib.text`),
real captions stay far from it (means of LayerNorm'd states: norm 5.4 on average for
D = 32, measured after 384 training steps), and the Dense projection's bias already is a
learned "no text" embedding, so a learned null vector would only add a redundant shift.
``generate(prompts=None)`` samples the unconditional model; ``guidance`` mixes it with the
conditional one, ε̂ = ε̂(x, ∅) + w · (ε̂(x, t) − ε̂(x, ∅)); w = 0 and w = 1 evaluate only
one of them, so w = 0 gives exactly ``generate(None, ...)``'s images.

**The text encoder** is trained by the denoiser's loss (``text_training="denoiser"``, the
default) or left as initialised (``"frozen"``). When trained, the model keeps an EMA copy
of it next to the U-Net's, and samples with the two copies (the EMA U-Net was trained on
the encoder's recent vectors, not on its last ones).

**Cross-attention** (``build_text_diffusion(..., cross_attention=True)``, off by default):
the U-Net also reads the caption's token states and padding mask
(`imgenlib.models.cross_attention`: after every residual block at sides ≤ 16 and in the
middle), as Stable Diffusion and Imagen do, so it could put things where the caption says;
the pooled vector's path stays. The condition passed down the sampler chains is then
``(pooled, token states, mask)``, all zeros for "no text" (an all-masked caption adds
exactly zero in every cross-attention block), so guidance 0 is still exactly the
unconditional model. Measured with ``python benchmarks/text_diffusion_learning.py
--epochs 20 [--cross-attention] [--seed 1]`` (below; 300 prompts, guidance 1 / 4, the two
arms side by side on the shared CPU): seed 0 colour 0.26 / 0.31 → 0.26 / 0.43 and position
0.13 / 0.16 → 0.08 / 0.07; seed 1 colour 0.24 / 0.34 → 0.18 / 0.33 and position 0.09 /
0.08 → 0.08 / 0.08 (chance 0.17 and 0.11); 174–187 → 266–273 CPU s of training. At this
budget it does not teach position (neither arm leaves chance) and costs 1.5× the time.
With ``text_tokens="words"`` the token states are context-free word vectors
(`imgenlib.models.text_condition`), which is what made held-out colour–shape pairs come out
right (`imgenlib.models.diffusion_words` has the measurements).

How fast it learns: `imgenlib.models.diffusion_words` (its last section).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imgenlib import text as textlib  # a module: imgenlib.text may be importing keras now
from imgenlib._validation import check_choice, check_float
from imgenlib.distribute import stateless_uniform
from imgenlib.models.base import NoiseSalt
from imgenlib.models.conditions import text_encoder_for
from imgenlib.models.diffusion import Diffusion
from imgenlib.models.diffusion_config import DiffusionConfig
from imgenlib.models.diffusion_words import DiffusionWordLoss
from imgenlib.models.ema import update_ema
from imgenlib.models.schedules import SCHEDULES
from imgenlib.models.text_condition import TextCondition
from imgenlib.models.text_sampling import TextDiffusionSampler
from imgenlib.models.unet import build_unet, denoiser_image_shape
from imgenlib.optimizers import optimizer_from_config

__all__ = ["TEXT_TRAINING", "TextDiffusion", "TextDiffusionSampler", "build_text_diffusion"]

TEXT_TRAINING = ("denoiser", "frozen")


@keras.saving.register_keras_serializable(package="imgenlib")
class TextDiffusion(DiffusionWordLoss, TextCondition, Diffusion):
    """A diffusion model conditioned on captions, with classifier-free guidance.

    Args:
        network: model mapping ``[x_t, timesteps, text vector]`` to a tensor of x_t's shape
            (``build_unet(..., text_dim=text_encoder.embed_dim)``), or ``[x_t, timesteps,
            text vector, token states, token mask]`` (``cross_attention=True``).
        text_encoder: a `imgenlib.text.TextEncoder`; its pooled vector is the condition.
        text_training: ``"denoiser"`` (the optimiser also trains the encoder, on the
            denoising loss) or ``"frozen"`` (the encoder is never updated).
        word_loss: weight of the *word classifier* (0, default: none): a small CNN trained
            on the real images to name their captions' words, whose error on the denoiser's
            x̂_0 (times ᾱ_t) joins the denoiser's loss (`imgenlib.models.diffusion_words`).
        colour_words: the caption words that name colours (default none): the word
            classifier then reads them from the image's colours and every other word from
            its colour-blind silhouette (`imgenlib.models.diffusion_words`).
        word_dropout: the probability that training drops each word of a kept caption
            (0, default: none), so the model also learns what a word means alone ("red",
            "circle"), not only inside the full captions it saw (`drop_words`).
        text_pooling: ``"encoder"`` (default): the condition is the encoder's pooled vector
            (the transformer's states, averaged); ``"words"``: the mean of the caption's word
            vectors (the encoder's token embeddings: no positions, no transformer), a bag
            of words whose held-out combinations are sums of seen parts.
        text_tokens: the token states a cross-attention U-Net reads: ``"encoder"``
            (default), the transformer's; ``"words"``, word plus position vectors, which
            compose held-out pairs (`imgenlib.models.text_condition`).
        **kwargs: `Diffusion` arguments (``noise_schedule``, ``timesteps``,
            ``prediction``, ``ema_decay``, ``label_dropout``: the fraction of captions
            dropped to "no text", ``seed``). Not supported: ``num_classes``.

    Raises:
        TypeError, ValueError: bad network, encoder or options.

    Example:
        >>> data = load_shapes_captions("train", n=512, image_size=16, two_object_fraction=0)
        >>> model = build_text_diffusion(DiffusionConfig.tiny(), (16, 16, 3), data.captions)
        >>> model.fit(caption_dataset(data.images, data.captions, 64))  # doctest: +SKIP
        >>> images = model.generate("a small red circle in the top left", n=4, seed=0,
        ...                         steps=20, guidance=3.0)
    """

    SAMPLER_CLASS = TextDiffusionSampler  # conditions are token ids

    NETWORKS = ("network", "text_encoder")

    def __init__(self, network, text_encoder, *, text_training: str = "denoiser",
                 word_loss: float = 0.0, word_dropout: float = 0.0,
                 text_pooling: str = "encoder", text_tokens: str = "encoder", colour_words=(),
                 **kwargs):  # fmt: skip
        if kwargs.get("num_classes") is not None:
            raise ValueError(
                f"A TextDiffusion does not take num_classes. Received: num_classes={kwargs['num_classes']!r}"
            )
        super().__init__(network, **kwargs)
        if not isinstance(text_encoder, textlib.TextEncoder):
            raise TypeError(
                f"text_encoder must be an imgenlib.text.TextEncoder. Received: {text_encoder!r}"
            )
        if not text_encoder.built:
            text_encoder.build()
        for text_input in network.inputs[2:4]:
            if (size := text_input.shape[-1]) != text_encoder.embed_dim:
                raise ValueError(
                    f"The network's text input has size {size}, the text encoder's vector "
                    f"{text_encoder.embed_dim}; they must match (input {text_input.name!r})."
                )
        self.set_networks(text_encoder=text_encoder)
        self.text_training = check_choice("text_training", text_training, TEXT_TRAINING)
        self.ema_text_encoder = None
        if self.ema_decay > 0 and self.text_training == "denoiser":
            copy = textlib.TextEncoder.from_config(text_encoder.get_config())
            copy.build()
            copy.set_weights(text_encoder.get_weights())
            copy.trainable = False
            self.ema_text_encoder = copy
        self._init_word_classifier(word_loss, colour_words)
        self.word_dropout = check_float("word_dropout", word_dropout, minimum=0, maximum=1, max_inclusive=False)  # fmt: skip
        self._init_text_condition(text_pooling, text_tokens)

    @property
    def metrics(self):
        return [*super().metrics, *self.word_trackers.values()]

    def denoiser_shape(self, network) -> tuple:
        third = network.inputs[2].shape[1:] if len(network.inputs) in (3, 5) else ()
        tokens = len(network.inputs) == 5
        return denoiser_image_shape(network, text_dim=(third or (1,))[-1] or 1, text_tokens=tokens)

    @property
    def cross_attention(self) -> bool:
        """Whether the network also reads the token states (``build_unet(cross_attention=True)``)."""
        return len(self.network.inputs) == 5

    def denoiser_variables(self) -> list:
        """What the denoising loss trains: the U-Net and, unless frozen, the text encoder."""
        variables = list(self.network.trainable_variables)
        if self.text_training == "denoiser":
            variables += self.text_encoder.trainable_variables
        return variables

    def optimizer_variables(self) -> dict:
        return {"optimizer": self.denoiser_variables() + self.word_classifier_variables()}

    def sampling_text_encoder(self):
        """The encoder that samples: the EMA copy when there is one."""
        return self.ema_text_encoder if self.ema_text_encoder is not None else self.text_encoder

    # --- training ---------------------------------------------------------------------

    def unpack_batch(self, data):
        """``(images, captions)`` from a batch → (float32 images, string captions)."""
        images, captions, _ = keras.utils.unpack_x_y_sample_weight(data)
        if captions is None or captions.dtype != tf.string:
            received = "none" if captions is None else f"dtype {captions.dtype.name}"
            raise ValueError(
                "A TextDiffusion needs (images, captions) batches with string captions. "
                f"Received captions: {received}."
            )
        return tf.cast(images, tf.float32), captions

    def caption_kept(self, batch, counter):
        """Which of `batch` captions step `counter` keeps (bool, (batch,)); the others,
        a fraction ``label_dropout``, become "no text"."""
        seed = self.noise_seed(NoiseSalt.DIFFUSION_LABEL_DROP, counter)
        return stateless_uniform([batch], seed) >= self.label_dropout

    def training_text(self, token_ids, counter, evaluation=False, training=False, kept=None):
        """The text condition step `counter` trains on (`text_condition`): dropped captions
        zeroed (not when evaluating; `kept`: that step's `caption_kept`, if already drawn);
        no gradient into a frozen encoder."""
        learn = training and self.text_training == "denoiser"
        if training and not evaluation and self.word_dropout:
            token_ids = self.drop_words(token_ids, counter)
        text = self.text_condition(token_ids, training=learn)
        if not learn:
            text = tf.nest.map_structure(tf.stop_gradient, text)
        if evaluation or self.label_dropout == 0:
            return text
        if kept is None:
            kept = self.caption_kept(tf.shape(token_ids)[0], counter)

        def drop(value):
            rows = tf.reshape(kept, [-1] + [1] * (value.shape.rank - 1))
            return tf.where(rows, value, tf.zeros_like(value))

        return tf.nest.map_structure(drop, text)

    def train_step(self, data):
        images, captions = self.unpack_batch(data)
        token_ids = self.text_encoder.tokenizer(captions)
        step = self.optimizer.iterations
        x_t, t, _, target = self.training_inputs(images, None, step)
        denoiser, classifier = self.denoiser_variables(), self.word_classifier_variables()
        kept = self.caption_kept(tf.shape(images)[0], step)
        with tf.GradientTape() as tape:
            text = self.training_text(token_ids, step, training=True, kept=kept)
            prediction = self.predict_raw(x_t, t, text, training=True)
            per_example = self.per_example_loss(x_t, t, text, target, True, prediction)
            total = per_example
            if classifier:
                total += self.word_x0_term(x_t, t, prediction, token_ids, kept)
            loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(total))
        grads = tape.gradient(loss, denoiser)  # never into the classifier: it would learn x̂_0
        if classifier:
            with tf.GradientTape() as tape:
                real = self.word_real_loss(images, token_ids)
                loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(real))
            grads += tape.gradient(loss, classifier)
        self.optimizer.apply_gradients(zip(grads, denoiser + classifier, strict=True))
        step = self.optimizer.iterations
        if self.ema_network is not None:
            update_ema(self.ema_network, self.network, self.ema_decay, step)
        if self.ema_text_encoder is not None:
            update_ema(self.ema_text_encoder, self.text_encoder, self.ema_decay, step)
        self.loss_tracker.update_state(per_example)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """Evaluate the loss on noise fixed per batch position, every caption kept."""
        images, captions = self.unpack_batch(data)
        x_t, t, _, target = self.training_inputs(images, None, 0, evaluation=True)
        text = self.training_text(self.text_encoder.tokenizer(captions), 0, evaluation=True)
        self.loss_tracker.update_state(self.per_example_loss(x_t, t, text, target, False))
        return {m.name: m.result() for m in self.metrics}

    # --- sampling ---------------------------------------------------------------------

    def generate(self, prompts=None, n: int | None = None, z=None, seed: int | None = None, *,
                 steps: int | None = None, eta: float = 0.0, guidance: float = 1.0,
                 sampler: str = "ddim", clip: bool = True, batch_size: int = 256,
                 level: int | None = None, spacing: str = "uniform",
                 precision: str | None = None):  # fmt: skip
        """Generate images of `prompts` by the reverse chain from x_T = z (drawn from `seed`).

        Args:
            prompts: a string, or a list of strings: one prompt for all images or one per
                image. None: "no text" for every image (the unconditional model).
            n: number of images; default one per prompt (or ``len(z)``).
            z: initial noise x_T, flattened: (n, H·W·C); overrides `seed`.
            seed: seed of z and of the sampler's noise; the same seed, prompts and
                `batch_size` give identical images. None: random.
            guidance: classifier-free guidance scale w (0: exactly the unconditional
                model, 1: the conditional one, > 1 stronger).
            steps, eta, sampler, clip, batch_size, level, spacing, precision: as in
                `Diffusion.generate` (`precision`: the U-Net's arithmetic; the text
                encoder keeps its own).

        Returns:
            float32 array (n, H, W, C) in [-1, 1] (with `clip`).

        Raises:
            ValueError / TypeError: bad prompts (as `TextGAN.generate`: the message names
                the value and the words the model knows), n, z, steps, eta, guidance,
                sampler, level, spacing or precision.
        """
        chain = self.diffusion_sampler(sampler, clip, precision)
        x_T, token_ids, settings, key = chain.prompt_inputs(
            prompts, n, z, seed, steps, eta, guidance, level, spacing
        )
        return chain.run(x_T, token_ids, *settings, key, batch_size)

    def trajectory(self, prompts=None, n: int | None = None, z=None, seed: int | None = None,
                   *, steps: int | None = None, eta: float = 0.0, guidance: float = 1.0,
                   sampler: str = "ddim", clip: bool = True, level: int | None = None,
                   spacing: str = "uniform") -> dict:  # fmt: skip
        """Every step of `generate` for the same arguments (`Diffusion.trajectory`'s dict)."""
        chain = self.diffusion_sampler(sampler, clip)
        x_T, token_ids, settings, key = chain.prompt_inputs(
            prompts, n, z, seed, steps, eta, guidance, level, spacing
        )
        images, xs, x0s = chain.trajectory(x_T, token_ids, *settings, key)
        return {"x_t": xs, "x0": x0s, "timesteps": settings[0], "images": images}

    def invert(self, images, prompts=None, *, steps: int | None = None,
               level: int | None = None, batch_size: int = 256):  # fmt: skip
        """DDIM inversion of `images` under `prompts` (None: "no text"), as `Diffusion.invert`."""
        images, _ = self.check_image_inputs(images, None)
        chain = self.diffusion_sampler("ddim", clip=False)
        level = self.inversion_level if level is None else level
        timesteps = chain.levels(steps, level)
        _, token_ids, _, _ = chain.prompt_inputs(
            prompts, len(images), None, 0, steps, 0.0, 1.0, level, "uniform"
        )
        x = chain.invert(images, token_ids, timesteps, batch_size)
        return x.reshape(len(images), self.latent_dim)

    # --- saving -----------------------------------------------------------------------

    def get_config(self):
        config = {**super().get_config(), "text_training": self.text_training, **self.word_config()}
        if self.word_dropout:  # absent when off: older saved models load unchanged
            config["word_dropout"] = self.word_dropout
        config.update(self.text_condition_config())
        return config


def build_text_diffusion(
    config: DiffusionConfig,
    image_shape,
    captions=None,
    *,
    text_encoder=None,
    text_dim: int = 32,
    num_heads: int = 2,
    num_layers: int = 1,
    text_training: str = "denoiser",
    cross_attention: bool | None = None,
    word_loss: float | None = None,
    seed: int = 0,
) -> TextDiffusion:
    """Build and compile a `TextDiffusion` for images of `image_shape` from a `DiffusionConfig`.

    Args:
        config: the diffusion settings (``label_dropout`` is the caption dropout).
        image_shape: (H, W, C), H = W in 16, 28, 32, 64; C in 1, 3.
        captions: the training captions, whose words become the encoder's vocabulary.
        text_encoder: a ready `TextEncoder` instead of `captions` (e.g. a pretrained one
            with ``text_training="frozen"``).
        text_dim, num_heads, num_layers: the new encoder's width, heads and blocks.
        text_training: see `TextDiffusion`.
        cross_attention: the U-Net also attends to the caption's token states
            (``build_unet(cross_attention=True)``, `imgenlib.models.cross_attention`);
            None: ``config.cross_attention``.
        word_loss: see `TextDiffusion`; None: ``config.word_loss``.
        seed: seed of the training noise (weights follow Keras' global seed).

    Returns:
        A compiled `TextDiffusion`, ready for ``fit`` on ``(images, captions)`` batches.

    Raises:
        TypeError, ValueError: bad config, neither or both of `captions` and `text_encoder`.
    """
    if not isinstance(config, DiffusionConfig):
        raise TypeError(f"config must be a DiffusionConfig. Received: config={config!r}")
    check_choice("noise_schedule", config.noise_schedule, SCHEDULES)
    text_encoder = text_encoder_for(
        captions, text_encoder, embed_dim=text_dim, num_heads=num_heads, num_layers=num_layers
    )
    network = build_unet(
        image_shape, widths=config.widths, blocks_per_level=config.blocks_per_level,
        attention=config.attention, heads=config.heads, dropout=config.dropout,
        embedding_dim=config.embedding_dim, text_dim=text_encoder.embed_dim,
        cross_attention=config.cross_attention if cross_attention is None else cross_attention,
        text_map=config.text_map,
        scale_shift=config.scale_shift, patch=config.patch,
    )  # fmt: skip
    model = TextDiffusion(
        network, text_encoder, text_training=text_training, noise_schedule=config.noise_schedule,
        timesteps=config.timesteps, prediction=config.prediction, ema_decay=config.ema_decay,
        label_dropout=config.label_dropout, min_snr_gamma=config.min_snr_gamma, seed=seed,
        word_loss=config.word_loss if word_loss is None else word_loss,
        word_dropout=config.word_dropout, text_pooling=config.text_pooling,
        text_tokens=config.text_tokens, colour_words=config.colour_words,
    )  # fmt: skip
    model.compile(optimizer_from_config(config, config.learning_rate))
    return model
