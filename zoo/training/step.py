"""The one GAN step every model trains with: `d_steps` D updates, then one G update.

The last D update and the G update share one forward pass (as the TensorFlow DCGAN tutorial does), so
with `d_steps=1` a step costs one G forward and one D forward over real and fake. A model changes what
goes into G and D through its hooks (zoo/models/registry.py); the run's recipe (config) picks the loss
family, D's penalties (R1, R2, WGAN-GP) and the DiffAugment policy applied to D's inputs. The step has
no model-specific branches.

Distribution: per-example losses are reduced over the global batch, and every random draw (noise,
augmentation, interpolation weights) is one global batch drawn statelessly from (seed, step) of which
each replica takes its slice, so an update does not depend on the number of replicas or on restarts.
Draws happen inside the (possibly XLA-compiled) gradient function, so they are made in the same
compile context on any replica count.
"""
import tensorflow as tf

from zoo import sampling
from zoo.recipe import augment
from zoo.recipe import losses
from zoo.recipe import regularizers

# Streams of the per-(step, substep) seed, one per kind of random draw.
_AUGMENT_REAL, _AUGMENT_FAKE, _INTERPOLATION = 1, 2, 3


def as_batch(element):
  """A training batch as a dict with the real images under "real"."""
  return element if isinstance(element, dict) else {"real": element}


def step_seed(config, step, substep):
  """The stateless seed [2] of one D update: the same on every replica and after a resume."""
  return tf.stack([tf.cast(config.seed, tf.int64), tf.cast(step, tf.int64) * 64 + substep])


def noise(config, step, substep, batch_size, replica_id=0, num_replicas=1):
  """This replica's slice of the global noise batch of (step, substep)."""
  z = tf.random.stateless_normal([batch_size * num_replicas, config.latent_dim],
                                 seed=step_seed(config, step, substep))
  return z[replica_id * batch_size:(replica_id + 1) * batch_size]


def dense_gradients(gradients):
  """Gradients with any tf.IndexedSlices (an Embedding's) made dense.

  Replicas all-gather sliced gradients with their own number of rows (how many lookups each made, which
  R1's extra pass changes), and that collective fails inside the compiled loop; label tables are small.
  """
  return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]


def reduce_over_global_batch(per_example, global_batch_size):
  return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def regularization(model):
  """The model's own weight penalties (e.g. a kernel L2), scaled for the replica count."""
  if not model.losses:
    return 0.0
  return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]))


def _replica():
  """(replica id, number of replicas) of the current replica context."""
  context = tf.distribute.get_replica_context()
  return context.replica_id_in_sync_group, context.num_replicas_in_sync


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
    self.loss = losses.get(config.loss)
    self.policy = augment.parse_policy(config.augment)
    self.penalties = tuple(name for name, weight in (("r1", config.r1_gamma), ("r2", config.r2_gamma),
                                                     ("gp", config.gp_weight)) if weight)
    self.metric_names = (("d_loss", "g_loss") + losses.metric_names(self.loss) + self.penalties
                         + tuple(spec.generator_terms))
    self.adversarial_weight = spec.adversarial_weight(config) if spec.adversarial_weight else 1.0
    # One replica: XLA compiles the whole step, optimiser updates included. Several replicas: only
    # forward and backward, since the cross-replica gradient sum must stay outside XLA.
    whole_step_xla = config.jit_compile and strategy.num_replicas_in_sync == 1
    self._gradients = _xla_if(config.jit_compile and not whole_step_xla, self.losses_and_gradients)
    self._d_gradients = _xla_if(config.jit_compile and not whole_step_xla, self._discriminator_gradients)
    self.replica_step = _xla_if(whole_step_xla, self._replica_step)

  # ---- D's view of a batch ---------------------------------------------------------------------

  def _discriminator_input(self, batch, images, seed):
    """What D scores: the model's D input of `images`, augmented with `seed` when DiffAugment is on.

    A dict input (a conditional D's {"images", "label"}) has only its images augmented.
    """
    inputs = self.spec.discriminator_input(batch, images)
    if not self.policy:
      return inputs
    if isinstance(inputs, dict):
      return {**inputs, "images": augment.diff_augment(inputs["images"], self.policy, seed, *_replica())}
    return augment.diff_augment(inputs, self.policy, seed, *_replica())

  def _scorer(self, batch, seed):
    """images -> D's logits (training mode), through the same input path as the loss."""
    return lambda images: self.state.discriminator(self._discriminator_input(batch, images, seed),
                                                   training=True)

  def _score(self, batch, real, fake, seed):
    discriminator = self.state.discriminator
    real_seed = tf.random.experimental.stateless_fold_in(seed, _AUGMENT_REAL)
    fake_seed = tf.random.experimental.stateless_fold_in(seed, _AUGMENT_FAKE)
    fake = tf.cast(fake, real.dtype)
    real = self._discriminator_input(batch, real, real_seed)
    fake = self._discriminator_input(batch, fake, fake_seed)
    if self.config.joint_discriminator_pass:  # each input (images, and labels if any) stacked real over fake
      logits = discriminator(tf.nest.map_structure(lambda r, f: tf.concat([r, f], 0), real, fake),
                             training=True)
      return tf.split(logits, 2, axis=0)
    return discriminator(real, training=True), discriminator(fake, training=True)

  def _penalties(self, batch, real, fake, seed, step, global_batch_size):
    """{name: D's penalty, reduced over the global batch}, each already weighted."""
    config = self.config
    terms = {}
    if "r1" in self.penalties:
      score = self._scorer(batch, tf.random.experimental.stateless_fold_in(seed, _AUGMENT_REAL))
      every = config.r1_every  # lazy R1 (StyleGAN2): every `every` steps, `every` times as strong

      def r1():
        return reduce_over_global_batch(regularizers.r1_penalty(score, real, every * config.r1_gamma),
                                        global_batch_size)
      terms["r1"] = r1() if every == 1 else tf.cond(step % every == 0, r1, lambda: tf.constant(0.0))
    if "r2" in self.penalties:
      score = self._scorer(batch, tf.random.experimental.stateless_fold_in(seed, _AUGMENT_FAKE))
      terms["r2"] = reduce_over_global_batch(regularizers.r2_penalty(score, fake, config.r2_gamma),
                                             global_batch_size)
    if "gp" in self.penalties:
      score = self._scorer(batch, tf.random.experimental.stateless_fold_in(seed, _AUGMENT_REAL))
      interpolation_seed = tf.random.experimental.stateless_fold_in(seed, _INTERPOLATION)
      terms["gp"] = reduce_over_global_batch(
          regularizers.gradient_penalty(score, real, fake, config.gp_weight, interpolation_seed,
                                        *_replica()), global_batch_size)
    return terms

  # ---- losses and gradients ----------------------------------------------------------------------

  def _discriminator_losses(self, batch, step, substep, global_batch_size):
    local_batch = tf.shape(batch["real"])[0]
    z = noise(self.config, step, substep, local_batch, *_replica())
    seed = step_seed(self.config, step, substep)
    outputs = self.state.generator(self.spec.generator_input(batch, z), training=True)
    fake = sampling.generated_images(outputs)
    real_logits, fake_logits = self._score(batch, batch["real"], fake, seed)
    d_loss = reduce_over_global_batch(self.loss.discriminator(real_logits, fake_logits), global_batch_size)
    d_loss += regularization(self.state.discriminator)
    penalties = self._penalties(batch, batch["real"], fake, seed, step, global_batch_size)
    for value in penalties.values():
      d_loss += value
    return d_loss, real_logits, fake_logits, outputs, penalties

  def _discriminator_gradients(self, batch, step, substep, global_batch_size):
    discriminator = self.state.discriminator
    with tf.GradientTape() as tape:
      d_loss = self._discriminator_losses(batch, step, substep, global_batch_size)[0]
      scaled = self.state.d_optimizer.scale_loss(d_loss)
    return dense_gradients(tape.gradient(scaled, discriminator.trainable_variables))

  def _extra_generator_losses(self, batch, outputs, global_batch_size):
    if self.spec.extra_generator_losses is None:
      return {}
    terms = self.spec.extra_generator_losses(self.config, batch, outputs)
    if set(terms) != set(self.spec.generator_terms):
      raise ValueError(f"{self.spec.name}: extra_generator_losses returned {sorted(terms)}, but "
                       f"generator_terms declares {sorted(self.spec.generator_terms)}.")
    return {name: reduce_over_global_batch(tf.cast(value, tf.float32), global_batch_size)
            for name, value in terms.items()}

  def _generator_loss(self, real_logits, fake_logits, global_batch_size):
    adversarial = reduce_over_global_batch(self.loss.generator(real_logits, fake_logits), global_batch_size)
    return adversarial if self.adversarial_weight == 1.0 else self.adversarial_weight * adversarial

  def losses_and_gradients(self, batch, step, substep, global_batch_size):
    """(D gradients, G gradients, metrics) of the last D update and the G update, on this replica."""
    generator, discriminator = self.state.generator, self.state.discriminator
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      d_loss, real_logits, fake_logits, outputs, penalties = self._discriminator_losses(
          batch, step, substep, global_batch_size)
      g_loss = self._generator_loss(real_logits, fake_logits, global_batch_size)
      g_loss += regularization(generator)
      extra = self._extra_generator_losses(batch, outputs, global_batch_size)
      g_loss += tf.add_n(list(extra.values())) if extra else 0.0
      scaled_d = self.state.d_optimizer.scale_loss(d_loss)
      scaled_g = self.state.g_optimizer.scale_loss(g_loss)
    d_grads = dense_gradients(d_tape.gradient(scaled_d, discriminator.trainable_variables))
    g_grads = dense_gradients(g_tape.gradient(scaled_g, generator.trainable_variables))
    logged = {name: reduce_over_global_batch(value, global_batch_size)
              for name, value in losses.logged_metrics(self.loss, real_logits, fake_logits).items()}
    metrics = {"d_loss": d_loss, "g_loss": g_loss, **logged, **penalties, **extra}
    return d_grads, g_grads, metrics

  def _replica_step(self, batches, step):
    """One training step on this replica's share of `d_steps` global batches; returns metrics."""
    state = self.state
    batches = [as_batch(batch) for batch in batches]
    global_batch = tf.shape(batches[0]["real"])[0] * self.strategy.num_replicas_in_sync
    for substep, batch in enumerate(batches):
      if substep < len(batches) - 1:
        d_grads = self._d_gradients(batch, step, substep, global_batch)
        state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
      else:
        d_grads, g_grads, metrics = self._gradients(batch, step, substep, global_batch)
        state.d_optimizer.apply_gradients(zip(d_grads, state.discriminator.trainable_variables))
        state.g_optimizer.apply_gradients(zip(g_grads, state.generator.trainable_variables))
    return [metrics[name] for name in self.metric_names]
