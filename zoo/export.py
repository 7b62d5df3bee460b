"""Exports a trained generator so it can be used without the zoo.

  python -m zoo.export --logdir=runs/dense_gan_mnist --out=exported/dense_gan

writes `<out>/generator.keras` and `<out>/saved_model/`, a SavedModel whose `serving_default`
signature maps `z` float32 [N, latent_dim] to `images` uint8 [N, H, W, C]. A generator that takes images
instead of noise (image_gan's degraded input, compression_gan's image to encode) is served from
`inputs` uint8 [N, H, W, C] to `images` uint8, with the model's pixel scaling applied on both sides.
"""
import os
import sys

from absl import app, flags

from zoo.cli import quiet_library_logs
from zoo import pixels

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run folder written by zoo.train.", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)


def export_generator(logdir: str, out: str):
  import tensorflow as tf
  from zoo import layers, trainer
  generator, config = trainer.restore_generator(logdir)
  os.makedirs(out, exist_ok=True)
  keras_path = os.path.join(out, "generator.keras")
  layers.to_stock_keras(generator).save(keras_path)  # loads with Keras alone

  module = tf.Module()
  module.generator = generator
  module.serve = _serving_function(generator, config)
  saved_model_path = os.path.join(out, "saved_model")
  tf.saved_model.save(module, saved_model_path, signatures={"serving_default": module.serve})
  return keras_path, saved_model_path


def _serving_function(generator, config):
  import tensorflow as tf
  from zoo import models, trainer

  def images_out(outputs):
    return {"images": pixels.to_uint8(trainer.generated_images(outputs), config.pixel_range)}

  if models.get_model(config.model).samples_from_noise:
    @tf.function(input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32, name="z")])
    def serve(z):
      return images_out(generator(z, training=False))
    return serve

  input_shape = tuple(generator.input_shape[1:])
  if len(input_shape) != 3:
    raise ValueError(f"{config.model}'s generator takes {input_shape}, neither noise nor images; "
                     "zoo.export cannot serve it.")

  @tf.function(input_signature=[tf.TensorSpec((None,) + input_shape, tf.uint8, name="inputs")])
  def serve(inputs):
    return images_out(generator(pixels.to_model_range(inputs, config.pixel_range), training=False))
  return serve


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
