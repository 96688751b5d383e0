"""What a training run reads: a dataset's split (or a folder), its labels and their names.

- `default_split`: the one rule for which real images a run is measured on (the test split
  when the dataset has one).
- `load_split`: images and, for a conditional run, labels of a dataset's split or of a
  folder; for ``emoji`` in a style (``"twitter"``, ``"google"``, ``"all"``) and with the
  labels of a condition (category, style or both, `imgenlib.data.emoji.CONDITIONS`).
- `label_names`: the names of those labels (what a conditional model's class k is).
- `load_captions`: images and their captions, for a text-conditional run on a dataset of
  `CAPTIONED`.

`imgenlib.runs` (run directories) and `imgenlib.training` use these with a run's settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgenlib._validation import check_choice, check_positive_int
from imgenlib.data.datasets import DATASETS, dataset_info, load_images
from imgenlib.data.emoji import CONDITIONS, emoji_class_names, emoji_labels, load_emoji
from imgenlib.data.folder import load_folder

__all__ = [
    "CAPTIONED",
    "check_data_name",
    "default_split",
    "label_names",
    "load_captions",
    "load_split",
]

CAPTIONED = ("shapes_captions", "emoji")
"""The datasets whose images come with captions (text-conditional runs train on them)."""


def check_data_name(data: str) -> str:
    """`data` if it names a dataset of `DATASETS` or an existing folder (no TensorFlow needed).

    Raises:
        ValueError: naming `data` and the known datasets.
    """
    if data in DATASETS or Path(data).is_dir():
        return data
    known = ", ".join(repr(name) for name in DATASETS)
    raise ValueError(f"Unknown dataset {data!r}; expected one of {known} or a folder of images.")


def default_split(data: str) -> str:
    """The split a run on `data` is measured on: ``"test"`` when the dataset has one.

    ``digits`` has a single split and a folder of images has only ``"train"``.
    """
    if data in DATASETS and "test" in dataset_info(data).splits:
        return "test"
    return "train"


def label_names(data: str, condition: str | None = None) -> tuple[str, ...]:
    """The class names of a model conditioned on `condition` of dataset `data`.

    Args:
        data: a dataset name (`imgenlib.data.DATASETS`).
        condition: None or ``"category"``: the dataset's classes
            (``dataset_info(data).class_names``); for ``emoji`` also ``"style"`` or
            ``"category_style"`` (`imgenlib.data.emoji.emoji_class_names`).

    Returns:
        A tuple of names, name k for class k.

    Raises:
        ValueError: an unknown dataset or condition, or a style condition for a dataset
            other than ``emoji``.
    """
    spec = dataset_info(data)
    condition = check_choice("condition", condition or "category", CONDITIONS)
    if data == "emoji":
        return emoji_class_names(condition)
    if condition != "category":
        raise ValueError(
            f"condition={condition!r} is for the 'emoji' dataset only. Received: data={data!r}"
        )
    return spec.class_names


def load_split(
    data: str,
    split: str | None = None,
    *,
    image_size: int | None = None,
    conditional: bool = False,
    n: int | None = None,
    data_dir=None,
    background=None,
    style: str | None = None,
    condition: str | None = None,
):
    """Images (and labels) of a dataset's split or of a folder of images.

    Args:
        data: a dataset name (`imgenlib.data.DATASETS`) or a folder of images.
        split: ``"train"`` or ``"test"``; default: `default_split`. A folder has only
            ``"train"``.
        image_size: resize to this square size (a folder's default is 64).
        conditional: return the labels (a labelled dataset is then required).
        n: keep the first `n` images.
        data_dir: a directory holding a local copy of the dataset
            (see `imgenlib.data.load_images`).
        background: colour under transparent pixels (folders and ``emoji``); None: default.
        style: ``emoji`` only: ``"twitter"`` (None: the default), ``"google"`` or ``"all"``.
        condition: what the labels are (`label_names` names them): None or
            ``"category"``: the dataset's classes; for ``emoji`` also ``"style"`` (twitter 0,
            google 1) or ``"category_style"`` (``category * 2 + style``).

    Returns:
        ``(images, labels, split)``; labels are None unless `conditional`.
    """
    if n is not None:
        n = check_positive_int("n", n)
    split = default_split(data) if split is None else split
    condition = check_choice("condition", condition or "category", CONDITIONS)
    for name, value, default in (("style", style, None), ("condition", condition, "category")):
        if value != default and data != "emoji":
            raise ValueError(
                f"{name}={value!r} is for the 'emoji' dataset only. Received: data={data!r}"
            )
    if data == "emoji":
        options = {"style": style, "background": background, "cache_dir": data_dir}
        options = {key: value for key, value in options.items() if value is not None}
        record = load_emoji(split, image_size or 64, n=n, **options)
        images, labels = record.images, emoji_labels(record, condition)
    elif data in DATASETS:
        options = {} if background is None else {"background": background}
        images, labels = load_images(data, split, image_size, data_dir, n=n, **options)
    elif Path(data).is_dir():
        if split != "train":
            raise ValueError(
                f"A folder of images has only a 'train' split. Received: split={split!r}"
            )
        colour = "black" if background is None else background
        images, labels = load_folder(data, image_size or 64, background=colour)[:n], None
    else:
        check_data_name(data)
    if conditional and labels is None:
        raise ValueError(f"--conditional needs a labelled dataset; {data!r} has no labels.")
    return images, (labels if conditional else None), split


def load_captions(
    data: str, split: str | None = None, *, image_size: int | None = None, n: int | None = None,
    background=None, style: str | None = None,
):  # fmt: skip
    """Images and their captions, of a split of a captioned dataset (`CAPTIONED`).

    Args:
        data: ``"shapes_captions"`` (one or two shapes per scene; half the scenes hold
            two) or ``"emoji"`` (the emoji's names, skin tone appended).
        split: a split of `data`; default: `default_split`.
        image_size, n, background, style: as in `load_split`.

    Returns:
        ``(images, captions, split)``: float32 NHWC in [-1, 1] and a NumPy array of strings.

    Raises:
        ValueError: `data` has no captions, or a bad split or option.
    """
    check_choice("captioned dataset", data, CAPTIONED)
    if n is not None:
        n = check_positive_int("n", n)
    split = default_split(data) if split is None else split
    if data == "emoji":
        options = {"style": style, "background": background}
        options = {key: value for key, value in options.items() if value is not None}
        record = load_emoji(split, image_size or 64, n=n, **options)
    else:
        for name, value in (("style", style), ("background", background)):
            if value is not None:
                raise ValueError(
                    f"{name}={value!r} is for the 'emoji' dataset only. Received: data={data!r}"
                )
        from imgenlib.data.shapes_captions import load_shapes_captions

        record = load_shapes_captions(split, n, image_size or 32)
    return record.images, np.asarray(record.captions, dtype=object), split
