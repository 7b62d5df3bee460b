"""The GAN objective, top to bottom: what D and G minimise in one step (StyleGAN2-ADA's loss.py layout).

  D:  the loss family on D(real) and D(G(z))                  zoo/recipe/losses.py, --loss
      + D's own weight penalties                              (a model's kernel regularisers)
      + R1 on reals, lazily: every --r1_every steps, --r1_every times as strong (StyleGAN2)
      + R2 on fakes                                           zoo/recipe/regularizers.py
      + WGAN-GP on interpolates
  G:  the loss family's G term, times the model's adversarial weight
      + G's own weight penalties
      + the model's extra terms (e.g. image_gan's L1), already weighted by the model

Every image D sees goes through the same input path: the model's D input of the images, augmented by
DiffAugment when --augment names a policy, or by ADA (--augment=ada) with the controller's current p;
D's signs on the reals of every update are then the step's `statistics` for the controller. Per-example
terms are averaged over the global batch, so a loss does not depend on the number of replicas. Every
random draw (noise, augmentation, interpolation weights) is one global batch drawn statelessly from
(seed, step, substep), of which each replica takes its slice: an update is the same on any number of
replicas and after a resume.
"""
import tensorflow as tf

from zoo import pixels
from zoo import sampling
from zoo.recipe import ada
from zoo.recipe import augment
from zoo.recipe import losses
from zoo.recipe import regularizers

# Streams of the per-(step, substep) seed, one per kind of random draw.
_AUGMENT_REAL, _AUGMENT_FAKE, _INTERPOLATION = 1, 2, 3
# What a step reports for ADA's controller besides its metrics, summed over replicas and D updates:
# sum of sign(D(real)) and the number of reals it covers.
ADA_STATISTICS = ("ada_sign_sum", "ada_reals")


def step_seed(config, step, substep):
  """The stateless seed [2] of one D update: the same on every replica and after a resume."""
  return tf.stack([tf.cast(config.seed, tf.int64), tf.cast(step, tf.int64) * 64 + substep])


def replica():
  """(replica id, number of replicas) of the current replica context."""
  context = tf.distribute.get_replica_context()
  return context.replica_id_in_sync_group, context.num_replicas_in_sync


def noise(config, step, substep, batch_size, replica_id=0, num_replicas=1):
  """This replica's slice of the global noise batch of (step, substep)."""
  z = tf.random.stateless_normal([batch_size * num_replicas, config.latent_dim],
                                 seed=step_seed(config, step, substep))
  return z[replica_id * batch_size:(replica_id + 1) * batch_size]


def reduce_over_global_batch(per_example, global_batch_size):
  return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def regularization(model):
  """The model's own weight penalties (e.g. a kernel L2), scaled for the replica count."""
  if not model.losses:
    return 0.0
  return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]))


class Objective:
  """D's and G's losses of one (step, substep) on this replica's share of a global batch."""

  def __init__(self, config, spec, state):
    self.config = config
    self.spec = spec
    self.state = state
    self.loss = losses.get(config.loss)
    self.ada = state.ada  # ADA's controller, or None
    self.policy = () if self.ada is not None else augment.parse_policy(config.augment)
    self.ada_transforms = ada.parse_set(config.ada_set) if self.ada is not None else ()
    self.penalties = tuple(name for name, weight in (("r1", config.r1_gamma), ("r2", config.r2_gamma),
                                                     ("gp", config.gp_weight)) if weight)
    self.adversarial_weight = spec.adversarial_weight(config) if spec.adversarial_weight else 1.0
    # What one step reports, in the progress line's order.
    self.metric_names = (("d_loss", "g_loss") + losses.metric_names(self.loss) + self.penalties
                         + tuple(spec.generator_terms))
    # What a step returns beside its metrics, for the hooks after it (summed over replicas, not logged).
    self.statistic_names = ADA_STATISTICS if self.ada is not None else ()

  # ---- D's view of a batch ---------------------------------------------------------------------

  def discriminator_input(self, batch, images, seed):
    """What D scores: the model's D input of `images`, augmented with `seed` when --augment is set.

    A dict input (a conditional D's {"images", "label"}) has only its images augmented.
    """
    inputs = self.spec.discriminator_input(batch, images)
    if not self.policy and self.ada is None:
      return inputs
    if isinstance(inputs, dict):
      return {**inputs, "images": self._augment(inputs["images"], seed)}
    return self._augment(inputs, seed)

  def _augment(self, images, seed):
    if self.ada is not None:
      return ada.ada_augment(images, self.ada.p, seed, *replica(), transforms=self.ada_transforms,
                             pixel_bounds=pixels.bounds(self.spec.pixel_range))
    return augment.diff_augment(images, self.policy, seed, *replica())

  def statistics(self, real_logits):
    """{statistic: value on this replica} of one D update, for `statistic_names`' consumers."""
    if self.ada is None:
      return {}
    return {"ada_sign_sum": ada.real_sign_sum(real_logits),
            "ada_reals": tf.cast(tf.shape(real_logits)[0], tf.float32)}

  def _scorer(self, batch, seed):
    """images -> D's logits (training mode), through the same input path as the loss."""
    return lambda images: self.state.discriminator(self.discriminator_input(batch, images, seed),
                                                   training=True)

  def _logits(self, batch, real, fake, seed):
    discriminator = self.state.discriminator
    real = self.discriminator_input(batch, real, _fold(seed, _AUGMENT_REAL))
    fake = self.discriminator_input(batch, fake, _fold(seed, _AUGMENT_FAKE))
    if self.config.joint_discriminator_pass:  # each input (images, and labels if any) stacked real over fake
      logits = discriminator(tf.nest.map_structure(lambda r, f: tf.concat([r, f], 0), real, fake),
                             training=True)
      return tf.split(logits, 2, axis=0)
    return discriminator(real, training=True), discriminator(fake, training=True)

  # ---- D's penalties -------------------------------------------------------------------------

  def _penalties(self, batch, real, fake, seed, step, global_batch_size):
    """{name: D's penalty, reduced over the global batch}, each already weighted."""
    config = self.config
    terms = {}
    if "r1" in self.penalties:
      score = self._scorer(batch, _fold(seed, _AUGMENT_REAL))
      every = config.r1_every  # lazy R1 (StyleGAN2): every `every` steps, `every` times as strong

      def r1():
        return reduce_over_global_batch(regularizers.r1_penalty(score, real, every * config.r1_gamma),
                                        global_batch_size)
      terms["r1"] = r1() if every == 1 else tf.cond(step % every == 0, r1, lambda: tf.constant(0.0))
    if "r2" in self.penalties:
      score = self._scorer(batch, _fold(seed, _AUGMENT_FAKE))
      terms["r2"] = reduce_over_global_batch(regularizers.r2_penalty(score, fake, config.r2_gamma),
                                             global_batch_size)
    if "gp" in self.penalties:
      score = self._scorer(batch, _fold(seed, _AUGMENT_REAL))
      terms["gp"] = reduce_over_global_batch(
          regularizers.gradient_penalty(score, real, fake, config.gp_weight, _fold(seed, _INTERPOLATION),
                                        *replica()), global_batch_size)
    return terms

  # ---- the two losses ------------------------------------------------------------------------

  def discriminator_loss(self, batch, step, substep, global_batch_size):
    """(D's loss, what G's loss needs: D's logits and G's outputs, the logged D terms and the
    update's `statistics`)."""
    local_batch = tf.shape(batch["real"])[0]
    z = noise(self.config, step, substep, local_batch, *replica())
    seed = step_seed(self.config, step, substep)
    # float32 whatever the compute dtype: the hooks' and the losses' API
    outputs = _float32(self.state.generator(self.spec.generator_input(batch, z), training=True))
    real = batch["real"]
    fake = tf.cast(sampling.generated_images(outputs), real.dtype)
    real_logits, fake_logits = self._logits(batch, real, fake, seed)
    d_loss = reduce_over_global_batch(self.loss.discriminator(real_logits, fake_logits), global_batch_size)
    d_loss += regularization(self.state.discriminator)
    penalties = self._penalties(batch, real, fake, seed, step, global_batch_size)
    for value in penalties.values():
      d_loss += value
    logged = {name: reduce_over_global_batch(value, global_batch_size)
              for name, value in losses.logged_metrics(self.loss, real_logits, fake_logits).items()}
    terms = {**logged, **penalties, **self.statistics(real_logits)}
    return d_loss, (real_logits, fake_logits, outputs), terms

  def generator_loss(self, batch, d_results, global_batch_size):
    """(G's loss, the logged G terms) from the same forward pass as D's loss."""
    real_logits, fake_logits, outputs = d_results
    g_loss = reduce_over_global_batch(self.loss.generator(real_logits, fake_logits), global_batch_size)
    if self.adversarial_weight != 1.0:
      g_loss = self.adversarial_weight * g_loss
    g_loss += regularization(self.state.generator)
    extra = self._extra_generator_losses(batch, outputs, global_batch_size)
    for value in extra.values():
      g_loss += value
    return g_loss, extra

  def _extra_generator_losses(self, batch, outputs, global_batch_size):
    if self.spec.extra_generator_losses is None:
      return {}
    terms = self.spec.extra_generator_losses(self.config, batch, outputs)
    if set(terms) != set(self.spec.generator_terms):
      raise ValueError(f"{self.spec.name}: extra_generator_losses returned {sorted(terms)}, but "
                       f"generator_terms declares {sorted(self.spec.generator_terms)}.")
    return {name: reduce_over_global_batch(tf.cast(terms[name], tf.float32), global_batch_size)
            for name in self.spec.generator_terms}


def _fold(seed, stream):
  return tf.random.experimental.stateless_fold_in(seed, stream)


def _float32(outputs):
  """G's outputs (a tensor, or a dict of them) with every floating tensor cast to float32."""
  return tf.nest.map_structure(lambda x: tf.cast(x, tf.float32) if x.dtype.is_floating else x, outputs)
