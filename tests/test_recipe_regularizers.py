"""zoo.recipe.regularizers on discriminators whose input gradient is known in closed form."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_replica_strategy
from zoo.recipe import regularizers

W = [0.5, -1.0, 2.0, 0.25]  # ||W||^2 = 0.25 + 1 + 4 + 0.0625
W_SQUARED_NORM = 5.3125
SEED = tf.constant([7, 11], tf.int64)


def _images(batch=2, seed=0):
  return tf.random.stateless_uniform([batch, 2, 2, 1], seed=[seed, 1])  # 4 pixels: one per entry of W


def _linear_discriminator(kernel=W, dtype=None):
  """s(x) = <w, x> + b as a Dense on the flattened image: its input gradient is w everywhere."""
  dense = keras.layers.Dense(1, dtype=dtype)
  dense.build((None, len(kernel)))
  dense.set_weights([np.reshape(np.asarray(kernel, np.float32), [-1, 1]), np.array([0.3], np.float32)])
  return dense, lambda images: dense(tf.reshape(images, [tf.shape(images)[0], -1]))


def test_r1_is_half_gamma_times_squared_norm_of_w():
  _, score = _linear_discriminator()
  np.testing.assert_allclose(regularizers.r1_penalty(score, _images(), 10.0), [5 * W_SQUARED_NORM] * 2,
                             rtol=1e-6)


def test_r2_is_the_same_on_fakes_and_sends_no_gradient_to_them():
  _, score = _linear_discriminator()
  fake = _images(seed=1)
  with tf.GradientTape() as tape:
    tape.watch(fake)
    penalty = regularizers.r2_penalty(score, fake, 4.0)
  np.testing.assert_allclose(penalty, [2 * W_SQUARED_NORM] * 2, rtol=1e-6)
  assert tape.gradient(penalty, fake) is None


def test_gradient_penalty_is_weight_times_squared_distance_of_norm_to_one():
  _, score = _linear_discriminator()
  penalty = regularizers.gradient_penalty(score, _images(), _images(seed=1), 10.0, SEED)
  np.testing.assert_allclose(penalty, [10 * (math.sqrt(W_SQUARED_NORM) - 1) ** 2] * 2, rtol=1e-6)


def test_gradient_of_r1_with_respect_to_w_is_gamma_w():
  dense, score = _linear_discriminator()
  with tf.GradientTape() as tape:
    penalty = tf.reduce_mean(regularizers.r1_penalty(score, _images(), 10.0))
  # d/dw (gamma / 2 ||w||^2) = gamma w
  np.testing.assert_allclose(tape.gradient(penalty, dense.kernel), 10.0 * np.reshape(W, [-1, 1]), rtol=1e-6)


def test_gradient_of_gp_with_respect_to_w_matches_closed_form():
  dense, score = _linear_discriminator()
  with tf.GradientTape() as tape:
    penalty = tf.reduce_mean(regularizers.gradient_penalty(score, _images(), _images(seed=1), 10.0, SEED))
  norm = math.sqrt(W_SQUARED_NORM)
  # d/dw weight (||w|| - 1)^2 = 2 weight (||w|| - 1) w / ||w||
  expected = 2 * 10.0 * (norm - 1) / norm * np.reshape(W, [-1, 1])
  np.testing.assert_allclose(tape.gradient(penalty, dense.kernel), expected, rtol=1e-5)


def test_flat_discriminator_gives_finite_gradient_penalty_and_gradient():
  dense, score = _linear_discriminator(kernel=[0.0] * 4)
  with tf.GradientTape() as tape:
    penalty = regularizers.gradient_penalty(score, _images(), _images(seed=1), 10.0, SEED)
    mean = tf.reduce_mean(penalty)
  gradient = tape.gradient(mean, dense.kernel)
  np.testing.assert_allclose(penalty, [10.0] * 2, rtol=1e-5)  # (0 - 1)^2, up to sqrt(eps)
  assert np.all(np.isfinite(gradient))


def test_per_patch_discriminator_is_penalised_on_its_mean_logit():
  conv = keras.layers.Conv2D(1, 1)
  conv.build((None, 2, 2, 1))
  conv.set_weights([np.full([1, 1, 1, 1], 3.0, np.float32), np.zeros([1], np.float32)])
  # s(x) = mean over the 4 patches of 3 x_p: each pixel's derivative is 3/4, squared norm 4 (3/4)^2
  penalty = regularizers.r1_penalty(lambda images: conv(images), _images(), 2.0)
  np.testing.assert_allclose(penalty, [2.25, 2.25], rtol=1e-6)


def test_bfloat16_discriminator_gives_float32_penalty_close_to_float32():
  dense32, score32 = _linear_discriminator()
  dense16, score16 = _linear_discriminator(dtype="mixed_bfloat16")
  real, fake = _images(), _images(seed=1)
  results = []
  for dense, score in ((dense32, score32), (dense16, score16)):
    with tf.GradientTape() as tape:
      r1 = regularizers.r1_penalty(score, real, 10.0)
      gp = regularizers.gradient_penalty(score, real, fake, 10.0, SEED)
      total = tf.reduce_mean(r1 + gp)
    results.append((r1, gp, tape.gradient(total, dense.kernel)))
  (r1_32, gp_32, grad_32), (r1_16, gp_16, grad_16) = results
  assert r1_16.dtype == gp_16.dtype == tf.float32
  assert dense16.compute_dtype == "bfloat16"
  np.testing.assert_allclose(r1_16, r1_32, rtol=1e-2)
  np.testing.assert_allclose(gp_16, gp_32, rtol=2e-2)
  np.testing.assert_allclose(grad_16, grad_32, rtol=2e-2)  # double backprop through a bfloat16 D


def test_double_backprop_compiles_with_xla():
  dense, score = _linear_discriminator()

  @tf.function(jit_compile=True)
  def r1_gradient(real):
    with tf.GradientTape() as tape:
      penalty = tf.reduce_mean(regularizers.r1_penalty(score, real, 10.0))
    return tape.gradient(penalty, dense.kernel)
  np.testing.assert_allclose(r1_gradient(_images()), 10.0 * np.reshape(W, [-1, 1]), rtol=1e-6)


def test_interpolation_weights_are_uniform_on_the_unit_interval():
  eps = regularizers.interpolation_weights(SEED, 10_000).numpy()
  assert eps.min() >= 0 and eps.max() < 1
  assert abs(eps.mean() - 0.5) < 0.02 and abs(eps.var() - 1 / 12) < 0.005


def test_replica_slices_of_interpolation_weights_concatenate_to_the_global_draw():
  whole = regularizers.interpolation_weights(SEED, 6)
  halves = [regularizers.interpolation_weights(SEED, 3, replica_id, 2) for replica_id in range(2)]
  np.testing.assert_array_equal(tf.concat(halves, 0), whole)


def _quadratic_score(images):
  """s(x) = sum 0.7 x^2: its gradient 1.4 x depends on the point, so on the drawn eps."""
  return tf.reduce_sum(0.7 * tf.square(images), axis=[1, 2, 3])[:, None]


@pytest.mark.parametrize("penalty", ["gp", "r1"])
def test_two_replicas_give_the_one_replica_penalties(penalty):
  strategy = two_replica_strategy()
  real, fake = _images(batch=4), _images(batch=4, seed=1)

  def compute(real, fake, replica_id, num_replicas):
    if penalty == "r1":
      return regularizers.r1_penalty(_quadratic_score, real, 10.0)
    return regularizers.gradient_penalty(_quadratic_score, real, fake, 10.0, SEED, replica_id, num_replicas)

  def replica_fn(real, fake):
    replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
    return compute(real, fake, replica_id, strategy.num_replicas_in_sync)

  def halves(images):
    def half(context):
      replica_id = context.replica_id_in_sync_group
      return images[2 * replica_id:2 * (replica_id + 1)]
    return strategy.experimental_distribute_values_from_function(half)
  per_replica = tf.function(lambda r, f: strategy.run(replica_fn, args=(r, f)))(halves(real), halves(fake))
  distributed = tf.concat(strategy.experimental_local_results(per_replica), 0)
  np.testing.assert_allclose(distributed, compute(real, fake, 0, 1), rtol=1e-6)
