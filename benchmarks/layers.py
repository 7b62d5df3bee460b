"""Forward + backward time of each `zoo.layers` layer against its Keras parent, at dcgan's shapes.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.layers    # ~4 min on the 2-core CPU

Each row builds the layer twice from the same arguments, once with Keras' kernels
(`zoo.layers.stock_keras_layers`), and times one training-mode forward and backward pass on a batch of
64 (dcgan's batch) in a `tf.function`. Fast and stock runs alternate round by round; a ratio is the
median of the per-round ratios (stock time / fast time, so > 1 means the zoo layer is faster).
The shapes are those of dcgan at 64x64: its BatchNorms, its transposed convolutions (input side), and
the inputs of its discriminator's two Dropouts.

A second table times the transposed convolution's matrix-product path itself
(`zoo.layers.upsample_4x4_stride_2`) against `tf.nn.conv2d_transpose` at inputs of 4x4, 8x8 and 16x16,
whatever the layer would choose: it is what sets the layer's size and precision limits.
"""
import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 5, "Interleaved rounds.")
flags.DEFINE_integer("calls", 5, "Calls per round and case.")

BATCH = 64


def _cases():
  from zoo import layers as zoo_layers
  return [
      ("BatchNormalization", lambda: zoo_layers.BatchNormalization(), shape)
      for shape in [(8192,), (8, 8, 256), (16, 16, 128), (32, 32, 64)]
  ] + [
      (f"Conv2DTranspose(->{filters}, 4, 2)", lambda filters=filters: zoo_layers.Conv2DTranspose(
          filters, 4, strides=2, padding="same"), shape)
      for filters, shape in [(256, (4, 4, 512)), (128, (8, 8, 256)), (64, (16, 16, 128)), (1, (32, 32, 64))]
  ] + [
      ("Dropout(0.3)", lambda: zoo_layers.Dropout(0.3), shape) for shape in [(32, 32, 64), (16, 16, 128)]
  ]


def _step(layer):
  import tensorflow as tf

  @tf.function
  def step(inputs):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      loss = tf.reduce_sum(tf.cast(layer(inputs, training=True), tf.float32))
    return tape.gradient(loss, [inputs] + layer.trainable_weights)
  return step


def _time(step, inputs, calls):
  began = time.perf_counter()
  for _ in range(calls):
    result = step(inputs)
  result[0].numpy()
  return (time.perf_counter() - began) / calls * 1000


def main(argv):
  del argv
  import tensorflow as tf
  from zoo import layers as zoo_layers
  from zoo import layers
  print("| layer | input | precision | Keras ms | zoo ms | speed-up |\n| --- | --- | --- | --- | --- | --- |")
  for name, make, shape in _cases():
    for precision in ("float32", "mixed_bfloat16"):
      with layers.dtype_policy(precision):
        fast = make()
        with zoo_layers.stock_keras_layers():
          stock = make()
      dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
      inputs = tf.cast(tf.random.stateless_normal((BATCH,) + shape, seed=[0, 0]), dtype)
      stock_ms, fast_ms, ratio = _compare(_step(stock), _step(fast), inputs)
      print(f"| {name} | {BATCH}x{'x'.join(map(str, shape))} | {precision} "
            f"| {stock_ms:.1f} | {fast_ms:.1f} | {ratio:.2f}x |", flush=True)
  print("\n| transposed convolution, 4x4 stride 2 | input | precision | conv2d_transpose ms "
        "| matrix product ms | speed-up |\n| --- | --- | --- | --- | --- | --- |")
  for size, in_channels, out_channels in [(4, 512, 256), (8, 256, 128), (16, 128, 64)]:
    for dtype in (tf.float32, tf.bfloat16):
      inputs = tf.cast(tf.random.stateless_normal([BATCH, size, size, in_channels], seed=[0, 0]), dtype)
      kernel = tf.cast(tf.random.stateless_normal([4, 4, out_channels, in_channels], seed=[0, 1]), dtype)
      stock_ms, fast_ms, ratio = _compare(_kernel_step(_conv2d_transpose, kernel),
                                          _kernel_step(zoo_layers.upsample_4x4_stride_2, kernel), inputs)
      print(f"| ->{out_channels} | {BATCH}x{size}x{size}x{in_channels} | {dtype.name} "
            f"| {stock_ms:.1f} | {fast_ms:.1f} | {ratio:.2f}x |", flush=True)


def _compare(stock_step, fast_step, inputs):
  """(stock ms, fast ms, median per-round stock/fast ratio) over interleaved rounds."""
  steps = {"stock": stock_step, "fast": fast_step}
  for step in steps.values():
    step(inputs)  # trace and build
  times = {case: [] for case in steps}
  for _ in range(FLAGS.rounds):
    for case, step in steps.items():
      times[case].append(_time(step, inputs, FLAGS.calls))
  ratio = statistics.median(s / f for s, f in zip(times["stock"], times["fast"]))
  return statistics.median(times["stock"]), statistics.median(times["fast"]), ratio


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

if __name__ == "__main__":
  app.run(main)
