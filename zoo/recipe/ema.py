"""An exponential moving average of G's weights (as StudioGAN's Ema and StyleGAN's G_ema).

Samples and evaluations come from the average, which smooths out the oscillation of G's weights from
step to step (Yazici et al. 2019). The average lives in a second, separately built copy of G, so it
runs, saves and exports like G itself. A decay of 0 means no average: the trainer then builds no copy,
and this class is not used.
"""
import tensorflow as tf

# The warm-up of tf.train.ExponentialMovingAverage(num_updates=step): decay_t = (1 + t) / (10 + t).
_WARMUP_OFFSET = 10.0


class ExponentialMovingAverage:
  """Keeps `target` = the moving average of `source`'s trainable weights; copies the others.

  After the step with 0-based index t, each trainable target weight becomes
      target <- decay_t target + (1 - decay_t) source,   decay_t = min(decay, (1 + t) / (10 + t)).
  The warm-up is tf.train.ExponentialMovingAverage's for num_updates = t: the average covers roughly
  the last t/9 steps (decay_t = 0.1 at t = 0, 0.91 at t = 90, 0.99 at t = 890), so it is never
  dominated by the random initial weights and follows G closely early on, until decay_t reaches
  `decay` (at t = 8990 for 0.999). It is a function of t alone, so a resumed run continues it exactly.

  Non-trainable weights, such as BatchNormalization's moving statistics, are copied rather than
  averaged, as StudioGAN does with buffers: they must describe the activations of the averaged
  network, not a mix of past ones.

  `target` must have `source`'s architecture (the same weights in the same order). The average is
  saved with `target` (put it in the checkpoint). `decay` is in (0, 1).
  """

  def __init__(self, source, target, decay: float):
    self.source, self.target = source, target
    self.decay = decay
    for kind in ("trainable_weights", "non_trainable_weights"):
      shapes = [[tuple(w.shape) for w in getattr(model, kind)] for model in (source, target)]
      if shapes[0] != shapes[1]:
        raise ValueError(f"EMA target {target.name} does not match source {source.name}: {kind} shapes "
                         f"{shapes[1]} != {shapes[0]}.")

  def decay_at(self, step):
    """decay_t as a float32 tensor for the 0-based step index `step`."""
    step = tf.cast(step, tf.float64)  # exact for any step count
    warmup = (1.0 + step) / (_WARMUP_OFFSET + step)
    return tf.cast(tf.minimum(tf.constant(self.decay, tf.float64), warmup), tf.float32)

  def initialize(self):
    """Copies every weight of source into target: once at the start of a run, not after a restore."""
    for source, target in self._pairs("trainable_weights") + self._pairs("non_trainable_weights"):
      target.assign(source)

  def update(self, step):
    """Moves the average after the step with 0-based index `step` (the step counter before its
    increment).

    Call it in cross-replica context (in the training loop's tf.function, outside `strategy.run`):
    there an assignment to a mirrored variable writes every replica's copy with the same value.
    """
    decay = self.decay_at(step)
    for source, target in self._pairs("trainable_weights"):
      target.assign(tf.cast(decay, target.dtype) * target + tf.cast(1.0 - decay, target.dtype) * source)
    for source, target in self._pairs("non_trainable_weights"):
      target.assign(source)

  def _pairs(self, kind):
    return list(zip(getattr(self.source, kind), getattr(self.target, kind)))
