"""Training data through TensorFlow Datasets: which images, in which order, at which size.

The training stream is a pure function of (seed, step): epoch e is the cached split shuffled with a
seed derived from (seed, e), so a resumed run rebuilds exactly the batches it would have seen without
saving any iterator state, skipping at most one epoch.
"""
import dataclasses
import os
import socket
from typing import Optional

import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import pixels

DATA_DIR_ENV = "TFDS_DATA_DIR"
_DATA_GRAPH_SEED = 20240101


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  tfds_name: str
  center_crop: Optional[int] = None  # square crop (pixels) taken before resizing, for face photos


DATASETS = {
    "mnist": DatasetInfo("mnist"),
    "fashion_mnist": DatasetInfo("fashion_mnist"),
    # Aligned CelebA faces are 218x178; the DCGAN convention crops the central 140x140 face region.
    "celeb_a": DatasetInfo("celeb_a", center_crop=140),
}


class DataUnavailableError(RuntimeError):
  """The dataset is neither prepared in the data directory nor downloadable from here."""


def resolve_data_dir(data_dir: Optional[str]) -> Optional[str]:
  return data_dir or os.environ.get(DATA_DIR_ENV) or None


def _dataset_info(dataset: str) -> DatasetInfo:
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r}. Valid names: {', '.join(sorted(DATASETS))}.")
  return DATASETS[dataset]


def _internet_reachable(host="storage.googleapis.com", timeout_s=3.0) -> bool:
  # TFDS would otherwise retry for minutes before failing; a DNS lookup answers offline at once.
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
  where = data_dir or "TFDS's default directory (~/tensorflow_datasets)"
  return DataUnavailableError(
      f"Dataset {dataset!r} is not prepared in {where} and could not be downloaded ({reason}). "
      f"Point --data_dir (or the {DATA_DIR_ENV} environment variable) at a directory that holds the "
      f"prepared TFDS dataset, e.g. --data_dir=../shared/tensorflow_datasets.")


def builder(dataset: str, data_dir: Optional[str] = None, download: bool = True):
  """A prepared TFDS builder; downloads and prepares when allowed and possible, else a clear error."""
  info = _dataset_info(dataset)
  data_dir = resolve_data_dir(data_dir)
  tfds_builder = tfds.builder(info.tfds_name, data_dir=data_dir)
  if tfds_builder.is_prepared():
    return tfds_builder
  if not download:
    raise _unavailable(dataset, data_dir, "downloading is disabled")
  if not _internet_reachable():
    raise _unavailable(dataset, data_dir, "no internet connection")
  try:
    tfds_builder.download_and_prepare()
  except Exception as e:  # TFDS raises many types here; all mean the same thing to the user.
    raise _unavailable(dataset, data_dir, f"{type(e).__name__}: {e}") from e
  return tfds_builder


def source_image_shape(dataset: str, data_dir: Optional[str] = None):
  """[H, W, C] of the dataset's stored images (known without the data itself)."""
  info = _dataset_info(dataset)
  return tuple(tfds.builder(info.tfds_name, data_dir=resolve_data_dir(data_dir)).info.features["image"].shape)


def image_shape(dataset: str, image_size: int = 0, data_dir: Optional[str] = None):
  """[H, W, C] of the images the model sees: the dataset's own size unless `image_size` is set."""
  height, width, channels = source_image_shape(dataset, data_dir)
  crop = _dataset_info(dataset).center_crop
  if image_size:
    return (image_size, image_size, channels)
  if crop:
    return (crop, crop, channels)
  return (height, width, channels)


def load_images(dataset: str, split: str, data_dir: Optional[str] = None, image_size: int = 0,
                download: bool = True) -> tf.data.Dataset:
  """uint8 images [H, W, C] of one split in TFDS's deterministic order, cropped and resized."""
  info = _dataset_info(dataset)
  tfds_builder = builder(dataset, data_dir, download)
  try:
    ds = tfds_builder.as_dataset(split=split, shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=False))
  except (ValueError, AssertionError) as e:
    raise ValueError(f"Bad split {split!r} for {dataset}: {e}") from e
  return ds.map(lambda example: _crop_and_resize(example["image"], info.center_crop, image_size),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _crop_and_resize(image, center_crop, image_size):
  if center_crop:
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - center_crop) // 2, (width - center_crop) // 2
    image = image[top:top + center_crop, left:left + center_crop]
  if image_size:
    image = tf.image.resize(image, [image_size, image_size], method="area", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
  return image


def epoch_shuffle_seed(seed: int, epoch):
  return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def batch_seed(seed: int, batch_index):
  """The stateless-RNG seed [2] of global batch `batch_index`: the same on any replica count."""
  return tf.stack([tf.cast(seed, tf.int64), tf.cast(batch_index, tf.int64)])


def training_batches(config, start_step: int = 0, download: bool = True, batches_per_step: int = 1,
                     prepare=None) -> tf.data.Dataset:
  """Endless global batches in the model's pixel range, starting where step `start_step` starts.

  `batches_per_step` is the number of batches one training step consumes (one per D update).
  `prepare(images, seed)`, if given, turns each global batch into the model's batch (e.g. adds a
  degraded copy) with randomness drawn from `batch_seed(config.seed, batch index)`.
  """
  split = config.train_split
  images = load_images(config.dataset, split, config.data_dir, config.image_size, download).cache()
  num_examples = builder(config.dataset, config.data_dir, download).info.splits[split].num_examples
  batches_per_epoch = num_examples // config.batch_size
  if batches_per_epoch == 0:
    raise ValueError(f"--batch_size={config.batch_size} is larger than the {num_examples} examples of "
                     f"{config.dataset}:{split}.")
  first_batch = start_step * batches_per_step
  first_epoch, skip = divmod(first_batch, batches_per_epoch)

  def one_epoch(epoch):
    # Pin this function graph's seed: the order must depend on (seed, epoch) alone, not on whatever
    # global seed the process set (tf.data combines both).
    tf.compat.v1.get_default_graph().seed = _DATA_GRAPH_SEED
    shuffled = images.shuffle(config.shuffle_buffer, seed=epoch_shuffle_seed(config.seed, epoch),
                              reshuffle_each_iteration=False)
    return shuffled.batch(config.batch_size, drop_remainder=True)

  ds = tf.data.Dataset.range(first_epoch, 2**62).flat_map(one_epoch).skip(skip)
  ds = ds.map(lambda x: pixels.to_model_range(x, config.pixel_range), num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  if prepare is not None:
    ds = ds.enumerate(first_batch).map(lambda index, x: prepare(x, batch_seed(config.seed, index)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  options = tf.data.Options()
  options.deterministic = True
  # Every worker reads the whole split and keeps its share of each batch (the TFDS splits are single
  # files, so file-level sharding cannot apply).
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
