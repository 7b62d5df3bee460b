"""`GANTrainer`: a run's state, its steps compiled into loops, its input pipeline and its grids.

It is what `fit` drives and what tests and benchmarks call directly; the pieces live in their own
modules (state.py, objective.py, step.py, pretraining.py, grids.py, phases.py, loop.py).
"""
import tensorflow as tf

from zoo import data
from zoo import models
from zoo.training import grids as grids_lib
from zoo.training import phases as phases_lib
from zoo.training import pretraining as pretraining_lib
from zoo.training import state as state_lib
from zoo.training import step as step_lib


def check(config, spec=None, download=True):
  """Checks a run's settings against its model and its data (prepared, the split's size, the image
  shape) before anything is built or written; returns the image shape. Raises ValueError or
  DataUnavailableError with one line naming the setting."""
  spec = spec or models.get_model(config.model)
  image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  if not data.is_folder(config.dataset):  # a folder's images are counted as they are decoded
    examples = data.num_examples(config.dataset, config.train_split, config.data_dir, download=download)
    if examples < config.batch_size:
      raise ValueError(f"--batch_size={config.batch_size} is larger than the {examples} examples of "
                       f"{config.dataset}:{config.train_split}.")
  if spec.check_options is not None:
    spec.check_options(config, image_shape)
  if spec.pretraining is not None:
    pretraining_lib.phase_length(config, spec.pretraining)
  return image_shape


class GANTrainer:
  """Builds G, D and their optimisers under a strategy and runs the shared training step."""

  def __init__(self, config, strategy=None, spec=None, image_shape=None):
    """`image_shape`: what `check(config, spec)` returned, when the caller has checked the run already."""
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.spec = spec or models.get_model(config.model)
    self.image_shape = image_shape or check(config, self.spec)
    self.state = state_lib.TrainState(config, self.spec, self.strategy, self.image_shape)
    self.gan_step = step_lib.GANStep(config, self.spec, self.state, self.strategy)
    self.metric_names = self.gan_step.objective.metric_names
    self._loops = {phases_lib.GAN: phases_lib.compile_loop(
        self.strategy, self.gan_step.replica_step, self.state.step, self.metric_names, config.d_steps,
        self._after_gan_step(), self.gan_step.objective.statistic_names)}
    self.pretrain_step = None
    if self.spec.pretraining is not None:
      self.pretrain_step = pretraining_lib.PretrainStep(config, self.spec, self.state, self.strategy)
      self._loops[self.spec.pretraining.name] = phases_lib.compile_loop(
          self.strategy, self.pretrain_step.replica_step, self.state.pretrain_step,
          pretraining_lib.METRICS, 1)
    self.grids = grids_lib.Grids(config, self.spec, self.state)

  def _after_gan_step(self):
    """What runs after every GAN step in cross-replica context: G's moving average, ADA's controller."""
    hooks = []
    if self.state.ema is not None:
      hooks.append(lambda step, statistics: self.state.ema.update(step))
    if self.state.ada is not None:
      ada = self.state.ada
      hooks.append(lambda step, statistics: ada.update(statistics["ada_sign_sum"], statistics["ada_reals"],
                                                       step))
    return tuple(hooks)

  # The networks, for callers that train or inspect them directly.
  generator = property(lambda self: self.state.generator)
  discriminator = property(lambda self: self.state.discriminator)
  pretrained = property(lambda self: self.state.pretrained)
  checkpoint = property(lambda self: self.state.checkpoint)
  step = property(lambda self: self.state.step)

  def phases(self):
    """The run's phases in order: the pretraining (if any), then the GAN phase."""
    phases = []
    if self.pretrain_step is not None:
      name = self.spec.pretraining.name
      length = pretraining_lib.phase_length(self.config, self.spec.pretraining)
      phases.append(phases_lib.Phase(name, length, 1, pretraining_lib.METRICS, f"{name}/reconstructions"))
    phases.append(phases_lib.Phase(phases_lib.GAN, self.config.steps, self.config.d_steps,
                                   self.metric_names, "samples/fixed_noise", evaluate=True))
    return phases

  def counter(self, phase):
    """The phase's step variable (saved in the checkpoint)."""
    return self.state.step if phase.name == phases_lib.GAN else self.state.pretrain_step

  def run(self, phase, iterator, num_steps: int):
    """Runs `num_steps` steps of `phase`; returns ({metric: mean value}, first non-finite step or -1)."""
    means, first_bad = self._loops[phase.name](iterator, tf.constant(num_steps, tf.int64))
    return {name: float(value) for name, value in means.items()}, int(first_bad)

  def train_steps(self, iterator, num_steps: int):
    """Runs `num_steps` GAN steps; see `run`."""
    return self.run(self.phases()[-1], iterator, num_steps)

  def start(self, phase):
    """Once, when a phase starts from its step 0: the GAN phase's G from the pretraining's result (if
    any), then the EMA copy from G."""
    if phase.name != phases_lib.GAN:
      return
    if self.state.pretrained is not None:
      self.spec.pretraining.initialize_generator(self.config, self.state.pretrained, self.state.generator)
    if self.state.ema is not None:
      self.state.ema.initialize()

  def grid(self, phase):
    """The phase's grid image (uint8): samples of the fixed noise, or the pretraining's reconstructions."""
    if phase.name == phases_lib.GAN:
      return self.grids.samples(self.state.sampling_generator)
    return self.grids.reconstructions()

  def extra_scalars(self, phase):
    """Scalars a phase logs beside its metrics: ADA's p and last r_t, the pretraining's validation loss."""
    if phase.name != phases_lib.GAN:
      return {"validation_loss": self.pretrain_step.validation_loss()}
    if self.state.ada is None:
      return {}
    return {"ada_p": float(self.state.ada.p.numpy()), "ada_r_t": float(self.state.ada.r_t.numpy())}

  def distributed_batches(self, start_step: int, download: bool = True, batches_per_step: int = 0):
    """The training stream from `start_step` on, split across the strategy's replicas."""
    prepare = None
    if self.spec.prepare_batch is not None:
      prepare = lambda real, seed: self.spec.prepare_batch(self.config, real, seed)
    dataset = data.training_batches(self.config, start_step, download=download,
                                    batches_per_step=batches_per_step or self.config.d_steps,
                                    prepare=prepare)
    return iter(self.strategy.experimental_distribute_dataset(dataset))

  def fixed_batch(self, size):
    return self.grids.fixed_batch(size)

  def sample_grid(self):
    return self.grids.samples(self.state.sampling_generator)
