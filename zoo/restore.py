"""Restores a user's image with a trained `image_gan` run, or a whole split of the run's dataset.

  python -m zoo.restore --logdir=runs/image_gan_denoise_mnist noisy.png restored.png
  python -m zoo.restore --logdir=runs/image_gan_inpaint_mnist --degraded_out=masked.png digit.png restored.png
  python -m zoo.restore --logdir=runs/image_gan_colorize_patches --split=test[:100] --out_dir=restored/
  python -m zoo.restore --pretrained=image_gan/denoise-mnist --degraded_out=noisy.png digit.png restored.png

IN.png must have the run's image size and channel count (28x28 grayscale for MNIST runs); for inpainting,
paint the hole with grey 128, as the training degradation does. `--degraded_out` first applies the
run's own degradation to IN.png (seeded by `--seed`) and saves it, to try a model on clean pictures.

Batch mode (`--split`, `--out_dir`) reads a split of the run's dataset (TFDS or image folder, at the
run's image size), degrades it with the run's task (seed `--seed`), restores it and writes
OUT_DIR/degraded/NNNNN.png, OUT_DIR/restored/NNNNN.png, restored.npz (key `images`, for
`python -m zoo.evaluate --npz=OUT_DIR/restored.npz --logdir=RUN`) and stats.json: PSNR and SSIM of the
restorations and of the degraded inputs against the originals.
"""
import json
import os
import sys

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("logdir", None, "Run folder of an image_gan run written by zoo.train (or give "
                      "--pretrained).")
  flags.DEFINE_string("pretrained", None, "A pretrained image_gan package instead of a run, e.g. "
                      "image_gan/denoise-mnist (python -m zoo.sample --list_pretrained lists them).")
  flags.DEFINE_string("degraded_out", None, "Degrade IN.png with the run's task first and save it here.")
  flags.DEFINE_integer("seed", 0, "Seed of the degradation applied with --degraded_out or in batch mode.")
  flags.DEFINE_string("split", None, "Batch mode: split of the run's dataset to degrade and restore, in TFDS "
                      "syntax (test, test[:100]); TFDS datasets and image folders alike.")
  flags.DEFINE_string("out_dir", None, "Batch mode: folder for the PNGs, restored.npz and stats.json.")
  flags.DEFINE_string("data_dir", None, "Batch mode: where the dataset is (default: the run's data_dir).")


CHANNEL_MODES = {1: "grayscale", 2: "grayscale + alpha", 3: "RGB", 4: "RGBA"}


def load_restorer(logdir):
  """(generator, config) of a run whose generator maps images to images, else a ValueError."""
  return open_restorer(logdir)[:2]


def open_restorer(logdir, pretrained=None, data_dir=None):
  """(generator, config, image shape) of a run (or of package `pretrained`) whose generator maps images
  to images, else a ValueError."""
  from zoo import data, runs
  from zoo import pretrained as pretrained_lib
  cli.check_one_source(logdir, pretrained, kind="an image_gan run")
  if pretrained:
    package = pretrained_lib.load(pretrained)
    config = runs.package_config(pretrained, data_dir)
    _check_restores(config, pretrained)
    return package.model, config, package.model_image_shape
  config = runs.load_config(logdir)
  _check_restores(config, logdir)
  generator, config = runs.restore_generator(logdir)
  return generator, config, data.image_shape(config.dataset, config.image_size, config.data_dir)


def _check_restores(config, source):
  from zoo import models
  spec = models.get_model(config.model)
  if "restore" not in spec.tools:
    use = (f"it is applied with {', '.join(f'zoo.{tool}' for tool in spec.tools)}" if spec.tools else
           "it generates images from noise: use zoo.sample")
    raise ValueError(f"{source} holds a {config.model} run, which zoo.restore cannot apply ({use}); "
                     "zoo.restore needs an image_gan run (python -m zoo.train --model=image_gan ...).")


def check_image(image, path, expected_shape, dataset):
  """A ValueError saying how to convert `image` [H, W, C] when it does not fit the model."""
  height, width, channels = expected_shape
  if image.shape[:2] != (height, width):
    raise ValueError(f"{path} is {image.shape[1]}x{image.shape[0]} pixels; this model restores "
                     f"{width}x{height} images ({dataset}). Resize it first, e.g. "
                     f"PIL.Image.open(path).resize(({width}, {height})).")
  if image.shape[2] != channels:
    mode = "L" if channels == 1 else "RGB"
    raise ValueError(f"{path} is {CHANNEL_MODES.get(image.shape[2], image.shape[2])}; this model wants "
                     f"{CHANNEL_MODES[channels]} images. Convert it first, e.g. "
                     f"PIL.Image.open(path).convert({mode!r}).")


def restore_images(generator, config, degraded, batch_size=500):
  """uint8 restorations [N, H, W, C] of uint8 degraded images by a trained generator."""
  import numpy as np
  import tensorflow as tf
  from zoo import pixels
  run = tf.function(lambda x: pixels.to_uint8(generator(pixels.to_model_range(x, config.pixel_range),
                                                      training=False), config.pixel_range))
  chunks = [run(tf.constant(degraded[i:i + batch_size])).numpy() for i in range(0, len(degraded), batch_size)]
  return np.concatenate(chunks)


def degrade_like_training(config, images_uint8, seed):
  """The run's own degradation of uint8 images, quantised to uint8 as a saved picture is."""
  from zoo import pixels
  from zoo.models.image_gan import degradations
  options = config.options
  degraded = degradations.degrade(pixels.to_model_range(images_uint8, "unit"), [seed, 0], options["task"],
                                  options["noise_sigma"], options["mask_size"], options["scale"])
  return pixels.to_uint8(degraded, "unit").numpy()


def read_image(path):
  from zoo import images
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist.")
  if os.path.isdir(path):
    raise ValueError(f"{path} is a folder; give a PNG image (or --split and --out_dir for a whole split).")
  try:
    return images.read_png(path)
  except Exception as e:  # TF's decoders raise InvalidArgumentError with a long op trace
    raise ValueError(f"{path} is not a PNG image TensorFlow can read ({type(e).__name__}).") from None


def restore_file(logdir, in_path, out_path, degraded_out=None, seed=0, pretrained=None):
  """Reads IN, optionally degrades it, restores it with the run's (or package's) generator, writes OUT."""
  from zoo import files, images
  if not out_path.lower().endswith(".png"):
    raise ValueError(f"OUT must be a .png file, got {out_path!r}.")
  if degraded_out and not degraded_out.lower().endswith(".png"):  # it is written as PNG, whatever its name
    raise ValueError(f"--degraded_out must be a .png file, got {degraded_out!r}.")
  files.check_not_input(out_path, in_path, flag="OUT")
  if degraded_out:
    files.check_not_input(degraded_out, in_path, flag="--degraded_out")
    files.check_not_input(degraded_out, out_path, flag="--degraded_out")
  generator, config, shape = open_restorer(logdir, pretrained)
  image = read_image(in_path)
  check_image(image, in_path, shape, config.dataset)
  if degraded_out:
    image = degrade_like_training(config, image[None], seed)[0]
    images.write_png(degraded_out, image)
  restored = restore_images(generator, config, image[None])[0]
  images.write_png(out_path, restored)
  return restored


def load_split(config, split, data_dir=None):
  """uint8 images [N, H, W, C] of a split of the run's dataset, as the run saw them (size, resize)."""
  import numpy as np
  from zoo import data
  images = list(data.load_images(config.dataset, split, data_dir or config.data_dir, config.image_size,
                                 resize=data.image_resize(config)).as_numpy_iterator())
  if not images:
    raise ValueError(f"--split={split} of {config.dataset} holds no images.")
  return np.stack(images)


def restore_split(logdir, split, out_dir, data_dir=None, seed=0, pretrained=None):
  """Degrades a split of the run's dataset with the run's task, restores it and writes it to `out_dir`.

  Returns (stats, originals, degraded, restored), the images uint8 [N, H, W, C]; stats holds the mean
  PSNR and SSIM of the restorations and of the degraded inputs against the originals.
  """
  import numpy as np
  from zoo import files, images
  from zoo.metrics import fidelity
  generator, config, _ = open_restorer(logdir, pretrained, data_dir)
  originals = load_split(config, split, data_dir)
  degraded = degrade_like_training(config, originals, seed)
  restored = restore_images(generator, config, degraded)
  for name, batch in (("degraded", degraded), ("restored", restored)):
    os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    for i, image in enumerate(batch):
      images.write_png(os.path.join(out_dir, name, f"{i:05d}.png"), image)
  files.save_npz(os.path.join(out_dir, "restored.npz"), images=restored)
  stats = {"logdir": logdir, **({"pretrained": pretrained} if pretrained else {}),
           "dataset": config.dataset, "data_dir": data_dir or config.data_dir,
           "split": split, "image_shape": list(originals.shape[1:]), "images": len(originals),
           "task": config.options["task"], "seed": seed,
           "psnr": float(np.mean(fidelity.psnr(originals, restored))),
           "ssim": float(np.mean(fidelity.ssim(originals, restored))),
           "degraded_psnr": float(np.mean(fidelity.psnr(originals, degraded))),
           "degraded_ssim": float(np.mean(fidelity.ssim(originals, degraded)))}
  files.write_json(os.path.join(out_dir, "stats.json"), stats)
  return stats, originals, degraded, restored


def main(argv):
  cli.quiet_library_logs()
  from zoo import data
  batch = FLAGS.split is not None or FLAGS.out_dir is not None
  if batch:
    if len(argv) != 1 or not (FLAGS.split and FLAGS.out_dir):
      sys.exit("error: batch mode takes no file names and both --split and --out_dir: python -m "
               "zoo.restore --logdir=RUN --split=test[:100] --out_dir=DIR")
    if FLAGS.degraded_out:
      sys.exit("error: --degraded_out is for one image; batch mode writes DIR/degraded/ itself.")
    if os.path.exists(FLAGS.out_dir) and not os.path.isdir(FLAGS.out_dir):  # found now, not after restoring
      sys.exit(f"error: --out_dir={FLAGS.out_dir!r} is a file; give a folder (new or existing).")
  elif len(argv) != 3:
    sys.exit("error: want two file names: python -m zoo.restore --logdir=RUN IN.png OUT.png "
             "(or --split=SPLIT --out_dir=DIR for a split of the run's dataset)")
  try:
    if batch:
      stats = restore_split(FLAGS.logdir, FLAGS.split, FLAGS.out_dir, FLAGS.data_dir, FLAGS.seed,
                            FLAGS.pretrained)[0]
      print(json.dumps(stats, indent=2))
      return
    restore_file(FLAGS.logdir, argv[1], argv[2], FLAGS.degraded_out, FLAGS.seed, FLAGS.pretrained)
  except (ValueError, OSError, data.DataUnavailableError) as e:
    cli.fail(e)
  print(f"wrote {argv[2]}")


def run():
  """Console script `zoo-restore`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
