"""Figures from what the trainer writes into a run folder: fixed-noise grids and TensorBoard scalars."""
import glob
import os

GRID_PADDING = 2  # zoo.images.make_grid's default


def sample_frames(logdir):
  """[(step, grid image uint8 HWC)] of the fixed noise batch, in step order."""
  from zoo import images
  paths = sorted(glob.glob(os.path.join(logdir, "samples", "step_*.png")))
  if not paths:
    raise FileNotFoundError(f"No samples/step_*.png in {logdir}: train the run first.")
  return [(int(os.path.basename(p)[5:13]), images.read_png(p)) for p in paths]


def crop_grid(grid, image_size, columns):
  """The top-left columns x columns tiles of a make_grid image (keeps GIFs small)."""
  side = GRID_PADDING + columns * (image_size + GRID_PADDING)
  return grid[:side, :side]


def write_progress_gif(frames, image_size, columns, path):
  from PIL import Image, ImageDraw
  pictures = []
  for step, grid in frames:
    picture = Image.fromarray(crop_grid(grid, image_size, columns).squeeze())
    canvas = Image.new(picture.mode, (picture.width, picture.height + 14), "white")
    canvas.paste(picture, (0, 14))
    ImageDraw.Draw(canvas).text((4, 1), f"step {step}", fill="black")
    pictures.append(canvas)
  durations = [300] * (len(pictures) - 1) + [2000]  # hold the last frame
  pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0,
                   optimize=True)


def write_progress_strip(frames, image_size, columns, steps, path):
  """One row of `columns` fixed-noise samples per chosen step, labelled, as one PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  chosen = [(step, grid) for step, grid in frames if step in set(steps)]
  figure, axes = plt.subplots(len(chosen), 1, figsize=(columns * 0.6, len(chosen) * 0.75))
  for axis, (step, grid) in zip(axes, chosen):
    row = grid[:GRID_PADDING + image_size + GRID_PADDING]  # the first row of the grid
    axis.imshow(row[:, :GRID_PADDING + columns * (image_size + GRID_PADDING)].squeeze(), cmap="gray")
    axis.set_ylabel(f"{step}", rotation=0, ha="right", va="center", fontsize=8)
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle("the fixed noise batch through training (step)", fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def read_scalars(logdir, prefix="train/"):
  """{tag: ([steps], [values])} of the scalars under `prefix` in a run's event files.

  A resumed run repeats steps after its last checkpoint; the later value wins.
  """
  import tensorflow as tf
  by_tag = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        # Images share the tag prefixes (e.g. autoencoder/reconstructions); only scalars are read.
        if value.tag.startswith(prefix) and value.metadata.plugin_data.plugin_name in ("scalars", ""):
          number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                    else value.simple_value)
          by_tag.setdefault(value.tag, {})[event.step] = number
  return {tag: (sorted(points), [points[s] for s in sorted(points)]) for tag, points in by_tag.items()}


def plot_losses(curves, images_per_step, title, path, loss_note=""):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, (losses, outputs) = plt.subplots(1, 2, figsize=(10, 3.6))
  for tag, axis in (("train/d_loss", losses), ("train/g_loss", losses),
                    ("train/d_real", outputs), ("train/d_fake", outputs)):
    steps, values = curves[tag]
    axis.plot([s * images_per_step / 1000 for s in steps], values, label=tag.split("/")[1])
  losses.set_title("losses" + (f" ({loss_note})" if loss_note else ""))
  outputs.set_title("mean D output: D(x) = d_real, D(G(z)) = d_fake")
  for axis in (losses, outputs):
    axis.set_xlabel("thousand images seen")
    axis.legend()
    axis.grid(alpha=0.3)
  figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=90)
  plt.close(figure)
