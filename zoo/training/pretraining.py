"""A model's supervised phase before adversarial training (ModelSpec.pretraining), e.g. an autoencoder.

It runs on the same loop, checkpoint and TensorBoard as the GAN phase; its grid shows reconstructions
and its progress line a validation loss on held-out images.
"""
import tensorflow as tf

from zoo import data
from zoo import pixels
from zoo.training import objective
from zoo.training import step as step_lib

METRICS = ("loss",)
VALIDATION_BATCH = 500


def phase_length(config, pretraining) -> int:
  steps = int(config.options[pretraining.steps_option])
  if steps < 0:
    raise ValueError(f"--{pretraining.steps_option} must be 0 (no pretraining) or more, got {steps}.")
  return steps


class PretrainStep:
  """The replica function of one supervised update of the pretraining model."""

  def __init__(self, config, spec, state, strategy):
    self.config = config
    self.pretraining = spec.pretraining
    self.state = state
    self.strategy = strategy
    self._validation = None

  def replica_step(self, batches, step):
    del step  # the pretraining draws no noise
    model, optimizer = self.state.pretrained, self.state.p_optimizer
    real = step_lib.as_batch(batches[0])["real"]
    global_batch = tf.shape(real)[0] * self.strategy.num_replicas_in_sync
    with tf.GradientTape() as tape:
      outputs = model(real, training=True)
      per_example = tf.cast(self.pretraining.loss(real, outputs), tf.float32)
      loss = objective.reduce_over_global_batch(per_example, global_batch)
      loss += objective.regularization(model)
      scaled = optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss}

  def validation_loss(self) -> float:
    """Mean pretraining loss over the held-out images named by the model's Pretraining."""
    config, pretraining = self.config, self.pretraining
    if self._validation is None:
      images = data.load_images(config.dataset, pretraining.validation_split, config.data_dir,
                                config.image_size, resize=config.image_resize)
      images = images.take(pretraining.validation_examples)
      self._validation = images.batch(VALIDATION_BATCH).map(
          lambda x: pixels.to_model_range(x, config.pixel_range)).cache()
      self._validation_batch_loss = tf.function(
          lambda real: tf.reduce_sum(pretraining.loss(real, self.state.pretrained(real, training=False))))
    total, count = 0.0, 0
    for real in self._validation:
      total += float(self._validation_batch_loss(real))
      count += int(real.shape[0])
    return total / count
