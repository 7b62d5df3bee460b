"""A phase of a run (a model's pretraining, then GAN training) and the compiled loop that runs its steps.

A phase is a plain value: what `fit` runs (its name, length, batches per step, metrics, grid); the
trainer knows how to run each (`GANTrainer.run`). Between calls of several steps the loop's hooks log,
draw grids, evaluate and save.
"""
import dataclasses

import tensorflow as tf

GAN = "train"  # the GAN phase's name: its TensorBoard scalars are train/...


@dataclasses.dataclass(frozen=True)
class Phase:
  name: str                 # GAN, or the pretraining's name; the TensorBoard prefix of its scalars
  total_steps: int
  batches_per_step: int     # global batches one step takes (D steps per G step)
  metric_names: tuple       # what each call reports, in the progress line's order
  grid_tag: str             # TensorBoard tag of its grid image
  evaluate: bool = False    # whether --eval_every scores this phase


def compile_loop(strategy, replica_fn, counter, metric_names, batches_per_step, after_step=(),
                 statistic_names=()):
  """A tf.function running `num_steps` steps of `replica_fn`: returns ({metric: mean over the steps},
  the first step with a non-finite metric or -1).

  `replica_fn(batches, step)` returns {name: scalar} of `metric_names` and `statistic_names` on each
  replica; the loop sums each over the replicas (the step's terms are already divided by the global
  batch) and averages the metrics over the steps. `strategy.run` inside one tf.function looping over
  steps is what works under MirroredStrategy with several steps per call (Keras' fit with
  steps_per_execution > 1 fails there when slots are lazy). Each of `after_step(step, statistics)` runs
  after every step in cross-replica context with that step's summed statistics (e.g. G's moving
  average, ADA's controller).
  """
  expected = set(metric_names) | set(statistic_names)

  def run(iterator, num_steps):
    totals = {name: tf.constant(0.0) for name in metric_names}
    first_bad_step = tf.constant(-1, tf.int64)
    for _ in tf.range(num_steps):
      batches = tuple(next(iterator) for _ in range(batches_per_step))
      per_replica = strategy.run(replica_fn, args=(batches, counter.read_value()))
      if set(per_replica) != expected:
        raise ValueError(f"the step returned {sorted(per_replica)}, expected {sorted(expected)}")
      summed = {name: strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[name], axis=None)
                for name in per_replica}
      metrics = {name: summed[name] for name in metric_names}
      finite = tf.reduce_all([tf.math.is_finite(value) for value in metrics.values()])
      first_bad_step = tf.where((first_bad_step < 0) & ~finite, counter.read_value(), first_bad_step)
      totals = {name: totals[name] + metrics[name] for name in metric_names}
      statistics = {name: summed[name] for name in statistic_names}
      for update in after_step:
        update(counter.read_value(), statistics)
      counter.assign_add(1)
    return {name: total / tf.cast(num_steps, tf.float32) for name, total in totals.items()}, first_bad_step
  return tf.function(run)
