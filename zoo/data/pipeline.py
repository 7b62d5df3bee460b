"""What every source shares: the square crop and resize, and the training stream over a split.

The training stream is a pure function of (seed, step): epoch e is the cached split shuffled with a
seed derived from (seed, e), so a resumed run rebuilds exactly the batches it would have seen without
saving any iterator state, skipping at most one epoch.
"""
import tensorflow as tf

from zoo import pixels

_DATA_GRAPH_SEED = 20240101


LARGEST_SQUARE = "largest_square"  # a `center_crop` value: the largest central square (image folders)


def crop_and_resize(image, center_crop, image_size: int):
  """uint8 [H, W, C]: the central square (if `center_crop` is set), resized to `image_size` (if set).

  `center_crop`: the square's side in pixels, or LARGEST_SQUARE for the largest that fits. The resize is
  TF's area method with antialiasing: a box filter when shrinking, pixel repetition when enlarging.
  """
  if center_crop:
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(height, width) if center_crop == LARGEST_SQUARE else center_crop
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top:top + side, left:left + side]
  if image_size:
    image = tf.image.resize(image, [image_size, image_size], method="area", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
  return image


def epoch_shuffle_seed(seed: int, epoch):
  return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def batch_seed(seed: int, batch_index):
  """The stateless-RNG seed [2] of global batch `batch_index`: the same on any replica count."""
  return tf.stack([tf.cast(seed, tf.int64), tf.cast(batch_index, tf.int64)])


def batch_stream(images: tf.data.Dataset, num_examples: int, config, start_step: int = 0,
                 batches_per_step: int = 1, prepare=None) -> tf.data.Dataset:
  """Endless global batches of `images` (one split, uint8, fixed order) from step `start_step` on.

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
