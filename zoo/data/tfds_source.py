"""TensorFlow Datasets as a source: prepared builders, splits in TFDS's stored order, their labels."""
# Annotations stay strings, so `tf.data.Dataset` in a signature runs no TensorFlow code at import:
# zoo.train imports this module to define its flags before TensorFlow loads (zoo/cli.py).
from __future__ import annotations

import os
import socket
from typing import Optional, Tuple

import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import pipeline
from zoo.data.datasets import DATA_DIR_ENV, DataUnavailableError, dataset_info, resolve_data_dir


def internet_reachable(host="storage.googleapis.com", timeout_s=3.0) -> bool:
  """Whether Google's storage (TFDS's and Keras's downloads) resolves: offline, this answers at once,
  where TFDS would retry for minutes before failing."""
  previous = socket.getdefaulttimeout()
  socket.setdefaulttimeout(timeout_s)
  try:
    socket.getaddrinfo(host, 443)
    return True
  except OSError:
    return False
  finally:
    socket.setdefaulttimeout(previous)


def _unavailable(dataset, data_dir, reason):
  prepared = sorted(name for name in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, name))) \
      if data_dir and os.path.isdir(data_dir) else []
  if prepared:  # the directory holds other datasets: this one is what is missing, not the flag
    return DataUnavailableError(
        f"Dataset {dataset!r} is not prepared in {data_dir} and could not be downloaded ({reason}). "
        f"Prepare it there where there is internet (tfds build {dataset} --data_dir={data_dir}), or train "
        f"on a dataset that is: --dataset={' or --dataset='.join(prepared)}.")
  where = data_dir or "TFDS's default directory (~/tensorflow_datasets)"
  return DataUnavailableError(
      f"Dataset {dataset!r} is not prepared in {where} and could not be downloaded ({reason}). Point "
      f"--data_dir (or the {DATA_DIR_ENV} environment variable) at a directory that holds the prepared "
      f"TFDS dataset, e.g. --data_dir=../shared/tensorflow_datasets.")


def _tfds_name(dataset: str) -> str:
  info = dataset_info(dataset)
  if info.is_folder:
    raise ValueError(f"--dataset={dataset} is an image folder, not a TFDS dataset.")
  return info.tfds_name


def builder(dataset: str, data_dir: Optional[str] = None, download: bool = True):
  """A prepared TFDS builder; downloads and prepares when allowed and possible, else a clear error."""
  data_dir = resolve_data_dir(data_dir)
  tfds_builder = tfds.builder(_tfds_name(dataset), data_dir=data_dir)
  if tfds_builder.is_prepared():
    return tfds_builder
  if not download:
    raise _unavailable(dataset, data_dir, "downloading is disabled")
  if not internet_reachable():
    raise _unavailable(dataset, data_dir, "no internet connection")
  try:
    tfds_builder.download_and_prepare()
  except Exception as e:  # TFDS raises many types here; all mean the same thing to the user.
    raise _unavailable(dataset, data_dir, f"{type(e).__name__}: {e}") from e
  return tfds_builder


def _features(dataset: str, data_dir: Optional[str]):
  # The features are part of the builder's code: known without the data itself.
  return tfds.builder(_tfds_name(dataset), data_dir=resolve_data_dir(data_dir)).info.features


def source_image_shape(dataset: str, data_dir: Optional[str] = None):
  return tuple(_features(dataset, data_dir)["image"].shape)


def class_names(dataset: str, data_dir: Optional[str] = None) -> Optional[Tuple[str, ...]]:
  features = _features(dataset, data_dir)
  if "label" not in features or not isinstance(features["label"], tfds.features.ClassLabel):
    return None
  return tuple(features["label"].names)


def num_examples(dataset: str, split: str, data_dir: Optional[str] = None, download: bool = True) -> int:
  try:
    return builder(dataset, data_dir, download).info.splits[split].num_examples
  except (KeyError, ValueError) as e:
    raise ValueError(f"Bad split {split!r} for {dataset}: {e}") from e


def stored_size(dataset: str, data_dir: Optional[str] = None) -> Tuple[int, int]:
  """(height, width) of the images before any resize: the stored size, or the dataset's square crop."""
  center_crop = dataset_info(dataset).center_crop
  height, width = source_image_shape(dataset, data_dir)[:2]
  return (center_crop, center_crop) if center_crop else (height, width)


def load(dataset: str, split: str, data_dir: Optional[str] = None, image_size: int = 0,
         download: bool = True, with_labels: bool = False, resize: str = "area") -> tf.data.Dataset:
  """uint8 images [H, W, C] (and int64 labels) of one split in TFDS's order, cropped and resized."""
  center_crop = dataset_info(dataset).center_crop
  pipeline.check_resize(resize)
  if resize == "pad" and image_size:
    height, width = stored_size(dataset, data_dir)
    side = max(height, width)
    if image_size < side:
      raise pipeline.pad_error(f"the images of {dataset} are {height}x{width}", side, image_size)
  if with_labels and class_names(dataset, data_dir) is None:
    raise ValueError(f"Dataset {dataset!r} has no class labels.")
  tfds_builder = builder(dataset, data_dir, download)
  try:
    ds = tfds_builder.as_dataset(split=split, shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=False))
  except (ValueError, AssertionError) as e:
    raise ValueError(f"Bad split {split!r} for {dataset}: {e}") from e

  def example_to_output(example):
    image = pipeline.crop_and_resize(example["image"], center_crop, image_size, resize)
    return (image, example["label"]) if with_labels else image

  return ds.map(example_to_output, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
