"""Datasets and input pipelines: embedded sets, real sets found on disk, your own folders.

Everything returns images as float32 NHWC in [-1, 1] (the library convention).

- `load_images(name, split, image_size, data_dir)`: ``digits``, ``shapes`` (embedded,
  offline), ``fashion_mnist``, ``mnist``, ``cifar10`` (local copy first, then download).
- `load_emoji(split, image_size, style, background)`: colour emoji with captions and
  categories in two styles (`fetch_emoji` downloads them once with npm); `emoji_labels`
  and `emoji_class_names` label them by category, style or both.
- `load_shapes(n, image_size, seed)`: the procedural shapes with colour/size labels and
  captions such as "small red circle".
- `load_shapes_captions(split, n, image_size, seed)`: one or two shapes per image with
  captions ("a small red circle in the top left", "a red circle left of a blue square"),
  ground-truth attributes and held-out colour-shape pairs (split ``"test_compositional"``).
- `load_folder(path, image_size, channels, dedupe)`: your own images, bad files skipped;
  `describe_folder(path)`: how many, and whether in colour, without loading them.
- `load_split(data, split, ...)`, `default_split`, `label_names`: a run's images and labels.
- `make_dataset(images, labels, batch_size, shuffle, augment)`: a `tf.data` pipeline.
- `augmentation(...)`: flip / rotation / zoom / translation as Keras layers.
"""

from imgenlib.data.datasets import (
    DATASETS,
    DatasetNotFoundError,
    DatasetSpec,
    dataset_info,
    load_images,
)
from imgenlib.data.emoji import (
    CATEGORIES as EMOJI_CATEGORIES,
)
from imgenlib.data.emoji import (
    CONDITIONS as EMOJI_CONDITIONS,
)
from imgenlib.data.emoji import (
    STYLES as EMOJI_STYLES,
)
from imgenlib.data.emoji import (
    EmojiCacheError,
    EmojiData,
    composite,
    emoji_cache_dir,
    emoji_class_names,
    emoji_labels,
    fetch_emoji,
    load_emoji,
)
from imgenlib.data.folder import (
    IMAGE_EXTENSIONS,
    FolderSummary,
    ImageLoadWarning,
    describe_folder,
    load_folder,
)
from imgenlib.data.pipeline import augmentation, make_dataset
from imgenlib.data.real_datasets import find_local_copy, read_idx
from imgenlib.data.shapes import COLOUR_NAMES, SHAPE_NAMES, SIZE_NAMES, Shapes, caption, load_shapes
from imgenlib.data.shapes_captions import (
    HELD_OUT_PAIRS,
    POSITION_NAMES,
    RELATION_NAMES,
    ShapesCaptions,
    load_shapes_captions,
)
from imgenlib.data.splits import default_split, label_names, load_split

__all__ = [
    "COLOUR_NAMES",
    "DATASETS",
    "DatasetNotFoundError",
    "DatasetSpec",
    "HELD_OUT_PAIRS",
    "EMOJI_CATEGORIES",
    "EMOJI_CONDITIONS",
    "EMOJI_STYLES",
    "EmojiCacheError",
    "EmojiData",
    "FolderSummary",
    "IMAGE_EXTENSIONS",
    "ImageLoadWarning",
    "POSITION_NAMES",
    "RELATION_NAMES",
    "SHAPE_NAMES",
    "SIZE_NAMES",
    "Shapes",
    "ShapesCaptions",
    "augmentation",
    "caption",
    "composite",
    "dataset_info",
    "default_split",
    "describe_folder",
    "emoji_cache_dir",
    "emoji_class_names",
    "emoji_labels",
    "fetch_emoji",
    "find_local_copy",
    "label_names",
    "load_folder",
    "load_emoji",
    "load_images",
    "load_shapes",
    "load_shapes_captions",
    "load_split",
    "make_dataset",
    "read_idx",
]
