"""Writes samples of a trained generator.

  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=10000 --out=samples.npz   # uint8 NHWC
  python -m zoo.sample --logdir=runs/dense_gan_mnist --num=64 --out=grid.png         # one grid image

A run trained with --ema_decay is sampled from its EMA generator unless --use_ema=false.
"""
import os

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS
OUTPUT_FORMATS = (".npz", ".png")


def define_flags():
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train.", required=True)
  flags.DEFINE_integer("num", 64, "Number of samples.")
  flags.DEFINE_string("out", "samples.npz", "Output: .npz (array 'images', uint8 NHWC) or .png (grid).")
  flags.DEFINE_integer("seed", 0, "Noise seed: the same seed gives the same samples.")
  flags.DEFINE_boolean("use_ema", True, "Sample the EMA generator of a run trained with --ema_decay.")


def write_samples(logdir: str, num: int, out: str, seed: int = 0, use_ema: bool = True):
  from zoo import images, models, runs, sampling
  extension = os.path.splitext(out)[1].lower()
  if extension not in OUTPUT_FORMATS:
    raise ValueError(f"--out={out!r} must end in one of {', '.join(OUTPUT_FORMATS)}.")
  if num <= 0:
    raise ValueError(f"--num must be positive, got {num}.")
  sampling.check_samples_from_noise(models.get_model(runs.load_config(logdir).model))
  generator, config = runs.restore_generator(logdir, use_ema)
  samples = sampling.generate(generator, config, num, seed)
  if extension == ".npz":
    import numpy as np
    np.savez_compressed(out, images=samples)
  else:
    images.write_png(out, images.make_grid(samples))
  return samples


def main(argv):
  del argv
  cli.quiet_library_logs()
  try:
    samples = write_samples(FLAGS.logdir, FLAGS.num, FLAGS.out, FLAGS.seed, FLAGS.use_ema)
  except (ValueError, OSError) as e:
    cli.fail(e)
  print(f"wrote {len(samples)} samples {samples.shape[1:]} to {FLAGS.out}")


def run():
  """Console script `zoo-sample`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
