"""zoo.layers: each fast layer computes what its Keras parent computes, and takes its fast path."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import layers as zoo_layers



def _pair(make_fast, make_stock, input_shape, policy="float32"):
  """The same layer built twice, fast and stock, with identical weights."""
  with zoo_layers.dtype_policy(policy):
    fast, stock = make_fast(), make_stock()
    fast.build(input_shape)
    stock.build(input_shape)
  rng = np.random.default_rng(0)
  for f, s in zip(fast.weights, stock.weights):
    value = rng.normal(size=f.shape).astype(np.float32)
    if "variance" in f.path:
      value = np.abs(value) + 0.5
    f.assign(value)
    s.assign(value)
  return fast, stock


def _weighted_sum(outputs):
  weights = tf.reshape(tf.sin(tf.range(tf.size(outputs), dtype=tf.float32)), outputs.shape)
  return tf.reduce_sum(tf.cast(outputs, tf.float32) * weights)


def _run(layer, inputs, training):
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    outputs = layer(inputs, training=training)
    loss = _weighted_sum(outputs)
  return outputs, tape.gradient(loss, [inputs] + layer.trainable_weights)


@pytest.mark.parametrize("shape", [(16, 40), (8, 6, 6, 12)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_keras(shape, training):
  fast, stock = _pair(zoo_layers.BatchNormalization, keras.layers.BatchNormalization, shape)
  inputs = tf.random.stateless_normal(shape, seed=[1, 2]) * 3.0 + 1.0
  fast_out, fast_grads = _run(fast, inputs, training)
  stock_out, stock_grads = _run(stock, inputs, training)
  np.testing.assert_allclose(fast_out, stock_out, rtol=1e-4, atol=1e-4)
  for f, s in zip(fast_grads, stock_grads):
    np.testing.assert_allclose(f, s, rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(fast.moving_mean, stock.moving_mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fast.moving_variance, stock.moving_variance, rtol=1e-5, atol=1e-6)


def test_batch_norm_in_bfloat16_keeps_float32_statistics():
  shape = (32, 4, 4, 8)
  fast, stock = _pair(zoo_layers.BatchNormalization, keras.layers.BatchNormalization, shape,
                      policy="mixed_bfloat16")
  inputs = tf.random.stateless_normal(shape, seed=[3, 4]) * 2.0 + 5.0
  fast_out = fast(inputs, training=True)
  stock_out = stock(inputs, training=True)
  assert fast_out.dtype == tf.bfloat16 and fast.moving_mean.dtype == "float32"
  np.testing.assert_allclose(tf.cast(fast_out, tf.float32), tf.cast(stock_out, tf.float32), atol=0.05)
  np.testing.assert_allclose(fast.moving_mean, stock.moving_mean, rtol=1e-2)


def test_synchronized_batch_norm_uses_the_keras_path():
  layer = zoo_layers.BatchNormalization(synchronized=True)
  assert not layer._fusable(tf.zeros([4, 3]), None)


def _op_types(fn, *args):
  graph = tf.function(fn).get_concrete_function(*args).graph
  return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("size", [4, 8])
def test_upsample_4x4_stride_2_is_a_transposed_convolution(size):
  inputs = tf.random.stateless_normal([3, size, size, 10], seed=[5, 6])
  kernel = tf.random.stateless_normal([4, 4, 6, 10], seed=[7, 8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([inputs, kernel])
    fast = zoo_layers.upsample_4x4_stride_2(inputs, kernel)
    stock = tf.nn.conv2d_transpose(inputs, kernel, [3, 2 * size, 2 * size, 6], 2, padding="SAME")
    fast_loss, stock_loss = _weighted_sum(fast), _weighted_sum(stock)
  np.testing.assert_allclose(fast, stock, rtol=1e-4, atol=1e-4)
  for f, s in zip(tape.gradient(fast_loss, [inputs, kernel]), tape.gradient(stock_loss, [inputs, kernel])):
    np.testing.assert_allclose(f, s, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("size", [4, 8, 16])
def test_transposed_convolution_in_bfloat16_matches_keras(size):
  shape = (3, size, size, 10)
  make = lambda cls: cls(6, 4, strides=2, padding="same")  # noqa: E731
  fast, stock = _pair(lambda: make(zoo_layers.Conv2DTranspose), lambda: make(keras.layers.Conv2DTranspose),
                      shape, policy="mixed_bfloat16")
  inputs = tf.random.stateless_normal(shape, seed=[5, 6])
  fast_out, stock_out = fast(inputs), stock(inputs)
  assert fast_out.shape == (3, 2 * size, 2 * size, 6) and fast_out.dtype == tf.bfloat16
  scale = float(tf.reduce_max(tf.abs(tf.cast(stock_out, tf.float32))))
  np.testing.assert_allclose(tf.cast(fast_out, tf.float32), tf.cast(stock_out, tf.float32), atol=0.02 * scale)
  # Small inputs take the matrix-product path; larger ones Keras' own convolution.
  ops = _op_types(lambda x: fast(x), tf.TensorSpec(shape))
  assert ("DepthToSpace" in ops) == (size * size <= 64)
  assert ("Conv2DBackpropInput" in ops) == (size * size > 64)


def test_transposed_convolution_in_float32_uses_keras():
  layer = zoo_layers.Conv2DTranspose(4, 4, strides=2, padding="same")
  ops = _op_types(lambda x: layer(x), tf.TensorSpec((2, 4, 4, 3)))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


def test_transposed_convolution_with_another_kernel_uses_keras():
  with zoo_layers.dtype_policy("mixed_bfloat16"):
    layer = zoo_layers.Conv2DTranspose(4, 3, strides=2, padding="same")
  ops = _op_types(lambda x: layer(x), tf.TensorSpec((2, 4, 4, 3)))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


def test_dropout_drops_at_its_rate_and_rescales():
  layer = zoo_layers.Dropout(0.3, seed=7)
  inputs = tf.ones([1000, 1000])
  outputs = layer(inputs, training=True).numpy()
  dropped = np.mean(outputs == 0)
  assert abs(dropped - 0.3) < 0.002, dropped  # ~5 standard errors
  np.testing.assert_allclose(outputs[outputs != 0], 1 / 0.7, rtol=1e-6)
  again = layer(inputs, training=True).numpy()
  assert 0.55 < np.mean((outputs == 0) == (again == 0)) < 0.6  # a fresh mask each call (0.58 expected)
  np.testing.assert_array_equal(layer(inputs, training=False), inputs)


def test_dropout_masks_odd_sizes_and_keeps_dtype():
  with zoo_layers.dtype_policy("mixed_bfloat16"):
    layer = zoo_layers.Dropout(0.5, seed=1)
  outputs = layer(tf.ones([3, 5, 7]), training=True)
  assert outputs.shape == (3, 5, 7) and outputs.dtype == tf.bfloat16
  assert set(np.unique(tf.cast(outputs, tf.float32).numpy())) == {0.0, 2.0}


def test_stock_keras_layers_context_builds_layers_on_the_keras_path():
  with zoo_layers.dtype_policy("mixed_bfloat16"), zoo_layers.stock_keras_layers():
    layer = zoo_layers.Conv2DTranspose(6, 4, strides=2, padding="same")
  assert zoo_layers.Conv2DTranspose(6, 4, strides=2, padding="same").fast_kernel
  ops = _op_types(lambda x: layer(x), tf.TensorSpec((2, 4, 4, 3)))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


def test_to_stock_keras_swaps_classes_and_keeps_outputs():
  inputs = keras.Input([4, 4, 3])
  x = zoo_layers.Conv2DTranspose(5, 4, strides=2, padding="same")(inputs)
  x = zoo_layers.LeakyReLU(negative_slope=0.2)(zoo_layers.BatchNormalization()(x))
  model = keras.Model(inputs, zoo_layers.Dropout(0.2)(x))
  stock = zoo_layers.to_stock_keras(model)
  assert not any(type(layer).__module__.startswith("zoo") for layer in stock.layers)
  batch = tf.random.stateless_normal([2, 4, 4, 3], seed=[0, 1])
  np.testing.assert_allclose(stock(batch, training=False), model(batch, training=False), atol=1e-5)


def test_leaky_relu_matches_keras_values_and_gradients():
  inputs = tf.random.stateless_normal([4, 5, 5, 3], seed=[8, 9])
  fast_out, fast_grads = _run(zoo_layers.LeakyReLU(negative_slope=0.2), inputs, True)
  stock_out, stock_grads = _run(keras.layers.LeakyReLU(negative_slope=0.2), inputs, True)
  np.testing.assert_array_equal(fast_out, stock_out)
  np.testing.assert_array_equal(fast_grads[0], stock_grads[0])
