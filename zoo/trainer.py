"""The one GAN trainer every model runs on: distributed step, loop, summaries, checkpoints, resume.

A training step is `d_steps` discriminator updates followed by one generator update. The last D update
and the G update share one forward pass (as the TensorFlow DCGAN tutorial does), so with the default
`d_steps=1` a step costs one G forward and one D forward over real and fake together.

Everything random is a pure function of (seed, step): the noise comes from stateless RNG ops and the
data order from `zoo.data`, so a checkpoint only needs weights, optimiser slots and the step counter to
resume bit-exactly.
"""
import contextlib
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

_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
_GRID_SEED = 0x5EED  # the fixed noise batch shown every `image_every` steps


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


def _optimizer(config, learning_rate):
  optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
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
    self.checkpoint = tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator,
                                          g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                                          step=self.step)
    # One replica: XLA compiles the whole step, optimiser updates included. Several replicas: only
    # forward and backward, since the cross-replica gradient sum must stay outside XLA.
    whole_step_xla = config.jit_compile and self.strategy.num_replicas_in_sync == 1
    self._gradients = _xla_if(config.jit_compile and not whole_step_xla, self._losses_and_gradients)
    self._d_gradients = _xla_if(config.jit_compile and not whole_step_xla, self._discriminator_gradients)
    self._replica_step = _xla_if(whole_step_xla, self.replica_step)
    self._train_loop = tf.function(self._run_steps)

  # ---- the shared step -------------------------------------------------------------------------

  def _score(self, real, fake):
    if self.config.joint_discriminator_pass:
      logits = self.discriminator(tf.concat([real, tf.cast(fake, real.dtype)], 0), training=True)
      return tf.split(logits, 2, axis=0)
    return self.discriminator(real, training=True), self.discriminator(fake, training=True)

  def _reduce(self, per_example, global_batch_size):
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)

  def _regularization(self, model):
    if not model.losses:
      return 0.0
    return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]))

  def _discriminator_losses(self, real, z, global_batch_size):
    fake = self.generator(z, training=True)
    real_logits, fake_logits = self._score(real, fake)
    d_loss = self._reduce(self.spec.discriminator_loss(real_logits, fake_logits), global_batch_size)
    d_loss += self._regularization(self.discriminator)
    return d_loss, real_logits, fake_logits

  def _discriminator_gradients(self, real, z, global_batch_size):
    with tf.GradientTape() as tape:
      d_loss, _, _ = self._discriminator_losses(real, z, global_batch_size)
      scaled = self.d_optimizer.scale_loss(d_loss)
    return tape.gradient(scaled, self.discriminator.trainable_variables)

  def _losses_and_gradients(self, real, z, global_batch_size):
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      d_loss, real_logits, fake_logits = self._discriminator_losses(real, z, global_batch_size)
      g_loss = self._reduce(self.spec.generator_loss(fake_logits), global_batch_size)
      g_loss += self._regularization(self.generator)
      scaled_d = self.d_optimizer.scale_loss(d_loss)
      scaled_g = self.g_optimizer.scale_loss(g_loss)
    d_grads = d_tape.gradient(scaled_d, self.discriminator.trainable_variables)
    g_grads = g_tape.gradient(scaled_g, self.generator.trainable_variables)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": self._reduce(tf.reshape(tf.sigmoid(tf.cast(real_logits, tf.float32)), [-1]),
                               global_batch_size),
        "d_fake": self._reduce(tf.reshape(tf.sigmoid(tf.cast(fake_logits, tf.float32)), [-1]),
                               global_batch_size),
    }
    return d_grads, g_grads, metrics

  def replica_step(self, real_batches, step):
    """One training step on this replica's share of `d_steps` global batches; returns metrics."""
    context = tf.distribute.get_replica_context()
    replica_id = context.replica_id_in_sync_group
    num_replicas = self.strategy.num_replicas_in_sync
    local_batch = tf.shape(real_batches[0])[0]
    global_batch = local_batch * num_replicas
    for substep, real in enumerate(real_batches):
      z = noise(self.config, step, substep, local_batch, replica_id, num_replicas)
      if substep < len(real_batches) - 1:
        d_grads = self._d_gradients(real, z, global_batch)
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
      else:
        d_grads, g_grads, metrics = self._gradients(real, z, global_batch)
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
    return [metrics[name] for name in _METRICS]

  def _run_steps(self, iterator, num_steps):
    """`num_steps` training steps in one compiled call; returns mean metrics and the first bad step."""
    totals = tf.zeros([len(_METRICS)], tf.float32)
    first_bad_step = tf.constant(-1, tf.int64)
    for _ in tf.range(num_steps):
      batches = tuple(next(iterator) for _ in range(self.config.d_steps))
      per_replica = self.strategy.run(self._replica_step, args=(batches, self.step.read_value()))
      metrics = tf.stack([self.strategy.reduce(tf.distribute.ReduceOp.SUM, m, axis=None)
                          for m in per_replica])
      finite = tf.reduce_all(tf.math.is_finite(metrics))
      first_bad_step = tf.where((first_bad_step < 0) & ~finite, self.step.read_value(), first_bad_step)
      totals += metrics
      self.step.assign_add(1)
    return totals / tf.cast(num_steps, tf.float32), first_bad_step

  def train_steps(self, iterator, num_steps: int):
    """Runs `num_steps` steps; returns ({metric: mean value}, first non-finite step or -1)."""
    means, first_bad = self._train_loop(iterator, tf.constant(num_steps, tf.int64))
    return dict(zip(_METRICS, means.numpy().tolist())), int(first_bad)

  def distributed_batches(self, start_step: int, download: bool = True):
    dataset = data.training_batches(self.config, start_step, download=download,
                                    batches_per_step=self.config.d_steps)
    return iter(self.strategy.experimental_distribute_dataset(dataset))

  def sample_grid(self):
    fake = self.generator(grid_noise(self.config), training=False)
    return images.make_grid(data.to_uint8(fake, self.config.pixel_range).numpy())


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


class _Progress:
  """Running means between log points, images/s and the ETA for the terminal line."""

  def __init__(self, config, start_step):
    self.config = config
    self.start_step = start_step
    self.start_time = time.time()
    self._reset()

  def _reset(self):
    self.sums = dict.fromkeys(_METRICS, 0.0)
    self.steps = 0
    self.busy_seconds = 0.0

  def add(self, metrics, steps, seconds):
    for name in _METRICS:
      self.sums[name] += metrics[name] * steps
    self.steps += steps
    self.busy_seconds += seconds

  def flush(self, step):
    means = {name: total / max(self.steps, 1) for name, total in self.sums.items()}
    means["images_per_second"] = self.steps * self.config.batch_size / max(self.busy_seconds, 1e-9)
    elapsed = time.time() - self.start_time
    done = step - self.start_step
    eta = elapsed / max(done, 1) * (self.config.steps - step)
    line = (f"step {step}/{self.config.steps} | d_loss {means['d_loss']:.4f} g_loss {means['g_loss']:.4f}"
            f" | D(x) {means['d_real']:.3f} D(G(z)) {means['d_fake']:.3f}"
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


def _next_event(step, config, eval_every):
  """The first step after `step` at which the loop must return to Python (log, image, save, end)."""
  intervals = [config.log_every, config.image_every, config.checkpoint_every]
  if eval_every:
    intervals.append(eval_every)
  return min([config.steps] + [(step // n + 1) * n for n in intervals])


def fit(config, strategy=None, spec=None, download=True, evaluator=None, log=print):
  """Trains (or resumes) the run in `config.logdir` to `config.steps`; returns the last log values.

  `evaluator(generator, step) -> {name: value}` is called every `config.eval_every` steps and its
  values go to TensorBoard under `eval/`.
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
    log(f"Resumed from {manager.latest_checkpoint} at step {int(trainer.step.numpy())}.")
  if chief:
    config_lib.save(config)
  start = int(trainer.step.numpy())
  if start >= config.steps:
    log(f"{config.logdir} has already reached step {start} of {config.steps}; nothing to do.")
    return {}
  iterator = trainer.distributed_batches(start, download)
  writer = tf.summary.create_file_writer(config.logdir) if chief else tf.summary.create_noop_writer()
  samples_dir = os.path.join(config.logdir, "samples")
  if chief:
    os.makedirs(samples_dir, exist_ok=True)
  eval_every = config.eval_every if evaluator else 0
  progress = _Progress(config, start)
  last = {}

  with _SignalCatcher() as signals, writer.as_default():
    step = start
    while step < config.steps:
      num_steps = min(config.steps_per_call, _next_event(step, config, eval_every) - step)
      began = time.time()
      metrics, bad_step = trainer.train_steps(iterator, num_steps)
      progress.add(metrics, num_steps, time.time() - began)
      if bad_step >= 0:
        kept = (f"the latest checkpoint, {manager.latest_checkpoint}, is the last good state"
                if manager.latest_checkpoint else "no checkpoint had been written yet")
        raise NonFiniteLossError(
            f"Non-finite loss at step {bad_step} (means of that call: {metrics}). Training stopped; "
            f"{kept}. Try lower learning rates or --precision=float32.")
      step += num_steps
      done = step == config.steps
      if step % config.log_every == 0 or done:
        last, line = progress.flush(step)
        for name, value in last.items():
          tf.summary.scalar(f"train/{name}", value, step=step)
        log(line)
      if step % config.image_every == 0 or done:
        grid = trainer.sample_grid()
        tf.summary.image("samples/fixed_noise", grid[None], step=step)
        if chief:
          images.write_png(os.path.join(samples_dir, f"step_{step:08d}.png"), grid)
      if eval_every and (step % eval_every == 0 or done):
        for name, value in evaluator(trainer.generator, step).items():
          tf.summary.scalar(f"eval/{name}", value, step=step)
          last[f"eval/{name}"] = value
      if step % config.checkpoint_every == 0 or done or signals.received:
        manager.save(checkpoint_number=step)  # every worker must take part (collective ops)
      writer.flush()
      if signals.received and not done:
        raise TrainingInterrupted(f"{signals.received} received: saved step {step} to "
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
  sample = tf.function(lambda z: data.to_uint8(generator(z, training=False), config.pixel_range))
  chunks = []
  for start in range(0, num, batch_size):
    size = min(batch_size, num - start)
    z = tf.random.stateless_normal([size, config.latent_dim], seed=[seed, start])
    chunks.append(sample(z).numpy())
  return np.concatenate(chunks) if chunks else np.zeros((0,) + tuple(generator.output_shape[1:]), np.uint8)
