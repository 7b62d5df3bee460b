"""The one GAN trainer every model runs on: distributed step, loop, summaries, checkpoints, resume.

A training step is `d_steps` discriminator updates followed by one generator update. The last D update
and the G update share one forward pass (as the TensorFlow DCGAN tutorial does), so with the default
`d_steps=1` a step costs one G forward and one D forward over real and fake together.

Everything random is a pure function of (seed, step): the noise comes from stateless RNG ops and the
data order from `zoo.data`, so a checkpoint only needs weights, optimiser slots and the step counter to
resume bit-exactly.

A model may add a supervised pretraining phase (`ModelSpec.pretraining`) that runs first on the same
loop, checkpoint and TensorBoard; the adversarial phase then starts from its result. Models whose
generator is not z -> image supply batch hooks (see zoo/models/registry.py); the trainer calls them
and has no model-specific branches.
"""
import contextlib
import dataclasses
import os
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import config as config_lib
from zoo import data
from zoo import distribute
from zoo import images
from zoo import models
from zoo import optimizers
from zoo import pixels

_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
_PRETRAIN_METRICS = ("loss",)
_GRID_SEED = 0x5EED  # the fixed noise (and fixed input batch) shown every `image_every` steps
_CONDITIONAL_GRID_COLUMNS = 16


class NonFiniteLossError(RuntimeError):
  pass


class TrainingInterrupted(Exception):
  """Raised after SIGINT/SIGTERM once a checkpoint of the current step is written."""


@contextlib.contextmanager
def dtype_policy(name: str):
  """Builds layers under a Keras dtype policy without leaving it set for the rest of the process."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def generated_images(outputs):
  """The images of a generator's outputs: the tensor itself, or the "images" entry of a dict."""
  return outputs["images"] if isinstance(outputs, dict) else outputs


def as_batch(element):
  """A training batch as a dict with the real images under "real"."""
  return element if isinstance(element, dict) else {"real": element}


def _optimizer(config, learning_rate):
  optimizer = optimizers.FusedAdam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
  if config.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def noise(config, step, substep, batch_size, replica_id=0, num_replicas=1):
  """This replica's slice of the global noise batch of (step, substep).

  Drawing the global batch statelessly and slicing it makes the update independent of the number of
  replicas and of restarts.
  """
  seed = tf.stack([tf.cast(config.seed, tf.int64), tf.cast(step, tf.int64) * 64 + substep])
  z = tf.random.stateless_normal([batch_size * num_replicas, config.latent_dim], seed=seed)
  return z[replica_id * batch_size:(replica_id + 1) * batch_size]


def grid_noise(config):
  return tf.random.stateless_normal([config.num_grid_images, config.latent_dim],
                                    seed=[config.seed, _GRID_SEED])


def _xla_if(jit_compile, fn):
  """`fn` compiled with XLA when asked; else left to inline into the step's graph.

  A nested (non-XLA) tf.function would forbid cross-replica reductions inside the model, such as
  synchronised BatchNorm statistics, under MirroredStrategy.
  """
  return tf.function(fn, jit_compile=True) if jit_compile else fn


class GANTrainer:
  """Builds G, D and their optimisers under a strategy and runs the shared training step."""

  def __init__(self, config, strategy=None, spec=None):
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.spec = spec or models.get_model(config.model)
    self.image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
    keras.utils.set_random_seed(config.seed)  # initial weights follow --seed
    with self.strategy.scope(), dtype_policy(config.precision):
      self.generator = self.spec.build_generator(config, self.image_shape)
      self.discriminator = self.spec.build_discriminator(config, self.image_shape)
      self.g_optimizer = _optimizer(config, config.g_learning_rate)
      self.d_optimizer = _optimizer(config, config.d_learning_rate)
      # Slots are created now, not lazily inside the compiled loop (which fails under Mirrored).
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                              aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
      self._build_pretraining()
    self.metric_names = _METRICS + tuple(self.spec.generator_terms)
    self.checkpoint = tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator,
                                          g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                                          step=self.step, **self._pretraining_checkpoint())
    # One replica: XLA compiles the whole step, optimiser updates included. Several replicas: only
    # forward and backward, since the cross-replica gradient sum must stay outside XLA.
    whole_step_xla = config.jit_compile and self.strategy.num_replicas_in_sync == 1
    self._gradients = _xla_if(config.jit_compile and not whole_step_xla, self._losses_and_gradients)
    self._d_gradients = _xla_if(config.jit_compile and not whole_step_xla, self._discriminator_gradients)
    self._replica_step = _xla_if(whole_step_xla, self.replica_step)
    self._train_loop = tf.function(self._run_steps)
    self._pretrain_loop = tf.function(self._run_pretrain_steps)
    self._grid_batch = None
    self._validation = None

  def _build_pretraining(self):
    pretraining = self.spec.pretraining
    self.pretrained = self.p_optimizer = None
    self.pretrain_steps = 0
    self.pretrain_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    if pretraining is None:
      return
    self.pretrain_steps = int(self.config.options[pretraining.steps_option])
    if self.pretrain_steps < 0:
      raise ValueError(f"--{pretraining.steps_option} must be 0 (no pretraining) or more, got "
                       f"{self.pretrain_steps}.")
    self.pretrained = pretraining.build(self.config, self.image_shape)
    self.p_optimizer = _optimizer(self.config, self.config.options[pretraining.learning_rate_option])
    self.p_optimizer.build(self.pretrained.trainable_variables)

  def _pretraining_checkpoint(self):
    if self.pretrained is None:
      return {}
    return {self.spec.pretraining.name: self.pretrained, "p_optimizer": self.p_optimizer,
            "pretrain_step": self.pretrain_step}

  # ---- the shared step -------------------------------------------------------------------------

  def _score(self, batch, real, fake):
    real = self.spec.discriminator_input(batch, real)
    fake = self.spec.discriminator_input(batch, tf.cast(fake, real.dtype))
    if self.config.joint_discriminator_pass:
      logits = self.discriminator(tf.concat([real, fake], 0), training=True)
      return tf.split(logits, 2, axis=0)
    return self.discriminator(real, training=True), self.discriminator(fake, training=True)

  def _reduce(self, per_example, global_batch_size):
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)

  def _regularization(self, model):
    if not model.losses:
      return 0.0
    return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]))

  def _discriminator_losses(self, batch, z, global_batch_size):
    outputs = self.generator(self.spec.generator_input(batch, z), training=True)
    real_logits, fake_logits = self._score(batch, batch["real"], generated_images(outputs))
    d_loss = self._reduce(self.spec.discriminator_loss(real_logits, fake_logits), global_batch_size)
    d_loss += self._regularization(self.discriminator)
    return d_loss, real_logits, fake_logits, outputs

  def _discriminator_gradients(self, batch, z, global_batch_size):
    with tf.GradientTape() as tape:
      d_loss = self._discriminator_losses(batch, z, global_batch_size)[0]
      scaled = self.d_optimizer.scale_loss(d_loss)
    return tape.gradient(scaled, self.discriminator.trainable_variables)

  def _extra_generator_losses(self, batch, outputs, global_batch_size):
    if self.spec.extra_generator_losses is None:
      return {}
    terms = self.spec.extra_generator_losses(self.config, batch, outputs)
    if set(terms) != set(self.spec.generator_terms):
      raise ValueError(f"{self.spec.name}: extra_generator_losses returned {sorted(terms)}, but "
                       f"generator_terms declares {sorted(self.spec.generator_terms)}.")
    return {name: self._reduce(tf.cast(value, tf.float32), global_batch_size)
            for name, value in terms.items()}

  def _mean_probability(self, logits, global_batch_size):
    """Mean D probability; a per-patch D's logits are averaged within each image first."""
    probabilities = tf.sigmoid(tf.cast(logits, tf.float32))
    per_example = tf.reduce_mean(tf.reshape(probabilities, [tf.shape(probabilities)[0], -1]), axis=1)
    return self._reduce(per_example, global_batch_size)

  def _losses_and_gradients(self, batch, z, global_batch_size):
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      d_loss, real_logits, fake_logits, outputs = self._discriminator_losses(batch, z, global_batch_size)
      g_loss = self._reduce(self.spec.generator_loss(fake_logits), global_batch_size)
      g_loss += self._regularization(self.generator)
      extra = self._extra_generator_losses(batch, outputs, global_batch_size)
      g_loss += tf.add_n(list(extra.values())) if extra else 0.0
      scaled_d = self.d_optimizer.scale_loss(d_loss)
      scaled_g = self.g_optimizer.scale_loss(g_loss)
    d_grads = d_tape.gradient(scaled_d, self.discriminator.trainable_variables)
    g_grads = g_tape.gradient(scaled_g, self.generator.trainable_variables)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": self._mean_probability(real_logits, global_batch_size),
        "d_fake": self._mean_probability(fake_logits, global_batch_size),
        **extra,
    }
    return d_grads, g_grads, metrics

  def replica_step(self, batches, step):
    """One training step on this replica's share of `d_steps` global batches; returns metrics."""
    context = tf.distribute.get_replica_context()
    replica_id = context.replica_id_in_sync_group
    num_replicas = self.strategy.num_replicas_in_sync
    batches = [as_batch(batch) for batch in batches]
    local_batch = tf.shape(batches[0]["real"])[0]
    global_batch = local_batch * num_replicas
    for substep, batch in enumerate(batches):
      z = noise(self.config, step, substep, local_batch, replica_id, num_replicas)
      if substep < len(batches) - 1:
        d_grads = self._d_gradients(batch, z, global_batch)
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
      else:
        d_grads, g_grads, metrics = self._gradients(batch, z, global_batch)
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
    return [metrics[name] for name in self.metric_names]

  def pretrain_replica_step(self, batches, step):
    """One supervised update of the pretraining model on this replica's share of the batch."""
    del step  # the pretraining draws no noise
    real = as_batch(batches[0])["real"]
    global_batch = tf.shape(real)[0] * self.strategy.num_replicas_in_sync
    with tf.GradientTape() as tape:
      outputs = self.pretrained(real, training=True)
      loss = self._reduce(tf.cast(self.spec.pretraining.loss(real, outputs), tf.float32), global_batch)
      loss += self._regularization(self.pretrained)
      scaled = self.p_optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, self.pretrained.trainable_variables)
    self.p_optimizer.apply_gradients(zip(grads, self.pretrained.trainable_variables))
    return [loss]

  def _loop(self, replica_fn, counter, num_metrics, batches_per_step, iterator, num_steps):
    """`num_steps` steps of `replica_fn` in one compiled call; returns mean metrics, first bad step."""
    totals = tf.zeros([num_metrics], tf.float32)
    first_bad_step = tf.constant(-1, tf.int64)
    for _ in tf.range(num_steps):
      batches = tuple(next(iterator) for _ in range(batches_per_step))
      per_replica = self.strategy.run(replica_fn, args=(batches, counter.read_value()))
      metrics = tf.stack([self.strategy.reduce(tf.distribute.ReduceOp.SUM, m, axis=None)
                          for m in per_replica])
      finite = tf.reduce_all(tf.math.is_finite(metrics))
      first_bad_step = tf.where((first_bad_step < 0) & ~finite, counter.read_value(), first_bad_step)
      totals += metrics
      counter.assign_add(1)
    return totals / tf.cast(num_steps, tf.float32), first_bad_step

  def _run_steps(self, iterator, num_steps):
    return self._loop(self._replica_step, self.step, len(self.metric_names), self.config.d_steps,
                      iterator, num_steps)

  def _run_pretrain_steps(self, iterator, num_steps):
    return self._loop(self.pretrain_replica_step, self.pretrain_step, len(_PRETRAIN_METRICS), 1,
                      iterator, num_steps)

  def train_steps(self, iterator, num_steps: int):
    """Runs `num_steps` GAN steps; returns ({metric: mean value}, first non-finite step or -1)."""
    means, first_bad = self._train_loop(iterator, tf.constant(num_steps, tf.int64))
    return dict(zip(self.metric_names, means.numpy().tolist())), int(first_bad)

  def pretrain_steps_call(self, iterator, num_steps: int):
    """Runs `num_steps` pretraining steps; same return values as `train_steps`."""
    means, first_bad = self._pretrain_loop(iterator, tf.constant(num_steps, tf.int64))
    return dict(zip(_PRETRAIN_METRICS, means.numpy().tolist())), int(first_bad)

  def distributed_batches(self, start_step: int, download: bool = True, batches_per_step: int = 0):
    prepare = None
    if self.spec.prepare_batch is not None:
      prepare = lambda real, seed: self.spec.prepare_batch(self.config, real, seed)
    dataset = data.training_batches(self.config, start_step, download=download,
                                    batches_per_step=batches_per_step or self.config.d_steps,
                                    prepare=prepare)
    return iter(self.strategy.experimental_distribute_dataset(dataset))

  def initialize_generator_from_pretraining(self):
    if self.pretrained is not None:
      self.spec.pretraining.initialize_generator(self.config, self.pretrained, self.generator)

  # ---- what the run shows -------------------------------------------------------------------------

  def fixed_batch(self, size):
    """The first `size` training images, prepared as a batch with a fixed seed (for grids)."""
    if self._grid_batch is None:
      real = data.load_images(self.config.dataset, self.config.train_split, self.config.data_dir,
                              self.config.image_size).batch(size).take(1).get_single_element()
      real = pixels.to_model_range(real, self.config.pixel_range)
      batch = real
      if self.spec.prepare_batch is not None:
        seed = tf.constant([self.config.seed, _GRID_SEED], tf.int64)
        batch = self.spec.prepare_batch(self.config, real, seed)
      self._grid_batch = as_batch(batch)
    return self._grid_batch

  def _grid(self, rows, columns=0):
    return images.make_grid(
        np.concatenate([pixels.to_uint8(row, self.config.pixel_range).numpy() for row in rows]), columns)

  def sample_grid(self):
    """The fixed noise batch through G; for conditional models, rows of fixed inputs and outputs."""
    if self.spec.samples_from_noise and self.spec.grid_rows is None:
      return self._grid([generated_images(self.generator(grid_noise(self.config), training=False))])
    columns = min(self.config.num_grid_images, _CONDITIONAL_GRID_COLUMNS)
    batch = self.fixed_batch(columns)
    z = grid_noise(self.config)[:columns]
    fake = generated_images(self.generator(self.spec.generator_input(batch, z), training=False))
    rows = self.spec.grid_rows(batch, fake) if self.spec.grid_rows else [fake]
    return self._grid(rows, columns)

  def reconstruction_grid(self):
    """Pretraining: fixed training images above what the pretrained model makes of them."""
    columns = min(self.config.num_grid_images, _CONDITIONAL_GRID_COLUMNS)
    real = self.fixed_batch(columns)["real"]
    return self._grid([real, generated_images(self.pretrained(real, training=False))], columns)

  def validation_loss(self):
    """Mean pretraining loss over the held-out images named by the model's Pretraining."""
    pretraining = self.spec.pretraining
    if self._validation is None:
      images_ = data.load_images(self.config.dataset, pretraining.validation_split, self.config.data_dir,
                                 self.config.image_size).take(pretraining.validation_examples)
      self._validation = images_.batch(500).map(
          lambda x: pixels.to_model_range(x, self.config.pixel_range)).cache()
      self._validation_batch_loss = tf.function(
          lambda real: tf.reduce_sum(pretraining.loss(real, self.pretrained(real, training=False))))
    total, count = 0.0, 0
    for real in self._validation:
      total += float(self._validation_batch_loss(real))
      count += int(real.shape[0])
    return total / count


class _SignalCatcher:
  """Turns SIGINT/SIGTERM into a flag the loop checks between calls, so it can save first."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    if hasattr(signal, "SIGTERM") and _in_main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.received is not None:  # a second signal: the user really wants out now
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _in_main_thread():
  return threading.current_thread() is threading.main_thread()


_LABELS = {"d_real": "D(x)", "d_fake": "D(G(z))"}


class _Progress:
  """Running means between log points, images/s and the ETA for the terminal line of one phase."""

  def __init__(self, config, phase, start_step):
    self.config = config
    self.phase = phase
    self.start_step = start_step
    self.start_time = time.time()
    self._reset()

  def _reset(self):
    self.sums = dict.fromkeys(self.phase.metric_names, 0.0)
    self.steps = 0
    self.busy_seconds = 0.0

  def add(self, metrics, steps, seconds):
    for name in self.phase.metric_names:
      self.sums[name] += metrics[name] * steps
    self.steps += steps
    self.busy_seconds += seconds

  def flush(self, step):
    means = {name: total / max(self.steps, 1) for name, total in self.sums.items()}
    means["images_per_second"] = self.steps * self.config.batch_size / max(self.busy_seconds, 1e-9)
    elapsed = time.time() - self.start_time
    eta = elapsed / max(step - self.start_step, 1) * (self.phase.total_steps - step)
    values = " ".join(f"{_LABELS.get(name, name)} {means[name]:.4f}" for name in self.phase.metric_names)
    prefix = "" if self.phase.name == "train" else f"{self.phase.name} "
    line = (f"{prefix}step {step}/{self.phase.total_steps} | {values}"
            f" | {means['images_per_second']:.0f} img/s | ETA {_duration(eta)}")
    self._reset()
    return means, line


def _duration(seconds):
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"


def _checkpoint_dir(config, strategy):
  """Where this worker writes checkpoints: the chief into the run, others into their own folder.

  Non-chief workers keep theirs (checkpoints/.worker_<id>) so their weights can be checked against
  the chief's; only the chief's are read on resume.
  """
  directory = os.path.join(config.logdir, "checkpoints")
  if distribute.is_chief(strategy):
    return directory
  _, task_id = distribute.task(strategy)
  return os.path.join(directory, f".worker_{task_id}")


def _next_event(step, config, phase, eval_every):
  """The first step after `step` at which the loop must return to Python (log, image, save, end)."""
  intervals = [config.log_every, config.image_every, config.checkpoint_every]
  if eval_every:
    intervals.append(eval_every)
  return min([phase.total_steps] + [(step // n + 1) * n for n in intervals])


@dataclasses.dataclass
class _Phase:
  """One stage of a run, as the loop in `fit` drives it."""
  name: str                 # TensorBoard prefix of its scalars
  counter: tf.Variable      # its step, saved in the checkpoint
  total_steps: int
  metric_names: tuple
  run: callable             # (iterator, num_steps) -> (metrics, first bad step)
  batches_per_step: int
  grid: callable            # () -> uint8 image
  grid_tag: str
  on_log: callable = None   # () -> {name: value} of extra scalars, e.g. a validation loss
  evaluate: bool = False    # whether `evaluator` scores this phase


def _phases(trainer, config):
  phases = []
  if trainer.pretrained is not None:
    name = trainer.spec.pretraining.name
    phases.append(_Phase(name, trainer.pretrain_step, trainer.pretrain_steps, _PRETRAIN_METRICS,
                         trainer.pretrain_steps_call, 1, trainer.reconstruction_grid,
                         f"{name}/reconstructions",
                         on_log=lambda: {"validation_loss": trainer.validation_loss()}))
  phases.append(_Phase("train", trainer.step, config.steps, trainer.metric_names, trainer.train_steps,
                       config.d_steps, trainer.sample_grid, "samples/fixed_noise", evaluate=True))
  return phases


def fit(config, strategy=None, spec=None, download=True, evaluator=None, log=print):
  """Trains (or resumes) the run in `config.logdir` to `config.steps`; returns the last log values.

  A model with a pretraining phase first runs it to its end, then the adversarial phase. `evaluator
  (generator, step) -> {name: value}` is called every `config.eval_every` GAN steps and its values go to
  TensorBoard under `eval/`.
  """
  strategy = strategy or tf.distribute.get_strategy()
  chief = distribute.is_chief(strategy)
  saved = _saved_config(config.logdir)
  if saved is not None:
    config_lib.check_resumable(saved, config)
  trainer = GANTrainer(config, strategy, spec)
  manager = tf.train.CheckpointManager(trainer.checkpoint, _checkpoint_dir(config, strategy),
                                       max_to_keep=config.keep_checkpoints)
  if manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    log(f"Resumed from {manager.latest_checkpoint} at step {int(trainer.step.numpy())}"
        + (f" (pretraining step {int(trainer.pretrain_step.numpy())})" if trainer.pretrained else "")
        + ".")
  if chief:
    config_lib.save(config)
  phases = [p for p in _phases(trainer, config) if int(p.counter.numpy()) < p.total_steps]
  if not phases:
    log(f"{config.logdir} has already reached step {int(trainer.step.numpy())} of {config.steps}; "
        "nothing to do.")
    return {}
  writer = tf.summary.create_file_writer(config.logdir) if chief else tf.summary.create_noop_writer()
  samples_dir = os.path.join(config.logdir, "samples")
  if chief:
    os.makedirs(samples_dir, exist_ok=True)
  last = {}
  with _SignalCatcher() as signals, writer.as_default():
    for phase in phases:
      if phase.name == "train" and int(trainer.step.numpy()) == 0:
        trainer.initialize_generator_from_pretraining()
      last = _run_phase(trainer, phase, manager, signals, samples_dir, chief, download,
                        evaluator if phase.evaluate else None, log)
  return last


def _run_phase(trainer, phase, manager, signals, samples_dir, chief, download, evaluator, log):
  """Runs one phase from its saved step to its end; checkpoints count steps over all phases."""
  config = trainer.config
  start = int(phase.counter.numpy())
  iterator = trainer.distributed_batches(start, download, phase.batches_per_step)
  eval_every = config.eval_every if evaluator else 0
  progress = _Progress(config, phase, start)
  label = "step" if phase.name == "train" else f"{phase.name} step"  # pretraining has its own steps
  file_prefix = "" if phase.name == "train" else f"{phase.name}_"
  last = {}
  step = start
  while step < phase.total_steps:
    num_steps = min(config.steps_per_call, _next_event(step, config, phase, eval_every) - step)
    began = time.time()
    metrics, bad_step = phase.run(iterator, num_steps)
    progress.add(metrics, num_steps, time.time() - began)
    if bad_step >= 0:
      kept = (f"the latest checkpoint, {manager.latest_checkpoint}, is the last good state"
              if manager.latest_checkpoint else "no checkpoint had been written yet")
      raise NonFiniteLossError(
          f"Non-finite loss at {label} {bad_step} (means of that call: {metrics}). Training "
          f"stopped; {kept}. Try lower learning rates or --precision=float32.")
    step += num_steps
    done = step == phase.total_steps
    global_step = int(trainer.step.numpy()) + int(trainer.pretrain_step.numpy())
    if step % config.log_every == 0 or done:
      last, line = progress.flush(step)
      if phase.on_log:
        last.update(phase.on_log())
      for name, value in last.items():
        tf.summary.scalar(f"{phase.name}/{name}", value, step=global_step)
      log(line + "".join(f" | {name} {last[name]:.4f}" for name in last if name not in metrics
                         and name != "images_per_second"))
    if step % config.image_every == 0 or done:
      grid = phase.grid()
      tf.summary.image(phase.grid_tag, grid[None], step=global_step)
      if chief:
        images.write_png(os.path.join(samples_dir, f"{file_prefix}step_{step:08d}.png"), grid)
    if eval_every and (step % eval_every == 0 or done):
      for name, value in evaluator(trainer.generator, step).items():
        tf.summary.scalar(f"eval/{name}", value, step=global_step)
        last[f"eval/{name}"] = value
    if step % config.checkpoint_every == 0 or done or signals.received:
      manager.save(checkpoint_number=global_step)  # every worker must take part (collective ops)
    tf.summary.flush()
    if signals.received and not (done and phase.name == "train"):
      raise TrainingInterrupted(f"{signals.received} received: saved {label} {step} to "
                                f"{manager.latest_checkpoint}; run the same command to resume.")
  return last


def _saved_config(logdir):
  try:
    return config_lib.load(logdir)
  except FileNotFoundError:
    return None


def restore_generator(logdir, spec=None):
  """The generator of the latest checkpoint in a run folder, and the run's config."""
  config = config_lib.load(logdir)
  spec = spec or models.get_model(config.model)
  image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  with dtype_policy(config.precision):
    generator = spec.build_generator(config, image_shape)
  latest = tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints"))
  if latest is None:
    raise FileNotFoundError(f"No checkpoint in {logdir}/checkpoints: train the model first.")
  tf.train.Checkpoint(generator=generator).restore(latest).expect_partial()
  return generator, config


def generate(generator, config, num: int, seed: int = 0, batch_size: int = 500) -> np.ndarray:
  """`num` uint8 NHWC samples from a generator, reproducible from `seed`."""
  if config.model in models.list_models() and not models.get_model(config.model).samples_from_noise:
    raise ValueError(f"{config.model} generates from input images, not from noise alone, so it cannot "
                     f"be sampled; see docs/{config.model}.md for its own tools.")
  sample = tf.function(lambda z: pixels.to_uint8(generated_images(generator(z, training=False)),
                                               config.pixel_range))
  chunks = []
  for start in range(0, num, batch_size):
    size = min(batch_size, num - start)
    z = tf.random.stateless_normal([size, config.latent_dim], seed=[seed, start])
    chunks.append(sample(z).numpy())
  return np.concatenate(chunks) if chunks else np.zeros((0,) + tuple(generator.output_shape[1:]), np.uint8)
