"""The one GAN step every model trains with: `d_steps` D updates, then one G update.

The last D update and the G update share one forward pass (as the TensorFlow DCGAN tutorial does), so
with `d_steps=1` a step costs one G forward and one D forward over real and fake. A model changes what
goes into G and D through its hooks (zoo/models/registry.py); the step has no model-specific branches.

Distribution: per-example losses are reduced over the global batch, and the noise of each replica is
its slice of one global batch drawn statelessly from (seed, step), so an update does not depend on the
number of replicas or on restarts.
"""
import tensorflow as tf

from zoo import losses
from zoo import sampling

_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")


def as_batch(element):
  """A training batch as a dict with the real images under "real"."""
  return element if isinstance(element, dict) else {"real": element}


def noise(config, step, substep, batch_size, replica_id=0, num_replicas=1):
  """This replica's slice of the global noise batch of (step, substep)."""
  seed = tf.stack([tf.cast(config.seed, tf.int64), tf.cast(step, tf.int64) * 64 + substep])
  z = tf.random.stateless_normal([batch_size * num_replicas, config.latent_dim], seed=seed)
  return z[replica_id * batch_size:(replica_id + 1) * batch_size]


def reduce_over_global_batch(per_example, global_batch_size):
  return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def regularization(model):
  """The model's own weight penalties (e.g. a kernel L2), scaled for the replica count."""
  if not model.losses:
    return 0.0
  return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]))


def mean_probability(logits, global_batch_size):
  """Mean D probability; a per-patch D's logits are averaged within each image first."""
  probabilities = tf.sigmoid(tf.cast(logits, tf.float32))
  per_example = tf.reduce_mean(tf.reshape(probabilities, [tf.shape(probabilities)[0], -1]), axis=1)
  return reduce_over_global_batch(per_example, global_batch_size)


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
    self.spec = spec
    self.state = state
    self.strategy = strategy
    self.metric_names = _METRICS + tuple(spec.generator_terms)
    self.adversarial_weight = spec.adversarial_weight(config) if spec.adversarial_weight else 1.0
    # One replica: XLA compiles the whole step, optimiser updates included. Several replicas: only
    # forward and backward, since the cross-replica gradient sum must stay outside XLA.
    whole_step_xla = config.jit_compile and strategy.num_replicas_in_sync == 1
    self._gradients = _xla_if(config.jit_compile and not whole_step_xla, self.losses_and_gradients)
    self._d_gradients = _xla_if(config.jit_compile and not whole_step_xla, self._discriminator_gradients)
    self.replica_step = _xla_if(whole_step_xla, self._replica_step)

  def _score(self, batch, real, fake):
    discriminator = self.state.discriminator
    real = self.spec.discriminator_input(batch, real)
    fake = self.spec.discriminator_input(batch, tf.cast(fake, real.dtype))
    if self.config.joint_discriminator_pass:
      logits = discriminator(tf.concat([real, fake], 0), training=True)
      return tf.split(logits, 2, axis=0)
    return discriminator(real, training=True), discriminator(fake, training=True)

  def _discriminator_losses(self, batch, z, global_batch_size):
    outputs = self.state.generator(self.spec.generator_input(batch, z), training=True)
    real_logits, fake_logits = self._score(batch, batch["real"], sampling.generated_images(outputs))
    d_loss = reduce_over_global_batch(losses.non_saturating_discriminator_loss(real_logits, fake_logits),
                                      global_batch_size)
    d_loss += regularization(self.state.discriminator)
    return d_loss, real_logits, fake_logits, outputs

  def _discriminator_gradients(self, batch, z, global_batch_size):
    discriminator = self.state.discriminator
    with tf.GradientTape() as tape:
      d_loss = self._discriminator_losses(batch, z, global_batch_size)[0]
      scaled = self.state.d_optimizer.scale_loss(d_loss)
    return tape.gradient(scaled, discriminator.trainable_variables)

  def _extra_generator_losses(self, batch, outputs, global_batch_size):
    if self.spec.extra_generator_losses is None:
      return {}
    terms = self.spec.extra_generator_losses(self.config, batch, outputs)
    if set(terms) != set(self.spec.generator_terms):
      raise ValueError(f"{self.spec.name}: extra_generator_losses returned {sorted(terms)}, but "
                       f"generator_terms declares {sorted(self.spec.generator_terms)}.")
    return {name: reduce_over_global_batch(tf.cast(value, tf.float32), global_batch_size)
            for name, value in terms.items()}

  def _generator_loss(self, fake_logits, global_batch_size):
    adversarial = reduce_over_global_batch(losses.non_saturating_generator_loss(fake_logits),
                                           global_batch_size)
    return adversarial if self.adversarial_weight == 1.0 else self.adversarial_weight * adversarial

  def losses_and_gradients(self, batch, z, global_batch_size):
    """(D gradients, G gradients, metrics) of the last D update and the G update, on this replica."""
    generator, discriminator = self.state.generator, self.state.discriminator
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      d_loss, real_logits, fake_logits, outputs = self._discriminator_losses(batch, z, global_batch_size)
      g_loss = self._generator_loss(fake_logits, global_batch_size)
      g_loss += regularization(generator)
      extra = self._extra_generator_losses(batch, outputs, global_batch_size)
      g_loss += tf.add_n(list(extra.values())) if extra else 0.0
      scaled_d = self.state.d_optimizer.scale_loss(d_loss)
      scaled_g = self.state.g_optimizer.scale_loss(g_loss)
    d_grads = d_tape.gradient(scaled_d, discriminator.trainable_variables)
    g_grads = g_tape.gradient(scaled_g, generator.trainable_variables)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": mean_probability(real_logits, global_batch_size),
        "d_fake": mean_probability(fake_logits, global_batch_size),
        **extra,
    }
    return d_grads, g_grads, metrics

  def _replica_step(self, batches, step):
    """One training step on this replica's share of `d_steps` global batches; returns metrics."""
    state = self.state
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
        state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
      else:
        d_grads, g_grads, metrics = self._gradients(batch, z, global_batch)
        state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
        state.g_optimizer.apply_gradients(zip(g_grads, state.generator.trainable_variables))
    return [metrics[name] for name in self.metric_names]
