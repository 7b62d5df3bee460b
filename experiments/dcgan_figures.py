"""The sample grid, training-progress GIF and loss curves of a dcgan run, for docs/dcgan.md.

  TF_CPP_MIN_LOG_LEVEL=2 python -m zoo.train --model=dcgan --dataset=mnist \
      --data_dir=../shared/tensorflow_datasets --logdir=runs/dcgan_mnist \
      --checkpoint_every=100 --keep_checkpoints=11            # ~30 min on the 2-core CPU (shared)
  python -m experiments.dcgan_figures --logdir=runs/dcgan_mnist --name=mnist   # ~20 s

(the same with fashion_mnist). Reads what the trainer wrote: the fixed-noise grids
`samples/step_XXXXXXXX.png` (every `image_every` = 100 steps) and the TensorBoard scalars; writes
docs/figures/dcgan_<name>_{samples.png, progress.gif, losses.png}, each well under 1 MB.
Expected result at 1000 steps on MNIST with the article's L2 (commit 831efe5, whose default it was;
add --model_option=generator_l2=0.01 --model_option=generator_dense_batchnorm=false to the training
command today): G has collapsed to one digit-like
stroke that drifts from frame to frame, the same for every z; D(x) and D(G(z)) sit at ~0.5 and d_loss
at ~1.39 (= 2 ln 2) from step ~150 on: D cannot tell the moving single mode from real digits.
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
  config = config_lib.load(FLAGS.logdir)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  prefix = os.path.join(FLAGS.out_dir, f"dcgan_{FLAGS.name}")
  frames = sample_frames(FLAGS.logdir)
  images.write_png(f"{prefix}_samples.png", frames[-1][1])
  write_progress_gif(frames, config.image_size, FLAGS.gif_columns, f"{prefix}_progress.gif")
  plot_losses(read_scalars(FLAGS.logdir), config.batch_size * config.d_steps,
              f"dcgan on {config.dataset}, {config.image_size}x{config.image_size}, batch "
              f"{config.batch_size}, {config.precision}", f"{prefix}_losses.png",
              loss_note="g_loss includes G's L2 0.01 term")
  for suffix in ("samples.png", "progress.gif", "losses.png"):
    path = f"{prefix}_{suffix}"
    print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB)")


if __name__ == "__main__":
  app.run(main)
