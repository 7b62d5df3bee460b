"""Exports a trained generator so it can be used without the zoo.

  python -m zoo.export --logdir=runs/dense_gan_mnist --out=exported/dense_gan

writes `<out>/generator.keras` (Keras 3, built-in layers only) and `<out>/saved_model/`, a SavedModel
whose `serving_default` signature maps `z` float32 [N, latent_dim] to `images` uint8 [N, H, W, C].
"""
import os
import sys

from absl import app, flags

from zoo.cli import quiet_library_logs

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run folder written by zoo.train.", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)


def export_generator(logdir: str, out: str):
  import tensorflow as tf
  from zoo import data, trainer
  generator, config = trainer.restore_generator(logdir)
  os.makedirs(out, exist_ok=True)
  keras_path = os.path.join(out, "generator.keras")
  generator.save(keras_path)

  module = tf.Module()
  module.generator = generator

  @tf.function(input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32, name="z")])
  def serve(z):
    return {"images": data.to_uint8(generator(z, training=False), config.pixel_range)}

  module.serve = serve
  saved_model_path = os.path.join(out, "saved_model")
  tf.saved_model.save(module, saved_model_path, signatures={"serving_default": serve})
  return keras_path, saved_model_path


def main(argv):
  del argv
  quiet_library_logs()
  try:
    paths = export_generator(FLAGS.logdir, FLAGS.out)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  print("wrote", *paths)


if __name__ == "__main__":
  app.run(main)
