"""Forward + backward time of each `zoo.layers` layer against its Keras parent, at dcgan's shapes.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.layers    # ~3 min on the 2-core CPU

Each row builds the layer twice from the same arguments, once with Keras' kernels
(`zoo.layers.stock_keras_layers`), and times one training-mode forward and backward pass on a batch of
64 (dcgan's batch) in a `tf.function`. Fast and stock runs alternate round by round; a ratio is the
median of the per-round ratios (stock time / fast time, so > 1 means the zoo layer is faster).
The shapes are those of dcgan at 64x64: its BatchNorms, its transposed convolutions (input side), and
the inputs of its discriminator's two Dropouts.
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
  from zoo import trainer
  print("| layer | input | precision | Keras ms | zoo ms | speed-up |\n| --- | --- | --- | --- | --- | --- |")
  for name, make, shape in _cases():
    for precision in ("float32", "mixed_bfloat16"):
      with trainer.dtype_policy(precision):
        fast = make()
        with zoo_layers.stock_keras_layers():
          stock = make()
      dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
      inputs = tf.cast(tf.random.stateless_normal((BATCH,) + shape, seed=[0, 0]), dtype)
      steps = {"stock": _step(stock), "fast": _step(fast)}
      for step in steps.values():
        step(inputs)  # trace and build
      times = {case: [] for case in steps}
      for _ in range(FLAGS.rounds):
        for case, step in steps.items():
          times[case].append(_time(step, inputs, FLAGS.calls))
      ratio = statistics.median(s / f for s, f in zip(times["stock"], times["fast"]))
      print(f"| {name} | {BATCH}x{'x'.join(map(str, shape))} | {precision} "
            f"| {statistics.median(times['stock']):.1f} | {statistics.median(times['fast']):.1f} "
            f"| {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
  app.run(main)
