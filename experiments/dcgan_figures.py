"""The sample grid, training-progress GIF and loss curves of a dcgan run, for docs/dcgan.md.

  TF_CPP_MIN_LOG_LEVEL=2 python -m zoo.train --model=dcgan --dataset=mnist \
      --data_dir=../shared/tensorflow_datasets --logdir=runs/dcgan_mnist \
      --checkpoint_every=100 --keep_checkpoints=11            # ~30 min on the 2-core CPU (shared)
  python -m experiments.dcgan_figures --logdir=runs/dcgan_mnist --name=mnist   # ~20 s

(the same with fashion_mnist). Reads what the trainer wrote: the fixed-noise grids
`samples/step_XXXXXXXX.png` (every `image_every` = 100 steps) and the TensorBoard scalars; writes
docs/figures/dcgan_<name>_{samples.png, progress.gif, losses.png}, each well under 1 MB.
Expected result at the default 1000 steps on MNIST (commit 831efe5): G has collapsed to one digit-like
stroke that drifts from frame to frame, the same for every z; D(x) and D(G(z)) sit at ~0.5 and d_loss
at ~1.39 (= 2 ln 2) from step ~150 on: D cannot tell the moving single mode from real digits.
"""
import glob
import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "runs/dcgan_mnist", "Run folder written by zoo.train.")
flags.DEFINE_string("name", "mnist", "Figure name prefix: docs/figures/dcgan_<name>_*.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the figures go.")
flags.DEFINE_integer("gif_columns", 6, "The GIF shows the top-left gif_columns x gif_columns samples.")

GRID_PADDING = 2  # zoo.images.make_grid's default


def sample_frames(logdir):
  """[(step, grid image uint8 HWC)] of the fixed noise batch, in step order."""
  from zoo import images
  paths = sorted(glob.glob(os.path.join(logdir, "samples", "step_*.png")))
  if not paths:
    raise FileNotFoundError(f"No samples/step_*.png in {logdir}: train the run first (see docstring).")
  return [(int(os.path.basename(p)[5:13]), images.read_png(p)) for p in paths]


def crop_grid(grid, image_size, columns):
  """The top-left columns x columns tiles of a make_grid image (keeps the GIF small)."""
  side = GRID_PADDING + columns * (image_size + GRID_PADDING)
  return grid[:side, :side]


def write_progress_gif(frames, image_size, columns, path):
  from PIL import Image, ImageDraw
  pictures = []
  for step, grid in frames:
    picture = Image.fromarray(crop_grid(grid, image_size, columns).squeeze()).convert("L")
    canvas = Image.new("L", (picture.width, picture.height + 14), 255)
    canvas.paste(picture, (0, 14))
    ImageDraw.Draw(canvas).text((4, 1), f"step {step}", fill=0)
    pictures.append(canvas)
  # Hold the last frame so the final samples can be looked at.
  durations = [300] * (len(pictures) - 1) + [2000]
  pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0,
                   optimize=True)


def read_scalars(logdir, prefix="train/"):
  """{tag: ([steps], [values])} of the scalars under `prefix` in a run's event files."""
  import tensorflow as tf
  curves = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag.startswith(prefix):
          steps, values = curves.setdefault(value.tag, ([], []))
          steps.append(event.step)
          values.append(float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                        else value.simple_value)
  return curves


def plot_losses(curves, images_per_step, title, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, (losses, outputs) = plt.subplots(1, 2, figsize=(10, 3.6))
  for tag, axis in (("train/d_loss", losses), ("train/g_loss", losses),
                    ("train/d_real", outputs), ("train/d_fake", outputs)):
    steps, values = curves[tag]
    axis.plot([s * images_per_step / 1000 for s in steps], values, label=tag.split("/")[1])
  losses.set_title("losses (g_loss includes G's L2 0.01 term)")
  outputs.set_title("mean D output: D(x) = d_real, D(G(z)) = d_fake")
  for axis in (losses, outputs):
    axis.set_xlabel("thousand images seen")
    axis.legend()
    axis.grid(alpha=0.3)
  figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=90)


def main(argv):
  del argv
  from zoo import config as config_lib
  from zoo import images
  config = config_lib.load(FLAGS.logdir)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  prefix = os.path.join(FLAGS.out_dir, f"dcgan_{FLAGS.name}")
  frames = sample_frames(FLAGS.logdir)
  last_step, last_grid = frames[-1]
  images.write_png(f"{prefix}_samples.png", last_grid)
  write_progress_gif(frames, config.image_size, FLAGS.gif_columns, f"{prefix}_progress.gif")
  plot_losses(read_scalars(FLAGS.logdir), config.batch_size * config.d_steps,
              f"dcgan on {config.dataset}, {config.image_size}x{config.image_size}, batch "
              f"{config.batch_size}, {config.precision}", f"{prefix}_losses.png")
  for suffix in ("samples.png", "progress.gif", "losses.png"):
    path = f"{prefix}_{suffix}"
    print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB)")


if __name__ == "__main__":
  app.run(main)
