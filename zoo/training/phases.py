"""A phase of a run (pretraining, GAN training) and the compiled loop that runs its steps.

A phase is run by `zoo.training.loop.fit` in calls of several steps; between calls the loop's hooks
log, draw grids, evaluate and save.
"""
import dataclasses
from typing import Callable, Optional

import tensorflow as tf


def compile_loop(strategy, replica_fn, counter, num_metrics, batches_per_step, after_step=()):
  """A tf.function running `num_steps` steps of `replica_fn`; returns mean metrics and the first bad step.

  `strategy.run` inside one tf.function looping over steps is what works under MirroredStrategy with
  several steps per call (Keras' fit with steps_per_execution > 1 fails there when slots are lazy).
  Each of `after_step(step)` runs after every step in cross-replica context (e.g. G's moving average).
  """
  def run(iterator, num_steps):
    totals = tf.zeros([num_metrics], tf.float32)
    first_bad_step = tf.constant(-1, tf.int64)
    for _ in tf.range(num_steps):
      batches = tuple(next(iterator) for _ in range(batches_per_step))
      per_replica = strategy.run(replica_fn, args=(batches, counter.read_value()))
      metrics = tf.stack([strategy.reduce(tf.distribute.ReduceOp.SUM, m, axis=None) for m in per_replica])
      finite = tf.reduce_all(tf.math.is_finite(metrics))
      first_bad_step = tf.where((first_bad_step < 0) & ~finite, counter.read_value(), first_bad_step)
      totals += metrics
      for update in after_step:
        update(counter.read_value())
      counter.assign_add(1)
    return totals / tf.cast(num_steps, tf.float32), first_bad_step
  return tf.function(run)


@dataclasses.dataclass
class Phase:
  """One stage of a run, as `fit` drives it."""
  name: str                 # TensorBoard prefix of its scalars
  counter: tf.Variable      # its step, saved in the checkpoint
  total_steps: int
  metric_names: tuple
  run: Callable             # (iterator, num_steps) -> (metrics, first bad step)
  batches_per_step: int
  grid: Callable            # () -> uint8 image
  grid_tag: str
  on_log: Optional[Callable] = None    # () -> {name: value} of extra scalars, e.g. a validation loss
  evaluate: bool = False               # whether --eval_every scores this phase
  on_start: Optional[Callable] = None  # run once, when the phase starts from its step 0
