"""zoo.recipe.spectral_norm: what gets wrapped, sigma against numpy's SVD, checkpoints, two replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_replica_strategy
from zoo import hardware
from zoo.recipe import spectral_norm

SHAPE = (8, 8, 2)


def _discriminator(seed=0, precision="float32", extras=True):
  """A small D like the zoo's: convolutions, LeakyReLU, BN, Dropout, a float32 logit layer."""
  keras.utils.set_random_seed(seed)
  with hardware.precision_policy(precision):
    images = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(images)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    if extras:
      x = keras.layers.BatchNormalization()(x)
      x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Conv2D(6, 3, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    logits = keras.layers.Dense(1, dtype="float32")(x)
    return keras.Model(images, logits)


def _images(batch=4, seed=0):
  return tf.random.stateless_uniform((batch,) + SHAPE, seed=[seed, 3], minval=-1.0, maxval=1.0)


def _wrappers(model):
  return [layer for layer in model.layers if isinstance(layer, spectral_norm.SpectralNormalization)]


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_every_dense_and_conv_is_wrapped_and_nothing_else(precision):
  original = _discriminator(precision=precision)
  wrapped = spectral_norm.spectrally_normalized(original)
  assert len(wrapped.layers) == len(original.layers)
  for before, after in zip(original.layers[1:], wrapped.layers[1:]):  # [0] is the input
    if isinstance(before, (keras.layers.Dense, keras.layers.Conv2D)):
      assert isinstance(after, spectral_norm.SpectralNormalization) and after.layer is before
      assert after.layer.dtype_policy.name == ("float32" if after is wrapped.layers[-1] else precision)
    else:
      assert after is before  # LeakyReLU, BN and Dropout kept as they are
    assert after.output.dtype == before.output.dtype and after.output.shape == before.output.shape
  assert len(_wrappers(wrapped)) == 4
  assert wrapped.output.shape == original.output.shape and wrapped.output.dtype == "float32"
  assert len(wrapped.non_trainable_weights) == len(original.non_trainable_weights) + 4  # one u each


def _next_u(wrapper):
  """u after one power iteration computed here in float32."""
  kernel = tf.reshape(wrapper.kernel.numpy(), [-1, wrapper.kernel.shape[-1]])
  v = tf.math.l2_normalize(tf.matmul(wrapper.vector_u.numpy(), kernel, transpose_b=True))
  return tf.math.l2_normalize(tf.matmul(v, kernel))


def test_bfloat16_layers_compute_in_bfloat16_and_keep_float32_kernels():
  wrapped = spectral_norm.spectrally_normalized(_discriminator(precision="mixed_bfloat16"))
  wrappers = _wrappers(wrapped)
  kernels = [w.kernel.numpy() for w in wrappers]
  expected_u = [_next_u(w) for w in wrappers]
  outputs = wrapped(_images(), training=True)
  assert outputs.dtype == tf.float32 and outputs.shape == [4, 1]
  for wrapper, kernel, u in zip(wrappers, kernels, expected_u):
    assert wrapper.vector_u.dtype == "float32"
    np.testing.assert_allclose(wrapper.vector_u, u, rtol=1e-6)  # in bfloat16 it is ~1e-2 off
    np.testing.assert_array_equal(wrapper.kernel, kernel)  # never assigned, never rounded to bfloat16
  first = wrappers[0]  # called alone, outside the model's autocast scope
  assert first.layer.compute_dtype == "bfloat16"
  u = _next_u(first)
  assert first(_images(), training=True).dtype == tf.bfloat16
  np.testing.assert_allclose(first.vector_u, u, rtol=1e-6)


@pytest.mark.parametrize("layer,input_shape", [(keras.layers.Dense(6), (None, 10)),
                                               (keras.layers.Conv2D(5, 3), (None, 6, 6, 4))])
def test_largest_singular_value_of_normalized_kernel_is_one(layer, input_shape):
  keras.utils.set_random_seed(1)
  wrapper = spectral_norm.SpectralNormalization(layer)
  wrapper.build(input_shape)
  inputs = tf.ones((2,) + input_shape[1:])
  for _ in range(100):  # one power iteration per training call
    wrapper(inputs, training=True)
  kernel = wrapper.kernel.numpy().reshape([-1, wrapper.kernel.shape[-1]])
  normalized = wrapper.normalized_kernel().numpy().reshape(kernel.shape)
  np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, rtol=1e-4)
  np.testing.assert_allclose(kernel / normalized, np.linalg.svd(kernel, compute_uv=False)[0], rtol=1e-4)


def test_gradient_flows_through_sigma():
  keras.utils.set_random_seed(2)
  wrapper = spectral_norm.SpectralNormalization(keras.layers.Dense(3, use_bias=False))
  wrapper.build((None, 4))
  inputs = tf.random.stateless_normal([5, 4], seed=[1, 1])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(wrapper(inputs, training=True)))
  gradient = tape.gradient(loss, wrapper.kernel)
  # Reference: d/dW of sum((x W / ||W u||)^2) with the stored (just updated) u held constant.
  kernel, u = tf.constant(wrapper.kernel.numpy()), tf.constant(wrapper.vector_u.numpy())
  with tf.GradientTape() as tape:
    tape.watch(kernel)
    loss = tf.reduce_sum(tf.square(inputs @ (kernel / tf.norm(u @ tf.transpose(kernel)))))
  np.testing.assert_allclose(gradient, tape.gradient(loss, kernel), rtol=1e-5, atol=1e-7)


def test_checkpoint_restores_u_and_the_next_training_call(tmp_path):
  model = spectral_norm.spectrally_normalized(_discriminator(extras=False))
  for seed in range(3):
    model(_images(seed=seed), training=True)
  saved = tf.train.Checkpoint(discriminator=model).write(str(tmp_path / "ckpt"))
  expected = model(_images(seed=9), training=True)
  restored = spectral_norm.spectrally_normalized(_discriminator(seed=1, extras=False))
  tf.train.Checkpoint(discriminator=restored).read(saved).assert_consumed()
  np.testing.assert_array_equal(restored(_images(seed=9), training=True), expected)
  for a, b in zip(_wrappers(model), _wrappers(restored)):
    np.testing.assert_array_equal(a.vector_u, b.vector_u)


def _training_step(model, optimizer, images, global_batch):
  with tf.GradientTape() as tape:
    logits = model(images, training=True)
    loss = tf.nn.compute_average_loss(tf.nn.softplus(-logits[:, 0]), global_batch_size=global_batch)
  gradients = tape.gradient(loss, model.trainable_variables)
  optimizer.apply_gradients(zip(gradients, model.trainable_variables))
  return logits


@pytest.mark.parametrize("jit_compile", [False, True])
def test_two_replicas_match_one_device_in_a_training_step(jit_compile):
  """u is updated in replica context, inside XLA too (as the trainer's forward pass on 2 replicas)."""
  strategy = two_replica_strategy()
  images = _images(batch=4)
  one = spectral_norm.spectrally_normalized(_discriminator(extras=False))
  with strategy.scope():
    two = spectral_norm.spectrally_normalized(_discriminator(seed=1, extras=False))
    two_optimizer = keras.optimizers.SGD(0.1)
    two_optimizer.build(two.trainable_variables)
  two.set_weights(one.get_weights())  # u included
  one_optimizer = keras.optimizers.SGD(0.1)
  one_logits = tf.function(lambda x: _training_step(one, one_optimizer, x, 4))(images)

  forward = tf.function(lambda x: two(x, training=True), jit_compile=jit_compile)

  def replica_step(x):
    with tf.GradientTape() as tape:
      logits = forward(x)
      loss = tf.nn.compute_average_loss(tf.nn.softplus(-logits[:, 0]), global_batch_size=4)
    gradients = tape.gradient(loss, two.trainable_variables)
    two_optimizer.apply_gradients(zip(gradients, two.trainable_variables))
    return logits

  halves = strategy.experimental_distribute_values_from_function(
      lambda context: images[2 * context.replica_id_in_sync_group:][:2])
  per_replica = tf.function(lambda x: strategy.run(replica_step, args=(x,)))(halves)
  np.testing.assert_allclose(tf.concat(strategy.experimental_local_results(per_replica), 0), one_logits,
                             rtol=1e-5, atol=1e-6)
  for a, b in zip(_wrappers(one), _wrappers(two)):
    copies = b.vector_u.value.values
    assert len(copies) == 2
    np.testing.assert_array_equal(copies[0], copies[1])
    np.testing.assert_allclose(copies[0], a.vector_u, rtol=1e-6)
  for a, b in zip(one.trainable_weights, two.trainable_weights):
    np.testing.assert_allclose(b.value.values[0], a, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b.value.values[0], b.value.values[1])


def test_sequential_and_nested_models_are_wrapped_and_subclassed_ones_refused():
  def sequential():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.LeakyReLU(0.2),
                             keras.layers.Dense(3)])
  wrapped = spectral_norm.spectrally_normalized(sequential())
  assert [type(layer) for layer in wrapped.layers] == [spectral_norm.SpectralNormalization,
                                                       keras.layers.LeakyReLU,
                                                       spectral_norm.SpectralNormalization]
  inputs = keras.Input((6,))
  outer = keras.Model(inputs, keras.layers.Dense(1)(sequential()(inputs)))
  nested = spectral_norm.spectrally_normalized(outer)
  assert len(_wrappers(nested.layers[1])) == 2 and len(_wrappers(nested)) == 1  # inner two, the logit layer
  assert nested(tf.ones([2, 6]), training=True).shape == [2, 1]

  class Subclassed(keras.Model):
    def __init__(self):
      super().__init__()
      self.dense = keras.layers.Dense(1)

    def call(self, inputs):
      return self.dense(inputs)
  subclassed = Subclassed()
  subclassed(tf.ones([2, 6]))
  with pytest.raises(ValueError):
    spectral_norm.spectrally_normalized(subclassed)
