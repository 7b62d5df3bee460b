"""Losses against values computed by hand."""
import math

import numpy as np
import tensorflow as tf

from zoo import losses


def _sigmoid(x):
  return 1.0 / (1.0 + math.exp(-x))


def test_discriminator_loss_matches_hand_computation():
  real, fake = tf.constant([[2.0], [-1.0]]), tf.constant([[0.5], [-3.0]])
  expected = [-math.log(_sigmoid(2.0)) - math.log(1 - _sigmoid(0.5)),
              -math.log(_sigmoid(-1.0)) - math.log(1 - _sigmoid(-3.0))]
  np.testing.assert_allclose(losses.non_saturating_discriminator_loss(real, fake), expected, rtol=1e-6)


def test_generator_loss_is_non_saturating():
  fake = tf.constant([[-4.0], [0.0]])
  expected = [-math.log(_sigmoid(-4.0)), math.log(2.0)]
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake), expected, rtol=1e-6)


def test_losses_are_float32_for_bfloat16_logits():
  logits = tf.constant([[1.0], [2.0]], tf.bfloat16)
  assert losses.non_saturating_generator_loss(logits).dtype == tf.float32
  assert losses.non_saturating_discriminator_loss(logits, logits).dtype == tf.float32


def test_patch_logits_average_per_example():
  patches = tf.zeros([2, 3, 3, 1])
  np.testing.assert_allclose(losses.non_saturating_generator_loss(patches), [math.log(2.0)] * 2, rtol=1e-6)
