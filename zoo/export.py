"""Exports a trained generator so it can be used without the zoo.

  python -m zoo.export --logdir=runs/dense_gan_mnist --out=exported/dense_gan
  python -m zoo.export --pretrained=dcgan/mnist --out=exported/dcgan   # a package (zoo/pretrained.py)

writes `<out>/generator.keras` and `<out>/saved_model/`, a SavedModel whose `serving_default`
signature maps `z` float32 [N, latent_dim] to `images` uint8 [N, H, W, C]; a class-conditional run's
(--conditional) takes `z` and `label` int32 [N] (class indices 0..K-1), and its generator.keras the
dict {"z": z, "label": label}. A generator that takes images
instead of noise (image_gan's degraded input, compression_gan's image to encode) is served from
`inputs` uint8 [N, H, W, C] to `images` uint8, with the model's pixel scaling applied on both sides.
A run trained with --ema_decay exports its EMA generator unless --use_ema=false. Both hold the
generator as it draws: a run trained on images zero-padded to its size (--image_resize=pad) draws at that
size, and its samples at the dataset's own size are the central crop (as zoo.sample and zoo.load give).

Both are written into a temporary folder next to <out> and moved into place at the end, so a failed
export never leaves a half-written model.
"""
import os
import shutil
import tempfile

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS
KERAS_FILE = "generator.keras"
SAVED_MODEL = "saved_model"


def define_flags():
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train.")
  flags.DEFINE_string("pretrained", None, "Export a pretrained package instead of a run, e.g. dcgan/mnist "
                      "(python -m zoo.sample --list_pretrained lists them).")
  flags.DEFINE_string("out", None, "Output folder (new, or an earlier export to replace).", required=True)
  flags.DEFINE_boolean("use_ema", True, "Export the EMA generator of a run trained with --ema_decay.")


def export_generator(logdir: str, out: str, use_ema: bool = True):
  """Writes <out>/generator.keras and <out>/saved_model; returns their paths."""
  from zoo import runs
  _check_out(out)
  generator, config = runs.restore_generator(logdir, use_ema)
  return _publish(out, lambda folder: _write(inference_model(generator, config), config, folder))


def export_package(name: str, out: str):
  """Writes the verified generator.keras of pretrained package `name` and a SavedModel serving it to
  <out>, as `export_generator` does for a run; returns their paths."""
  from zoo import pretrained, runs
  _check_out(out)
  package = pretrained.load(name)
  config = runs.package_config(name)

  def write(folder):
    shutil.copyfile(os.path.join(package.folder, pretrained.KERAS_FILE), os.path.join(folder, KERAS_FILE))
    _write_saved_model(package.model, config, folder, getattr(package, "num_classes", 0))
  return _publish(out, write)


def _tf_errors():
  import tensorflow as tf
  return tf.errors.OpError


def _publish(out, write):
  """Calls `write(folder)` on a staging folder next to `out`, then moves its files into `out`."""
  parent = os.path.dirname(os.path.abspath(out))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
  try:
    try:
      write(staging)
    except (OSError, _tf_errors()) as e:  # e.g. a full disk: the earlier export, if any, is untouched
      reason = (getattr(e, "message", None) or getattr(e, "strerror", None) or str(e)).strip().splitlines()[0]
      kept = "the earlier export there is kept" if os.path.isdir(out) else "nothing was written there"
      raise OSError(f"could not write the export for {out} into {parent} ({reason}); {kept}.") from None
    for name in (KERAS_FILE, SAVED_MODEL):
      target = os.path.join(out, name)
      if os.path.isdir(target):
        shutil.rmtree(target)
      elif os.path.exists(target):
        os.remove(target)
    os.makedirs(out, exist_ok=True)
    for name in (KERAS_FILE, SAVED_MODEL):
      os.replace(os.path.join(staging, name), os.path.join(out, name))
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return os.path.join(out, KERAS_FILE), os.path.join(out, SAVED_MODEL)


def _in_float32(generator, config):
  """G rebuilt under the float32 policy with the trained weights (variables are float32 under mixed
  precision too): an export computes and returns float32, whatever precision the run trained in."""
  import dataclasses
  from zoo import models, runs
  if config.precision == "float32":
    return generator
  float32 = dataclasses.replace(config, precision="float32")
  copy = runs.build_generator(float32, models.get_model(config.model))
  copy.set_weights(generator.get_weights())
  return copy


def _check_out(out):
  if not out:
    raise ValueError("--out is empty; give the folder to export to, e.g. --out=exported/dcgan.")
  if os.path.exists(out) and not os.path.isdir(out):
    raise ValueError(f"--out={out!r} is a file; give a folder (new, or an earlier export to replace).")
  if os.path.isdir(out) and set(os.listdir(out)) - {KERAS_FILE, SAVED_MODEL}:
    raise ValueError(f"--out={out!r} holds other files; give a new folder or an earlier export's.")


def inference_model(generator, config):
  """The float32 Keras model of stock layers that an export (and a pretrained package) holds: G rebuilt
  in float32, or what the model's `export_model` hook makes of it."""
  from zoo import models
  generator = _in_float32(generator, config)
  spec = models.get_model(config.model)
  return spec.export_model(config, generator) if spec.export_model else generator


def _write(model, config, folder):
  """<folder>/generator.keras and <folder>/saved_model of an inference model."""
  from zoo import models
  model.save(os.path.join(folder, KERAS_FILE))  # stock layers: loads with Keras alone
  _write_saved_model(model, config, folder, models.get_model(config.model).num_classes(config))


def _write_saved_model(model, config, folder, classes):
  import tensorflow as tf
  from zoo import models
  spec = models.get_model(config.model)
  module = tf.Module()
  module.model = model
  module.serve = _serving_function(model, config, spec.samples_from_noise, classes)
  tf.saved_model.save(module, os.path.join(folder, SAVED_MODEL), signatures={"serving_default": module.serve})


def _serving_function(model, config, from_noise, classes=0):
  """z float32 (and label int32 for `classes` > 0) -> images uint8, or images uint8 -> images uint8, with
  the model's pixel scaling."""
  import tensorflow as tf
  from zoo import pixels, sampling

  def images_out(outputs):
    return {"images": pixels.to_uint8(sampling.generated_images(outputs), config.pixel_range)}

  if from_noise and classes:
    @tf.function(input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32, name="z"),
                                  tf.TensorSpec([None], tf.int32, name="label")])
    def serve_class(z, label):
      checks = [tf.debugging.assert_non_negative(label, message="label must be a class index 0..K-1"),
                tf.debugging.assert_less(label, classes, message=f"label must be below K={classes}")]
      with tf.control_dependencies(checks):
        return images_out(model({"z": z, "label": tf.identity(label)}, training=False))
    return serve_class

  if from_noise:
    @tf.function(input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32, name="z")])
    def serve(z):
      return images_out(model(z, training=False))
    return serve

  @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.uint8,
                                              name="inputs")])
  def serve(inputs):
    return images_out(model(pixels.to_model_range(inputs, config.pixel_range), training=False))
  return serve


def main(argv):
  del argv
  cli.quiet_library_logs()
  try:
    cli.check_one_source(FLAGS.logdir, FLAGS.pretrained)
    paths = (export_package(FLAGS.pretrained, FLAGS.out) if FLAGS.pretrained
             else export_generator(FLAGS.logdir, FLAGS.out, FLAGS.use_ema))
  except (ValueError, OSError) as e:
    cli.fail(e)
  print("wrote", *paths)


def run():
  """Console script `zoo-export`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
