"""Writes samples of a trained generator.

  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=10000 --out=samples.npz   # uint8 NHWC
  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=64 --out=grid.png         # one grid image

A class-conditional run (--conditional) is sampled by class: `--label=3` draws only 3s, `--label=0,1,2`
cycles through those classes, and by default the labels cycle through all K classes. Its .npz also
holds the labels (array 'labels'), and its .png has one row per label with the same noise down each
column (`--num` rounded up to whole rows); a single label's .png is a square grid.

A run trained with --ema_decay is sampled from its EMA generator unless --use_ema=false.
"""
import math
import os

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS
OUTPUT_FORMATS = (".npz", ".png")
PROGRESS_FROM = 50_000  # samples; fewer take seconds and print only the final line


def define_flags():
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train.", required=True)
  flags.DEFINE_integer("num", 64, "Number of samples.")
  flags.DEFINE_string("out", "samples.npz", "Output: .npz (array 'images', uint8 NHWC) or .png (grid).")
  flags.DEFINE_integer("seed", 0, "Noise seed: the same seed gives the same samples.")
  flags.DEFINE_boolean("use_ema", True, "Sample the EMA generator of a run trained with --ema_decay.")
  flags.DEFINE_list("label", [], "Conditional runs: the class(es) to draw, as indices or class names, e.g. 3 "
                    "or 0,1,2 or Sneaker (default: every class in turn).")


def parse_labels(names, class_names):
  """["3", "Sneaker"] -> [3, 7]: class indices, or names of `class_names` (the run's dataset's)."""
  labels = []
  for name in names:
    name = str(name).strip()
    if name.lstrip("-").isdigit():
      labels.append(int(name))
    elif class_names and name in class_names:
      labels.append(class_names.index(name))
    else:
      known = f" (its classes: {', '.join(class_names)})" if class_names else ""
      raise ValueError(f"--label={name!r} is neither a class index nor a class name of the run{known}.")
  return labels


def write_samples(logdir: str, num: int, out: str, seed: int = 0, use_ema: bool = True, labels=(), log=print):
  """Writes `num` samples to `out` (.npz or .png) and returns them; `labels` (indices or class names)
  choose the classes of a conditional run.

  The file is written atomically (zoo/files.py): on any failure an existing `out` is kept as it was.
  """
  from zoo import data, files, images, models, runs, sampling
  extension = os.path.splitext(out)[1].lower()
  if extension not in OUTPUT_FORMATS:
    raise ValueError(f"--out={out!r} must end in one of {', '.join(OUTPUT_FORMATS)}.")
  if num <= 0:
    raise ValueError(f"--num must be positive, got {num}.")
  if os.path.isdir(out):
    raise ValueError(f"--out={out!r} is a folder; give a file name ending in {' or '.join(OUTPUT_FORMATS)}.")
  config = runs.load_config(logdir)
  spec = models.get_model(config.model)
  sampling.check_samples_from_noise(spec)
  # A grid holds every sample a second time; decide before minutes of sampling, not after.
  sampling.check_memory(num, data.image_shape(config.dataset, config.image_size, config.data_dir),
                        copies=2 if extension == ".png" else 1)
  classes = spec.num_classes(config)
  if labels or classes:
    names = data.class_names(config.dataset, config.data_dir) if classes else None
    wanted = sampling.check_labels(config, parse_labels(labels, names) if labels else range(classes))
  generator, config = runs.restore_generator(logdir, use_ema)
  progress = _Progress(log) if num >= PROGRESS_FROM else None
  if not classes:
    samples = sampling.generate(generator, config, num, seed, progress=progress)
  elif extension == ".png":
    samples = _class_rows(generator, config, num, seed, wanted)
  else:
    sample_labels = sampling.cycling_labels(num, wanted)
    samples = sampling.generate(generator, config, num, seed, labels=sample_labels, progress=progress)
  if extension == ".npz":
    extra = {"labels": sample_labels} if classes else {}
    files.save_npz(out, images=samples, **extra)
  else:
    images.write_png(out, images.make_grid(samples, _grid_columns(len(samples), wanted if classes else ())))
  return samples


class _Progress:
  """Prints "sampled N/M (P%)" at every tenth of a large request, so a long run is seen to move."""

  def __init__(self, log):
    self.log = log
    self.reported = 0  # tenths

  def __call__(self, done, num):
    tenths = done * 10 // num
    if tenths > self.reported and done < num:
      self.reported = tenths
      self.log(f"sampled {done}/{num} ({done * 100 // num}%)")


def _grid_columns(num, labels):
  """One row per label when there are several; a square grid (0) for one label or an unconditional run."""
  return math.ceil(num / len(labels)) if len(labels) > 1 else 0


def _class_rows(generator, config, num, seed, labels):
  """One row per label, `num` rounded up to whole rows, column j drawn from the same z in every row."""
  import tensorflow as tf
  from zoo import models, pixels, sampling
  columns = math.ceil(num / len(labels))
  z = tf.tile(sampling.noise_batch(config.latent_dim, columns, seed), [len(labels), 1])  # [rows * columns, D]
  batch = {"label": tf.constant(labels.repeat(columns))}
  outputs = generator(models.get_model(config.model).generator_input(batch, z), training=False)
  return pixels.to_uint8(sampling.generated_images(outputs), config.pixel_range).numpy()


def main(argv):
  del argv
  cli.quiet_library_logs()
  try:
    samples = write_samples(FLAGS.logdir, FLAGS.num, FLAGS.out, FLAGS.seed, FLAGS.use_ema, FLAGS.label)
  except (ValueError, OSError) as e:
    cli.fail(e)
  print(f"wrote {len(samples)} samples {samples.shape[1:]} to {FLAGS.out}")


def run():
  """Console script `zoo-sample`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
