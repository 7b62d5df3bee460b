"""FID against images seen for a dcgan run, scored on every checkpoint it kept, for docs/dcgan.md.

  python -m experiments.dcgan_fid --logdir=runs/dcgan_mnist --name=mnist --num_samples=1000   # ~2 min

The run must keep its checkpoints (train with --checkpoint_every=100 --keep_checkpoints=11, see
experiments/dcgan_figures.py). Each checkpoint's generator draws `--num_samples` images from the same
noise (zoo.metrics' EVAL_NOISE_SEED) and zoo.metrics scores them against the test split: FID on the
domain classifier's features for MNIST-like data (docs/metrics.md). Scoring afterwards gives the same
numbers as `zoo.train --eval_every=100 --eval_samples=5000` without slowing the training run.
Writes docs/figures/dcgan_<name>_fid.png and prints a table (also saved as <logdir>/fid_curve.json).
A run trained with --ema_decay is scored through its EMA generator unless --use_ema=false.
Expected result on MNIST at the defaults (commit 861406c, 1000 steps, --num_samples=1000): 360 at
step 100, 188 at step 500, 181-208 from step 500 to 900, 266 at step 1000 (G drifts between few-class
modes while D sits at chance; docs/dcgan.md).
"""
import json
import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "runs/dcgan_mnist", "Run folder written by zoo.train.")
flags.DEFINE_string("name", "mnist", "Figure name: docs/figures/dcgan_<name>_fid.png.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the figure goes.")
flags.DEFINE_integer("num_samples", 5000, "Generated samples per checkpoint.")
flags.DEFINE_bool("use_ema", True, "Score the EMA generator of a run trained with --ema_decay.")


def kept_checkpoints(logdir):
  """The paths of every checkpoint the run kept, oldest first."""
  import tensorflow as tf
  state = tf.train.get_checkpoint_state(os.path.join(logdir, "checkpoints"))
  if state is None:
    raise FileNotFoundError(f"No checkpoints in {logdir}: train the run first.")
  return list(state.all_model_checkpoint_paths)


def fid_curve(logdir, num_samples, use_ema=True):
  """[{step, images_seen, fid, ...}] for each kept checkpoint (its EMA generator, if it has one)."""
  from zoo import runs, sampling
  from zoo.metrics import evaluation
  config = runs.load_config(logdir)
  evaluator = evaluation.get_evaluator(config.dataset, config.data_dir, image_size=config.image_size,
                                       image_resize=config.image_resize)
  curve = []
  for path in kept_checkpoints(logdir):
    generator, _ = runs.restore_generator(logdir, use_ema, checkpoint=path)
    samples = sampling.generate(generator, config, num_samples, seed=evaluation.EVAL_NOISE_SEED)
    metrics = evaluator(samples)
    gan_step = runs.gan_step(path)
    curve.append({"step": gan_step, "images_seen": runs.images_seen(config, gan_step), **metrics})
    print(f"step {gan_step}: FID {metrics['fid']:.2f} recall {metrics['recall']:.3f}", flush=True)
  return curve, config, evaluator.describe()


def plot_fid(curve, title, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, axis = plt.subplots(figsize=(5.5, 3.6))
  axis.plot([p["images_seen"] / 1000 for p in curve], [p["fid"] for p in curve], marker="o")
  axis.set_xlabel("thousand images seen")
  axis.set_ylabel("FID (domain-classifier features)")
  axis.set_yscale("log")
  axis.grid(alpha=0.3, which="both")
  axis.set_title(title)
  figure.tight_layout()
  figure.savefig(path, dpi=90)


def main(argv):
  del argv
  curve, config, described = fid_curve(FLAGS.logdir, FLAGS.num_samples, FLAGS.use_ema)
  with open(os.path.join(FLAGS.logdir, "fid_curve.json"), "w") as f:
    json.dump({"curve": curve, "num_samples": FLAGS.num_samples, **described}, f, indent=2)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  path = os.path.join(FLAGS.out_dir, f"dcgan_{FLAGS.name}_fid.png")
  plot_fid(curve, f"dcgan on {config.dataset}: FID vs images seen ({FLAGS.num_samples} samples)", path)
  print("\n| step | images seen | FID |\n| --- | --- | --- |")
  for point in curve:
    print(f"| {point['step']} | {point['images_seen']} | {point['fid']:.2f} |")
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
