"""Penalties on D's input gradient: R1, R2 and the WGAN-GP gradient penalty, per example [B] float32.

They receive D itself, as `score(images) -> logits` (D applied to D's input, called inside D's
GradientTape), and the images. An inner tape takes the gradient of D's score with respect to its input;
the caller's tape then differentiates the penalty with respect to D's weights (double backprop), so
every op of D needs a second derivative.

D's score of an image is its mean logit, s(x) = mean over D's outputs for x, so a per-patch D is
penalised on the gradient of its average verdict. The gradient of the sum of s over the batch is taken
once: it is each example's own gradient as long as D treats examples independently (not true of
BatchNormalization in training mode, as in every implementation that takes this shortcut).
"""
import tensorflow as tf

# Inside the square root of the gradient norm: the derivative of sqrt at 0 is infinite, and times the
# zero gradient of a flat D it gives NaN (as tf.norm does, and public WGAN-GP examples built on it).
# With eps, a zero gradient has norm sqrt(eps) = 1e-6 and a finite derivative 1 / (2 sqrt(eps)) = 5e5
# times zero. Next to the GP's target norm 1, eps is far below float32's resolution (1.2e-7), so it
# leaves any norm that matters unchanged.
_NORM_EPSILON = 1e-12
_PENALTY_FLAGS = ("r1_gamma", "r2_gamma", "gp_weight")


def refuse_with_batchnorm(config, fix):
  """One ValueError naming `fix` when the run asks for a penalty on a D that has BatchNorm.

  The penalties need each image's own input gradient (see above), which BatchNorm mixes across the batch.
  """
  penalties = [f"--{name}" for name in _PENALTY_FLAGS if getattr(config, name)]
  if penalties:
    raise ValueError(f"{', '.join(penalties)} penalise each image's input gradient, which D's BatchNorm "
                     f"mixes across the batch: {fix}.")


def _mean_logit(logits):
  """[B, ...] logits of any dtype -> float32 [B]."""
  return tf.reduce_mean(tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32), axis=1)


def input_gradient_squared_norm(score, images):
  """||grad_x s(x)||^2 per example [B] float32, where s(x) is D's mean logit for image x.

  D sees a float32 copy of the images (a bfloat16 D casts it to its compute dtype as usual), so the
  gradient arrives in float32 and the squares and sums are float32 whatever D's precision.
  """
  images = tf.cast(images, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(images)
    total = tf.reduce_sum(_mean_logit(score(images)))
  gradients = tape.gradient(total, images)  # [B, ...] like the images
  return tf.reduce_sum(tf.square(tf.reshape(gradients, [tf.shape(gradients)[0], -1])), axis=1)


def r1_penalty(score, real, gamma):
  """gamma / 2 ||grad D(x)||^2 on real images (Mescheder et al. 2018, eq. 9), per example [B].

  Zero-centred: it pushes D's gradient to vanish on the data, which makes training locally convergent.
  """
  return 0.5 * gamma * input_gradient_squared_norm(score, real)


def r2_penalty(score, fake, gamma):
  """gamma / 2 ||grad D(x~)||^2 on fakes (Mescheder et al. 2018; R3GAN pairs it with R1), per example.

  The fakes are constants here: the penalty trains D, and must not send gradients back into G.
  """
  return 0.5 * gamma * input_gradient_squared_norm(score, tf.stop_gradient(fake))


def interpolation_weights(seed, batch_size, replica_id=0, num_replicas=1):
  """This replica's slice of eps ~ U[0, 1) for the global batch, [batch_size] float32.

  Drawn statelessly from `seed` for all `batch_size * num_replicas` examples and sliced, like the
  trainer's noise, so the penalty does not depend on the number of replicas or on restarts (as long as
  it is drawn in the same compile context: stateless draws differ inside and outside XLA on CPU).
  """
  eps = tf.random.stateless_uniform([batch_size * num_replicas], seed)
  return eps[replica_id * batch_size:(replica_id + 1) * batch_size]


def gradient_penalty(score, real, fake, weight, seed, replica_id=0, num_replicas=1):
  """weight (||grad D(x^)|| - 1)^2 per example [B] (WGAN-GP, Gulrajani et al. 2017, Algorithm 1).

  x^ = eps x + (1 - eps) x~ with eps ~ U[0, 1] per example, uniform as in the paper; `seed` is a [2]
  integer tensor, and `replica_id`/`num_replicas` say which slice of the global batch this replica
  holds. The fakes are constants (stop_gradient): the penalty trains D only.
  """
  real = tf.cast(real, tf.float32)
  fake = tf.cast(tf.stop_gradient(fake), tf.float32)
  eps = interpolation_weights(seed, tf.shape(real)[0], replica_id, num_replicas)
  eps = tf.reshape(eps, [-1] + [1] * (real.shape.rank - 1))  # broadcast over the image axes
  squared_norm = input_gradient_squared_norm(score, eps * real + (1.0 - eps) * fake)
  return weight * tf.square(tf.sqrt(squared_norm + _NORM_EPSILON) - 1.0)
