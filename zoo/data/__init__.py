"""Training data: which images, in which order, at which size; from TFDS or from a folder of images.

`--dataset` names a TFDS dataset (mnist, fashion_mnist, celeb_a) read from --data_dir, or `folder`
(`folder_rgb`, `folder_gray` to force the channels): the images in the folder --data_dir
(zoo/data/folder.py, docs/data.md), or `emoji`: a folder the zoo renders from the Noto Color Emoji font
(zoo/data/emoji.py), read from --data_dir when `python -m zoo.emoji` rendered it there, else rendered
once into the zoo's cache (`folder_root` says which folder). Every function below takes any of them;
split specs use TFDS's syntax ("train", "train[:512]", "test[:10%]") for all. `image_size` and `resize`
(TrainConfig's image_size and image_resize: "area" or "pad") say how images reach the model's size
(`pipeline.crop_and_resize`).

The training stream is a pure function of (seed, step) (zoo/data/pipeline.py), so a resumed run rebuilds
exactly the batches it would have seen. A class-conditional run (`uses_labels`) trains on (image, label)
pairs: the same images in the same order, each with its label.
"""
# Annotations stay strings, so `tf.data.Dataset` in a signature runs no TensorFlow code at import:
# zoo.train imports this module to define its flags before TensorFlow loads (zoo/cli.py).
from __future__ import annotations

import os
from typing import Optional, Tuple

import tensorflow as tf

from zoo.data import emoji, folder, pipeline, tfds_source
from zoo.data.datasets import (DATA_DIR_ENV, DATASETS, DataUnavailableError, DatasetInfo, FolderError,
                               dataset_info, is_folder, resolve_data_dir)
from zoo.data.pipeline import RESIZE_METHODS, batch_seed, crop_and_resize, epoch_shuffle_seed
from zoo.data.tfds_source import builder

__all__ = [
    "DATA_DIR_ENV", "DATASETS", "DataUnavailableError", "DatasetInfo", "FolderError", "RESIZE_METHODS",
    "batch_seed", "builder", "class_names", "crop_and_resize", "dataset_info", "epoch_shuffle_seed",
    "folder_root", "image_resize", "image_shape", "is_folder", "load_examples", "load_images", "num_classes",
    "num_examples", "resolve_data_dir", "source_image_shape", "stored_side", "training_batches",
    "uses_labels",
]

# The model option that makes a run class-conditional (zoo/models/conditioning.py): any value but "none"
# means its batches carry the data's labels.
LABELS_OPTION = "conditional"


def folder_root(dataset: str, data_dir: Optional[str]) -> Optional[str]:
  """The image folder a folder dataset reads: --data_dir, or for `emoji` the folder `emoji.locate` finds
  (rendering it into the cache when --data_dir holds no rendered set)."""
  if DATASETS[dataset].rendered:
    return emoji.locate(data_dir, folder.cache_base())
  return data_dir


def _folder(dataset: str, data_dir: Optional[str], image_size: int, resize: str) -> "folder.FolderData":
  if not image_size:
    raise ValueError(f"--dataset={dataset} needs --image_size (e.g. --image_size=64): the images of a folder "
                     "are centre-cropped to a square and resized to that size.")
  return folder.load(folder_root(dataset, data_dir), image_size, DATASETS[dataset].channels, resize)


def image_resize(config) -> str:
  """A config's --image_resize; "area" for configs written before the field existed."""
  return getattr(config, "image_resize", None) or "area"


def source_image_shape(dataset: str, data_dir: Optional[str] = None):
  """[H, W, C] of the dataset's stored images (known without the data itself).

  Folders: (None, None, C); their images vary in size, and C is None unless the dataset name forces it
  (`image_shape` knows it).
  """
  info = dataset_info(dataset)
  if info.is_folder:
    return (None, None, info.channels)
  return tfds_source.source_image_shape(dataset, data_dir)


def stored_side(dataset: str, data_dir: Optional[str] = None) -> Optional[int]:
  """Side of a TFDS dataset's square images before any resize (its crop for celeb_a); None for folders,
  whose images vary, and for datasets stored at non-square sizes."""
  if is_folder(dataset):
    return None
  height, width = tfds_source.stored_size(dataset, data_dir)
  return height if height == width else None


def image_shape(dataset: str, image_size: int = 0, data_dir: Optional[str] = None, *, resize: str = "area"):
  """[H, W, C] of the images the model sees: the dataset's own size unless `image_size` is set.

  A folder needs `image_size`; its channels are detected from the images (decoding them, once per
  `resize`, which is why it is an argument: the shape does not depend on it).
  """
  info = dataset_info(dataset)
  if info.is_folder:
    return tuple(_folder(dataset, data_dir, image_size, resize).images.shape[1:])
  height, width, channels = tfds_source.source_image_shape(dataset, data_dir)
  if image_size:
    return (image_size, image_size, channels)
  if info.center_crop:
    return (info.center_crop, info.center_crop, channels)
  return (height, width, channels)


def _folder_split(dataset, split, data_dir, image_size, resize):
  data = _folder(dataset, data_dir, image_size, resize)
  return data, folder.split_indices(data, split, os.path.abspath(folder_root(dataset, data_dir)))


def load_images(dataset: str, split: str, data_dir: Optional[str] = None, image_size: int = 0,
                download: bool = True, *, resize: str = "area") -> tf.data.Dataset:
  """uint8 images [H, W, C] of one split in the dataset's deterministic stored order, cropped and resized.

  `resize`: how images reach `image_size` (when set): "area" (antialiased area resize) or "pad" (centred on
  a black square; a ValueError if the images are larger than `image_size`).
  """
  if is_folder(dataset):
    data, indices = _folder_split(dataset, split, data_dir, image_size, resize)
    return tf.data.Dataset.from_tensor_slices(data.images[indices])
  return tfds_source.load(dataset, split, data_dir, image_size, download, resize=resize)


def load_examples(dataset: str, split: str, data_dir: Optional[str] = None, image_size: int = 0,
                  download: bool = True, *, resize: str = "area") -> tf.data.Dataset:
  """(uint8 image [H, W, C], int64 label) pairs of one split, in the order of `load_images`.

  Labels are the TFDS `label` feature, or a folder's class sub-folder (`class_names` gives the names).
  Raises a ValueError when the dataset has no labels.
  """
  if is_folder(dataset):
    data, indices = _folder_split(dataset, split, data_dir, image_size, resize)
    if not data.class_names:
      root = os.path.abspath(folder_root(dataset, data_dir))
      raise FolderError(f"Image folder {root} has no labels: its images are not in class sub-folders "
                        "(PATH/train/<class>/<image>).")
    return tf.data.Dataset.from_tensor_slices((data.images[indices], data.labels[indices]))
  return tfds_source.load(dataset, split, data_dir, image_size, download, with_labels=True, resize=resize)


def num_examples(dataset: str, split: str, data_dir: Optional[str] = None, image_size: int = 0,
                 download: bool = True, *, resize: str = "area") -> int:
  """Examples in a split spec; for a folder, the images that decoded (so it needs `image_size`)."""
  if is_folder(dataset):
    return len(_folder_split(dataset, split, data_dir, image_size, resize)[1])
  return tfds_source.num_examples(dataset, split, data_dir, download)


def class_names(dataset: str, data_dir: Optional[str] = None) -> Optional[Tuple[str, ...]]:
  """Names of the classes 0..K-1 (TFDS: the `label` feature; folders: sorted sub-folder names), or None."""
  if is_folder(dataset):
    return folder.scan(folder_root(dataset, data_dir)).class_names or None
  return tfds_source.class_names(dataset, data_dir)


def num_classes(dataset: str, data_dir: Optional[str] = None) -> Optional[int]:
  """Number of classes, or None for a dataset without labels."""
  names = class_names(dataset, data_dir)
  return len(names) if names else None


def uses_labels(config) -> bool:
  """Whether a run trains on class labels: its model option `conditional` is set (not "none")."""
  return (getattr(config, "options", None) or {}).get(LABELS_OPTION, "none") != "none"


def training_batches(config, start_step: int = 0, download: bool = True, batches_per_step: int = 1,
                     prepare=None) -> tf.data.Dataset:
  """Endless global batches in the model's pixel range, starting where step `start_step` starts.

  `batches_per_step` is the number of batches one training step consumes (one per D update).
  `prepare(images, seed)`, if given, turns each global batch into the model's batch (e.g. adds a
  degraded copy) with randomness drawn from `batch_seed(config.seed, batch index)`.
  Images reach `config.image_size` by `config.image_resize` (area when the config predates it).
  A run that `uses_labels` gets dicts {"real": images, "label": int32 [B]} (prepare's entries added).
  """
  split, resize = config.train_split, image_resize(config)
  load = load_examples if uses_labels(config) else load_images
  examples = load(config.dataset, split, config.data_dir, config.image_size, download, resize=resize).cache()
  count = num_examples(config.dataset, split, config.data_dir, config.image_size, download, resize=resize)
  return pipeline.batch_stream(examples, count, config, start_step, batches_per_step, prepare)

