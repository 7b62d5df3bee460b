"""zoo.recipe.ema: the warm-up recurrence, copied statistics, tf.function and two replicas."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_replica_strategy
from zoo.recipe import ema as ema_lib

DECAY = 0.5  # reached at t = 8, so a few steps cover both the warm-up and the plateau


def _generator(seed):
  keras.utils.set_random_seed(seed)
  z = keras.Input([3])
  x = keras.layers.Dense(4, use_bias=False)(z)
  x = keras.layers.BatchNormalization()(x)
  return keras.Model(z, keras.layers.Dense(2)(x))


def _pair():
  return _generator(0), _generator(1)


def _set_trainable(model, value):
  for weight in model.trainable_weights:
    weight.assign(np.full(weight.shape, value, np.float32))


def test_warmup_decay_values():
  average = ema_lib.ExponentialMovingAverage(*_pair(), decay=0.999)
  # (1 + t) / (10 + t) until it reaches the decay
  np.testing.assert_allclose([float(average.decay_at(t)) for t in (0, 1, 90, 8990, 10**7)],
                             [0.1, 2 / 11, 0.91, 0.999, 0.999], rtol=1e-6)


def test_initialize_copies_every_weight_exactly():
  source, target = _pair()
  source.layers[2].moving_mean.assign([1.0, 2.0, 3.0, 4.0])
  ema_lib.ExponentialMovingAverage(source, target, DECAY).initialize()
  assert len(source.weights) == len(target.weights) == 7
  for a, b in zip(source.weights, target.weights):
    np.testing.assert_array_equal(a, b)


def _run_updates(source, target, steps, update):
  """Source weights all equal to t + 1 at step t; returns the hand-computed expected average."""
  expected = np.float32(0.0)
  _set_trainable(source, 0.0)
  ema_lib.ExponentialMovingAverage(source, target, DECAY).initialize()
  for t in range(steps):
    _set_trainable(source, t + 1.0)
    source.layers[2].moving_variance.assign(np.full([4], 10.0 + t, np.float32))
    update(t)
    decay = np.float32(min(DECAY, (1 + t) / (10 + t)))
    expected = decay * expected + (np.float32(1) - decay) * np.float32(t + 1)
  return expected


@pytest.mark.parametrize("compiled", [False, True])
def test_updates_follow_the_warmup_recurrence_and_copy_statistics(compiled):
  source, target = _pair()
  average = ema_lib.ExponentialMovingAverage(source, target, DECAY)
  update = tf.function(average.update) if compiled else average.update
  # By hand: decay_t = (1 + t) / (10 + t) up to t = 7, then 9/18 = 0.5 = DECAY; the average starts at 0.
  expected = _run_updates(source, target, 10, lambda t: update(tf.constant(t, tf.int64)))
  by_hand = 0.0
  for t, decay in enumerate([1 / 10, 2 / 11, 3 / 12, 4 / 13, 5 / 14, 6 / 15, 7 / 16, 8 / 17, 0.5, 0.5]):
    by_hand = decay * by_hand + (1 - decay) * (t + 1)
  np.testing.assert_allclose(expected, by_hand, rtol=1e-6)
  for weight in target.trainable_weights:
    np.testing.assert_allclose(weight, np.full(weight.shape, expected), rtol=1e-6)
  np.testing.assert_array_equal(target.layers[2].moving_variance, np.full([4], 19.0))  # copied, not averaged
  np.testing.assert_array_equal(target.layers[2].moving_mean, source.layers[2].moving_mean)


def test_mismatched_architectures_are_rejected():
  z = keras.Input([3])
  other = keras.Model(z, keras.layers.Dense(2)(z))
  with pytest.raises(ValueError, match="does not match"):
    ema_lib.ExponentialMovingAverage(_generator(0), other, DECAY)


def _averaged_in(strategy, models):
  """Three updates of `models`' average, each in a tf.function in cross-replica context."""
  source, target = models
  average = ema_lib.ExponentialMovingAverage(source, target, DECAY)
  update = tf.function(average.update)  # called directly, not inside strategy.run
  with strategy.scope():
    _run_updates(source, target, 3, lambda t: update(tf.constant(t, tf.int64)))
  return target


def test_two_replicas_update_every_copy_like_one_device():
  strategy = two_replica_strategy()
  one = _averaged_in(tf.distribute.get_strategy(), _pair())
  with strategy.scope():
    models = _pair()
  two = _averaged_in(strategy, models)
  for a, b in zip(one.weights, two.weights):
    copies = b.value.values
    assert len(copies) == 2
    for copy in copies:
      np.testing.assert_array_equal(copy, a)
