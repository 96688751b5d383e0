"""Text-conditional GAN: GAN-CLS (Reed et al. 2016) with a projection discriminator.

Reed et al. 2016, "Generative Adversarial Text to Image Synthesis"
(https://arxiv.org/abs/1605.05396), with the networks of `imgenlib.models.gan`::

    caption → TextEncoder (pooled t) ─┬→ Dense → concat z → DCGAN generator → image
                                      └→ projection discriminator: w·h(x) + b + (P t)·h(x)

`TextGAN` is a `imgenlib.models.gan.GAN` whose networks take a caption's text vector
instead of class labels (`build_text_generator`, `build_text_discriminator`), and whose
`imgenlib.text.TextEncoder` (vocabulary from the training captions) lives inside the
model, so a saved model reads raw prompts. One training step, on a batch of
``(images, captions)`` (`imgenlib.contrastive.caption_dataset` makes them):

1. the discriminator sees (real image, its caption) → real, (real image, a mismatched
   caption) → fake, (fake image, its caption) → fake, the two negatives weighted ½ each
   (`imgenlib.losses.matching_aware_discriminator_loss`). Without the mismatched term D
   can call any realistic image real whatever the caption says, and G gets no reason to
   follow the text;
2. the generator minimises the usual loss (`imgenlib.losses.generator_loss`) on
   D(fake image, its caption).

**Mismatched captions** are the batch's text vectors rolled by one (image i with caption
i − 1). **Hard negatives** (``hard_negatives=w``, off): D also sees each real image with its
own caption, one shape word swapped, at weight w of the mismatched half.
`imgenlib.models.hard_negatives` measures both (shape up, colour and position down: off).

**The word classifier** (``word_loss=w``, on in the ``text`` preset): a second head on D's
image features names the words of each caption, and G's loss asks it to find its caption's
words in G's images; `imgenlib.models.caption_words` says why and what it measured.

**Caption interpolation** (``caption_interpolation=w``, off; GAN-INT in Reed et al.): G's
loss also asks D to accept G's images of *halfway* text vectors, ½(tᵢ + tᵢ₋₁), the mean of
two captions' vectors, at weight w. No real image has such a caption, so D is not trained on
them; but D has learnt whether image and text match, so satisfying it there fills the gaps
between training captions. `TextGAN.interpolate_prompts` draws along such a line. On the
16×16 recipe below with ``word_loss=10``, 20 epochs, three seeds (``/work/runs/s30/ganint.py``
in the session-30 note), w = 1 gave held-out exact match .273 / .253 / .330 against .273 /
.340 / .280 without it (`imgenlib.evaluate_text`, n = 300; seen .262 against .244 on average)
at 25 % more CPU per step: no measurable gain at this scale, so it is off.

**The text encoder** is trained by D's loss (``text_training="discriminator"``, the
default) or left as initialised (``"frozen"``; pass a pretrained encoder, e.g. a
`imgenlib.clip.MiniCLIP`'s, to freeze a useful one). G's loss never changes it. Measured
on 4,096 one-object 16×16 ``shapes_captions`` scenes (``GANConfig.tiny(latent_dim=32,
width_multiplier=0.25)``, one seed), reading colour and position of 300 test prompts'
images from their pixels (chance 1/6 and 1/9, as in ``tests/models/test_text_gan.py``):

- lr 5e-4, batch 64, 8 epochs: trained 0.24 / 0.49, frozen 0.07 / 0.29;
- lr 1e-3, batch 64, EMA 0.99, 14 epochs: trained 0.65 / 0.93, frozen 0.17 / 0.47;
- lr 2e-3, batch 64, EMA 0.99, 8 epochs (the learning test; 38 CPU seconds of
  training): trained 0.71 / 0.95 (Keras seeds 1 and 2: 0.64 / 0.97, 0.59 / 0.95),
  frozen 0.16 / 0.38; trained for 20 epochs, 0.80 / 0.99 (colour peaks at 0.84).
  At the data's native 32×32 the 8 epochs take 123 CPU seconds for 0.73 / 0.96. Prompts
  naming held-out colour–shape pairs (``"test_compositional"``; shape is not read):
  0.78 / 0.91 at 16×16, 0.87 / 0.97 at 32×32.

(colour / position accuracy.) A random encoder's pooled vector still tells captions apart,
but nothing in it is shaped by the images; trained on D's loss the encoder picks up the
words that matter for the picture, and G follows them much sooner. Hence the default.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imgenlib import losses as gan_losses
from imgenlib import text as textlib  # a module: imgenlib.text may be importing keras now
from imgenlib._validation import check_choice, check_float
from imgenlib.distribute import stateless_normal
from imgenlib.models.base import NoiseSalt
from imgenlib.models.caption_words import CaptionWordHead
from imgenlib.models.conditions import text_encoder_for
from imgenlib.models.gan import GAN
from imgenlib.models.gan_config import GANConfig
from imgenlib.models.hard_negatives import group_token_ids, hard_negative_logits
from imgenlib.models.networks import build_text_discriminator, build_text_generator
from imgenlib.models.text_gan_sampling import TextGANSampling
from imgenlib.optimizers import optimizer_from_config

__all__ = ["TEXT_TRAINING", "TextGAN", "build_text_gan"]

TEXT_TRAINING = ("discriminator", "frozen")


@keras.saving.register_keras_serializable(package="imgenlib")
class TextGAN(CaptionWordHead, TextGANSampling, GAN):
    """A GAN whose generator and discriminator are conditioned on captions (GAN-CLS).

    Args:
        generator: model mapping ``[z, text vector]`` to images in [-1, 1].
        discriminator: model mapping ``[images, text vector]`` to logits.
        text_encoder: a `imgenlib.text.TextEncoder`; its pooled vector is the condition.
        latent_dim: size of z.
        text_training: ``"discriminator"`` (D's optimiser also trains the encoder, on D's
            loss) or ``"frozen"`` (the encoder is never updated).
        hard_negatives: weight in [0, 1] of the *hard negatives* (each real image with its
            own caption, one word of `hard_negative_attributes` swapped;
            `imgenlib.models.hard_negatives`) in the mismatched half of D's loss
            (`imgenlib.losses.matching_aware_discriminator_loss`); 0 (default): none.
        hard_negative_attributes: the attributes whose words are swapped (names in
            `imgenlib.models.hard_negatives.ATTRIBUTE_WORDS`).
        word_loss: weight of the *word classifier* (0, default: none): a Dense head on
            D's image features that predicts which words an image's caption holds,
            trained on real images in D's loss; G's loss adds the same weight times its
            error on G's images and their captions (`imgenlib.losses.caption_word_loss`).
        caption_interpolation: weight (≥ 0; 0, default: off) of G's loss on images of
            halfway text vectors (GAN-INT, above); D's probability that they match is
            tracked as ``d_interpolated``.
        **kwargs: `GAN` arguments (``loss``, ``d_steps``, ``ema_decay``, ``seed``, ...).
            Not supported: ``loss="wasserstein_gp"``, ``dp``, ``augment``, ``num_classes``
            and ``update="simultaneous"``.

    Raises:
        TypeError, ValueError: bad networks, encoder or options.

    Example:
        >>> data = load_shapes_captions("train", n=512, two_object_fraction=0)
        >>> gan = build_text_gan(GANConfig.tiny(), (32, 32, 3), data.captions)
        >>> gan.fit(caption_dataset(data.images, data.captions, batch_size=64))  # doctest: +SKIP
        >>> images = gan.generate(["a small red circle in the top left"], n=4, seed=0)
    """

    NETWORKS = ("generator", "discriminator", "text_encoder")

    def __init__(
        self,
        generator,
        discriminator,
        text_encoder,
        *,
        latent_dim: int,
        text_training: str = "discriminator",
        hard_negatives: float = 0.0,
        hard_negative_attributes=("shape",),
        word_loss: float = 0.0,
        caption_interpolation: float = 0.0,
        **kwargs,
    ):
        if kwargs.get("dp") is not None:  # before GAN checks D for DP-SGD
            raise ValueError(f"A TextGAN does not support dp. Received: dp={kwargs['dp']!r}")
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)
        unsupported = {
            "loss": (self.loss_name, "wasserstein_gp"),
            "update": (self.update, "simultaneous"),
        }
        for name, (value, refused) in unsupported.items():
            if value == refused:
                raise ValueError(f"A TextGAN does not support {name}={refused!r}.")
        for name in ("augment", "num_classes"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"A TextGAN does not support {name}. Received: {name}={getattr(self, name)!r}"
                )
        if not isinstance(text_encoder, textlib.TextEncoder):
            raise TypeError(
                f"text_encoder must be an imgenlib.text.TextEncoder. Received: {text_encoder!r}"
            )
        if not text_encoder.built:
            text_encoder.build()
        self.set_networks(text_encoder=text_encoder)
        self.text_training = check_choice("text_training", text_training, TEXT_TRAINING)
        for role in ("generator", "discriminator"):
            size = getattr(self, role).inputs[1].shape[-1]
            if size != text_encoder.embed_dim:
                raise ValueError(
                    f"The {role}'s text input has size {size}, the text encoder's vector "
                    f"{text_encoder.embed_dim}; they must match."
                )
        self.d_mismatched_tracker = keras.metrics.Mean(name="d_mismatched")
        self.hard_negatives = float(hard_negatives)
        if not 0.0 <= self.hard_negatives <= 1.0:
            raise ValueError(f"hard_negatives must be in [0, 1]. Received: {hard_negatives!r}")
        self.hard_negative_attributes = tuple(hard_negative_attributes)
        self.hard_negative_ids = group_token_ids(
            text_encoder.vocabulary, self.hard_negative_attributes,
            required=bool(hard_negatives), name="hard_negative_attributes",
        )  # fmt: skip
        self.d_hard_tracker = keras.metrics.Mean(name="d_hard") if self.hard_negatives else None
        self._init_word_head(word_loss)
        self.caption_interpolation = check_float(
            "caption_interpolation", caption_interpolation, minimum=0.0, maximum=100.0
        )
        self.d_interpolated_tracker = (
            keras.metrics.Mean(name="d_interpolated") if self.caption_interpolation else None
        )

    def _check_networks(self):
        for role in ("generator", "discriminator"):
            if len(getattr(self, role).inputs) != 2:
                raise ValueError(
                    f"The {role} of a TextGAN must take [x, text vector]. "
                    f"Received: {len(getattr(self, role).inputs)} inputs"
                )
        self.check_latent_input("generator")
        self.check_image_shapes("generator", "discriminator")

    @property
    def metrics(self):
        optional = [self.d_hard_tracker, getattr(self, "d_interpolated_tracker", None)]
        words = list(self.word_trackers.values()) if self.word_trackers else []
        return [
            *super().metrics, self.d_mismatched_tracker, *filter(None, optional), *words
        ]  # fmt: skip

    def optimizer_variables(self) -> dict:
        d_variables = list(self.discriminator.trainable_variables)
        if self.text_training == "discriminator":
            d_variables += self.text_encoder.trainable_variables
        if self.word_head is not None:
            d_variables += self.word_head.trainable_variables
        return {"g_optimizer": self.generator.trainable_variables, "d_optimizer": d_variables}

    # --- training ---------------------------------------------------------------------

    def unpack_batch(self, data):
        """``(images, captions)`` from a batch → (float32 images, string captions)."""
        images, captions, _ = keras.utils.unpack_x_y_sample_weight(data)
        if captions is None or captions.dtype != tf.string:
            received = "none" if captions is None else f"dtype {captions.dtype.name}"
            raise ValueError(
                f"A TextGAN needs (images, captions) batches with string captions. "
                f"Received captions: {received}."
            )
        return tf.cast(images, tf.float32), captions

    def text_vectors(self, token_ids, training=False):
        """The pooled text vectors (B, D) of token ids from ``text_encoder.tokenizer``."""
        return self.text_encoder.encode_tokens(token_ids, training=training)["pooled"]

    def train_step(self, data):
        images, captions = self.unpack_batch(data)
        token_ids = self.text_encoder.tokenizer(captions)
        batch = tf.shape(images)[0]
        text = tf.stop_gradient(self.text_vectors(token_ids))  # G's condition
        d_variables = self.optimizer_variables()["d_optimizer"]
        for _ in range(self.d_steps):
            step = self.d_optimizer.iterations
            z = stateless_normal(
                [batch, self.latent_dim], self.noise_seed(NoiseSalt.GAN_D_NOISE, step)
            )
            fakes = self.generator([z, text], training=True)
            with tf.GradientTape() as tape:
                d_text = text
                if self.text_training == "discriminator":
                    d_text = self.text_vectors(token_ids, training=True)
                real_logits, real_words = self._scored(images, d_text, training=True)
                mismatched = tf.roll(d_text, shift=1, axis=0)
                mismatched_logits = self.discriminator([images, mismatched], training=True)
                fake_logits = self.discriminator([fakes, d_text], training=True)
                hard_logits, hard_weight = None, 0.0
                if self.hard_negatives:
                    hard_logits, hard_weight = hard_negative_logits(self, images, token_ids, step)
                per_example = gan_losses.matching_aware_discriminator_loss(
                    self.loss_name, real_logits, mismatched_logits, fake_logits,
                    hard_logits, hard_weight,
                )  # fmt: skip
                per_example += self._word_term("real", real_words, token_ids)
                d_loss = self.d_optimizer.scale_loss(tf.nn.compute_average_loss(per_example))
            grads = tape.gradient(d_loss, d_variables)
            self.d_optimizer.apply_gradients(zip(grads, d_variables, strict=True))

        step = self.g_optimizer.iterations
        z = stateless_normal([batch, self.latent_dim], self.noise_seed(NoiseSalt.GAN_G_NOISE, step))
        with tf.GradientTape() as tape:
            fakes = self.generator([z, text], training=True)
            g_logits, fake_words = self._scored(fakes, text, training=True)
            g_per_example = gan_losses.generator_loss(self.loss_name, g_logits)
            g_per_example += self._word_term("fake", fake_words, token_ids)
            if self.caption_interpolation:  # GAN-INT: halfway captions, the same z
                halfway = 0.5 * (text + tf.roll(text, shift=1, axis=0))
                halfway_fakes = self.generator([z, halfway], training=True)
                halfway_logits = self.discriminator([halfway_fakes, halfway], training=True)
                g_per_example += self.caption_interpolation * gan_losses.generator_loss(
                    self.loss_name, halfway_logits
                )
            g_loss = self.g_optimizer.scale_loss(tf.nn.compute_average_loss(g_per_example))
        self._apply_generator_gradients(tape.gradient(g_loss, self.generator.trainable_variables))
        self.d_mismatched_tracker.update_state(
            gan_losses.prob_real(self.loss_name, mismatched_logits)
        )
        if hard_logits is not None:
            self.d_hard_tracker.update_state(gan_losses.prob_real(self.loss_name, hard_logits))
        if self.caption_interpolation:
            self.d_interpolated_tracker.update_state(
                gan_losses.prob_real(self.loss_name, halfway_logits)
            )
        gp = tf.zeros_like(per_example)
        return self._track(per_example, g_per_example, real_logits, fake_logits, gp)

    # --- saving -----------------------------------------------------------------------

    def get_config(self):
        config = {**super().get_config(), "text_training": self.text_training}
        if self.hard_negatives:  # absent when off: older saved models load unchanged
            config["hard_negatives"] = self.hard_negatives
            config["hard_negative_attributes"] = list(self.hard_negative_attributes)
        if self.word_loss:
            config["word_loss"] = self.word_loss
        if self.caption_interpolation:
            config["caption_interpolation"] = self.caption_interpolation
        return config


def build_text_gan(
    config: GANConfig,
    image_shape,
    captions=None,
    *,
    text_encoder=None,
    text_dim: int = 32,
    num_heads: int = 2,
    num_layers: int = 1,
    condition_dim: int = 32,
    text_training: str = "discriminator",
    hard_negatives: float | None = None,
    word_loss: float | None = None,
    caption_interpolation: float | None = None,
    seed: int = 0,
) -> TextGAN:
    """Build and compile a `TextGAN` for images of `image_shape` from a `GANConfig`.

    Args:
        config: the GAN settings (``projection`` is ignored: the text projection always
            uses the flattened features).
        image_shape: (H, W, C), H = W in 16, 28, 32, 64; C in 1, 3.
        captions: the training captions, whose words become the encoder's vocabulary.
        text_encoder: a ready `TextEncoder` instead of `captions` (e.g. a pretrained one
            with ``text_training="frozen"``).
        text_dim, num_heads, num_layers: the new encoder's width, heads and blocks.
        condition_dim: size of the generator's projection of the text vector.
        text_training: see `TextGAN`.
        hard_negatives: see `TextGAN` (shape words swapped); None: ``config.hard_negatives``.
        word_loss: see `TextGAN`; None: ``config.word_loss``.
        caption_interpolation: see `TextGAN`; None: ``config.caption_interpolation``.
        seed: seed of the training noise (weights follow Keras' global seed).

    Returns:
        A compiled `TextGAN`, ready for ``fit`` on ``(images, captions)`` batches.

    Raises:
        TypeError, ValueError: bad config, neither or both of `captions` and `text_encoder`.
    """
    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig. Received: config={config!r}")
    text_encoder = text_encoder_for(
        captions, text_encoder, embed_dim=text_dim, num_heads=num_heads, num_layers=num_layers
    )
    generator = build_text_generator(
        image_shape,
        config.latent_dim,
        text_encoder.embed_dim,
        condition_dim=condition_dim,
        width_multiplier=config.width_multiplier,
    )
    discriminator = build_text_discriminator(
        image_shape,
        text_encoder.embed_dim,
        width_multiplier=config.width_multiplier,
        norm=config.discriminator_norm(),
        spectral_norm=config.spectral_norm,
        dropout=config.dropout,
    )
    gan = TextGAN(
        generator,
        discriminator,
        text_encoder,
        latent_dim=config.latent_dim,
        text_training=text_training,
        hard_negatives=config.hard_negatives if hard_negatives is None else hard_negatives,
        word_loss=config.word_loss if word_loss is None else word_loss,
        caption_interpolation=(
            config.caption_interpolation if caption_interpolation is None else caption_interpolation
        ),
        loss=config.loss,
        d_steps=config.d_steps,
        ema_decay=config.ema_decay,
        augment=config.augment,
        update=config.update,
        seed=seed,
        dp=config.dp,
    )
    gan.compile(
        g_optimizer=optimizer_from_config(config, config.g_learning_rate),
        d_optimizer=optimizer_from_config(config, config.d_learning_rate),
    )
    return gan
