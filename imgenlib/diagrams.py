"""Diagrams of the models the course teaches, drawn with matplotlib (no images from outside).

- `gan_game`: the adversarial game of Goodfellow et al. 2014 — who sees what, the two
  losses, which player's weights each one updates (optionally class-conditional).
- `vae_pipeline`: encoder → (μ, log σ²) → reparameterised z → decoder, with the two ELBO
  terms where they are computed (Kingma & Welling 2014).
- `projection_discriminator`: the conditional D of Miyato & Koyama 2018.
- `diffusion_chain`: the forward (noising) and reverse (denoising) chains of Ho et al. 2020
  (`imgenlib.diffusion_diagram`).
- `course_map`: the notebooks and their prerequisites (`imgenlib.course`).

Labels use the library's own names (``z_mean``, ``d_loss``, ``class_projection``, ...) so
a diagram can be matched to the code. Every function returns the matplotlib `Figure`
(it shows itself in Jupyter) and draws into ``ax=`` when given one; style and colours:
`imgenlib.drawing`.
"""

from __future__ import annotations

from imgenlib.course import course_map
from imgenlib.diffusion_diagram import diffusion_chain
from imgenlib.drawing import arrow, box, canvas, check_flag

__all__ = [
    "course_map",
    "diffusion_chain",
    "gan_game",
    "projection_discriminator",
    "vae_pipeline",
]


def gan_game(*, conditional: bool = False, ax=None):
    """Draw the GAN game: z → G → fake, real and fake → D → score, and the two losses.

    D is trained to tell real from fake (``d_loss``: maximise log D(x) + log(1 − D(G(z))),
    i.e. binary cross-entropy); G to make D call its fakes real with the non-saturating
    ``g_loss`` = −log D(G(z)), the library's default (`imgenlib.losses`). Each loss updates
    only its own player's weights: G's gradient flows back *through* D, whose weights stay
    fixed during G's step.

    Args:
        conditional: also draw a class label y entering G (a learned ``label_embedding``
            joined to z) and D (by projection, see `projection_discriminator`).
        ax: a matplotlib `Axes` to draw into; by default a new figure.

    Returns:
        The matplotlib `Figure`.

    Raises:
        TypeError: if `conditional` is not a bool or `ax` not an `Axes`.

    Example:
        >>> from imgenlib import diagrams
        >>> fig = diagrams.gan_game(conditional=True)
        >>> fig.savefig("/tmp/gan_game.png")  # doctest: +SKIP
    """
    conditional = check_flag("conditional", conditional)
    figure, ax = canvas(ax, 12.0, 6.7 if conditional else 5.6)
    z = box(ax, (1.15, 4.6), "z ∼ N(0, I)\nlatent noise", "noise", size=(1.9, 0.95), dashed=True)
    g = box(ax, (3.55, 4.6), "G\ngenerator", "generator", size=(1.7, 1.0))
    fake = box(ax, (6.05, 4.6), "fake image\nG(z)", "generator", size=(2.0, 0.95))
    real = box(ax, (6.05, 2.75), "real image\nx from the data", "data", size=(2.0, 0.95))
    d = box(ax, (8.45, 3.7), "D\ndiscriminator", "discriminator", size=(1.8, 1.0))
    score = box(ax, (10.75, 3.7), "D(·) ∈ (0, 1)\nscore: real or fake?", "neutral", size=(2.2, 1.0))
    arrow(ax, z, g)
    arrow(ax, g, fake)
    arrow(ax, fake, d)
    arrow(ax, real, d)
    arrow(ax, d, score)
    ax.text(
        10.75,
        2.95,
        "both losses are\ncomputed from it",
        ha="center",
        va="top",
        fontsize=9.5,
        color="#555555",
    )
    box(
        ax,
        (2.75, 0.65),
        "G's loss  g_loss = −log D(G(z))\nnon-saturating: G wants D to call its fakes real",
        "loss",
        size=(5.3, 0.95),
    )
    box(
        ax,
        (8.75, 0.65),
        "D's loss  d_loss = −log D(x) − log(1 − D(G(z)))\nbinary "
        "cross-entropy: D learns to tell real from fake",
        "loss",
        size=(5.9, 0.95),
    )
    arrow(
        ax,
        (3.55, 1.15),
        g,
        role="loss",
        dashed=True,
        label="updates G's weights only\n(gradient flows back through D)",
        label_offset=(-1.55, 0.05),
    )
    arrow(
        ax,
        (8.45, 1.15),
        d,
        role="loss",
        dashed=True,
        label="updates D's\nweights only",
        label_offset=(0.85, -0.1),
    )
    if conditional:
        y = box(ax, (6.05, 6.2), "y\nclass label", "label", size=(1.7, 0.9))
        arrow(
            ax,
            y,
            g,
            role="label",
            curve=0.15,
            label="label_embedding\njoined to z",
            label_offset=(-0.55, 0.45),
        )
        arrow(
            ax,
            y,
            d,
            role="label",
            curve=-0.15,
            label="by projection:\n⟨embed(y), φ(x)⟩",
            label_offset=(0.95, 0.35),
        )
    return figure


def vae_pipeline(*, ax=None):
    """Draw the VAE: x → encoder → (μ, log σ²) → z = μ + σ ⊙ ε → decoder → x̂, with the ELBO terms.

    The reparameterisation trick (Kingma & Welling 2014) is the middle box: ε ∼ N(0, I) is
    drawn as a side input with no weights, so z is a differentiable function of μ and σ
    (∂z/∂μ = 1, ∂z/∂σ = ε) and the loss's gradient reaches the encoder. The two terms of
    −ELBO are attached where they are computed: ``reconstruction_loss`` = −log p(x | z)
    compares the decoder's output with x (summed over pixels), ``kl_loss`` = KL(q(z | x) ‖
    N(0, I)) needs only μ and log σ² (closed form, summed over latent dimensions).

    Args:
        ax: a matplotlib `Axes` to draw into; by default a new figure.

    Returns:
        The matplotlib `Figure`.

    Raises:
        TypeError: if `ax` is not an `Axes`.

    Example:
        >>> from imgenlib import diagrams
        >>> fig = diagrams.vae_pipeline()
    """
    figure, ax = canvas(ax, 12.8, 6.0)
    x = box(ax, (0.85, 3.2), "x\nimage", "data", size=(1.3, 0.95))
    encoder = box(ax, (2.85, 3.2), "encoder\nq(z | x)", "discriminator", size=(1.8, 1.0))
    mean = box(ax, (5.0, 4.05), "μ\nz_mean", "discriminator", size=(1.4, 0.9))
    log_var = box(ax, (5.0, 2.35), "log σ²\nz_log_var", "discriminator", size=(1.4, 0.9))
    z = box(ax, (7.65, 3.2), "z = μ + σ ⊙ ε\nSampling layer", "neutral", size=(2.2, 1.0))
    epsilon = box(
        ax,
        (7.65, 5.35),
        "ε ∼ N(0, I)\nsampled noise, no weights",
        "noise",
        size=(2.9, 0.9),
        dashed=True,
    )
    decoder = box(ax, (10.0, 3.2), "decoder\np(x | z)", "generator", size=(1.7, 1.0))
    x_hat = box(ax, (12.0, 3.2), "x̂\nmean image", "generator", size=(1.4, 0.95))
    arrow(ax, x, encoder)
    arrow(ax, encoder, mean)
    arrow(ax, encoder, log_var)
    arrow(ax, mean, z, label="∂z/∂μ = 1", role="loss", label_offset=(0.05, 0.32))
    arrow(
        ax, log_var, z, label="σ = exp(½ log σ²)\n∂z/∂σ = ε", role="loss", label_offset=(0.35, -0.5)
    )
    arrow(
        ax,
        epsilon,
        z,
        role="noise",
        label="an input like x:\nno gradient needed",
        label_offset=(1.35, 0.0),
    )
    arrow(ax, z, decoder)
    arrow(ax, decoder, x_hat)
    kl = box(
        ax,
        (3.4, 0.85),
        "kl_loss = KL(N(μ, σ²) ‖ N(0, I))\nclosed form, summed over latent dimensions",
        "loss",
        size=(4.9, 1.05),
    )
    recon = box(
        ax,
        (10.15, 0.85),
        "reconstruction_loss = −log p(x | z)\ncompares x̂ with x, summed over pixels",
        "loss",
        size=(5.0, 1.05),
    )
    arrow(ax, log_var, kl, role="loss", label="needs only μ and log σ²", label_offset=(-1.55, 0.0))
    arrow(ax, x_hat, recon, role="loss")
    ax.text(6.75, 0.85, "+", ha="center", va="center", fontsize=18)
    ax.text(
        0.1,
        5.6,
        "−ELBO = reconstruction_loss + kl_loss\nGradients reach the encoder "
        "through μ and σ;\nε is drawn outside the network.",
        ha="left",
        va="center",
        fontsize=10,
    )
    return figure


def projection_discriminator(*, ax=None):
    """Draw the projection discriminator (Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637).

    The image's features h = φ(x) give an unconditional logit ψ(h) = w·h (the Dense layer
    ``logit``); the class label adds the inner product ⟨embed(y), h⟩ of a learned class
    vector (the Embedding ``class_projection``, layer ``projection``), and the two are
    summed (``logit_plus_projection``) — the names of `imgenlib.models.build_discriminator`.

    Args:
        ax: a matplotlib `Axes` to draw into; by default a new figure.

    Returns:
        The matplotlib `Figure`.

    Raises:
        TypeError: if `ax` is not an `Axes`.

    Example:
        >>> from imgenlib import diagrams
        >>> fig = diagrams.projection_discriminator()
    """
    figure, ax = canvas(ax, 11.6, 5.0)
    x = box(ax, (0.85, 3.6), "x\nimage", "data", size=(1.3, 0.95))
    y = box(ax, (0.85, 1.5), "y\nclass label", "label", size=(1.3, 0.95))
    phi = box(ax, (3.25, 3.6), "h = φ(x)\nconv features", "discriminator", size=(2.2, 1.0))
    embed = box(ax, (3.25, 1.5), "embed(y)\nclass_projection", "label", size=(2.2, 1.0))
    psi = box(ax, (6.1, 4.15), "ψ(h) = w · h\nDense logit", "discriminator", size=(2.3, 1.0))
    dot = box(ax, (6.1, 2.05), "⟨embed(y), h⟩\nDot projection", "label", size=(2.3, 1.0))
    plus = box(ax, (8.2, 3.1), "+", "neutral", size=(0.7, 0.7), fontsize=18)
    logit = box(ax, (10.2, 3.1), "logit\nD(x, y) = σ(logit)", "neutral", size=(2.3, 1.0))
    arrow(ax, x, phi)
    arrow(ax, y, embed, role="label")
    arrow(ax, phi, psi)
    arrow(ax, phi, dot)
    arrow(ax, embed, dot, role="label")
    arrow(ax, psi, plus)
    arrow(ax, dot, plus, role="label")
    arrow(ax, plus, logit)
    ax.text(8.75, 2.6, "Add\nlogit_plus_projection", ha="center", va="top", fontsize=9.9)
    ax.text(5.8, 0.55, "logit = w · φ(x) + ⟨embed(y), φ(x)⟩", ha="center", va="center", fontsize=12)
    ax.text(
        5.8,
        0.1,
        "second lines: the layers of imgenlib.models.build_discriminator",
        ha="center",
        va="center",
        fontsize=9.5,
        color="#555555",
    )
    return figure
