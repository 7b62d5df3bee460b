"""Writes samples of a trained generator. It may be a run's or a pretrained package's:

  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=10000 --out=samples.npz   # uint8 NHWC
  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=64 --out=grid.png         # one grid image
  python -m zoo.sample --pretrained=dcgan/mnist --num=64 --out=grid.png              # no training needed
  python -m zoo.sample --list_pretrained                                             # the packages

Samples have the dataset's own size: a run trained on 28x28 digits zero-padded to 32x32
(--image_resize=pad) gives 28x28 samples, the central crop, as zoo.evaluate scores them.

A class-conditional run or package is sampled by class: `--label=3` draws only 3s, `--label=0,1,2`
cycles through those classes, and by default the labels cycle through all K classes. Its .npz also
holds the labels (array 'labels'), and its .png has one row per label with the same noise down each
column (`--num` rounded up to whole rows); a single label's .png is a square grid.

Exploring the latent space (zoo/explore.py):
  --truncation=0.7        every noise value with |z_i| > 0.7 is RESAMPLED from the normal restricted to
                          [-0.7, 0.7] (BigGAN's truncation trick; values inside are kept, none is scaled):
                          more typical samples, less variety
  --interpolate=0,1,2     spherical interpolation (slerp) between the first sample of seed 0, of seed 1,
                          of seed 2: a .png grid with one row per pair (--steps columns, both ends
                          included), or a looping .gif through them and back to the first
  --interpolate_classes=3,8   conditional only: the noise of --seed held fixed while the class embedding
                          moves from class 3 to class 8 (.png rows or .gif frames, as above)

A run trained with --ema_decay is sampled from its EMA generator unless --use_ema=false; a package
holds the generator its card describes.
"""
import math
import os

from absl import flags

from zoo import cli
from zoo import files

FLAGS = flags.FLAGS
OUTPUT_FORMATS = (".npz", ".png")
EXPLORE_FORMATS = (".png", ".gif")
PROGRESS_FROM = 50_000  # samples; fewer take seconds and print only the final line
MAX_STEPS = 1000  # points per interpolated pair: far more than a grid row or an animation shows


def define_flags():
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train (or give --pretrained).")
  flags.DEFINE_string("pretrained", None, "A pretrained package instead of a run, e.g. dcgan/mnist.")
  flags.DEFINE_boolean("list_pretrained", False, "List the pretrained packages with their headline metrics.")
  flags.DEFINE_integer("num", 64, "Number of samples.")
  flags.DEFINE_string("out", "samples.npz", "Output: .npz (array 'images', uint8 NHWC) or .png (grid); "
                      "with --interpolate*, .png (grid) or .gif (animation).")
  flags.DEFINE_integer("seed", 0, "Noise seed: the same seed gives the same samples.")
  flags.DEFINE_boolean("use_ema", True, "Sample the EMA generator of a run trained with --ema_decay.")
  flags.DEFINE_list("label", [], "Conditional runs: the class(es) to draw, as indices or class names, e.g. 3 "
                    "or 0,1,2 or Sneaker (default: every class in turn).")
  flags.DEFINE_float("truncation", None, "Resample every noise value with |z_i| above this (e.g. 0.7) from "
                     "the normal truncated to [-t, t] (BigGAN's trick; values are resampled, not scaled).")
  flags.DEFINE_list("interpolate", [], "Seeds to interpolate between (slerp), e.g. 0,1,2.")
  flags.DEFINE_list("interpolate_classes", [], "Conditional: classes to interpolate between with the noise "
                    "of --seed fixed, e.g. 3,8.")
  flags.DEFINE_integer("steps", 8, "Points per interpolation, both ends included.")


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


def open_generator(logdir=None, pretrained=None, use_ema: bool = True, log=print):
  """A run's generator or a package's, as a zoo.pretrained.Generator; a ValueError when neither or both
  are given, or when it does not draw from noise."""
  from zoo import pretrained as pretrained_lib
  from zoo import sampling
  cli.check_one_source(logdir, pretrained)
  if logdir:
    return sampling.run_generator(logdir, use_ema, log)
  generator = pretrained_lib.load(pretrained)
  if not isinstance(generator, pretrained_lib.Generator):
    tools = ", ".join(f"zoo.{tool} --pretrained={pretrained}" for tool in generator.card.get("tools", ()))
    raise ValueError(f"{pretrained} generates from input images, not from noise alone, so it cannot be "
                     f"sampled; use {tools or 'zoo.load'}.")
  return generator


def _wanted_labels(generator, labels, logdir):
  """The label indices asked for (all classes when none are), checked; None for an unconditional G."""
  import numpy as np
  from zoo import sampling
  classes = generator.num_classes
  if not classes and not labels:
    return None
  wanted = parse_labels(labels, generator.class_names) if labels else list(range(classes))
  if logdir:
    from zoo import runs
    return sampling.check_labels(runs.load_config(logdir), wanted)
  if not classes:
    raise ValueError(f"{generator.name} is not class-conditional, so it takes no labels.")
  if min(wanted) < 0 or max(wanted) >= classes:
    raise ValueError(f"labels {sorted(set(wanted))} are not all classes of {generator.name}: it has "
                     f"{classes}, 0..{classes - 1}.")
  return np.asarray(wanted, np.int32)


def _check_out(out, formats, num=1):
  extension = os.path.splitext(out)[1].lower()
  if extension not in formats:
    raise ValueError(f"--out={out!r} must end in one of {', '.join(formats)}.")
  if num <= 0:
    raise ValueError(f"--num must be positive, got {num}.")
  if os.path.isdir(out):
    raise ValueError(f"--out={out!r} is a folder; give a file name ending in {' or '.join(formats)}.")
  return extension


def write_samples(logdir: str, num: int, out: str, seed: int = 0, use_ema: bool = True, labels=(), log=print,
                  truncation=None, pretrained=None):
  """Writes `num` samples of a run (or of package `pretrained`, with logdir None) to `out` (.npz or
  .png) and returns them; `labels` (indices or class names) choose the classes of a conditional one.

  The file is written atomically (zoo/files.py): on any failure an existing `out` is kept as it was.
  """
  from zoo import explore, images, sampling
  extension = _check_out(out, OUTPUT_FORMATS, num)
  truncation = explore.check_truncation(truncation)
  generator = open_generator(logdir, pretrained, use_ema, log)
  # A grid holds every sample a second time; decide before minutes of sampling, not after.
  sampling.check_memory(num, generator.model_image_shape, copies=2 if extension == ".png" else 1)
  wanted = _wanted_labels(generator, labels, logdir)
  progress = _Progress(log) if num >= PROGRESS_FROM else None
  if wanted is None:
    samples = generator.sample(num, seed, truncation=truncation, progress=progress)
  elif extension == ".png":
    samples = generator.class_grid(math.ceil(num / len(wanted)), seed, wanted, truncation)
  else:
    sample_labels = generator.labels_for(num, wanted)
    samples = generator.sample(num, seed, sample_labels, truncation, progress=progress)
  if extension == ".npz":
    extra = {"labels": sample_labels} if wanted is not None else {}
    files.save_npz(out, images=samples, **extra)
  else:
    columns = _grid_columns(len(samples), wanted if wanted is not None else ())
    images.write_png(out, images.make_grid(samples, columns))
  return samples


def write_interpolation(logdir: str, out: str, seeds=(), classes=(), steps: int = 8, seed: int = 0,
                        labels=(), truncation=None, use_ema: bool = True, pretrained=None, log=print):
  """Writes a slerp between the first samples of `seeds`, or (conditional) a move between `classes`
  with the noise of `seed` fixed, as a .png grid (one row per pair) or a looping .gif; returns the
  images [rows, steps, H, W, C] (the .gif's path also closes the loop back to the first)."""
  from zoo import explore, images
  extension = _check_out(out, EXPLORE_FORMATS)
  truncation = explore.check_truncation(truncation)
  if bool(seeds) == bool(classes):
    raise ValueError("give exactly one of --interpolate=SEEDS and --interpolate_classes=CLASSES.")
  if steps > MAX_STEPS:  # the path and its images are held in memory: --steps=10**8 needs ~100 GB
    raise ValueError(f"--steps={steps}: an interpolation takes at most {MAX_STEPS} points per pair.")
  generator = open_generator(logdir, pretrained, use_ema, log)
  gif = extension == ".gif"
  if seeds:
    if len(labels) > 1:
      raise ValueError(f"--interpolate holds one class fixed; give one --label, not {','.join(labels)}.")
    label = _wanted_labels(generator, labels, logdir)  # every class when none is given: class 0 is used
    path = generator.interpolate([_integer(s, "--interpolate") for s in seeds], steps,
                                 None if label is None else int(label[0]), truncation, closed=gif)
  else:
    chosen = _wanted_labels(generator, classes, logdir)
    if chosen is None:
      raise ValueError(f"{generator.name} is not class-conditional: --interpolate_classes needs classes.")
    chosen = list(chosen) + [chosen[0]] if gif else list(chosen)
    path = generator.interpolate_classes(chosen, steps, seed, truncation)
  if gif:
    explore.write_gif(out, path[:, :-1].reshape((-1,) + path.shape[2:]))  # each end once
  else:
    images.write_png(out, images.make_grid(path.reshape((-1,) + path.shape[2:]), steps))
  return path


def _integer(value, flag):
  try:
    return int(value)
  except ValueError:
    raise ValueError(f"{flag}={value!r}: give whole numbers, e.g. {flag}=0,1,2.") from None


def package_listing() -> str:
  """One line per pretrained package: its name, what it is, and its card's headline metrics; a package
  whose card cannot be read or whose files fail their sha256 check is listed as unusable, with why."""
  from zoo import pretrained
  names = pretrained.list_packages()
  if not names:
    return f"No pretrained packages found (searched {', '.join(pretrained.roots())})."
  width = max(len(name) for name in names)
  lines = []
  for name in names:
    try:
      card = pretrained.read_card(name)
      pretrained.verify(pretrained.locate(name))  # an edited card's numbers are not shown as the package's
    except pretrained.PackageError as e:  # one broken package hides none of the others
      lines.append(f"{name:<{width}}  unusable: {e}")
      continue
    lines.append(f"{name:<{width}}  {_headline(card.get('headline', {})) or 'not measured'}  "
                 f"{card.get('summary', '')}".rstrip())
  missing = pretrained.missing_roots()
  if missing:
    lines.append(f"warning: {missing}.")
  return "\n".join(lines)


def _headline(metrics) -> str:
  """{"fid": {"value": 3.1, "interval": [2.9, 3.4]}, "recall": 0.6} -> "fid 3.1 [2.9, 3.4], recall 0.6"."""
  parts = []
  for name, value in metrics.items():
    if isinstance(value, dict):
      interval = value.get("interval")
      text = f"{name} {value['value']:.3g}" + (f" [{interval[0]:.3g}, {interval[1]:.3g}]" if interval else "")
    else:
      text = f"{name} {value:.3g}" if isinstance(value, (int, float)) else f"{name} {value}"
    parts.append(text)
  return ", ".join(parts)


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


def main(argv):
  del argv
  cli.quiet_library_logs()
  if FLAGS.list_pretrained:
    print(package_listing())
    return
  try:
    files.check_output_path(FLAGS.out, "--out")  # refused now, not after sampling
    if FLAGS.interpolate or FLAGS.interpolate_classes:
      path = write_interpolation(FLAGS.logdir, FLAGS.out, FLAGS.interpolate, FLAGS.interpolate_classes,
                                 FLAGS.steps, FLAGS.seed, FLAGS.label, FLAGS.truncation, FLAGS.use_ema,
                                 FLAGS.pretrained)
      print(f"wrote {path.shape[0]}x{path.shape[1]} interpolated samples {path.shape[2:]} to {FLAGS.out}")
      return
    samples = write_samples(FLAGS.logdir, FLAGS.num, FLAGS.out, FLAGS.seed, FLAGS.use_ema, FLAGS.label,
                            truncation=FLAGS.truncation, pretrained=FLAGS.pretrained)
  except (ValueError, OSError) as e:
    cli.fail(e)
  print(f"wrote {len(samples)} samples {samples.shape[1:]} to {FLAGS.out}")


def run():
  """Console script `zoo-sample`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
