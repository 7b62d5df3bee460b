"""The sample grid, training-progress GIF and loss curves of a dcgan run, for docs/dcgan.md.

  TF_CPP_MIN_LOG_LEVEL=2 python -m zoo.train --model=dcgan --dataset=mnist \
      --data_dir=../shared/tensorflow_datasets --logdir=runs/dcgan_mnist
  python -m experiments.dcgan_figures --logdir=runs/dcgan_mnist --name=default_mnist   # ~10 s

(the same with fashion_mnist). Reads what the trainer wrote: the fixed-noise grids
`samples/step_XXXXXXXX.png` (every `image_every` steps) and the TensorBoard scalars; writes
docs/figures/dcgan_<name>_{samples.png, progress.gif, losses.png}, each well under 1 MB. What the
figures of the default runs show, with their scores: docs/dcgan.md "Results at the defaults".
"""
import os

from absl import app, flags

from experiments.figures import plot_losses, read_scalars, sample_frames, write_progress_gif

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "runs/dcgan_mnist", "Run folder written by zoo.train.")
flags.DEFINE_string("name", "mnist", "Figure name prefix: docs/figures/dcgan_<name>_*.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the figures go.")
flags.DEFINE_integer("gif_columns", 6, "The GIF shows the top-left gif_columns x gif_columns samples.")

def main(argv):
  del argv
  from zoo import config as config_lib
  from zoo import images
  from zoo.models import dcgan
  config = config_lib.load(FLAGS.logdir)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  prefix = os.path.join(FLAGS.out_dir, f"dcgan_{FLAGS.name}")
  frames = sample_frames(FLAGS.logdir)
  images.write_png(f"{prefix}_samples.png", frames[-1][1])
  write_progress_gif(frames, config.image_size, FLAGS.gif_columns, f"{prefix}_progress.gif")
  l2 = config.options["generator_l2"]
  plot_losses(read_scalars(FLAGS.logdir), config.batch_size * config.d_steps,
              f"dcgan on {config.dataset}, {config.image_size}x{config.image_size}, batch "
              f"{config.batch_size}, {config.precision}, "
              f"{dcgan.discriminator_convolutions(config, config.image_size)} D convolutions",
              f"{prefix}_losses.png",
              loss_note=f"g_loss includes G's L2 {l2} term" if l2 else "")
  for suffix in ("samples.png", "progress.gif", "losses.png"):
    path = f"{prefix}_{suffix}"
    print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB)")


if __name__ == "__main__":
  app.run(main)
