"""`GANTrainer`: a run's state, its steps compiled into loops, its input pipeline and its grids.

It is what `fit` drives and what tests and benchmarks call directly; the pieces live in their own
modules (state.py, step.py, pretraining.py, grids.py, loop.py).
"""
import tensorflow as tf

from zoo import data
from zoo import models
from zoo.training import grids as grids_lib
from zoo.training import phases as phases_lib
from zoo.training import pretraining as pretraining_lib
from zoo.training import state as state_lib
from zoo.training import step as step_lib


class GANTrainer:
  """Builds G, D and their optimisers under a strategy and runs the shared training step."""

  def __init__(self, config, strategy=None, spec=None):
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.spec = spec or models.get_model(config.model)
    self.image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
    if self.spec.check_options is not None:
      self.spec.check_options(config, self.image_shape)
    self.pretrain_steps = (pretraining_lib.phase_length(config, self.spec.pretraining)
                           if self.spec.pretraining else 0)
    self.state = state_lib.TrainState(config, self.spec, self.strategy, self.image_shape)
    self.gan_step = step_lib.GANStep(config, self.spec, self.state, self.strategy)
    self.metric_names = self.gan_step.metric_names
    after_step = (self.state.ema.update,) if self.state.ema else ()
    self._train_loop = phases_lib.compile_loop(self.strategy, self.gan_step.replica_step, self.state.step,
                                         len(self.metric_names), config.d_steps, after_step)
    self.pretrain_step = None
    if self.spec.pretraining is not None:
      self.pretrain_step = pretraining_lib.PretrainStep(config, self.spec, self.state, self.strategy)
      self._pretrain_loop = phases_lib.compile_loop(self.strategy, self.pretrain_step.replica_step,
                                              self.state.pretrain_step, len(pretraining_lib.METRICS), 1)
    self.grids = grids_lib.Grids(config, self.spec, self.state)

  # The networks, for callers that train or inspect them directly.
  generator = property(lambda self: self.state.generator)
  discriminator = property(lambda self: self.state.discriminator)
  pretrained = property(lambda self: self.state.pretrained)
  checkpoint = property(lambda self: self.state.checkpoint)
  step = property(lambda self: self.state.step)

  def train_steps(self, iterator, num_steps: int):
    """Runs `num_steps` GAN steps; returns ({metric: mean value}, first non-finite step or -1)."""
    means, first_bad = self._train_loop(iterator, tf.constant(num_steps, tf.int64))
    return dict(zip(self.metric_names, means.numpy().tolist())), int(first_bad)

  def pretrain_steps_call(self, iterator, num_steps: int):
    """Runs `num_steps` pretraining steps; same return values as `train_steps`."""
    means, first_bad = self._pretrain_loop(iterator, tf.constant(num_steps, tf.int64))
    return dict(zip(pretraining_lib.METRICS, means.numpy().tolist())), int(first_bad)

  def distributed_batches(self, start_step: int, download: bool = True, batches_per_step: int = 0):
    """The training stream from `start_step` on, split across the strategy's replicas."""
    prepare = None
    if self.spec.prepare_batch is not None:
      prepare = lambda real, seed: self.spec.prepare_batch(self.config, real, seed)
    dataset = data.training_batches(self.config, start_step, download=download,
                                    batches_per_step=batches_per_step or self.config.d_steps,
                                    prepare=prepare)
    return iter(self.strategy.experimental_distribute_dataset(dataset))

  def start_gan_phase(self):
    """Once, at GAN step 0: G from the pretraining's result (if any), then the EMA copy from G."""
    if self.state.pretrained is not None:
      self.spec.pretraining.initialize_generator(self.config, self.state.pretrained, self.state.generator)
    if self.state.ema is not None:
      self.state.ema.initialize()

  def fixed_batch(self, size):
    return self.grids.fixed_batch(size)

  def sample_grid(self):
    return self.grids.samples(self.state.sampling_generator)

  def phases(self):
    """The run's phases in order: the pretraining (if any), then the GAN phase."""
    phases = []
    if self.pretrain_step is not None:
      name = self.spec.pretraining.name
      phases.append(phases_lib.Phase(
          name, self.state.pretrain_step, self.pretrain_steps, pretraining_lib.METRICS,
          self.pretrain_steps_call, 1, self.grids.reconstructions, f"{name}/reconstructions",
          on_log=lambda: {"validation_loss": self.pretrain_step.validation_loss()}))
    phases.append(phases_lib.Phase(
        "train", self.state.step, self.config.steps, self.metric_names, self.train_steps,
        self.config.d_steps, self.sample_grid, "samples/fixed_noise", evaluate=True,
        on_start=self.start_gan_phase))
    return phases
