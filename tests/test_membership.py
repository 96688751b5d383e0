"""Membership inference: the report against independent references, the split, the attacks."""

import keras
import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from imgenlib.data import load_images, make_dataset
from imgenlib.membership import (
    AttackResult,
    attack_report,
    discriminator_scores,
    distance_scores,
    elbo_scores,
    membership_attack,
    membership_split,
    roc_curve,
)
from imgenlib.models import GANConfig, VAEConfig, build_gan, build_vae

POOL, POOL_LABELS = load_images("fashion_mnist", "train", n=1200)


class ReturnsImages:
    """A 'generator' that emits given images, in order."""

    num_classes = None

    def __init__(self, images):
        self.images = images

    def generate(self, n, seed=0, labels=None):
        return self.images[:n]


def test_auc_matches_sklearn_and_mann_whitney_with_ties(rng):
    members = rng.integers(0, 6, 300).astype(float) + 0.5 * rng.integers(0, 2, 300)
    nonmembers = rng.integers(0, 5, 400).astype(float)
    report = attack_report(members, nonmembers)
    truth = np.r_[np.ones(300), np.zeros(400)]
    expected = roc_auc_score(truth, np.r_[members, nonmembers])
    u = scipy.stats.mannwhitneyu(members, nonmembers).statistic
    assert report["auc"] == pytest.approx(expected, abs=1e-12)
    assert report["auc"] == pytest.approx(u / (300 * 400), abs=1e-12)
    fpr, tpr, _ = roc_curve(members, nonmembers)
    assert np.trapezoid(tpr, fpr) == pytest.approx(expected, abs=1e-12)  # ties: diagonal steps
    assert report["n_members"] == 300 and report["n_nonmembers"] == 400


def test_tpr_at_fpr_and_balanced_accuracy_hand_computed():
    members = [9, 8, 8, 5, 3, 1]
    nonmembers = [8, 7, 4, 2, 2, 0, 0, 0, -1, -2]
    # ROC points (FPR, TPR): (0, 1/6) (.1, 3/6) (.2, 3/6) (.2, 4/6) (.3, 4/6) (.3, 5/6) (.5, 5/6) (.5, 1) ...
    report = attack_report(members, nonmembers, fprs=(0.05, 0.1, 0.3))
    assert report["tpr_at_fpr_0.05"] == pytest.approx(1 / 6)  # the tie at 8 is not split
    assert report["tpr_at_fpr_0.1"] == pytest.approx(3 / 6)
    assert report["tpr_at_fpr_0.3"] == pytest.approx(5 / 6)
    assert report["balanced_accuracy"] == pytest.approx((1 + 5 / 6 - 0.3) / 2)
    assert report["auc"] == pytest.approx(49 / 60)  # 10 + 2 * 9.5 + 8 + 7 + 5 pairs won
    assert report["fpr_resolution"] == pytest.approx(0.1)
    fpr, tpr, thresholds = roc_curve(members, nonmembers)
    assert thresholds[0] == np.inf and (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    np.testing.assert_allclose(fpr[:4], [0, 0, 0.1, 0.2])
    np.testing.assert_allclose(tpr[:4], [0, 1 / 6, 3 / 6, 3 / 6])


@pytest.mark.parametrize("seed", range(5))
def test_identical_distributions_give_chance(seed):
    rng = np.random.default_rng(seed)
    n1, n0 = 2000, 1500
    report = attack_report(rng.standard_normal(n1), rng.standard_normal(n0))
    standard_error = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))  # AUC's sd under H0
    assert abs(report["auc"] - 0.5) < 4 * standard_error
    assert report["tpr_at_fpr_0.01"] < 0.05 and report["balanced_accuracy"] < 0.55


def test_separable_scores_give_a_perfect_attack(rng):
    report = attack_report(rng.standard_normal(100) + 10, rng.standard_normal(300))
    assert report["auc"] == 1.0 and report["balanced_accuracy"] == 1.0
    assert report["tpr_at_fpr_0.001"] == 1.0
    reversed_report = attack_report(rng.standard_normal(100) - 10, rng.standard_normal(300))
    assert reversed_report["auc"] == 0.0 and reversed_report["tpr_at_fpr_0.1"] == 0.0


def test_report_errors_name_the_received_value():
    with pytest.raises(ValueError, match=r"Received: member_scores.shape=\(0,\)"):
        attack_report([], [1.0])
    with pytest.raises(ValueError, match=r"Received: nonmember_scores.shape=\(1, 2\)"):
        attack_report([1.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="member_scores contains NaN"):
        attack_report([np.nan], [1.0])
    with pytest.raises(TypeError, match="dtype <U1"):
        attack_report(["a"], [1.0])
    with pytest.raises(ValueError, match="Received: fprs=1.0"):
        attack_report([1.0], [0.0], fprs=(0.1, 1.0))


def test_membership_split_is_disjoint_seeded_and_keeps_labels():
    split = membership_split(POOL, POOL_LABELS, n_members=300, n_nonmembers=200, seed=3)
    assert split.members.shape == (300, 28, 28, 1) and split.nonmembers.shape == (200, 28, 28, 1)
    assert not set(split.member_indices) & set(split.nonmember_indices)
    np.testing.assert_array_equal(split.members, POOL[split.member_indices])
    np.testing.assert_array_equal(split.nonmember_labels, POOL_LABELS[split.nonmember_indices])
    again = membership_split(POOL, POOL_LABELS, n_members=300, n_nonmembers=200, seed=3)
    np.testing.assert_array_equal(again.member_indices, split.member_indices)
    other = membership_split(POOL, n_members=300, seed=4)
    assert other.member_labels is None and len(other.nonmembers) == 300
    assert not np.array_equal(other.member_indices, split.member_indices)
    with pytest.raises(ValueError, match="Received: n_members=1000, n_nonmembers=1000"):
        membership_split(POOL, n_members=1000)
    with pytest.raises(ValueError, match=r"Received: labels.shape=\(3,\)"):
        membership_split(POOL, POOL_LABELS[:3], n_members=10)
    with pytest.raises(ValueError, match="Received: n_members=0"):
        membership_split(POOL, n_members=0)


@pytest.mark.parametrize("space", ["pixels", "features"])
def test_distance_attack_finds_a_generator_that_returns_its_members(space):
    split = membership_split(POOL, n_members=200, n_nonmembers=200, seed=0)
    options = {"space": space, "extractor": "fashion_mnist" if space == "features" else None}
    copier = ReturnsImages(split.members)
    result = membership_attack(copier, split, "distance", n_samples=200, **options)
    report = result.report()
    assert isinstance(result, AttackResult) and result.attack == "distance"
    assert report["auc"] == 1.0 and report["tpr_at_fpr_0.001"] == 1.0
    assert report["space"] == space and report["n_samples"] == 200
    assert np.abs(result.member_scores).max() < 1e-3  # every member is a sample

    used = np.r_[split.member_indices, split.nonmember_indices]
    fresh = ReturnsImages(POOL[np.setdiff1d(np.arange(len(POOL)), used)][:400])
    unrelated = membership_attack(fresh, split, "distance", n_samples=400, **options).report()
    assert abs(unrelated["auc"] - 0.5) < 4 * np.sqrt(401 / (12 * 200 * 200))


def test_distance_scores_are_minus_the_nearest_distance(rng):
    images = rng.uniform(-1, 1, (5, 4, 4, 1)).astype(np.float32)
    samples = rng.uniform(-1, 1, (7, 4, 4, 1)).astype(np.float32)
    full = np.linalg.norm(images.reshape(5, 1, -1) - samples.reshape(1, 7, -1), axis=-1)
    np.testing.assert_allclose(distance_scores(images, samples), -full.min(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"Received: \(4, 4, 3\)"):
        distance_scores(images, np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="Received: extractor=None"):
        distance_scores(images, samples, space="features")
    with pytest.raises(ValueError, match="Unknown space 'latent'"):
        distance_scores(images, samples, space="latent")


def test_discriminator_attack_on_a_briefly_trained_conditional_gan():
    split = membership_split(POOL, POOL_LABELS, n_members=64, n_nonmembers=64, seed=0)
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=10)
    data = make_dataset(split.members, split.member_labels, batch_size=32, seed=0)
    gan.fit(data, epochs=2, verbose=0, shuffle=False)
    result = membership_attack(gan, split, "discriminator")
    report = result.report()
    assert report["attack"] == "discriminator"
    assert 0 <= report["auc"] <= 1 and 0.5 <= report["balanced_accuracy"] <= 1
    assert report["n_members"] == 64 and report["n_nonmembers"] == 64
    x, y = split.nonmembers[:3], split.nonmember_labels[:3]
    direct = np.asarray(gan.discriminator([x, y], training=False))[:, 0]
    np.testing.assert_allclose(result.nonmember_scores[:3], direct, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Received: labels=None"):
        discriminator_scores(gan, split.members)
    with pytest.raises(TypeError, match="Received: ReturnsImages"):
        discriminator_scores(ReturnsImages(POOL), POOL[:2])


def test_elbo_attack_scores_are_minus_the_negative_elbo():
    split = membership_split(POOL, n_members=16, n_nonmembers=16, seed=0)
    keras.utils.set_random_seed(0)
    vae = build_vae(VAEConfig.tiny(), (28, 28, 1))
    result = membership_attack(vae, split, "elbo", seed=2)
    np.testing.assert_allclose(
        result.member_scores, -vae.negative_elbo(split.members, seed=2), rtol=1e-9
    )
    assert result.report()["n_members"] == 16
    with pytest.raises(TypeError, match="Received: ReturnsImages"):
        elbo_scores(ReturnsImages(POOL), POOL[:2])
    with pytest.raises(ValueError, match="Unknown attack 'loss'"):
        membership_attack(vae, split, "loss")
    with pytest.raises(TypeError, match="Received: tuple"):
        membership_attack(vae, (split.members, split.nonmembers))


@pytest.mark.slow
def test_discriminator_of_a_gan_overfitted_to_64_images_gives_its_members_away():
    split = membership_split(POOL, POOL_LABELS, n_members=64, n_nonmembers=64, seed=0)
    keras.utils.set_random_seed(0)
    gan = build_gan(GANConfig.tiny(), (28, 28, 1), num_classes=10)
    data = make_dataset(split.members, split.member_labels, batch_size=32, seed=0)
    gan.fit(data, epochs=200, verbose=0, shuffle=False)  # 400 steps
    report = membership_attack(gan, split, "discriminator").report()
    # Measured AUC (TPR at 10 % FPR): seeds 0, 1, 2: 0.910 (0.69), 0.864 (0.61), 0.843
    # (0.50); chance is 0.5 ± 0.051 (one sd).
    assert report["auc"] > 0.75 and report["tpr_at_fpr_0.1"] > 0.3
