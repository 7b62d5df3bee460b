"""What every source shares: the square crop, the resize or pad, and the training stream over a split.

The training stream is a pure function of (seed, step): epoch e is the cached split shuffled with a
seed derived from (seed, e), so a resumed run rebuilds exactly the batches it would have seen without
saving any iterator state, skipping at most one epoch.
"""
# Annotations stay strings, so `tf.data.Dataset` in a signature runs no TensorFlow code at import:
# zoo.train imports this module to define its flags before TensorFlow loads (zoo/cli.py).
from __future__ import annotations

import tensorflow as tf

from zoo import pixels

_DATA_GRAPH_SEED = 20240101


LARGEST_SQUARE = "largest_square"  # a `center_crop` value: the largest central square (image folders)
# How images reach --image_size (TrainConfig.image_resize): an antialiased area resize, or centred on a
# black square (28x28 digits zero-padded to 32x32, the pytorch/examples DCGAN convention).
RESIZE_METHODS = ("area", "pad")


def check_resize(resize: str) -> str:
  if resize not in RESIZE_METHODS:
    raise ValueError(f"--image_resize={resize!r} is not one of {', '.join(RESIZE_METHODS)}.")
  return resize


def crop_and_resize(image, center_crop, image_size: int, resize: str = "area"):
  """uint8 [H, W, C]: the central square (if `center_crop` is set), brought to `image_size` (if set).

  `center_crop`: the square's side in pixels, or LARGEST_SQUARE for the largest that fits.
  `resize="area"`: TF's area method with antialiasing, a box filter when shrinking, pixel repetition when
  enlarging. `resize="pad"`: the image centred on a square of uint8 zeros (black) of side `image_size`,
  the odd pixel of an odd margin going to the bottom and right; it never shrinks, so an image larger than
  `image_size` is an error, which `zoo.data` reports before the pipeline runs.
  """
  check_resize(resize)
  if center_crop:
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(height, width) if center_crop == LARGEST_SQUARE else center_crop
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top:top + side, left:left + side]
  if image_size and resize == "pad":
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    image = tf.image.pad_to_bounding_box(image, (image_size - height) // 2, (image_size - width) // 2,
                                         image_size, image_size)
  elif image_size:
    image = tf.image.resize(image, [image_size, image_size], method="area", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
  return image


def pad_error(description: str, side: int, image_size: int) -> ValueError:
  """The error for images that --image_resize=pad would have to shrink: `description` names them."""
  return ValueError(f"--image_resize=pad centres images on a black {image_size}x{image_size} square and "
                    f"never shrinks them, but {description}: use --image_size={side} or more, or "
                    "--image_resize=area.")


def epoch_shuffle_seed(seed: int, epoch):
  return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def batch_seed(seed: int, batch_index):
  """The stateless-RNG seed [2] of global batch `batch_index`: the same on any replica count."""
  return tf.stack([tf.cast(seed, tf.int64), tf.cast(batch_index, tf.int64)])


def batch_stream(images: tf.data.Dataset, num_examples: int, config, start_step: int = 0,
                 batches_per_step: int = 1, prepare=None) -> tf.data.Dataset:
  """Endless global batches of `images` (one split, uint8, fixed order) from step `start_step` on.

  `images` may hold (image, label) pairs: the shuffle's order does not depend on the elements, so the
  images come in the same order as alone, and each batch is {"real": images, "label": int32 [B]}.
  See `zoo.data.training_batches`, which calls this with the split named by the config.
  """
  batches_per_epoch = num_examples // config.batch_size
  if batches_per_epoch == 0:
    raise ValueError(f"--batch_size={config.batch_size} is larger than the {num_examples} examples of "
                     f"{config.dataset}:{config.train_split}.")
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
  if isinstance(ds.element_spec, tuple):
    return _labelled(ds, config, first_batch, prepare)
  ds = ds.map(lambda x: pixels.to_model_range(x, config.pixel_range), num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  if prepare is not None:
    ds = ds.enumerate(first_batch).map(lambda index, x: prepare(x, batch_seed(config.seed, index)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _with_options(ds)


def _labelled(ds, config, first_batch, prepare):
  """Batches of (images, labels) as {"real": images in the model's range, "label": int32 [B]}."""
  def to_batch(index, images, labels):
    real = pixels.to_model_range(images, config.pixel_range)
    batch = {"real": real}
    if prepare is not None:
      prepared = prepare(real, batch_seed(config.seed, index))
      batch = prepared if isinstance(prepared, dict) else {"real": prepared}
    return {**batch, "label": tf.cast(labels, tf.int32)}
  ds = ds.enumerate(first_batch).map(lambda index, pair: to_batch(index, *pair),
                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _with_options(ds)


def _with_options(ds):
  options = tf.data.Options()
  options.deterministic = True
  # Every worker reads the whole split and keeps its share of each batch (the TFDS splits are single
  # files, so file-level sharding cannot apply).
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
