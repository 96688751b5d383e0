"""imgenlib: learn and do image generation with GANs and VAEs on TensorFlow 2 / Keras 3.

Public names are loaded on first use (PEP 562), so ``import imgenlib`` and the CLI's
``--help`` stay fast and TensorFlow is imported only when something needs it::

    import imgenlib

    images, labels = imgenlib.load_images("fashion_mnist")
    dataset = imgenlib.make_dataset(images, batch_size=128)
    fig = imgenlib.image_grid(images[:64])

Models saved to ``.keras`` files are restored with `imgenlib.load_model`, which registers
imgenlib's classes with Keras before loading (in safe mode).
"""

from __future__ import annotations

import importlib

from imgenlib._env import use_tensorflow_backend

__version__ = "0.1.0"

use_tensorflow_backend()

_EXPORTS = {
    # imgenlib.data
    "DATASETS": "imgenlib.data",
    "DatasetNotFoundError": "imgenlib.data",
    "ImageLoadWarning": "imgenlib.data",
    "augmentation": "imgenlib.data",
    "dataset_info": "imgenlib.data",
    "load_folder": "imgenlib.data",
    "load_images": "imgenlib.data",
    "load_shapes": "imgenlib.data",
    "make_dataset": "imgenlib.data",
    # imgenlib.images
    "from_uint8": "imgenlib.images",
    "to_uint8": "imgenlib.images",
    "to_unit": "imgenlib.images",
    # imgenlib.plotting
    "augmentation_grid": "imgenlib.plotting",
    "grid_array": "imgenlib.plotting",
    "image_grid": "imgenlib.plotting",
    "plot_history": "imgenlib.plotting",
    "save_grid": "imgenlib.plotting",
    # imgenlib.models
    "GAN": "imgenlib.models",
    "GANConfig": "imgenlib.models",
    "VAE": "imgenlib.models",
    "VAEConfig": "imgenlib.models",
    "build_vae": "imgenlib.models",
    "build_discriminator": "imgenlib.models",
    "build_gan": "imgenlib.models",
    "build_generator": "imgenlib.models",
    "load_model": "imgenlib.models",
    # imgenlib.callbacks
    "SampleGrid": "imgenlib.callbacks",
    "TrainingDiverged": "imgenlib.callbacks",
    "TrainingHealth": "imgenlib.callbacks",
    # imgenlib.metrics and imgenlib.features
    "FeatureExtractor": "imgenlib.features",
    "density_coverage": "imgenlib.metrics",
    "evaluate": "imgenlib.evaluation",
    "evaluate_images": "imgenlib.evaluation",
    "evaluate_run": "imgenlib.evaluation",
    "QualityMonitor": "imgenlib.monitoring",
    "memorization_audit": "imgenlib.audit",
    "audit_model": "imgenlib.audit",
    "plot_nearest_neighbours": "imgenlib.audit",
    "reconstruction_metrics": "imgenlib.reconstruction",
    "fid_from_features": "imgenlib.metrics",
    "inception_score": "imgenlib.metrics",
    "kid_from_features": "imgenlib.metrics",
    "precision_recall": "imgenlib.metrics",
    # imgenlib.latent and imgenlib.widgets
    "LatentExplorer": "imgenlib.widgets",
    "Interpolator": "imgenlib.widgets",
    "TrainingMonitor": "imgenlib.widgets",
    "interpolate": "imgenlib.latent",
    "lerp": "imgenlib.latent",
    "manifold_grid": "imgenlib.latent",
    "pca_directions": "imgenlib.latent",
    "slerp": "imgenlib.latent",
    "traverse": "imgenlib.latent",
    "truncated_normal": "imgenlib.latent",
    "class_morph": "imgenlib.conditional",
    # imgenlib.export and imgenlib.distribute
    "export_savedmodel": "imgenlib.export",
    "export_tflite": "imgenlib.export",
    "load_exported": "imgenlib.export",
    "make_strategy": "imgenlib.distribute",
    "use_logical_cpus": "imgenlib.distribute",
    # imgenlib.optimizers
    "make_optimizer": "imgenlib.optimizers",
    # imgenlib.training
    "train": "imgenlib.training",
    # imgenlib._env
    "quick_mode": "imgenlib._env",
    "quiet_tensorflow": "imgenlib._env",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'imgenlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
