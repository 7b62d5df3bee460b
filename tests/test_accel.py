"""zoo.accel: each fast kernel computes what its Keras layer computes, and takes its fast path where due."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import accel
from zoo import hardware
from zoo.accel import kernels


def _fast(layer, mode="auto"):
  return accel.accelerate(layer, mode)


def _pair(make_fast, make_stock, input_shape, policy="float32"):
  """The same layer built twice, fast and stock, with identical weights."""
  with hardware.precision_policy(policy):
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


def _op_types(fn, *args):
  graph = tf.function(fn).get_concrete_function(*args).graph
  return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("size", [4, 8])
def test_upsample_4x4_stride_2_is_a_transposed_convolution(size):
  inputs = tf.random.stateless_normal([3, size, size, 10], seed=[5, 6])
  kernel = tf.random.stateless_normal([4, 4, 6, 10], seed=[7, 8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([inputs, kernel])
    fast = kernels.upsample_4x4_stride_2(inputs, kernel)
    stock = tf.nn.conv2d_transpose(inputs, kernel, [3, 2 * size, 2 * size, 6], 2, padding="SAME")
    fast_loss, stock_loss = _weighted_sum(fast), _weighted_sum(stock)
  np.testing.assert_allclose(fast, stock, rtol=1e-4, atol=1e-4)
  for f, s in zip(tape.gradient(fast_loss, [inputs, kernel]), tape.gradient(stock_loss, [inputs, kernel])):
    np.testing.assert_allclose(f, s, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("size", [4, 8, 16])
def test_transposed_convolution_in_bfloat16_matches_keras(size):
  shape = (3, size, size, 10)
  make = lambda cls: cls(6, 4, strides=2, padding="same")  # noqa: E731
  fast, stock = _pair(lambda: _fast(make(keras.layers.Conv2DTranspose)),
                      lambda: make(keras.layers.Conv2DTranspose),
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


@pytest.fixture
def eigen_cpu(monkeypatch):
  """The float32 paths' decision as on a CPU running TensorFlow's Eigen kernels, whatever this host runs."""
  monkeypatch.setattr(kernels, "cpu_kernel_library", lambda: "eigen")
  monkeypatch.setattr(kernels, "_visible_gpus", lambda: False)


def _assert_close(fast, stock, rtol=1e-4):
  """Equal to float32 rounding: summation order differs, so the tolerance scales with the values."""
  np.testing.assert_allclose(fast, stock, rtol=rtol, atol=rtol * float(np.max(np.abs(stock))))


@pytest.mark.parametrize("kernel_size", [3, 4, 5])
@pytest.mark.parametrize("height, width", [(4, 4), (5, 6)])
def test_transposed_convolution_by_phase_is_conv2d_transpose(kernel_size, height, width):
  inputs = tf.random.stateless_normal([3, height, width, 10], seed=[5, 6])
  kernel = tf.random.stateless_normal([kernel_size, kernel_size, 6, 10], seed=[7, 8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([inputs, kernel])
    fast = kernels.conv2d_transpose_stride_2(inputs, kernel)
    stock = tf.nn.conv2d_transpose(inputs, kernel, [3, 2 * height, 2 * width, 6], 2, padding="SAME")
    fast_loss, stock_loss = _weighted_sum(fast), _weighted_sum(stock)
  _assert_close(fast, stock)
  for f, s in zip(tape.gradient(fast_loss, [inputs, kernel]), tape.gradient(stock_loss, [inputs, kernel])):
    _assert_close(f, s)


@pytest.mark.parametrize("height, width", [(8, 8), (7, 9)])
def test_convolution_with_matmul_input_gradient_is_conv2d(height, width):
  inputs = tf.random.stateless_normal([3, height, width, 6], seed=[1, 6])
  kernel = tf.random.stateless_normal([4, 4, 6, 10], seed=[2, 8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([inputs, kernel])
    fast = kernels.conv2d_stride_2(inputs, kernel)
    stock = tf.nn.conv2d(inputs, kernel, 2, padding="SAME")
    fast_loss, stock_loss = _weighted_sum(fast), _weighted_sum(stock)
  np.testing.assert_array_equal(fast, stock)  # the same kernel
  for f, s in zip(tape.gradient(fast_loss, [inputs, kernel]), tape.gradient(stock_loss, [inputs, kernel])):
    _assert_close(f, s)


def _gradient_op_types(layer, shape):
  def forward_and_backward(inputs):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      loss = _weighted_sum(layer(inputs, training=True))
    return tape.gradient(loss, [inputs] + layer.trainable_weights)
  return _op_types(forward_and_backward, tf.TensorSpec(shape))


def test_float32_transposed_convolution_matches_keras_on_its_matmul_path(eigen_cpu):
  shape = (3, 4, 4, 128)
  make = lambda cls: cls(64, 4, strides=2, padding="same", activation="relu")  # noqa: E731
  fast, stock = _pair(lambda: _fast(make(keras.layers.Conv2DTranspose)),
                      lambda: make(keras.layers.Conv2DTranspose),
                      shape)
  # The forward pass as matrix products; the gradients by TensorFlow's Conv2D and Conv2DBackpropFilter.
  _assert_matches_keras_without_conv2d_backprop_input(fast, stock, shape)


def test_float32_convolution_matches_keras_with_its_matmul_input_gradient(eigen_cpu):
  shape = (3, 8, 8, 64)
  make = lambda cls, name: cls(128, 4, strides=2, padding="same", name=name)  # noqa: E731
  fast, stock = _pair(lambda: _fast(make(keras.layers.Conv2D, "d")), lambda: make(keras.layers.Conv2D, "d"),
                      shape)
  assert fast.get_config() == stock.get_config()
  assert [w.shape for w in fast.weights] == [w.shape for w in stock.weights]
  # TensorFlow's forward pass and kernel gradient; the input gradient as matrix products.
  _assert_matches_keras_without_conv2d_backprop_input(fast, stock, shape)


def _assert_matches_keras_without_conv2d_backprop_input(fast, stock, shape):
  """Outputs and gradients (input, kernel, bias) equal Keras', and the training pass runs matrix products
  where Keras runs Conv2DBackpropInput."""
  inputs = tf.random.stateless_normal(shape, seed=[5, 6])
  fast_out, fast_grads = _run(fast, inputs, True)
  stock_out, stock_grads = _run(stock, inputs, True)
  _assert_close(fast_out, stock_out)
  for f, s in zip(fast_grads, stock_grads):
    _assert_close(f, s)
  ops = _gradient_op_types(fast, shape)
  assert {"Conv2D", "MatMul", "DepthToSpace", "Conv2DBackpropFilter"} <= ops
  assert "Conv2DBackpropInput" not in ops


def test_convolution_input_gradient_differentiates_again(eigen_cpu):
  """An R1 penalty differentiates D's input gradient with respect to D's weights."""
  shape = (2, 8, 8, 64)
  fast, stock = _pair(lambda: _fast(keras.layers.Conv2D(128, 4, strides=2, padding="same")),
                      lambda: keras.layers.Conv2D(128, 4, strides=2, padding="same"), shape)
  inputs = tf.random.stateless_normal(shape, seed=[3, 3])

  def penalty_gradient(layer):
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(inputs)
        score = tf.reduce_sum(tf.sin(layer(inputs)))
      penalty = tf.reduce_sum(tf.square(inner.gradient(score, inputs)))
    return penalty, outer.gradient(penalty, layer.kernel)
  fast_penalty, fast_gradient = penalty_gradient(fast)
  stock_penalty, stock_gradient = penalty_gradient(stock)
  _assert_close(fast_penalty, stock_penalty)
  _assert_close(fast_gradient, stock_gradient, rtol=1e-3)


@pytest.mark.parametrize("side, in_channels, out_channels, expected", [
    (4, 512, 256, True), (4, 256, 128, True), (8, 256, 128, True), (8, 128, 64, True),
    (16, 128, 64, False), (7, 64, 32, False), (16, 64, 1, False), (8, 128, 2, False), (14, 64, 16, False)])
def test_float32_matmul_path_follows_measured_limits(eigen_cpu, side, in_channels, out_channels, expected):
  chosen = kernels.transposed_convolution_by_matmul
  assert chosen("auto", "float32", side, side, in_channels, out_channels) == expected
  assert chosen("on", "float32", side, side, in_channels, out_channels)
  assert not chosen("auto", "bfloat16", side, side, in_channels, out_channels)


@pytest.mark.parametrize("library", ["onednn", "unknown"])
def test_float32_keeps_tensorflow_kernels_where_not_measured_faster(monkeypatch, library):
  monkeypatch.setattr(kernels, "cpu_kernel_library", lambda: library)
  transposed = _fast(keras.layers.Conv2DTranspose(64, 4, strides=2, padding="same"))
  convolution = _fast(keras.layers.Conv2D(128, 4, strides=2, padding="same"))
  assert "Conv2DBackpropInput" in _op_types(lambda x: transposed(x), tf.TensorSpec((2, 4, 4, 128)))
  assert "Conv2DBackpropInput" in _gradient_op_types(convolution, (2, 8, 8, 64))


def test_transposed_convolution_in_float32_on_a_large_input_uses_keras(eigen_cpu):
  layer = _fast(keras.layers.Conv2DTranspose(64, 4, strides=2, padding="same"))
  ops = _op_types(lambda x: layer(x), tf.TensorSpec((2, 16, 16, 128)))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, strides=2), dict(kernel_size=4, strides=1),
                                    dict(kernel_size=4, strides=2, padding="valid")])
def test_convolution_with_another_kernel_uses_keras(eigen_cpu, kwargs):
  layer = _fast(keras.layers.Conv2D(128, **{"padding": "same", **kwargs}))
  ops = _gradient_op_types(layer, (2, 8, 8, 64))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


def test_transposed_convolution_with_another_kernel_uses_keras():
  with hardware.precision_policy("mixed_bfloat16"):
    layer = _fast(keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"))
  ops = _op_types(lambda x: layer(x), tf.TensorSpec((2, 4, 4, 3)))
  assert "Conv2DBackpropInput" in ops and "DepthToSpace" not in ops


def test_off_keeps_keras_layers_and_on_forces_the_matmul_paths():
  with hardware.precision_policy("float32"):
    stock = accel.accelerate(keras.layers.Conv2DTranspose(6, 4, strides=2, padding="same"), "off")
    forced = accel.accelerate(keras.layers.Conv2DTranspose(6, 4, strides=2, padding="same"), "on")
  assert type(stock) is keras.layers.Conv2DTranspose
  assert "Conv2DBackpropInput" in _op_types(lambda x: stock(x), tf.TensorSpec((2, 16, 16, 3)))
  forced_ops = _op_types(lambda x: forced(x), tf.TensorSpec((2, 16, 16, 3)))
  assert "Conv2DBackpropInput" not in forced_ops and "DepthToSpace" in forced_ops


def test_accelerate_keeps_weights_config_and_checkpoint_keys(tmp_path):
  def build():
    keras.utils.set_random_seed(3)
    inputs = keras.Input([4, 4, 3])
    x = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")(inputs)
    x = keras.layers.Conv2D(5, 4, strides=2, padding="same")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, keras.layers.Dropout(0.2)(x))
  stock, fast = build(), accel.accelerate(build())
  assert [type(layer).__module__.startswith("zoo.accel") for layer in fast.layers[1:]] == [
      True, True, False, False, False]  # the convolutions; BatchNorm, LeakyReLU and Dropout stay Keras'

  unnamed = lambda model: [{k: v for k, v in layer.get_config().items() if k != "name"}  # noqa: E731
                           for layer in model.layers]
  assert unnamed(fast) == unnamed(stock)
  path = tf.train.Checkpoint(model=fast).write(str(tmp_path / "fast"))
  restored = build()
  for variable in restored.weights:
    variable.assign(tf.zeros_like(variable))
  tf.train.Checkpoint(model=restored).read(path).assert_consumed()
  batch = tf.random.stateless_normal([2, 4, 4, 3], seed=[0, 1])
  np.testing.assert_allclose(restored(batch, training=False), fast(batch, training=False), atol=1e-5)
