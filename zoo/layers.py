"""Keras layers with faster kernels on CPUs: the same weights, arguments and arithmetic as Keras' own.

Profiling dcgan's step in bfloat16 (docs/performance.md, "Where dcgan's step time went") found Keras 3
layers spending far more time than their arithmetic needs on oneDNN CPUs:

- `BatchNormalization` computes batch statistics and normalises with ~15 element-wise ops, each a pass
  over memory in float32; TensorFlow's fused kernel does it in one (Keras 2 used it, Keras 3 dropped it).
- `Conv2DTranspose` with a 4x4 kernel and stride 2 on a small input (a generator's first upsampling,
  4x4 or 8x8 with hundreds of channels) runs in bfloat16 at a fraction of the speed of the same
  arithmetic as a matrix product, which is what it becomes here.
- `Dropout` draws one 32-bit random number per element; 16 bits decide keep or drop as well.
- `LeakyReLU`'s gradient reads its input, which defeats Grappler's Conv2D + BiasAdd + LeakyReLU fusion.

Each class subclasses the Keras layer and falls back to it wherever its fast path does not apply
(synchronised BatchNorm, other kernel sizes, masks, ...). `stock_keras_layers()` builds models whose
layers always use Keras' own kernels: the reference of `benchmarks/throughput.py`, and the export, which
writes models that load without the zoo (`to_stock_keras`).
"""
import contextlib
import threading

import keras
import tensorflow as tf

_DROPOUT_BITS = 16
# Up to this many input pixels a 4x4 stride-2 transposed convolution in bfloat16 runs faster as a matrix
# product on this project's CPU (batch 64, benchmarks/layers.py: 4.3x at 4x4, 1.3x at 8x8, 0.5x at
# 16x16). In float32 it does not pay (1.0x at 4x4, 0.7x at 8x8): the gain is AMX's bf16 matrix units,
# so the path is taken in bfloat16 only.
_MAX_MATMUL_INPUT_PIXELS = 8 * 8

_state = threading.local()


@contextlib.contextmanager
def dtype_policy(name: str):
  """Builds layers under a Keras dtype policy without leaving it set for the rest of the process."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def stock_keras_layers():
  """Layers built inside this context always run Keras' own kernels."""
  previous = _fast_kernels()
  _state.fast = False
  try:
    yield
  finally:
    _state.fast = previous


def _fast_kernels():
  return getattr(_state, "fast", True)


class _KernelChoice:
  """Records at construction whether the layer may use its fast kernel (see stock_keras_layers)."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.fast_kernel = _fast_kernels()


class BatchNormalization(_KernelChoice, keras.layers.BatchNormalization):
  """Keras' BatchNormalization, run by TensorFlow's fused kernel when it is not synchronised.

  Statistics are computed in float32 whatever the input dtype, and the moving variance is updated with
  the biased batch variance, both as Keras does. A synchronised layer (several replicas) needs the
  cross-replica reduction only Keras' path has, and uses it.
  """

  def call(self, inputs, training=None, mask=None):
    if not self._fusable(inputs, mask):
      return super().call(inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    images = tf.reshape(inputs, [-1, 1, 1, channels]) if inputs.shape.rank == 2 else inputs
    gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
    beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
    if training and self.trainable:
      outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
          images, gamma, beta, epsilon=self.epsilon, is_training=True)
      count = tf.cast(tf.size(images) // channels, tf.float32)
      variance = unbiased_variance * (count - 1.0) / count  # the kernel applies Bessel's correction
      self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
      self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
    else:
      outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
          images, gamma, beta, mean=self.moving_mean, variance=self.moving_variance,
          epsilon=self.epsilon, is_training=False)
    return tf.cast(tf.reshape(outputs, tf.shape(inputs)), self.compute_dtype)

  def _fusable(self, inputs, mask):
    rank = inputs.shape.rank
    return (self.fast_kernel and not self.synchronized and not self.renorm and mask is None
            and rank in (2, 4) and self.axis in (-1, rank - 1)
            # the fused kernel's smallest epsilon
            and self.epsilon >= 1.001e-5)


class Conv2DTranspose(_KernelChoice, keras.layers.Conv2DTranspose):
  """Keras' Conv2DTranspose; in bfloat16, a 4x4 kernel with stride 2 and 'same' padding on a small
  input runs as one matrix product followed by a pixel shuffle."""

  def call(self, inputs):
    if not self._as_matrix_product(inputs):
      return super().call(inputs)
    outputs = upsample_4x4_stride_2(inputs, self.kernel)
    if self.use_bias:
      outputs = outputs + tf.cast(self.bias, outputs.dtype)
    return self.activation(outputs) if self.activation is not None else outputs

  def _as_matrix_product(self, inputs):
    height, width = inputs.shape[1], inputs.shape[2]
    return (self.fast_kernel and self.compute_dtype == "bfloat16"
            and tuple(self.kernel_size) == (4, 4) and tuple(self.strides) == (2, 2)
            and self.padding == "same" and self.output_padding is None and tuple(self.dilation_rate) == (1, 1)
            and self.data_format == "channels_last"
            and height is not None and width is not None and height * width <= _MAX_MATMUL_INPUT_PIXELS)


def upsample_4x4_stride_2(inputs, kernel):
  """`tf.nn.conv2d_transpose(inputs, kernel, strides=2, padding="SAME")` for a 4x4 kernel.

  Output pixel (2i + ky - 1, 2j + kx - 1) receives inputs[i, j] @ kernel[ky, kx]. Writing ky = 2ay + ry
  (and kx likewise), one matrix product gives every input pixel's 16 contributions; for each of the
  four (ay, ax), a pixel shuffle (depth_to_space) lays its (ry, rx) contributions out as an image, which
  is then shifted by (2ay - 1, 2ax - 1) pixels; the output is the sum of the four images. Slices and
  pads are used rather than strided slices, whose gradient is slow on CPU.
  """
  batch, height, width, in_channels = inputs.shape
  batch = tf.shape(inputs)[0] if batch is None else batch
  out_channels = kernel.shape[2]
  kernel = tf.cast(kernel, inputs.dtype)                                 # [ky, kx, out, in]
  kernel = tf.reshape(kernel, [2, 2, 2, 2, out_channels, in_channels])   # [ay, ry, ax, rx, out, in]
  kernel = tf.transpose(kernel, [5, 0, 2, 1, 3, 4])                      # [in, ay, ax, ry, rx, out]
  kernel = tf.reshape(kernel, [in_channels, 16 * out_channels])
  contributions = tf.matmul(tf.reshape(inputs, [-1, in_channels]), kernel)
  contributions = tf.reshape(contributions, [batch, height, width, 16 * out_channels])
  outputs = None
  shifts = ((-1, -1), (-1, 1), (1, -1), (1, 1))                          # (2ay - 1, 2ax - 1)
  for block, (down, right) in zip(tf.split(contributions, 4, axis=-1), shifts):
    image = tf.nn.depth_to_space(block, 2)
    image = tf.pad(image, [[0, 0], [1 + down, 1 - down], [1 + right, 1 - right], [0, 0]])
    image = tf.slice(image, [0, 1, 1, 0], [batch, 2 * height, 2 * width, out_channels])
    outputs = image if outputs is None else outputs + image
  return outputs


class LeakyReLU(_KernelChoice, keras.layers.LeakyReLU):
  """Keras' LeakyReLU, with its gradient computed from its output instead of its input.

  The same values (the output has the input's sign, for a positive slope). Reading the output lets
  TensorFlow's graph optimiser fuse a preceding Conv2D + BiasAdd with the activation: with the input
  read by the gradient, it tries the fusion on dcgan's discriminator anyway, fails and logs
  "remapper failed: ... LeakyReluGrad ... exist for missing node .../BiasAdd".
  """

  def call(self, inputs):
    if not (self.fast_kernel and self.negative_slope > 0):
      return super().call(inputs)
    return _leaky_relu_with_output_gradient(inputs, self.negative_slope)


def _leaky_relu_with_output_gradient(inputs, slope):
  @tf.custom_gradient
  def leaky_relu(features):
    outputs = tf.nn.leaky_relu(features, alpha=slope)

    def gradient(upstream):
      return tf.raw_ops.LeakyReluGrad(gradients=upstream, features=outputs, alpha=slope)
    return outputs, gradient
  return leaky_relu(inputs)


class Dropout(_KernelChoice, keras.layers.Dropout):
  """Keras' Dropout, deciding keep or drop from 16 random bits per element instead of a float32 draw.

  The drop probability is rate rounded to a multiple of 2**-16 (0.3 becomes 0.300003).
  """

  def call(self, inputs, training=False):
    if not (self.fast_kernel and training and 0 < self.rate < 1 and self.noise_shape is None):
      return super().call(inputs, training=training)
    size = tf.size(inputs)
    seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
    words = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
    bits = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
    keep = tf.reshape(bits, tf.shape(inputs)) >= round(self.rate * 2**_DROPOUT_BITS)
    kept = inputs * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype)
    return tf.where(keep, kept, tf.zeros_like(inputs))


_STOCK = {BatchNormalization: keras.layers.BatchNormalization,
          Conv2DTranspose: keras.layers.Conv2DTranspose,
          LeakyReLU: keras.layers.LeakyReLU,
          Dropout: keras.layers.Dropout}


def to_stock_keras(model):
  """A copy of `model` with Keras' own classes in place of this module's, and the same weights.

  A layer with a `to_stock()` method (one a model defines) is replaced by what it returns: stock layers
  doing what it does at inference. Saved, the copy loads with Keras alone, without the zoo installed.
  """
  def replaced(layer):
    return type(layer) in _STOCK or hasattr(layer, "to_stock")

  def clone(layer):
    if hasattr(layer, "to_stock"):  # a model's own layer that knows its stock equivalent
      return layer.to_stock()
    return _STOCK.get(type(layer), type(layer)).from_config(layer.get_config())
  if not any(replaced(layer) for layer in model.layers):
    return model
  copy = keras.models.clone_model(model, clone_function=clone)
  copy.set_weights(model.get_weights())
  return copy
