"""zoo.recipe.losses: every family against numbers worked out by hand, reductions, dtypes."""
import math

import numpy as np
import pytest
import tensorflow as tf

from zoo.recipe import losses

REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])


def _softplus(x):
  return math.log1p(math.exp(x))


# (D loss, G loss) per example at r = [2, -1], f = [0.5, -3], worked out from each family's formula.
EXPECTED = {
    "non_saturating": ([_softplus(-2.0) + _softplus(0.5), _softplus(1.0) + _softplus(-3.0)],
                       [_softplus(-0.5), _softplus(3.0)]),
    # relu(1 - r) + relu(1 + f): 0 + 1.5 and 2 + 0; G: -f
    "hinge": ([1.5, 2.0], [-0.5, 3.0]),
    # f - r
    "wasserstein": ([-1.5, -2.0], [-0.5, 3.0]),
    # (r - 1)^2 / 2 + f^2 / 2: 0.5 + 0.125 and 2 + 4.5; G: (f - 1)^2 / 2 = 0.125 and 8
    "least_squares": ([0.625, 6.5], [0.125, 8.0]),
    # softplus(f - r) = softplus(-1.5), softplus(-2); G: softplus(r - f)
    "relativistic": ([_softplus(-1.5), _softplus(-2.0)], [_softplus(1.5), _softplus(2.0)]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_family_matches_hand_computation(name):
  family = losses.get(name)
  d_expected, g_expected = EXPECTED[name]
  np.testing.assert_allclose(family.discriminator(REAL, FAKE), d_expected, rtol=1e-6)
  np.testing.assert_allclose(family.generator(REAL, FAKE), g_expected, rtol=1e-6)


def test_every_family_has_hand_computed_values():
  assert set(EXPECTED) == set(losses.FAMILIES)


def test_hinge_patch_logits_average_per_example():
  real = tf.constant([[[[2.0], [0.0]], [[-1.0], [1.0]]]])  # [1, 2, 2, 1]
  fake = tf.zeros([1, 2, 2, 1])
  # relu(1 - r) per patch: 0, 1, 2, 0 -> mean 0.75; relu(1 + 0) = 1 per patch
  np.testing.assert_allclose(losses.get("hinge").discriminator(real, fake), [1.75], rtol=1e-6)


def test_relativistic_pairs_patches_by_position():
  real = tf.constant([[[[1.0], [3.0]]]])  # [1, 1, 2, 1]
  fake = tf.constant([[[[2.0], [0.0]]]])
  expected = (_softplus(2.0 - 1.0) + _softplus(0.0 - 3.0)) / 2
  np.testing.assert_allclose(losses.get("relativistic").discriminator(real, fake), [expected], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_patch_losses_are_per_example_means_of_per_patch_losses(name):
  family = losses.get(name)
  real = tf.random.stateless_normal([3, 2, 2, 1], seed=[1, 2])
  fake = tf.random.stateless_normal([3, 2, 2, 1], seed=[3, 4])
  patches = [(real[:, i, j], fake[:, i, j]) for i in range(2) for j in range(2)]  # each [3, 1]
  for loss in (family.discriminator, family.generator):
    got = loss(real, fake)
    assert got.shape == [3]
    np.testing.assert_allclose(got, np.mean([loss(r, f) for r, f in patches], axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bfloat16_logits_give_float32_losses(name):
  family = losses.get(name)
  real, fake = tf.cast(REAL, tf.bfloat16), tf.cast(FAKE, tf.bfloat16)
  assert family.discriminator(real, fake).dtype == tf.float32
  assert family.generator(real, fake).dtype == tf.float32
  for value in losses.logged_metrics(family, real, fake).values():
    assert value.dtype == tf.float32
  # These logits are exact in bfloat16, so the losses are the float32 ones.
  np.testing.assert_allclose(family.discriminator(real, fake), EXPECTED[name][0], rtol=1e-6)


def _random_logits(dtype):
  return [tf.cast(tf.random.stateless_normal(shape, seed=[5, i]) * 3, dtype)
          for i, shape in enumerate(([8, 1], [8, 1], [4, 3, 3, 1], [4, 3, 3, 1]))]


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_non_saturating_is_binary_cross_entropy_bit_for_bit(dtype):
  family = losses.get("non_saturating")

  def bce(label, logits):
    logits = tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=label * tf.ones_like(logits),
                                                                  logits=logits), axis=1)
  real, fake, real_patches, fake_patches = _random_logits(dtype)
  for r, f in ((real, fake), (real_patches, fake_patches)):
    np.testing.assert_array_equal(family.discriminator(r, f), bce(1.0, r) + bce(0.0, f))
    np.testing.assert_array_equal(family.generator(r, f), bce(1.0, f))


def test_logged_metrics_are_probabilities_for_non_saturating():
  family = losses.get("non_saturating")
  patches = tf.constant([[[[0.0], [math.log(3.0)]]]])  # [1, 1, 2, 1]: probabilities 1/2 and 3/4
  metrics = losses.logged_metrics(family, patches, tf.constant([[[[-1.0], [1.0]]]]))
  assert tuple(metrics) == losses.metric_names(family) == ("d_real", "d_fake")
  np.testing.assert_allclose(metrics["d_real"], [0.625], rtol=1e-6)
  # sigmoid(-1) + sigmoid(1) = 1
  np.testing.assert_allclose(metrics["d_fake"], [0.5], rtol=1e-6)


@pytest.mark.parametrize("name", ["hinge", "wasserstein", "least_squares", "relativistic"])
def test_logged_metrics_are_mean_logits_for_unbounded_scores(name):
  family = losses.get(name)
  metrics = losses.logged_metrics(family, tf.constant([[[[1.0], [4.0]]]]), FAKE)
  assert tuple(metrics) == losses.metric_names(family) == ("real_logit", "fake_logit")
  np.testing.assert_allclose(metrics["real_logit"], [2.5], rtol=1e-6)
  np.testing.assert_allclose(metrics["fake_logit"], [0.5, -3.0], rtol=1e-6)


def test_unknown_name_lists_the_valid_ones():
  with pytest.raises(ValueError, match="hinge.*least_squares.*non_saturating.*relativistic.*wasserstein"):
    losses.get("vanilla")
