"""Forward + backward time of each `zoo.accel` fast kernel against its Keras layer, and what sets its limits.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.layers                 # the layer tables, ~10 min on 2 cores

Whole training steps with each fast path on and off: benchmarks/fast_kernels.py. Every table starts with
the CPU (lscpu's model name), TensorFlow's CPU kernel library (oneDNN or Eigen,
`zoo.accel.cpu_kernel_library`) and the load average: numbers from one machine do not carry to another.

1. Layers. Each row builds the layer twice from the same arguments, once given its fast kernel
   (`zoo.accel.accelerate`, mode auto), and times one training-mode forward and backward pass (the
   input's and the weights' gradients) on a batch of 64 in a `tf.function`. The shapes are those of
   dcgan at 64x64 (its BatchNorms, transposed convolutions and Dropouts), of dcgan at 32x32 with 256
   seed filters and 3 D convolutions (transposed convolutions and D's convolutions), and of image_gan's
   4x4 convolutions.
2. The transposed convolution, 4x4 stride 2 'same', forward only: TensorFlow's kernel
   (Conv2DBackpropInput) against the matrix products of `zoo.accel.kernels.conv2d_transpose_stride_2`,
   float32. The same computation is a fast Conv2D's input gradient. This table sets
   `zoo.accel.kernels.transposed_convolution_by_matmul`'s limits.
3. On CPUs that multiply in bfloat16 (AMX, AVX512-BF16) only: the bfloat16 matrix-product path
   `zoo.accel.kernels.upsample_4x4_stride_2` against `tf.nn.conv2d_transpose`, forward and backward; it
   sets the bfloat16 limit. Without native bfloat16 these rows are skipped (emulated bfloat16 is ~9x
   slower).

Cases alternate call by call, so a machine shared with other jobs slows them alike; a ratio is the
median of the per-call ratios (Keras time / zoo time, so > 1 means the zoo is faster).
"""
import os
import statistics
import subprocess
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("calls", 15, "Timed calls per case of the layer tables, alternating.")

BATCH = 64

def _layer_cases():
  import keras

  def transposed(filters):
    return lambda: keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same")

  def convolution(filters):
    return lambda: keras.layers.Conv2D(filters, 4, strides=2, padding="same")
  return [
      (f"Conv2DTranspose(->{filters}, 4, 2)", transposed(filters), shape)
      for filters, shape in [(256, (4, 4, 512)), (128, (8, 8, 256)), (64, (16, 16, 128)), (1, (32, 32, 64)),
                             (128, (4, 4, 256)), (64, (8, 8, 128)), (1, (16, 16, 64))]
  ] + [
      (f"Conv2D(->{filters}, 4, 2)", convolution(filters), shape)
      for filters, shape in [(64, (64, 64, 1)), (128, (32, 32, 64)),
                             (64, (32, 32, 1)), (128, (16, 16, 64)), (256, (8, 8, 128)),
                             (32, (28, 28, 16)), (64, (14, 14, 32))]
  ]


# (input side, input channels, output channels) of 4x4 stride-2 transposed convolutions: dcgan's at 64x64
# and 32x32 (and its D's input gradients), image_gan's.
TRANSPOSED_SHAPES = [(4, 512, 256), (8, 256, 128), (16, 128, 64), (32, 64, 1),
                     (4, 256, 128), (8, 128, 64), (16, 64, 1),
                     (7, 64, 32), (14, 64, 16), (14, 32, 16), (14, 32, 2)]


def machine():
  """'<lscpu model name>, TensorFlow <version> on <kernel library>, load average <1 min>'."""
  import tensorflow as tf
  from zoo import accel
  try:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                 if line.startswith("Model name"))
  except (OSError, StopIteration):
    model = "unknown CPU"
  return (f"{model} ({os.cpu_count()} CPUs), TensorFlow {tf.__version__} with its "
          f"{accel.cpu_kernel_library()} CPU kernels, load average {os.getloadavg()[0]:.1f}")


def _precisions():
  from zoo import hardware
  native_bf16 = hardware.cpu_flags() & set(hardware.NATIVE_BF16_CPU_FLAGS)
  return ("float32", "mixed_bfloat16") if native_bf16 else ("float32",)


def _step(layer):
  import tensorflow as tf

  @tf.function
  def step(inputs):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      loss = tf.reduce_sum(tf.cast(layer(inputs, training=True), tf.float32))
    return tape.gradient(loss, [inputs] + layer.trainable_weights)
  return step


def _compare(stock_step, fast_step, *args):
  """(stock ms, fast ms, median per-round stock/fast ratio), the two alternating call by call."""
  steps = {"stock": stock_step, "fast": fast_step}
  for step in steps.values():
    step(*args)  # trace and build
  times = {case: [] for case in steps}
  for round_index in range(FLAGS.calls):
    for case in (("stock", "fast") if round_index % 2 == 0 else ("fast", "stock")):
      began = time.perf_counter()
      result = steps[case](*args)
      (result[0] if isinstance(result, (list, tuple)) else result).numpy()
      times[case].append((time.perf_counter() - began) * 1000)
  ratio = statistics.median(s / f for s, f in zip(times["stock"], times["fast"]))
  return statistics.median(times["stock"]), statistics.median(times["fast"]), ratio


def layer_tables():
  import tensorflow as tf
  from zoo import accel, hardware
  from zoo.accel import kernels
  print(f"{machine()}\n\n| layer | input | precision | Keras ms | zoo ms | speed-up |\n"
        "| --- | --- | --- | --- | --- | --- |")
  for name, make, shape in _layer_cases():
    for precision in _precisions():
      with hardware.precision_policy(precision):
        fast = accel.accelerate(make())
        stock = make()
      dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
      inputs = tf.cast(tf.random.stateless_normal((BATCH,) + shape, seed=[0, 0]), dtype)
      stock_ms, fast_ms, ratio = _compare(_step(stock), _step(fast), inputs)
      print(f"| {name} | {BATCH}x{'x'.join(map(str, shape))} | {precision} "
            f"| {stock_ms:.1f} | {fast_ms:.1f} | {ratio:.2f}x |", flush=True)

  print(f"\n{machine()}\n\n| transposed convolution 4x4 stride 2, forward | input | "
        "tf.nn.conv2d_transpose ms | conv2d_transpose_stride_2 ms | speed-up | zoo takes it |\n"
        "| --- | --- | --- | --- | --- | --- |")
  for size, in_channels, out_channels in TRANSPOSED_SHAPES:
    inputs = tf.random.stateless_normal([BATCH, size, size, in_channels], seed=[0, 0])
    kernel = tf.random.stateless_normal([4, 4, out_channels, in_channels], seed=[0, 1])
    stock_ms, fast_ms, ratio = _compare(tf.function(_conv2d_transpose),
                                        tf.function(kernels.conv2d_transpose_stride_2), inputs, kernel)
    chosen = kernels.transposed_convolution_by_matmul("auto", "float32", size, size, in_channels,
                                                      out_channels)
    print(f"| ->{out_channels} | {BATCH}x{size}x{size}x{in_channels} | {stock_ms:.1f} | {fast_ms:.1f} "
          f"| {ratio:.2f}x | {'yes' if chosen else 'no'} |", flush=True)

  if "mixed_bfloat16" not in _precisions():
    return
  print("\n| transposed convolution, 4x4 stride 2, forward + backward | input | precision "
        "| conv2d_transpose ms | matrix product ms | speed-up |\n| --- | --- | --- | --- | --- | --- |")
  for size, in_channels, out_channels in [(4, 512, 256), (8, 256, 128), (16, 128, 64)]:
    inputs = tf.cast(tf.random.stateless_normal([BATCH, size, size, in_channels], seed=[0, 0]), tf.bfloat16)
    kernel = tf.cast(tf.random.stateless_normal([4, 4, out_channels, in_channels], seed=[0, 1]), tf.bfloat16)
    stock_ms, fast_ms, ratio = _compare(_kernel_step(_conv2d_transpose, kernel),
                                        _kernel_step(kernels.upsample_4x4_stride_2, kernel), inputs)
    print(f"| ->{out_channels} | {BATCH}x{size}x{size}x{in_channels} | bfloat16 "
          f"| {stock_ms:.1f} | {fast_ms:.1f} | {ratio:.2f}x |", flush=True)


def _conv2d_transpose(inputs, kernel):
  import tensorflow as tf
  batch, height, width, _ = inputs.shape
  return tf.nn.conv2d_transpose(inputs, kernel, [batch, 2 * height, 2 * width, kernel.shape[2]], 2,
                                padding="SAME")


def _kernel_step(upsample, kernel):
  import tensorflow as tf

  @tf.function
  def step(inputs):
    with tf.GradientTape() as tape:
      tape.watch([inputs, kernel])
      loss = tf.reduce_sum(tf.cast(upsample(inputs, kernel), tf.float32))
    return tape.gradient(loss, [inputs, kernel])
  return step


def main(argv):
  del argv
  layer_tables()


if __name__ == "__main__":
  app.run(main)
