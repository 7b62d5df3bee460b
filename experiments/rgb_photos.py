"""Real RGB photos, offline, end to end: colourisation and the codec on the photo patches (issue 15, item 2).

  nice -n 10 python -m experiments.rgb_photos

One command runs, in order, each step only when its output is missing (so a rerun resumes):

  python -m zoo.photo_patches --out=runs/photo_patches --size=64 --num=4000 --num_test=1000 --seed=0
  python -m zoo.train --model=image_gan --task=colorize --dataset=folder_rgb --data_dir=runs/photo_patches \
      --image_size=64 --logdir=runs/image_gan_colorize_photo_patches
  python -m zoo.train --model=compression_gan --dataset=folder_rgb --data_dir=runs/photo_patches \
      --image_size=64 <CODEC_POINTS[point]> --logdir=runs/compression_gan_photo_patches_<point>   # each point
  python -m experiments.image_gan_eval --datasets=folder_rgb --tasks=colorize --folder=runs/photo_patches
  python -m experiments.compression_rd --datasets=folder_rgb --folder=runs/photo_patches

The patches: 4,000 train patches of astronaut, coffee, rocket and hubble_deep_field, 1,000 test patches
of chelsea (a photo no train patch comes from), 64x64 RGB (docs/data.md). Every score is on the 1,000
held-out test patches. FID is left out: it needs Inception-v3 weights, which cannot be downloaded here.
Writes what the two experiments write (docs/figures/image_gan_photo_patches_colorize.png,
docs/figures/compression_gan_{rd,matched}_photo_patches.{png,json}; scores under runs/) and prints their
tables and docs/results.md rows. Measured (docs/results.md, "Real RGB photos"): colorize PSNR 17.92 /
SSIM 0.848, below luma + mean chroma (22.80 / 0.946); the low codec point 0.099 bpp at 15.86 dB, against
WebP's smallest file, 0.273 bpp at 25.07 dB. The high point was not trained (`--points=low` scores the
low one alone).
"""
import os
import subprocess
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("folder", "runs/photo_patches", "The photo-patch folder (made if missing).")
flags.DEFINE_string("runs_dir", "runs", "Where the runs go.")
flags.DEFINE_list("points", None, "Codec operating points to train and score (default: all of CODEC_POINTS).")

PATCHES = ["--size=64", "--num=4000", "--num_test=1000", "--seed=0"]
IMAGE_SIZE = 64
# compression_gan's operating points on 64x64x3 patches; the rest of each run is the model's defaults.
# rate_weight weighs bits per value (pixel x channel), so on RGB it weighs a third of the file's bpp.
CODEC_POINTS = {
    "low": ["--code_size=64", "--rate_weight=0.005"],
    "high": ["--code_size=256", "--rate_weight=0.001"],
}


def python(*args):
  """Runs `python -m ...` in this interpreter; prints the command and its wall time."""
  print("$ python " + " ".join(args), flush=True)
  began = time.time()
  subprocess.run([sys.executable, *args], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  print(f"  ({(time.time() - began) / 60:.1f} min)", flush=True)


def trained(logdir):
  from zoo import runs
  if not os.path.exists(os.path.join(logdir, "config.json")):
    return False
  checkpoint = runs.latest_checkpoint(logdir)
  return checkpoint is not None and runs.gan_step(checkpoint) >= runs.load_config(logdir).steps


def train(logdir, *flags_):
  if not trained(logdir):
    python("-m", "zoo.train", *flags_, "--dataset=folder_rgb", f"--data_dir={FLAGS.folder}",
           f"--image_size={IMAGE_SIZE}", f"--logdir={logdir}")


def main(argv):
  del argv
  if not os.path.exists(os.path.join(FLAGS.folder, "photos.json")):
    python("-m", "zoo.photo_patches", f"--out={FLAGS.folder}", *PATCHES)
  name = os.path.basename(os.path.normpath(FLAGS.folder))
  train(os.path.join(FLAGS.runs_dir, f"image_gan_colorize_{name}"), "--model=image_gan", "--task=colorize")
  points = FLAGS.points or list(CODEC_POINTS)
  for point in points:
    train(os.path.join(FLAGS.runs_dir, f"compression_gan_{name}_{point}"), "--model=compression_gan",
          *CODEC_POINTS[point])
  python("-m", "experiments.image_gan_eval", "--datasets=folder_rgb", "--tasks=colorize",
         f"--folder={FLAGS.folder}", f"--runs_dir={FLAGS.runs_dir}")
  python("-m", "experiments.compression_rd", "--datasets=folder_rgb", f"--folder={FLAGS.folder}",
         f"--runs={FLAGS.runs_dir}")


if __name__ == "__main__":
  app.run(main)
