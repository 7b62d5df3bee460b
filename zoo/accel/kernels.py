"""Fast kernels for Keras layers on CPUs: the same weights, arguments and arithmetic as Keras' own.

Profiling dcgan's step (docs/performance.md, "Where dcgan's step time went") found Keras 3 layers
spending far more time than their arithmetic needs on CPUs:

- `Conv2DTranspose` with a 4x4 kernel and stride 2 on a small input (a generator's first upsampling,
  4x4 or 8x8 with hundreds of channels) runs in bfloat16 at a fraction of the speed of the same
  arithmetic as a matrix product, which is what it becomes here.
- In float32 on TensorFlow's Eigen CPU kernels (its default on CPUs without AVX512-VNNI/BF16 or AMX,
  e.g. an AVX2 AMD EPYC), Conv2DBackpropInput (a transposed convolution's forward pass, and a
  convolution's input gradient) is slow at small images with many channels; there `Conv2DTranspose`'s
  forward pass and `Conv2D`'s input gradient run as matrix products, one per output pixel phase.

`accelerate(model, mode)` gives each such layer of a built model the subclass below that overrides its
`call`; a subclass falls back to Keras' call wherever its fast path does not apply (other kernel sizes,
dtypes, shapes). Paths that gained less than 1.2x on the whole step on every host measured were deleted
(`python -m benchmarks.fast_kernels`; docs/performance.md): a fused BatchNorm, a 16-bit Dropout mask, and
LeakyReLU's gradient from its output.
"""
import functools

import keras
import tensorflow as tf

# Up to this many input pixels a 4x4 stride-2 transposed convolution in bfloat16 runs faster as a matrix
# product on the AMX Xeon (batch 64, benchmarks/layers.py: 4.3x at 4x4, 1.3x at 8x8, 0.5x at 16x16).
_MAX_MATMUL_INPUT_PIXELS = 8 * 8
# float32 on TensorFlow's Eigen CPU kernels (AMD EPYC, AVX2, batch 64, benchmarks/layers.py): the phase
# matrix products beat Conv2DBackpropInput at inputs of at most 8x8 pixels with at least 128 input and
# 64 output channels, and lose at 7x7x64->32, at 14x14 and larger inputs, and with 1 or 2 output channels.
_FLOAT32_EIGEN_MAX_INPUT_PIXELS = 8 * 8
_FLOAT32_EIGEN_MIN_IN_CHANNELS = 128
_FLOAT32_EIGEN_MIN_OUT_CHANNELS = 64


def walk_layers(model):
  """Every layer of `model`, nested models' layers included, depth first."""
  for layer in getattr(model, "layers", ()):
    yield layer
    yield from walk_layers(layer)


def accelerate(model, mode="auto", classes=None):
  """Gives `model`'s layers their fast kernels (in place) and returns it; `mode` as in zoo.accel.

  `classes` narrows FAST_CLASSES to some Keras classes (benchmarks time each path alone).
  """
  if mode == "off":
    return model
  table = FAST_CLASSES if classes is None else {k: v for k, v in FAST_CLASSES.items() if k in classes}
  for layer in [model, *walk_layers(model)]:
    fast = table.get(type(layer))
    if fast is not None:
      layer.__class__ = fast
      layer.fast_mode = mode
  return model


@functools.lru_cache(maxsize=None)
def cpu_kernel_library() -> str:
  """'onednn' if TensorFlow runs oneDNN's CPU kernels in this process, 'eigen' if its own, else 'unknown'.

  TensorFlow turns oneDNN on by default only on CPUs with AVX512-VNNI, AVX512-BF16 or AMX; the
  environment variable TF_ENABLE_ONEDNN_OPTS, read when TensorFlow loads, overrides that.
  """
  try:
    from tensorflow.python.util import _pywrap_util_port  # what TensorFlow's own tests ask
    return "onednn" if _pywrap_util_port.IsMklEnabled() else "eigen"
  except (ImportError, AttributeError):
    return "unknown"


@functools.lru_cache(maxsize=None)
def _visible_gpus():
  return bool(tf.config.list_logical_devices("GPU"))


def transposed_convolution_by_matmul(mode, dtype, height, width, in_channels, out_channels) -> bool:
  """Whether a 4x4 stride-2 'same' transposed convolution of a [B, height, width, in_channels] input
  to out_channels runs as `conv2d_transpose_stride_2`'s matrix products in float32: under "auto" only
  where they were measured faster (TensorFlow's Eigen CPU kernels, the limits above), under "on"
  wherever the shapes are known."""
  if dtype != "float32" or height is None or width is None or in_channels is None:
    return False
  if mode == "on":
    return True
  if cpu_kernel_library() != "eigen" or _visible_gpus():
    return False
  return (height * width <= _FLOAT32_EIGEN_MAX_INPUT_PIXELS and in_channels >= _FLOAT32_EIGEN_MIN_IN_CHANNELS
          and out_channels >= _FLOAT32_EIGEN_MIN_OUT_CHANNELS)


def _is_4x4_stride_2_same(layer):
  return (tuple(layer.kernel_size) == (4, 4) and tuple(layer.strides) == (2, 2) and layer.padding == "same"
          and tuple(layer.dilation_rate) == (1, 1) and layer.data_format == "channels_last")


class Conv2DTranspose(keras.layers.Conv2DTranspose):
  """Keras' Conv2DTranspose; a 4x4 kernel with stride 2 and 'same' padding on a small input runs as
  matrix products: in bfloat16 one product and a pixel shuffle (`upsample_4x4_stride_2`, gradients
  included); in float32, where `transposed_convolution_by_matmul` says so, one product per output
  pixel phase for the forward pass and TensorFlow's kernels for the gradients
  (`conv2d_transpose_stride_2`)."""

  def call(self, inputs):
    path = self._matmul_path(inputs)
    if path is None:
      return super().call(inputs)
    if path == "bfloat16":
      outputs = upsample_4x4_stride_2(inputs, self.kernel)
    else:
      outputs = conv2d_transpose_stride_2(inputs, tf.convert_to_tensor(self.kernel))
    if self.use_bias:
      outputs = outputs + tf.cast(self.bias, outputs.dtype)
    return self.activation(outputs) if self.activation is not None else outputs

  def _matmul_path(self, inputs):
    """'bfloat16', 'float32' or None (Keras' kernel)."""
    _, height, width, in_channels = inputs.shape
    if not (_is_4x4_stride_2_same(self) and self.output_padding is None):
      return None
    if (self.compute_dtype == "bfloat16" and height is not None and width is not None
        and (self.fast_mode == "on" or height * width <= _MAX_MATMUL_INPUT_PIXELS)):
      return "bfloat16"
    if transposed_convolution_by_matmul(self.fast_mode, self.compute_dtype, height, width, in_channels,
                                        self.filters):
      return "float32"
    return None


class Conv2D(keras.layers.Conv2D):
  """Keras' Conv2D; for a 4x4 kernel with stride 2 and 'same' padding (a DCGAN discriminator's), the
  gradient with respect to the input runs as matrix products where `transposed_convolution_by_matmul`
  says so (`conv2d_stride_2`). The forward pass and the kernel's gradient are TensorFlow's."""

  def convolution_op(self, inputs, kernel):
    if not self._input_gradient_as_matrix_products(inputs):
      return super().convolution_op(inputs, kernel)
    return conv2d_stride_2(inputs, tf.convert_to_tensor(kernel))

  def _input_gradient_as_matrix_products(self, inputs):
    _, height, width, _ = inputs.shape
    if not (_is_4x4_stride_2_same(self) and self.groups == 1 and height is not None and width is not None):
      return False
    # the input gradient is a transposed convolution of the output gradient [B, H/2, W/2, filters]
    return transposed_convolution_by_matmul(self.fast_mode, self.compute_dtype, (height + 1) // 2,
                                            (width + 1) // 2, self.filters, inputs.shape[-1])


def conv2d_transpose_stride_2(inputs, kernel):
  """`tf.nn.conv2d_transpose(inputs, kernel, strides=2, padding="SAME")` [B, 2H, 2W, out] for a kernel
  [k, k, out, in]: the forward pass as `_transposed_by_phase`'s matrix products, the gradients by the
  kernels TensorFlow's own gradient of Conv2DBackpropInput uses (a Conv2D, a Conv2DBackpropFilter)."""
  strides = [1, 2, 2, 1]

  @tf.custom_gradient
  def transposed(x, k):
    def gradient(upstream):
      return (tf.nn.conv2d(upstream, k, strides, "SAME"),
              tf.compat.v1.nn.conv2d_backprop_filter(upstream, tf.shape(k), x, strides, "SAME"))
    return _transposed_by_phase(x, k), gradient
  return transposed(inputs, kernel)


def conv2d_stride_2(inputs, kernel):
  """`tf.nn.conv2d(inputs, kernel, strides=2, padding="SAME")` for a kernel [k, k, in, out]: the forward
  pass and the kernel's gradient by TensorFlow's kernels, the input's gradient (a transposed convolution
  of the output's) as `_transposed_by_phase`'s matrix products."""
  strides = [1, 2, 2, 1]
  height, width = inputs.shape[1], inputs.shape[2]

  @tf.custom_gradient
  def convolution(x, k):
    def gradient(upstream):
      # 'same' pads an odd side by one more pixel at the end: the transposed convolution's last row
      # and column then fall in that padding
      input_gradient = _transposed_by_phase(upstream, k)[:, :height, :width]
      return input_gradient, tf.compat.v1.nn.conv2d_backprop_filter(x, tf.shape(k), upstream, strides, "SAME")
    return tf.nn.conv2d(x, k, strides, "SAME"), gradient
  return convolution(inputs, kernel)


def _stride_2_taps(size):
  """For each output row parity p of a stride-2 'same' transposed convolution with a size x size
  kernel: the (kernel row, input row offset) pairs that reach output row 2m + p from input row m +
  offset. Output row 2i + ky - pad receives input row i through kernel row ky, pad = (size - 2) // 2."""
  pad = (size - 2) // 2
  return [[(tap, (parity + pad - tap) // 2) for tap in range(size) if (parity + pad - tap) % 2 == 0]
          for parity in (0, 1)]


def _transposed_by_phase(inputs, kernel):
  """`tf.nn.conv2d_transpose(inputs, kernel, strides=2, padding="SAME")` as four matrix products.

  Each of the four output pixel phases (row and column parity) is a small stride-1 convolution of the
  input: for a 4x4 kernel, 2x2 input pixels times the 2x2 kernel taps of that phase. Its input
  windows are gathered side by side on the channel axis ([B, H, W, taps * in]) and multiplied by the
  taps stacked the same way ([taps * in, out]); a pixel shuffle interleaves the four phases. The same
  products and sums as the transposed convolution, without its zeros.
  """
  batch, height, width, in_channels = inputs.shape
  batch = tf.shape(inputs)[0] if batch is None else batch
  size, out_channels = kernel.shape[0], kernel.shape[2]
  taps = _stride_2_taps(size)
  offsets = [offset for parity in taps for _, offset in parity]
  before, after = max(0, -min(offsets)), max(0, max(offsets))
  padded = tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
  phases = []
  for row_taps in taps:
    for column_taps in taps:
      windows = [tf.slice(padded, [0, before + dy, before + dx, 0], [batch, height, width, in_channels])
                 for _, dy in row_taps for _, dx in column_taps]
      windows = windows[0] if len(windows) == 1 else tf.concat(windows, axis=-1)    # [B, H, W, taps * in]
      stacked = tf.concat([tf.transpose(kernel[ky, kx]) for ky, _ in row_taps for kx, _ in column_taps],
                          axis=0)                                                   # [taps * in, out]
      products = tf.matmul(tf.reshape(windows, [-1, windows.shape[-1]]), stacked)
      phases.append(tf.reshape(products, [batch, height, width, out_channels]))
  return tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)                       # [B, 2H, 2W, out]


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


# Keras class -> its fast subclass; `accelerate` swaps the classes of built layers by this table.
FAST_CLASSES = {keras.layers.Conv2D: Conv2D,
                keras.layers.Conv2DTranspose: Conv2DTranspose}
