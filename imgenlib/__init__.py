"""imgenlib: learn and do image generation with GANs and VAEs on TensorFlow 2 / Keras 3.

Public names are loaded on first use (PEP 562), so ``import imgenlib`` and the CLI's
``--help`` stay fast and TensorFlow is imported only when something needs it::

    import imgenlib

    images, labels = imgenlib.load_images("fashion_mnist")
    dataset = imgenlib.make_dataset(images, batch_size=128)
    fig = imgenlib.image_grid(images[:64])

Submodules (``imgenlib.pretrained``, ``imgenlib.presets``, ...) load the same way on first
attribute access. imgenlib's Keras classes (`GAN`, `VAE`, ...) are registered with Keras as
soon as both ``imgenlib`` and ``keras`` are imported, in either order, so
``keras.saving.load_model("run/model.keras")`` works after ``import imgenlib``;
`imgenlib.load_model` adds safety checks (safe mode, truncated archives, NaN weights).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import wrapt

from imgenlib._env import use_tensorflow_backend

__version__ = "0.1.0"

use_tensorflow_backend()

# Modules whose classes are registered with Keras (`register_keras_serializable`).
KERAS_MODULES = ("imgenlib.models", "imgenlib.text", "imgenlib.clip")


def _register_keras_classes(keras_module) -> None:
    for module_name in KERAS_MODULES:
        importlib.import_module(module_name)


# Runs when keras finishes importing (at once if it already is): registration costs
# `import imgenlib` nothing, and `python -m imgenlib --help` never loads TensorFlow.
wrapt.register_post_import_hook(_register_keras_classes, "keras")

SUBMODULES = (
    "audit", "callbacks", "conditional", "data", "diffaugment", "directions", "distribute",
    "evaluation", "export", "features", "images", "io", "latent", "losses", "metrics",
    "models", "monitoring", "optimizers", "plotting", "presets", "pretrained", "profiling",
    "reconstruction", "resume", "training", "widgets", "encoding", "neighbours",
    "runs", "run_config", "demo", "summaries", "dataset_commands", "sample_commands", "text",
    "styles", "sampling_options", "clip", "clip_tasks", "clip_training", "contrastive", "privacy",
    "privacy_accounting", "private_runs", "diagrams", "membership", "utility", "mean_embeddings",
    "mean_embedding_runs", "precision", "exported", "caption_accuracy", "health", "text_runs",
    "attribute_classifier", "text_evaluation", "resampling",
)  # fmt: skip

_EXPORTS = {
    # imgenlib.data
    "DATASETS": "imgenlib.data",
    "DatasetNotFoundError": "imgenlib.data",
    "ImageLoadWarning": "imgenlib.data",
    "augmentation": "imgenlib.data",
    "dataset_info": "imgenlib.data",
    "fetch_emoji": "imgenlib.data",
    "load_emoji": "imgenlib.data",
    "load_folder": "imgenlib.data",
    "label_names": "imgenlib.data",
    "load_images": "imgenlib.data",
    "load_shapes": "imgenlib.data",
    "load_shapes_captions": "imgenlib.data",
    "make_dataset": "imgenlib.data",
    # imgenlib.images
    "from_uint8": "imgenlib.images",
    "to_uint8": "imgenlib.images",
    "to_unit": "imgenlib.images",
    # imgenlib.plotting
    "augmentation_grid": "imgenlib.plotting",
    "grid_array": "imgenlib.plotting",
    "image_grid": "imgenlib.plotting",
    "labelled_grid": "imgenlib.plotting",
    "plot_history": "imgenlib.plotting",
    "save_grid": "imgenlib.plotting",
    # imgenlib.models
    "GAN": "imgenlib.models",
    "GenerativeModel": "imgenlib.models",
    "balanced_labels": "imgenlib.models",
    "GANConfig": "imgenlib.models",
    "TextGAN": "imgenlib.models",
    "TextDiffusion": "imgenlib.models",
    "VAE": "imgenlib.models",
    "VAEConfig": "imgenlib.models",
    "build_vae": "imgenlib.models",
    "Diffusion": "imgenlib.models",
    "DiffusionConfig": "imgenlib.models",
    "build_diffusion": "imgenlib.models",
    "build_encoder": "imgenlib.models",
    "build_decoder": "imgenlib.models",
    "build_discriminator": "imgenlib.models",
    "build_gan": "imgenlib.models",
    "build_text_gan": "imgenlib.models",
    "build_text_diffusion": "imgenlib.models",
    "build_generator": "imgenlib.models",
    "load_model": "imgenlib.models",
    # imgenlib.callbacks
    "SampleGrid": "imgenlib.callbacks",
    "TrainingDiverged": "imgenlib.callbacks",
    "TrainingHealth": "imgenlib.callbacks",
    "TensorBoardLogger": "imgenlib.summaries",
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
    "attack_report": "imgenlib.membership",
    "membership_attack": "imgenlib.membership",
    "membership_split": "imgenlib.membership",
    "tstr_accuracy": "imgenlib.utility",
    "reconstruction_metrics": "imgenlib.reconstruction",
    "fid_from_features": "imgenlib.metrics",
    "inception_score": "imgenlib.metrics",
    "kid_from_features": "imgenlib.metrics",
    "precision_recall": "imgenlib.metrics",
    # imgenlib.latent and imgenlib.widgets
    "LatentExplorer": "imgenlib.widgets",
    "Interpolator": "imgenlib.widgets",
    "TrainingMonitor": "imgenlib.widgets",
    "DenoisingScrubber": "imgenlib.widgets",
    "PromptExplorer": "imgenlib.widgets",
    "prompt_accuracy": "imgenlib.caption_accuracy",
    "evaluate_text": "imgenlib.text_evaluation",
    "interpolate": "imgenlib.latent",
    "lerp": "imgenlib.latent",
    "manifold_grid": "imgenlib.latent",
    "pca_directions": "imgenlib.latent",
    "slerp": "imgenlib.latent",
    "traverse": "imgenlib.latent",
    "truncated_normal": "imgenlib.latent",
    "class_morph": "imgenlib.conditional",
    "style_swap": "imgenlib.styles",
    "category_style_grid": "imgenlib.styles",
    "category_style_figure": "imgenlib.styles",
    "style_accuracy": "imgenlib.styles",
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
    "RunConfig": "imgenlib.runs",
    "load_run_model": "imgenlib.runs",
    # imgenlib.text
    "CaptionTokenizer": "imgenlib.text",
    "TextEncoder": "imgenlib.text",
    "build_text_encoder": "imgenlib.text",
    # imgenlib.clip
    "MiniCLIP": "imgenlib.clip",
    "build_mini_clip": "imgenlib.clip",
    "train_mini_clip": "imgenlib.clip_training",
    "clip_score": "imgenlib.clip_tasks",
    "retrieve": "imgenlib.clip_tasks",
    "zero_shot_classify": "imgenlib.clip_tasks",
    "load_pretrained_clip": "imgenlib.clip_tasks",
    # imgenlib._env
    "quick_mode": "imgenlib._env",
    "quiet_tensorflow": "imgenlib._env",
}

if TYPE_CHECKING:  # what IDEs and type checkers see; kept equal to _EXPORTS by a test
    from imgenlib._env import quick_mode as quick_mode
    from imgenlib._env import quiet_tensorflow as quiet_tensorflow
    from imgenlib.audit import audit_model as audit_model
    from imgenlib.audit import memorization_audit as memorization_audit
    from imgenlib.audit import plot_nearest_neighbours as plot_nearest_neighbours
    from imgenlib.callbacks import SampleGrid as SampleGrid
    from imgenlib.callbacks import TrainingDiverged as TrainingDiverged
    from imgenlib.callbacks import TrainingHealth as TrainingHealth
    from imgenlib.caption_accuracy import prompt_accuracy as prompt_accuracy
    from imgenlib.clip import MiniCLIP as MiniCLIP
    from imgenlib.clip import build_mini_clip as build_mini_clip
    from imgenlib.clip_tasks import clip_score as clip_score
    from imgenlib.clip_tasks import load_pretrained_clip as load_pretrained_clip
    from imgenlib.clip_tasks import retrieve as retrieve
    from imgenlib.clip_tasks import zero_shot_classify as zero_shot_classify
    from imgenlib.clip_training import train_mini_clip as train_mini_clip
    from imgenlib.conditional import class_morph as class_morph
    from imgenlib.data import DATASETS as DATASETS
    from imgenlib.data import DatasetNotFoundError as DatasetNotFoundError
    from imgenlib.data import ImageLoadWarning as ImageLoadWarning
    from imgenlib.data import augmentation as augmentation
    from imgenlib.data import dataset_info as dataset_info
    from imgenlib.data import fetch_emoji as fetch_emoji
    from imgenlib.data import label_names as label_names
    from imgenlib.data import load_emoji as load_emoji
    from imgenlib.data import load_folder as load_folder
    from imgenlib.data import load_images as load_images
    from imgenlib.data import load_shapes as load_shapes
    from imgenlib.data import load_shapes_captions as load_shapes_captions
    from imgenlib.data import make_dataset as make_dataset
    from imgenlib.distribute import make_strategy as make_strategy
    from imgenlib.distribute import use_logical_cpus as use_logical_cpus
    from imgenlib.evaluation import evaluate as evaluate
    from imgenlib.evaluation import evaluate_images as evaluate_images
    from imgenlib.evaluation import evaluate_run as evaluate_run
    from imgenlib.export import export_savedmodel as export_savedmodel
    from imgenlib.export import export_tflite as export_tflite
    from imgenlib.export import load_exported as load_exported
    from imgenlib.features import FeatureExtractor as FeatureExtractor
    from imgenlib.images import from_uint8 as from_uint8
    from imgenlib.images import to_uint8 as to_uint8
    from imgenlib.images import to_unit as to_unit
    from imgenlib.latent import interpolate as interpolate
    from imgenlib.latent import lerp as lerp
    from imgenlib.latent import manifold_grid as manifold_grid
    from imgenlib.latent import pca_directions as pca_directions
    from imgenlib.latent import slerp as slerp
    from imgenlib.latent import traverse as traverse
    from imgenlib.latent import truncated_normal as truncated_normal
    from imgenlib.membership import attack_report as attack_report
    from imgenlib.membership import membership_attack as membership_attack
    from imgenlib.membership import membership_split as membership_split
    from imgenlib.metrics import density_coverage as density_coverage
    from imgenlib.metrics import fid_from_features as fid_from_features
    from imgenlib.metrics import inception_score as inception_score
    from imgenlib.metrics import kid_from_features as kid_from_features
    from imgenlib.metrics import precision_recall as precision_recall
    from imgenlib.models import GAN as GAN
    from imgenlib.models import VAE as VAE
    from imgenlib.models import Diffusion as Diffusion
    from imgenlib.models import DiffusionConfig as DiffusionConfig
    from imgenlib.models import GANConfig as GANConfig
    from imgenlib.models import GenerativeModel as GenerativeModel
    from imgenlib.models import TextDiffusion as TextDiffusion
    from imgenlib.models import TextGAN as TextGAN
    from imgenlib.models import VAEConfig as VAEConfig
    from imgenlib.models import balanced_labels as balanced_labels
    from imgenlib.models import build_decoder as build_decoder
    from imgenlib.models import build_diffusion as build_diffusion
    from imgenlib.models import build_discriminator as build_discriminator
    from imgenlib.models import build_encoder as build_encoder
    from imgenlib.models import build_gan as build_gan
    from imgenlib.models import build_generator as build_generator
    from imgenlib.models import build_text_diffusion as build_text_diffusion
    from imgenlib.models import build_text_gan as build_text_gan
    from imgenlib.models import build_vae as build_vae
    from imgenlib.models import load_model as load_model
    from imgenlib.monitoring import QualityMonitor as QualityMonitor
    from imgenlib.optimizers import make_optimizer as make_optimizer
    from imgenlib.plotting import augmentation_grid as augmentation_grid
    from imgenlib.plotting import grid_array as grid_array
    from imgenlib.plotting import image_grid as image_grid
    from imgenlib.plotting import labelled_grid as labelled_grid
    from imgenlib.plotting import plot_history as plot_history
    from imgenlib.plotting import save_grid as save_grid
    from imgenlib.reconstruction import reconstruction_metrics as reconstruction_metrics
    from imgenlib.runs import RunConfig as RunConfig
    from imgenlib.runs import load_run_model as load_run_model
    from imgenlib.styles import category_style_figure as category_style_figure
    from imgenlib.styles import category_style_grid as category_style_grid
    from imgenlib.styles import style_accuracy as style_accuracy
    from imgenlib.styles import style_swap as style_swap
    from imgenlib.summaries import TensorBoardLogger as TensorBoardLogger
    from imgenlib.text import CaptionTokenizer as CaptionTokenizer
    from imgenlib.text import TextEncoder as TextEncoder
    from imgenlib.text import build_text_encoder as build_text_encoder
    from imgenlib.text_evaluation import evaluate_text as evaluate_text
    from imgenlib.training import train as train
    from imgenlib.utility import tstr_accuracy as tstr_accuracy
    from imgenlib.widgets import DenoisingScrubber as DenoisingScrubber
    from imgenlib.widgets import Interpolator as Interpolator
    from imgenlib.widgets import LatentExplorer as LatentExplorer
    from imgenlib.widgets import PromptExplorer as PromptExplorer
    from imgenlib.widgets import TrainingMonitor as TrainingMonitor

__all__ = ["__version__", *sorted(_EXPORTS), *SUBMODULES]


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"imgenlib.{name}")
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'imgenlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
