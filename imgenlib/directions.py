"""Interpretable latent directions, GANSpace-style: PCA of generator features, mapped to z.

Härkönen et al. 2020, "GANSpace: Discovering Interpretable GAN Controls"
(https://arxiv.org/abs/2004.02546): the principal components of a generator's
intermediate activations (or of its images) for random z are, once carried back to
z-space by linear regression, directions that often change one visible property (pose,
thickness, lighting). `pca_directions` returns them as a `LatentDirections`, ready for
`imgenlib.latent.traverse` or the sliders of `imgenlib.widgets.LatentExplorer`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from imgenlib._validation import check_int, check_latent_model, check_positive_int

__all__ = ["LatentDirections", "pca_directions"]


@dataclasses.dataclass(frozen=True)
class LatentDirections:
    """Principal directions in z-space found by `pca_directions`.

    Attributes:
        directions: float32 (k, latent_dim), orthonormal rows, most important first.
            Use them with `traverse` or as `LatentExplorer` sliders.
        explained_variance: (k,) variance of the features along each principal component.
        explained_variance_ratio: (k,) share of the features' total variance; decreasing.
        layer: the generator layer analysed, or None for the generated images.
    """

    directions: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    layer: str | None = None

    def __len__(self) -> int:
        return len(self.directions)


def _network(model):
    sampler = getattr(model, "sampler", None)
    network = sampler() if callable(sampler) else None
    for attribute in ("generator", "decoder"):
        network = network if network is not None else getattr(model, attribute, None)
    if network is None or not callable(getattr(network, "get_layer", None)):
        raise TypeError(
            "layer= needs a model whose generator (or decoder) is a Keras model. "
            f"Received: model={model!r}"
        )
    return network


def _layer_features(model, layer, z, labels, batch_size):
    import keras

    network = _network(model)
    names = [candidate.name for candidate in network.layers]
    if layer not in names:
        raise ValueError(f"Unknown layer {layer!r}; the generator's layers are {names}.")
    inputs = network.inputs if len(network.inputs) > 1 else network.inputs[0]
    features = keras.Model(inputs, network.get_layer(layer).output)
    outputs = []
    for start in range(0, len(z), batch_size):
        chunk = z[start : start + batch_size]
        inputs = chunk if labels is None else [chunk, labels[start : start + batch_size]]
        outputs.append(np.asarray(features(inputs, training=False)).reshape(len(chunk), -1))
    return np.concatenate(outputs)


def pca_directions(
    model,
    n_samples: int = 2000,
    n_components: int | None = None,
    seed: int = 0,
    layer: str | None = None,
    labels=None,
    *,
    batch_size: int = 256,
) -> LatentDirections:
    """Interpretable latent directions, GANSpace-style (Härkönen et al. 2020).

    1. Sample z_1..z_N ~ N(0, I) (from `seed`) and compute features y_j: the generated
       images (``layer=None``) or the activations of the generator layer `layer`.
    2. PCA of the y_j (NumPy SVD): components V and coordinates x_j = Vᵀ(y_j − ȳ).
    3. As GANSpace does, regress back to z-space: the least-squares U with z_j ≈ U x_j;
       column k of U is the z-direction that moves feature coordinate k.
    4. Orthonormalise U's columns in order of importance (Gram–Schmidt via QR), with
       signs chosen so that moving along +direction increases its PCA coordinate.

    For a generator whose features are linear in z the regressed directions are already
    orthogonal; otherwise step 4 makes later directions the part not explained by earlier
    ones.

    Args:
        model: a GAN or VAE.
        n_samples: number of latents sampled (more gives stabler directions).
        n_components: number of directions k, at most latent_dim and n_samples - 1;
            default min(10, latent_dim).
        seed: seed of the latents.
        layer: name of a layer of the generator (or decoder), e.g. ``"g_dense"``; None
            analyses the generated images.
        labels: labels for a conditional model (default: classes in turn).
        batch_size: latents per forward pass.

    Returns:
        `LatentDirections`.

    Raises:
        ValueError: n_components out of range or an unknown layer name.
        TypeError: `layer` given for a model without a Keras generator.
    """
    latent_dim = check_latent_model(model)
    n_samples = check_int("n_samples", n_samples, minimum=2)
    most = min(latent_dim, n_samples - 1)
    n_components = (
        min(10, most)
        if n_components is None
        else check_int("n_components", n_components, minimum=1, maximum=most)
    )
    seed = check_int("seed", seed, minimum=0)
    batch_size = check_positive_int("batch_size", batch_size)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str) or None. Received: layer={layer!r}")
    num_classes = getattr(model, "num_classes", None)
    if labels is None and num_classes is not None:
        from imgenlib.models.conditions import balanced_labels

        labels = balanced_labels(n_samples, num_classes)
    if labels is not None:
        labels = np.broadcast_to(np.asarray(labels), (n_samples,)).astype(np.int32)
    z = np.random.default_rng(seed).standard_normal((n_samples, latent_dim)).astype(np.float32)
    if layer is None:
        features = model.generate(z=z, labels=labels).reshape(n_samples, -1)
    else:
        features = _layer_features(model, layer, z, labels, batch_size)
    features = features.astype(np.float64)
    n_components = check_int("n_components", n_components, maximum=features.shape[1])
    centered = features - features.mean(axis=0)
    if not np.any(centered):
        raise ValueError(
            "The features do not vary with z (constant generator output); no directions."
        )
    _, singular, components = np.linalg.svd(centered, full_matrices=False)
    variance = singular**2 / (n_samples - 1)
    coordinates = centered @ components[:n_components].T  # (N, k)
    regression, *_ = np.linalg.lstsq(coordinates, z.astype(np.float64), rcond=None)  # (k, d)
    q, r = np.linalg.qr(regression.T)  # q: (d, k)
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    directions = (q * signs).T
    return LatentDirections(
        directions=directions.astype(np.float32),
        explained_variance=variance[:n_components],
        explained_variance_ratio=variance[:n_components] / variance.sum(),
        layer=layer,
    )
