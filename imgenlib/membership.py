"""Membership inference against generators: was this image in the training set?

A membership-inference attack gives every candidate image a score, higher meaning "more
likely a training member", and is judged on images whose answer is known: members (the
training subset) and non-members (disjoint real images of the same distribution,
`membership_split`). The attacks follow GAN-Leaks (Chen et al. 2020,
https://arxiv.org/abs/1909.03935) and LOGAN (Hayes et al. 2019,
https://arxiv.org/abs/1705.07663):

- ``"distance"`` (full black-box, GAN-Leaks): draw n samples; score(x) = −min_i ‖x − G(z_i)‖,
  in pixels or in the shipped extractor's features. A model that memorises puts samples
  near its members. Works for every family (`distance_scores`).
- ``"discriminator"`` (white-box, LOGAN): score(x) = D(x), the discriminator's logit (with
  x's label for a conditional GAN); D learns to call its training images real
  (`discriminator_scores`).
- ``"elbo"`` (white-box, VAE): score(x) = ELBO(x) = −(−ELBO): a VAE reconstructs and
  explains its members better (`elbo_scores`).

`attack_report` turns the two score sets into the numbers the literature reports: ROC AUC
(0.5 = no better than guessing), TPR at low FPR (0.1 %, 1 %, 10 %; Carlini et al. 2022,
https://arxiv.org/abs/2112.03570, argue this is what matters) and the best balanced
accuracy. `membership_attack` runs an attack on a model and a split.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.stats

from imgenlib._validation import check_choice, check_float, check_int, check_positive_int
from imgenlib.images import check_images
from imgenlib.neighbours import nearest_neighbours

__all__ = [
    "ATTACKS",
    "AttackResult",
    "MembershipSplit",
    "attack_report",
    "discriminator_scores",
    "distance_scores",
    "elbo_scores",
    "membership_attack",
    "membership_split",
    "roc_curve",
]

ATTACKS = ("distance", "discriminator", "elbo")
DEFAULT_FPRS = (0.001, 0.01, 0.1)


def _scores(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be numeric. Received: {name} with dtype {array.dtype}")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of scores. Received: {name}.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf values.")
    return array.astype(np.float64)


def roc_curve(member_scores, nonmember_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of "member when score >= threshold", one point per distinct score.

    Tied scores are never split: a threshold takes a whole block of equal scores, so the
    curve has a diagonal step there (the convention under which the area equals the
    Mann–Whitney AUC with ties counted one half).

    Args:
        member_scores: (n1,) scores of members; higher means "member".
        nonmember_scores: (n0,) scores of non-members.

    Returns:
        ``(fpr, tpr, thresholds)``, each of length (distinct scores + 1), starting at
        (0, 0) with threshold +inf and ending at (1, 1).

    Raises:
        ValueError / TypeError: empty, non-numeric, non-finite or non-1-D scores.

    Example:
        >>> fpr, tpr, _ = roc_curve([3, 2], [2, 0])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    members = np.sort(_scores("member_scores", member_scores))
    nonmembers = np.sort(_scores("nonmember_scores", nonmember_scores))
    thresholds = np.unique(np.concatenate([members, nonmembers]))[::-1]
    true_positives = len(members) - np.searchsorted(members, thresholds, side="left")
    false_positives = len(nonmembers) - np.searchsorted(nonmembers, thresholds, side="left")
    fpr = np.concatenate([[0.0], false_positives / len(nonmembers)])
    tpr = np.concatenate([[0.0], true_positives / len(members)])
    return fpr, tpr, np.concatenate([[np.inf], thresholds])


def attack_report(member_scores, nonmember_scores, *, fprs=DEFAULT_FPRS) -> dict:
    """How well scores separate members from non-members: AUC, TPR at low FPR, accuracy.

    Args:
        member_scores: (n1,) attack scores of training members (higher = "member").
        nonmember_scores: (n0,) scores of held-out images of the same distribution.
        fprs: false-positive rates in (0, 1) at which to report the true-positive rate.

    Returns:
        A JSON-ready dict:
        ``auc``: P(member score > non-member score) + ½·P(tie), the Mann–Whitney U over
        n1·n0 (0.5 = chance, 1 = perfect);
        ``tpr_at_fpr_<f>`` for each f in `fprs`: the highest TPR over thresholds whose FPR
        is at most f (ROC points only, no interpolation; with n0 < 1/f that demands
        zero false positives, so mind ``fpr_resolution``);
        ``balanced_accuracy``: max over thresholds of (TPR + TNR)/2, the threshold chosen
        on these same scores (an attacker's best case, slightly optimistic);
        ``fpr_resolution``: 1/n0; ``n_members``, ``n_nonmembers``.

    Raises:
        ValueError / TypeError: bad scores or an FPR outside (0, 1).

    Example:
        >>> report = attack_report([4.0, 3.0, 1.0], [2.0, 0.0, -1.0])
        >>> round(report["auc"], 4), report["tpr_at_fpr_0.1"]
        (0.8889, 0.6666666666666666)
    """
    members = _scores("member_scores", member_scores)
    nonmembers = _scores("nonmember_scores", nonmember_scores)
    if isinstance(fprs, (int, float)):
        fprs = (fprs,)
    fprs = [
        check_float("fprs", f, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
        for f in fprs
    ]
    n1, n0 = len(members), len(nonmembers)
    ranks = scipy.stats.rankdata(np.concatenate([members, nonmembers]))  # ties: mean rank
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    fpr, tpr, _ = roc_curve(members, nonmembers)
    report = {"auc": float(u / (n1 * n0))}
    for f in fprs:
        report[f"tpr_at_fpr_{f:g}"] = float(tpr[fpr <= f + 1e-12].max())
    report["balanced_accuracy"] = float(((1 + tpr - fpr) / 2).max())
    report.update(fpr_resolution=1 / n0, n_members=n1, n_nonmembers=n0)
    return report


@dataclasses.dataclass(frozen=True, eq=False)
class MembershipSplit:
    """Members (to train on) and non-members (never trained on) from one pool of images.

    Attributes:
        members, nonmembers: (n1, H, W, C) and (n0, H, W, C) images.
        member_labels, nonmember_labels: their labels, or None for unlabelled images.
        member_indices, nonmember_indices: their rows in the pool (disjoint).
    """

    members: np.ndarray
    nonmembers: np.ndarray
    member_labels: np.ndarray | None
    nonmember_labels: np.ndarray | None
    member_indices: np.ndarray
    nonmember_indices: np.ndarray


def membership_split(
    images, labels=None, *, n_members: int, n_nonmembers: int | None = None, seed: int = 0
) -> MembershipSplit:
    """Draw disjoint members and non-members at random from one pool of real images.

    Train the model on ``split.members`` only; the attack then has to tell them from
    ``split.nonmembers``, which come from the same distribution (the same pool).

    Args:
        images: the pool (N, H, W, C) in [-1, 1], e.g. a dataset's training split.
        labels: optional (N,) int labels, split alongside.
        n_members: members to draw.
        n_nonmembers: non-members to draw (default `n_members`); n_members + n_nonmembers
            must not exceed N.
        seed: seed of the draw.

    Returns:
        A `MembershipSplit`; indices are sorted, so members keep the pool's order.

    Raises:
        ValueError / TypeError: bad images or labels, or more images asked for than the pool has.

    Example:
        >>> split = membership_split(images, labels, n_members=500, seed=0)
        >>> gan.fit(make_dataset(split.members, split.member_labels), epochs=50)  # doctest: +SKIP
    """
    images = check_images(images)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be {len(images)} ints, one per image. Received: "
                f"labels.shape={labels.shape}, labels.dtype={labels.dtype}"
            )
    n_members = check_positive_int("n_members", n_members)
    n_nonmembers = n_members if n_nonmembers is None else n_nonmembers
    n_nonmembers = check_positive_int("n_nonmembers", n_nonmembers)
    if n_members + n_nonmembers > len(images):
        raise ValueError(
            f"n_members + n_nonmembers must be at most the {len(images)} images of the pool. "
            f"Received: n_members={n_members}, n_nonmembers={n_nonmembers}"
        )
    order = np.random.default_rng(check_int("seed", seed, minimum=0)).permutation(len(images))
    chosen = np.sort(order[:n_members]), np.sort(order[n_members : n_members + n_nonmembers])
    return MembershipSplit(
        members=images[chosen[0]],
        nonmembers=images[chosen[1]],
        member_labels=None if labels is None else labels[chosen[0]],
        nonmember_labels=None if labels is None else labels[chosen[1]],
        member_indices=chosen[0],
        nonmember_indices=chosen[1],
    )


def distance_scores(images, samples, *, space: str = "pixels", extractor=None) -> np.ndarray:
    """GAN-Leaks' full black-box score: minus the distance to the nearest generated sample.

    Args:
        images: candidates (n, H, W, C) in [-1, 1].
        samples: generated images (m, H, W, C) of the same shape.
        space: ``"pixels"`` (Euclidean on the [-1, 1] pixels) or ``"features"`` (Euclidean
            on the shipped extractor's 128-d features).
        extractor: a `imgenlib.features.FeatureExtractor` or a dataset name, for features.

    Returns:
        float64 (n,): −min_i ‖embed(x) − embed(sample_i)‖; higher = closer = "member".

    Raises:
        ValueError / TypeError: bad images, different shapes, unknown space, no extractor.

    Example:
        >>> scores = distance_scores(candidates, gan.generate(2000, seed=0))
    """
    images = check_images(images, name="images")
    samples = check_images(samples, name="samples")
    if samples.shape[1:] != images.shape[1:]:
        raise ValueError(
            f"samples must have the images' shape {images.shape[1:]}. Received: {samples.shape[1:]}"
        )
    space = check_choice("space", space, ("pixels", "features"))
    if space == "pixels":
        queries, references = images, samples
    else:
        from imgenlib.audit import feature_space_extractor

        extractor = feature_space_extractor(extractor)
        queries, references = extractor.features(images), extractor.features(samples)
    distances, _ = nearest_neighbours(queries, references, 1)
    return -distances[:, 0]


def discriminator_scores(gan, images, labels=None, *, batch_size: int = 256) -> np.ndarray:
    """LOGAN's white-box score: the discriminator's logit D(x) (inference mode, no augmentation).

    Args:
        gan: a `imgenlib.models.GAN` (anything with a ``discriminator`` network and
            ``check_image_inputs``).
        images: (n, H, W, C) in [-1, 1], the model's image shape.
        labels: (n,) class labels, required for a conditional GAN (D judges (x, y)).
        batch_size: images per forward pass.

    Returns:
        float64 (n,) logits; higher = "more real" = "member".

    Raises:
        TypeError: a model without a discriminator.
        ValueError: images of the wrong shape, labels missing or out of range.

    Example:
        >>> scores = discriminator_scores(gan, split.members, split.member_labels)
    """
    discriminator = getattr(gan, "discriminator", None)
    if discriminator is None or not callable(getattr(gan, "check_image_inputs", None)):
        raise TypeError(f"gan must be a GAN with a discriminator. Received: {type(gan).__name__}")
    images, labels = gan.check_image_inputs(images, labels)
    batch_size = check_positive_int("batch_size", batch_size)
    logits = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        inputs = x if labels is None else [x, labels[start : start + batch_size]]
        logits.append(np.asarray(discriminator(inputs, training=False)).reshape(len(x)))
    return np.concatenate(logits).astype(np.float64)


def elbo_scores(vae, images, labels=None, *, seed: int = 0, samples: int = 1) -> np.ndarray:
    """A VAE's white-box score: the ELBO of each image (minus its `negative_elbo`).

    Args:
        vae: a model with ``negative_elbo(images, labels, seed=..., samples=...)``.
        images, labels: candidates and, for a conditional VAE, their labels.
        seed, samples: seed and number of z draws of the Monte-Carlo reconstruction term.

    Returns:
        float64 (n,) ELBO in nats; higher = better explained = "member".

    Raises:
        TypeError: a model without ``negative_elbo``.

    Example:
        >>> scores = elbo_scores(vae, split.nonmembers, split.nonmember_labels)
    """
    if not callable(getattr(vae, "negative_elbo", None)):
        raise TypeError(
            f"vae must have a negative_elbo method (a VAE). Received: {type(vae).__name__}"
        )
    return -np.asarray(vae.negative_elbo(images, labels, seed=seed, samples=samples), np.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class AttackResult:
    """The scores of one attack on members and non-members; ``report()`` summarises them."""

    attack: str
    member_scores: np.ndarray
    nonmember_scores: np.ndarray
    options: dict

    def report(self, fprs=DEFAULT_FPRS) -> dict:
        """``{"attack", **options, **attack_report(...)}``, JSON-ready."""
        return {
            "attack": self.attack,
            **self.options,
            **attack_report(self.member_scores, self.nonmember_scores, fprs=fprs),
        }


def membership_attack(
    model,
    split: MembershipSplit,
    attack: str = "distance",
    *,
    n_samples: int = 1000,
    space: str = "pixels",
    extractor=None,
    seed: int = 0,
) -> AttackResult:
    """Run one membership-inference attack on a model trained on ``split.members``.

    Args:
        model: the attacked generator: any with ``generate(n, seed=..., labels=...)`` for
            ``"distance"``, a GAN for ``"discriminator"``, a VAE for ``"elbo"``.
        split: the `MembershipSplit` whose members the model was trained on.
        attack: one of `ATTACKS`.
        n_samples: samples drawn for ``"distance"`` (a conditional model: classes in
            equal shares). GAN-Leaks' attack gets stronger with more samples.
        space, extractor: the distance's space (see `distance_scores`).
        seed: seed of the samples (``"distance"``) or of the ELBO's draws (``"elbo"``).

    Returns:
        An `AttackResult`; ``result.report()`` gives AUC, TPR at low FPR and accuracy.

    Raises:
        ValueError / TypeError: unknown attack, a split that is not a `MembershipSplit`,
            or a model the attack does not apply to.

    Example:
        >>> split = membership_split(images, labels, n_members=256, seed=0)
        >>> # ... train `gan` on split.members only ...
        >>> membership_attack(gan, split, "discriminator").report()["auc"]  # doctest: +SKIP
    """
    attack = check_choice("attack", attack, ATTACKS)
    if not isinstance(split, MembershipSplit):
        raise TypeError(f"split must be a MembershipSplit. Received: {type(split).__name__}")
    seed = check_int("seed", seed, minimum=0)
    sets = (
        (split.members, split.member_labels),
        (split.nonmembers, split.nonmember_labels),
    )
    if attack == "distance":
        from imgenlib.evaluation import generate_samples

        n_samples = check_positive_int("n_samples", n_samples)
        samples = generate_samples(model, n_samples, seed)
        scores = [distance_scores(x, samples, space=space, extractor=extractor) for x, _ in sets]
        options = {"space": space, "n_samples": n_samples, "seed": seed}
    elif attack == "discriminator":
        scores = [discriminator_scores(model, x, y) for x, y in sets]
        options = {}
    else:
        scores = [elbo_scores(model, x, y, seed=seed) for x, y in sets]
        options = {"seed": seed}
    return AttackResult(attack, scores[0], scores[1], options)
