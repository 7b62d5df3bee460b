"""Optimiser updates per second: Keras 3's Adam against zoo.accel.FusedAdam, on real models' variables.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.optimizer        # ~1 min on the 2-core CPU

Both optimisers update the trainable variables of a model's G and D with fixed gradients, 200 updates
per compiled call, interleaved round by round; the ratio is the median of per-round ratios.
"""
import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["dense_gan", "dcgan"], "Registered models whose variables are updated.")
flags.DEFINE_integer("updates", 200, "Updates per timed call.")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.")


def _variables(model):
  from zoo import config as config_lib
  from zoo import models
  config = config_lib.resolve(model, "/tmp/optimizer_benchmark", {"dataset": "mnist"})
  spec = models.get_model(model)
  shape = (config.image_size or 28, config.image_size or 28, 1)
  return (spec.build_generator(config, shape).trainable_variables
          + spec.build_discriminator(config, shape).trainable_variables)


def _updater(optimizer_class, variables):
  import tensorflow as tf
  copies = [tf.keras.Variable(v.numpy()) for v in variables]
  gradients = [tf.random.stateless_normal(v.shape, seed=[0, i]) * 1e-3 for i, v in enumerate(copies)]
  optimizer = optimizer_class(1e-4, beta_1=0.5)
  optimizer.build(copies)

  @tf.function
  def run(updates):
    for _ in tf.range(updates):
      optimizer.apply_gradients(zip(gradients, copies))
    return tf.identity(optimizer.iterations.value)
  return run


def main(argv):
  del argv
  import keras
  import tensorflow as tf
  from zoo.accel import FusedAdam
  print("| model | parameters | Keras Adam updates/s | FusedAdam updates/s | ratio |\n"
        "| --- | --- | --- | --- | --- |")
  for model in FLAGS.models:
    variables = _variables(model)
    runs = {"keras": _updater(keras.optimizers.Adam, variables), "fused": _updater(FusedAdam, variables)}
    for run in runs.values():
      run(tf.constant(5)).numpy()
    rates = {name: [] for name in runs}
    for _ in range(FLAGS.rounds):
      for name, run in runs.items():
        began = time.perf_counter()
        run(tf.constant(FLAGS.updates)).numpy()
        rates[name].append(FLAGS.updates / (time.perf_counter() - began))
    ratio = statistics.median(f / k for f, k in zip(rates["fused"], rates["keras"]))
    parameters = sum(int(v.shape.num_elements()) for v in variables)
    print(f"| {model} | {parameters:,} | {statistics.median(rates['keras']):.0f} "
          f"| {statistics.median(rates['fused']):.0f} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
  app.run(main)
