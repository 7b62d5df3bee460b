"""The pictures a run shows: the fixed noise batch through G, rows of fixed inputs and outputs, or (for a
class-conditional run) one row per class."""
import numpy as np
import tensorflow as tf

from zoo import data
from zoo import images
from zoo import pixels
from zoo import sampling
from zoo.training import step as step_lib

GRID_SEED = 0x5EED  # the fixed noise (and fixed input batch) shown every `image_every` steps
CONDITIONAL_GRID_COLUMNS = 16


def grid_noise(config):
  return tf.random.stateless_normal([config.num_grid_images, config.latent_dim],
                                    seed=[config.seed, GRID_SEED])


class Grids:
  """Builds uint8 grid images of a run's models; the fixed input batch is loaded once."""

  def __init__(self, config, spec, state):
    self.config = config
    self.spec = spec
    self.state = state
    self._fixed_batch = None

  def fixed_batch(self, size):
    """The first `size` training images, prepared as a batch with a fixed seed (and their labels, under
    "label", when the run is class-conditional)."""
    if self._fixed_batch is None:
      config = self.config
      load = data.load_examples if data.uses_labels(config) else data.load_images
      first = load(config.dataset, config.train_split, config.data_dir, config.image_size,
                   resize=config.image_resize).batch(size).take(1).get_single_element()
      real, labels = first if data.uses_labels(config) else (first, None)
      real = pixels.to_model_range(real, config.pixel_range)
      batch = real
      if self.spec.prepare_batch is not None:
        batch = self.spec.prepare_batch(config, real, tf.constant([config.seed, GRID_SEED], tf.int64))
      self._fixed_batch = step_lib.as_batch(batch)
      if labels is not None:
        self._fixed_batch = {**self._fixed_batch, "label": tf.cast(labels, tf.int32)}
    return self._fixed_batch

  def _grid(self, rows, columns=0):
    uint8_rows = [pixels.to_uint8(row, self.config.pixel_range).numpy() for row in rows]
    return images.make_grid(np.concatenate(uint8_rows), columns)

  def samples(self, generator):
    """The fixed noise batch through `generator`; for models of inputs, rows of inputs and outputs; for a
    class-conditional run, one row per class."""
    classes = self.spec.num_classes(self.config)
    if classes:
      return self.class_rows(generator, classes)
    if self.spec.samples_from_noise and self.spec.grid_rows is None:
      return self._grid([sampling.generated_images(generator(grid_noise(self.config), training=False))])
    columns = min(self.config.num_grid_images, CONDITIONAL_GRID_COLUMNS)
    batch = self.fixed_batch(columns)
    z = grid_noise(self.config)[:columns]
    fake = sampling.generated_images(generator(self.spec.generator_input(batch, z), training=False))
    rows = self.spec.grid_rows(batch, fake) if self.spec.grid_rows else [fake]
    return self._grid(rows, columns)

  def class_rows(self, generator, classes):
    """Row k: class k, from the same fixed noise in every row (so a column shows one z across classes);
    `num_grid_images // classes` columns (at least one)."""
    columns = max(1, self.config.num_grid_images // classes)
    z = tf.tile(grid_noise(self.config)[:columns], [classes, 1])              # [K * columns, latent]
    labels = tf.repeat(tf.range(classes, dtype=tf.int32), columns)            # [K * columns]
    fake = generator(self.spec.generator_input({"label": labels}, z), training=False)
    return self._grid([sampling.generated_images(fake)], columns)

  def reconstructions(self):
    """Pretraining: fixed training images above what the pretrained model makes of them."""
    columns = min(self.config.num_grid_images, CONDITIONAL_GRID_COLUMNS)
    real = self.fixed_batch(columns)["real"]
    outputs = self.state.pretrained(real, training=False)
    return self._grid([real, sampling.generated_images(outputs)], columns)
