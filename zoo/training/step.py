"""The one GAN step every model trains with: `d_steps` D updates, then one G update.

The last D update and the G update share one forward pass (as the TensorFlow DCGAN tutorial does), so
with `d_steps=1` a step costs one G forward and one D forward over real and fake. What D and G minimise
is zoo/training/objective.py; this module turns it into gradients and optimiser updates, and returns
the step's metrics as one dict {name: scalar}, which reaches the hooks unchanged (summed over replicas,
then averaged over the steps of a call), beside the objective's statistics (ADA's signs of D on the
reals, summed over the step's D updates) for the after-step hooks. A model changes what goes into G
and D through its hooks (zoo/models/registry.py); the step has no model-specific branches.
"""
import tensorflow as tf

from zoo.training import objective as objective_lib


def as_batch(element):
  """A training batch as a dict with the real images under "real"."""
  return element if isinstance(element, dict) else {"real": element}


def dense_gradients(gradients):
  """Gradients with any tf.IndexedSlices (an Embedding's) made dense.

  Replicas all-gather sliced gradients with their own number of rows (how many lookups each made, which
  R1's extra pass changes), and that collective fails inside the compiled loop; label tables are small.
  """
  return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]


def _xla_if(jit_compile, fn):
  """`fn` compiled with XLA when asked; else left to inline into the step's graph.

  A nested (non-XLA) tf.function would forbid cross-replica reductions inside the model, such as
  synchronised BatchNorm statistics, under MirroredStrategy.
  """
  return tf.function(fn, jit_compile=True) if jit_compile else fn


class GANStep:
  """The replica function of a GAN training step, over a run's `TrainState`."""

  def __init__(self, config, spec, state, strategy):
    self.config = config
    self.state = state
    self.strategy = strategy
    self.objective = objective_lib.Objective(config, spec, state)
    # One replica: XLA compiles the whole step, optimiser updates included. Several replicas: only
    # forward and backward, since the cross-replica gradient sum must stay outside XLA.
    whole_step_xla = config.jit_compile and strategy.num_replicas_in_sync == 1
    self._gradients = _xla_if(config.jit_compile and not whole_step_xla, self.losses_and_gradients)
    self._d_gradients = _xla_if(config.jit_compile and not whole_step_xla, self._discriminator_gradients)
    self.replica_step = _xla_if(whole_step_xla, self._replica_step)

  def _discriminator_gradients(self, batch, step, substep, global_batch_size):
    """(D gradients, the update's statistics) of a D update before the last."""
    discriminator = self.state.discriminator
    with tf.GradientTape() as tape:
      d_loss, _, d_terms = self.objective.discriminator_loss(batch, step, substep, global_batch_size)
      scaled = self.state.d_optimizer.scale_loss(d_loss)
    statistics = {name: d_terms[name] for name in self.objective.statistic_names}
    return dense_gradients(tape.gradient(scaled, discriminator.trainable_variables)), statistics

  def losses_and_gradients(self, batch, step, substep, global_batch_size):
    """(D gradients, G gradients, metrics) of the last D update and the G update, on this replica."""
    generator, discriminator = self.state.generator, self.state.discriminator
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      d_loss, d_results, d_terms = self.objective.discriminator_loss(batch, step, substep,
                                                                     global_batch_size)
      g_loss, g_terms = self.objective.generator_loss(batch, d_results, global_batch_size)
      scaled_d = self.state.d_optimizer.scale_loss(d_loss)
      scaled_g = self.state.g_optimizer.scale_loss(g_loss)
    d_grads = dense_gradients(d_tape.gradient(scaled_d, discriminator.trainable_variables))
    g_grads = dense_gradients(g_tape.gradient(scaled_g, generator.trainable_variables))
    return d_grads, g_grads, {"d_loss": d_loss, "g_loss": g_loss, **d_terms, **g_terms}

  def _replica_step(self, batches, step):
    """One training step on this replica's share of `d_steps` global batches; returns its metrics and
    statistics (each summed over the step's D updates)."""
    state = self.state
    batches = [as_batch(batch) for batch in batches]
    global_batch = tf.shape(batches[0]["real"])[0] * self.strategy.num_replicas_in_sync
    earlier_statistics = []
    for substep, batch in enumerate(batches[:-1]):
      d_grads, statistics = self._d_gradients(batch, step, substep, global_batch)
      state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
      earlier_statistics.append(statistics)
    d_grads, g_grads, metrics = self._gradients(batches[-1], step, len(batches) - 1, global_batch)
    state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
    state.g_optimizer.apply_gradients(zip(g_grads, state.generator.trainable_variables))
    for statistics in earlier_statistics:
      metrics = {**metrics, **{name: metrics[name] + value for name, value in statistics.items()}}
    return metrics
