"""What a run's checkpoint holds: G, D, their optimisers, the step counters (and a pretraining model,
G's moving average, ADA's controller).

Everything random in a step is a pure function of (seed, step) (noise, data order, augmentation) or of
a seed state kept here (Dropout's), so these variables are all a run needs to resume bit-exactly.
"""
import keras
import tensorflow as tf

from zoo import accel
from zoo import config as config_lib
from zoo import hardware
from zoo import runs
from zoo.recipe import ada as ada_lib
from zoo.recipe import ema as ema_lib
from zoo.recipe import spectral_norm


def make_optimizer(config, learning_rate):
  optimizer = accel.adam(config.fast_kernels, learning_rate, config.beta_1, config.beta_2)
  if config.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def step_counter():
  return tf.Variable(0, dtype=tf.int64, trainable=False,
                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


class TrainState:
  """Builds the run's variables under `strategy` and the config's dtype policy.

  The build order is part of the numbers: the initial weights follow --seed through Keras' global RNG,
  so networks are built in a fixed order (G, D, then the pretraining model).
  """

  def __init__(self, config, spec, strategy, image_shape):
    self.pretraining = spec.pretraining
    self.use_ema = config.use_ema
    keras.utils.set_random_seed(config.seed)
    with strategy.scope(), hardware.precision_policy(config.precision):
      self.generator = spec.build_generator(config, image_shape)
      self.discriminator = spec.build_discriminator(config, image_shape)
      if config.spectral_norm:
        self.discriminator = spectral_norm.spectrally_normalized(self.discriminator)
      self.g_optimizer = make_optimizer(config, config.g_learning_rate)
      self.d_optimizer = make_optimizer(config, config.d_learning_rate)
      # Slots are created now, not lazily inside the compiled loop (which fails under Mirrored).
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      self.step = step_counter()
      self.pretrain_step = step_counter()
      self.pretrained = self.p_optimizer = None
      if self.pretraining is not None:
        self.pretrained = self.pretraining.build(config, image_shape)
        self.p_optimizer = make_optimizer(config,
                                          config.options[self.pretraining.learning_rate_option])
        self.p_optimizer.build(self.pretrained.trainable_variables)
      # Built last, so the networks above start from the same weights with or without it.
      self.ema = None
      if config.ema_decay:
        self.ema = ema_lib.ExponentialMovingAverage(
            self.generator, spec.build_generator(config, image_shape), config.ema_decay)
        self.ema.initialize()
      # p and its statistics (--augment=ada): mirrored variables, written only in cross-replica context.
      self.ada = None
      if config.augment == config_lib.ADA:
        self.ada = ada_lib.AdaController(config.ada_target, config.ada_interval, config.ada_kimg)
      for model in (self.generator, self.discriminator, self.pretrained, self.ema and self.ema.target):
        if model is not None:
          accel.accelerate(model, config.fast_kernels)
    self.checkpoint = tf.train.Checkpoint(**self._trackables())

  def _trackables(self):
    objects = {runs.GENERATOR: self.generator, "discriminator": self.discriminator,
               "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer, "step": self.step}
    if self.ema is not None:
      objects[runs.GENERATOR_EMA] = self.ema.target
    if self.ada is not None:
      objects["ada"] = self.ada
    if self.pretrained is not None:
      objects.update({self.pretraining.name: self.pretrained, "p_optimizer": self.p_optimizer,
                      "pretrain_step": self.pretrain_step})
    # Dropout's seed advances every call; Keras keeps it outside the weights a checkpoint sees.
    random_states = [state for model in (self.generator, self.discriminator, self.pretrained)
                     if model is not None for state in seed_states(model)]
    if random_states:
      objects["random_states"] = random_states
    return objects

  def restore(self, path) -> bool:
    """Restores every variable from the checkpoint at `path`. False when it was written before Dropout's
    seeds were saved: everything else is restored and the masks restart from their initial seeds."""
    saved = {name.split("/")[0] for name, _ in tf.train.list_variables(path)}
    objects = self._trackables()
    has_seeds = "random_states" not in objects or "random_states" in saved
    checkpoint = self.checkpoint if has_seeds else tf.train.Checkpoint(
        **{name: value for name, value in objects.items() if name != "random_states"})
    checkpoint.restore(path).assert_existing_objects_matched()
    return has_seeds

  @property
  def sampling_generator(self):
    """The generator grids and evaluations show: the EMA copy when there is one and it is wanted."""
    return self.ema.target if self.ema is not None and self.use_ema else self.generator

  @property
  def global_step(self) -> int:
    """Steps over all phases: checkpoint numbers and TensorBoard steps."""
    return int(self.step.numpy()) + int(self.pretrain_step.numpy())


def seed_states(model):
  """The seed-generator states of `model`'s layers (Dropout's), in layer order: Keras advances them on
  every call but leaves them out of `model.weights`, so a checkpoint must hold them explicitly."""
  return [layer.seed_generator.state for layer in accel.walk_layers(model)
          if getattr(layer, "seed_generator", None) is not None]
